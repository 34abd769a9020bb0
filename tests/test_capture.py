"""dispatcher.capture: the files `listen --save` writes and `verify --headers-file` reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatcher.capture import Capture, read_headers
from dispatcher.errors import DispatcherError


def test_the_body_is_kept_byte_for_byte_and_the_headers_read_back(tmp_path: Path) -> None:
    body = b'{"name": "Zo\xc3\xab"}\r\n\x00\xff'
    # http.server hands over header bytes decoded as Latin-1: "Zo\xc3\xab" is a UTF-8 name sent raw.
    lines = [("Content-Type", "application/json"), ("X-Name", "Zo\xc3\xab"), ("X-Sig", "a=b: c")]
    saved = Capture(tmp_path).save(body, lines, ["POST /hooks", "signature: valid"])
    assert (saved.body, saved.headers) == (tmp_path / "0001.body", tmp_path / "0001.headers")
    assert saved.body.read_bytes() == body
    assert saved.headers.read_bytes() == (
        b"# POST /hooks\n# signature: valid\nContent-Type: application/json\nX-Name: Zo\xc3\xab\nX-Sig: a=b: c\n"
    )
    assert read_headers(saved.headers) == dict(lines)


def test_a_folded_header_value_is_saved_on_one_line(tmp_path: Path) -> None:
    saved = Capture(tmp_path).save(b"", [("X-Long", "one\r\n two"), ("X-Next", "3")], [])
    assert read_headers(saved.headers) == {"X-Long": "one two", "X-Next": "3"}


def test_a_header_file_written_by_hand_is_read_too(tmp_path: Path) -> None:
    path = tmp_path / "headers.txt"
    path.write_text("# my notes\n\nWebhook-Signature:  abc= \r\nx-other:1\n")
    assert read_headers(path) == {"Webhook-Signature": "abc=", "x-other": "1"}


@pytest.mark.parametrize("line", ["no colon here", ": no name", "Bad Name: x", "#comment without a space: x y"])
def test_a_line_that_is_not_a_header_is_refused_with_its_number(tmp_path: Path, line: str) -> None:
    path = tmp_path / "0001.headers"
    path.write_text(f"X-Fine: 1\n{line}\n")
    with pytest.raises(DispatcherError, match=r"line 2: not a 'Name: value' header") as caught:
        read_headers(path)
    assert caught.value.exit_code == 2


def test_two_captures_on_one_folder_never_overwrite_each_other(tmp_path: Path) -> None:
    first, second = Capture(tmp_path), Capture(tmp_path)  # both see an empty folder
    saved = [first.save(b"a", [], []), second.save(b"b", [], []), first.save(b"c", [], [])]
    assert [item.body.name for item in saved] == ["0001.body", "0002.body", "0003.body"]
    assert [item.body.read_bytes() for item in saved] == [b"a", b"b", b"c"]
    assert all(item.headers.exists() for item in saved)


def test_a_folder_that_cannot_be_made_is_refused_up_front(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(DispatcherError, match="cannot save requests in"):
        Capture(tmp_path / "file" / "captures")
