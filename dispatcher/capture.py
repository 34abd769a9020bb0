"""Requests saved by ``dispatcher listen --save``, in files ``dispatcher verify`` reads back.

Each request is a numbered pair: ``0001.body`` holds the body's exact bytes, ``0001.headers`` one
``Name: value`` per line, as received (case and repeats kept), after a few ``# `` comment lines
saying what the request was. A header name is a token without spaces, so a line starting with
``# `` is never a header.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import DispatcherError
from .signing import is_header_name

_NUMBERED = re.compile(r"([0-9]+)\.(?:body|headers)")
_COMMENT = "# "
# http.server decodes header bytes as Latin-1; encoding them back the same way restores every byte.
_ENCODING = "latin-1"
_FOLD = re.compile(r"[\r\n]+[ \t]*")


@dataclass(frozen=True)
class Saved:
    headers: Path
    body: Path


class Capture:
    """A folder of saved requests, numbered on from the highest number already in it."""

    def __init__(self, folder: Path) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            taken = [int(match.group(1)) for path in folder.iterdir() if (match := _NUMBERED.fullmatch(path.name))]
        except OSError as error:
            raise DispatcherError(f"cannot save requests in {str(folder)!r}: {error.strerror}") from None
        self.folder = folder
        self._next = max(taken, default=0) + 1

    def save(self, body: bytes, header_lines: Iterable[tuple[str, str]], comments: Sequence[str]) -> Saved:
        """Write one request under the next free number; never replaces a file already there."""
        text = "".join(f"{_COMMENT}{comment}\n" for comment in comments)
        # An obsolete folded header value is one value: its line breaks become the space they stand for.
        text += "".join(f"{name}: {_FOLD.sub(' ', value)}\n" for name, value in header_lines)
        while True:
            stem = f"{self._next:04d}"
            self._next += 1
            saved = Saved(self.folder / f"{stem}.headers", self.folder / f"{stem}.body")
            try:
                # Exclusive creation: another `listen --save` on the same folder may take a number first.
                with saved.body.open("xb") as file:
                    file.write(body)
            except FileExistsError:
                continue
            try:
                with saved.headers.open("xb") as file:
                    file.write(text.encode(_ENCODING, errors="replace"))
            except FileExistsError:
                saved.body.unlink()
                continue
            return saved


def read_headers(path: Path) -> dict[str, str]:
    """The headers in a ``.headers`` file (or any file of ``Name: value`` lines); ``# `` lines are skipped."""
    try:
        text = path.read_bytes().decode(_ENCODING)
    except OSError as error:
        raise DispatcherError(f"cannot read {str(path)!r}: {error.strerror}") from None
    headers: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith(_COMMENT):
            continue
        name, colon, value = line.partition(":")
        if not colon or not is_header_name(name.strip()):
            raise DispatcherError(f"{str(path)!r} line {number}: not a 'Name: value' header")
        headers[name.strip()] = value.strip()
    return headers
