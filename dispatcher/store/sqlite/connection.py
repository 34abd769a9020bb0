"""The connection factory, the schema, and the one way to open a write transaction."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ...errors import DispatcherError, NotFound
from ..tables import DATA_TABLES

SCHEMA_VERSION = 9
BUSY_TIMEOUT_S = 30.0
CHECKPOINT_PAGES = 10_000


TYPE_CHECKING = False  # as typing.TYPE_CHECKING; typing is not imported on `dispatcher enqueue`'s short way
if TYPE_CHECKING:
    import sqlite_utils


def schema_sql() -> str:
    return _package_text("schema.sql")


def migration_sql(version: int) -> str:
    """The step that brings a database from ``version - 1`` to ``version``."""
    return _package_text("migrations", f"{version}.sql")


def _package_text(*parts: str) -> str:
    # Imported here: only setting up or upgrading a file needs it, and it costs `enqueue` 5 ms.
    from importlib import resources

    return resources.files("dispatcher").joinpath(*parts).read_text(encoding="utf-8")


def _statements(script: str) -> Iterator[str]:
    """``script`` one complete statement at a time (a trigger's body stays whole)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""
    if pending.strip():
        yield pending  # an unfinished statement fails here, loudly


def connect(path: str | Path, busy_timeout: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    """The one connection factory: every connection gets the same pragmas.

    A database it creates is readable by its owner only: it holds the signing secrets. (SQLite
    gives the -wal and -shm files the database file's permissions.)
    """
    try:
        _create_private(Path(path))
        conn = sqlite3.connect(str(path), timeout=busy_timeout, check_same_thread=False)
        conn.execute("PRAGMA foreign_keys = ON")
        _switch_to_wal(conn, busy_timeout)
        conn.execute("PRAGMA synchronous = NORMAL")
        # A checkpoint syncs to disk: every 10,000 pages (40 MB of log) rather than every
        # 1,000 makes them ten times rarer; the log is cut back to 64 MB after each.
        conn.execute(f"PRAGMA wal_autocheckpoint = {CHECKPOINT_PAGES}")
        conn.execute(f"PRAGMA journal_size_limit = {64 * 1024 * 1024}")
    except sqlite3.DatabaseError as error:
        raise DispatcherError(f"cannot open database {str(path)!r}: {error}", exit_code=1) from None
    return conn


def _switch_to_wal(conn: sqlite3.Connection, busy_timeout: float) -> None:
    """Put the file in WAL mode (once set, it stays: later calls change nothing).

    Processes opening a new file at the same moment race to switch it, and SQLite answers the
    losers "database is locked" at once, without its busy wait; so they wait here instead.
    """
    give_up_at = time.monotonic() + busy_timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= give_up_at:
                raise
            time.sleep(0.01)


def require_database(path: str | Path) -> None:
    """Refuse a database file that does not exist."""
    if _is_file_path(Path(path)) and not Path(path).exists():
        raise NotFound(f"no database at {path} (create it with: dispatcher init)")


def _is_file_path(path: Path) -> bool:
    """False for SQLite's in-memory and URI names, which no file stands for."""
    return str(path) not in ("", ":memory:") and not str(path).startswith("file:")


def _create_private(path: Path) -> None:
    if not _is_file_path(path):
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass  # the file and its permissions are its owner's business
    except OSError:
        pass  # a missing folder or the like: sqlite3 says it better


# Beside the database: the file whose lock the dispatcher's writers queue for (see Connection.write).
LOCK_SUFFIX = "-lock"


def remove_database(path: Path) -> None:
    """The file and every file SQLite or the dispatcher keeps beside it."""
    for suffix in ("", "-wal", "-shm", "-journal", LOCK_SUFFIX):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def open_lock_file(database: str | Path) -> int | None:
    """The lock file beside ``database``, opened (made if need be, with the database's permissions);
    None for a database without a file, or where the file cannot be opened (another user's, a
    read-only folder): then writers wait in SQLite's busy handler, as the application's own do.

    Not the database file itself, nor its -wal or -shm: closing any descriptor of a file drops the
    POSIX locks the process holds on it, and SQLite's are those.
    """
    if not _is_file_path(Path(database)):
        return None
    try:
        mode = os.stat(database).st_mode & 0o666
        return os.open(f"{database}{LOCK_SUFFIX}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, mode)
    except OSError:
        return None


class Connection:
    """One SQLite connection with the dispatcher's pragmas and schema."""

    def __init__(
        self, conn: sqlite3.Connection, writers: threading.Lock | None = None, lock_file: int | None = None
    ) -> None:
        self.conn = conn
        # Shared by the connections of one process's threads, so they queue for SQLite's write lock
        # here and wake the moment it is free, instead of in the busy handler's sleeps of 1 to 100 ms.
        self.writers = writers or contextlib.nullcontext()
        # The same between processes (overlapping runs, --processes): an flock on the lock file,
        # which the kernel hands to the next waiter at once, and drops if its holder is killed.
        self.lock_file = lock_file

    @functools.cached_property
    def db(self) -> sqlite_utils.Database:
        """sqlite-utils over the same connection, for the statements that read best with it.

        Imported on first use: it costs more than the whole of `dispatcher enqueue` otherwise."""
        import sqlite_utils

        return sqlite_utils.Database(self.conn)

    def close(self) -> None:
        self.conn.close()
        if self.lock_file is not None:
            os.close(self.lock_file)
            self.lock_file = None

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A BEGIN IMMEDIATE transaction: takes the write lock before reading."""
        with self.writers, self._across_processes():
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.rollback()
                raise
            self.conn.commit()

    @contextmanager
    def _across_processes(self) -> Iterator[None]:
        if self.lock_file is None:
            yield
            return
        fcntl.flock(self.lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self.lock_file, fcntl.LOCK_UN)

    def apply_schema(self) -> None:
        """Create or upgrade the schema; refuse a file whose own tables have our names."""
        try:
            version = self.schema_version()
            if version is not None and version >= SCHEMA_VERSION:
                return
            # A migration may rebuild tables that others refer to; SQLite's way
            # is with foreign keys off (a no-op inside a transaction), checked before the commit.
            self.conn.execute("PRAGMA foreign_keys = OFF")
            try:
                with self.write() as conn:
                    # Read again under the write lock: another process may have
                    # created or upgraded the schema since.
                    version = self.schema_version()
                    if version is None:
                        self._refuse_foreign_tables()
                        script = schema_sql()
                    else:
                        script = "".join(migration_sql(step) for step in range(version + 1, SCHEMA_VERSION + 1))
                    for statement in _statements(script):
                        conn.execute(statement)
                    # Our tables only: an application's own rows sharing the file are none of our business.
                    broken = [
                        row for table in DATA_TABLES for row in conn.execute(f"PRAGMA foreign_key_check({table})")
                    ]
                    if broken:
                        raise DispatcherError(f"cannot set up the database: {len(broken)} rows break a foreign key")
            finally:
                self.conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as error:
            raise DispatcherError(f"cannot set up the database: {error}", exit_code=1) from None

    def wait_for_events(self, timeout: float, stop: threading.Event) -> bool:
        """SQLite cannot tell a waiting process that another queued events: wait, and let the caller look."""
        stop.wait(timeout)
        return False

    @contextmanager
    def chore(self, name: str) -> Iterator[bool]:
        """Every run may do the chores: on one file, their writes queue for the write lock anyway."""
        yield True

    def require_endpoint(self, endpoint_id: int | None) -> None:
        if endpoint_id is None:
            return
        if not self.conn.execute("SELECT 1 FROM endpoints WHERE id = ?", (endpoint_id,)).fetchone():
            raise NotFound(f"no endpoint {endpoint_id}")

    def answers(self) -> bool:
        """Whether the database can be read now (for a health check): not gone, not corrupt."""
        try:
            (_, _, file) = self.conn.execute("PRAGMA database_list").fetchone()
            self.conn.execute("SELECT version FROM dispatcher_schema").fetchall()
        except sqlite3.Error:
            return False
        # An open connection still reads a file removed under it: look for the file too.
        return not file or os.path.exists(file)

    def schema_version(self) -> int | None:
        """The schema version this file holds; None if the dispatcher has never set it up."""
        try:
            row = self.conn.execute("SELECT max(version) FROM dispatcher_schema").fetchone()
        except sqlite3.OperationalError:
            return None
        return int(row[0] or 0)

    def _refuse_foreign_tables(self) -> None:
        taken = [
            name
            for (name,) in self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN "
                f"({', '.join(repr(table) for table in DATA_TABLES)}) ORDER BY name"
            )
        ]
        if taken:
            raise DispatcherError(
                f"the database already has tables named {', '.join(taken)} that the dispatcher did not "
                "create; give the dispatcher a file of its own"
            )
