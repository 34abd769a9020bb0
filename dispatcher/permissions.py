"""Sharing the database with a group, so a web app's user and the dispatcher's user can both write it.

SQLite writes beside the database too: in WAL mode whichever connection opens it first creates
``-wal`` and ``-shm`` files, and the last to close it deletes them; the dispatcher's writers make a
``-lock`` file, which stays. They get the database's mode, but their group is the creator's, unless
the directory is setgid; so the group must be able to create files in the directory, and the
directory should hand them its group.
"""

from __future__ import annotations

import grp
import os
import shlex
import stat
from dataclasses import dataclass
from pathlib import Path

from .errors import DispatcherError
from .store.sqlite.connection import LOCK_SUFFIX

SHARED_MODE = 0o660
_SIDE_FILES = ("-wal", "-shm", LOCK_SUFFIX)


@dataclass(frozen=True)
class Group:
    name: str
    gid: int


@dataclass(frozen=True)
class Sharing:
    """What ``share_with_group`` did, and whether the database's directory lets the group work there."""

    database: Path
    group: Group
    directory_writable: bool  # the group may create and delete the -wal and -shm files there
    directory_setgid: bool  # files made there get its group, whoever makes them

    @property
    def directory(self) -> Path:
        return self.database.parent

    @property
    def problem(self) -> str | None:
        """What is wrong with the directory for the group, or None."""
        if not self.directory_writable:
            return (
                f"group {self.group.name} cannot create files in {self.directory}, "
                "where SQLite keeps the database's -wal and -shm files"
            )
        if not self.directory_setgid:
            return (
                f"{self.directory} is not setgid: the -wal and -shm files would get the group of "
                "whichever user opens the database first, and may shut the other out"
            )
        return None

    @property
    def fix(self) -> str:
        """The shell command that makes the directory right (harmless if it already is)."""
        folder, group = shlex.quote(str(self.directory)), shlex.quote(self.group.name)
        return f"chgrp {group} {folder} && chmod g+rwxs {folder}"


def find_group(name: str) -> Group:
    try:
        return Group(name, grp.getgrnam(name).gr_gid)
    except (KeyError, ValueError):  # ValueError: a name with a NUL in it
        raise DispatcherError(f"no group {name!r}") from None


def share_with_group(database: Path, group: Group) -> Sharing:
    """Give ``database`` (and its -wal, -shm and -lock files, if there) to ``group``, mode 0660; check its directory."""
    database = Path(os.path.abspath(database))
    for path in (database, *(database.with_name(database.name + side) for side in _SIDE_FILES)):
        try:
            os.chown(path, -1, group.gid)
            os.chmod(path, SHARED_MODE)
        except FileNotFoundError:
            if path == database:
                raise DispatcherError(f"no database file {str(database)!r} to share", exit_code=1) from None
        except OSError as error:
            raise DispatcherError(
                f"cannot give {str(path)!r} to group {group.name}: {error.strerror} "
                "(the file's owner must be in the group, or be root)",
                exit_code=1,
            ) from None
    folder = database.parent.stat()
    ours = folder.st_gid == group.gid
    group_writable = stat.S_IWGRP | stat.S_IXGRP
    return Sharing(
        database,
        group,
        directory_writable=ours and folder.st_mode & group_writable == group_writable,
        directory_setgid=ours and bool(folder.st_mode & stat.S_ISGID),
    )
