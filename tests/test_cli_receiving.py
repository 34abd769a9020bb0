"""`dispatcher verify` and `dispatcher listen`, run as users run them."""

from __future__ import annotations

import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner, Result

from dispatcher.cli import cli
from dispatcher.models import Signing
from dispatcher.signing import new_secret, sign

from .helpers import dispatcher_command

BODY = b'{"batch_id":"b1","events":[{"id":1,"type":"lead.created","data":{"name":"Zo\xc3\xab"}}]}'

# scheme options on the command line, and the Signing they stand for
CASES = {
    "mautic": ([], Signing()),
    "hex": (["--scheme", "hex"], Signing("hex")),
    "github": (
        ["--scheme", "hex", "--signature-header", "X-Hub-Signature-256", "--signature-prefix", "sha256="],
        Signing("hex", "X-Hub-Signature-256", "sha256="),
    ),
    "timestamped": (
        ["--scheme", "timestamped", "--signature-header", "LeaseCloud-Signature"],
        Signing("timestamped", "LeaseCloud-Signature"),
    ),
    "standard": (["--scheme", "standard"], Signing("standard")),
}


def header_options(headers: dict[str, str]) -> list[str]:
    return [option for name, value in headers.items() for option in ("--header", f"{name}: {value}")]


def run_verify(*args: str, body: bytes = BODY) -> Result:
    return CliRunner().invoke(cli, ["verify", *args], input=body)


def signed(case: str, secrets: list[str], timestamp: int | None = None) -> dict[str, str]:
    now = int(time.time()) if timestamp is None else timestamp
    return sign(BODY, secrets, CASES[case][1], message_id="msg_1", timestamp=now)


def one_error_line(result: Result) -> str:
    assert result.stdout == ""
    assert "Traceback" not in result.output
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ")
    return line


# --- dispatcher verify ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_verify_says_genuine(case: str) -> None:
    secret = new_secret(CASES[case][1].scheme)
    result = run_verify("--secret", secret, *CASES[case][0], *header_options(signed(case, [secret])))
    assert (result.exit_code, result.stdout, result.stderr) == (0, "genuine\n", "")


@pytest.mark.parametrize("case", CASES)
def test_verify_refuses_a_tampered_body_in_one_line(case: str) -> None:
    secret = new_secret(CASES[case][1].scheme)
    headers = header_options(signed(case, [secret]))
    result = run_verify("--secret", secret, *CASES[case][0], *headers, body=BODY.replace(b'"id":1', b'"id":2'))
    assert result.exit_code == 1
    assert "the body for any secret" in one_error_line(result)
    assert secret not in result.output


@pytest.mark.parametrize("case", ["timestamped", "standard"])
def test_verify_takes_several_secrets_during_a_rotation(case: str) -> None:
    new, old, other = (new_secret(CASES[case][1].scheme) for _ in range(3))
    headers = header_options(signed(case, [new, old]))
    assert run_verify("--secret", other, "--secret", old, *CASES[case][0], *headers).exit_code == 0
    assert run_verify("--secret", other, *CASES[case][0], *headers).exit_code == 1


def test_verify_refuses_a_missing_header() -> None:
    result = run_verify("--secret", "k", "--header", "Content-Type: application/json")
    assert result.exit_code == 1
    assert one_error_line(result) == "Error: no Webhook-Signature header"


def test_verify_matches_header_names_case_insensitively() -> None:
    headers = {name.upper(): value for name, value in signed("mautic", ["k"]).items()}
    assert run_verify("--secret", "k", *header_options(headers)).stdout == "genuine\n"


def test_verify_refuses_a_stale_timestamp_unless_the_tolerance_allows_it() -> None:
    headers = header_options(signed("timestamped", ["k"], timestamp=int(time.time()) - 900))
    result = run_verify("--secret", "k", *CASES["timestamped"][0], *headers)
    assert result.exit_code == 1
    assert "s old (tolerance 300 s)" in one_error_line(result)
    assert run_verify("--secret", "k", "--tolerance", "1000", *CASES["timestamped"][0], *headers).exit_code == 0


@pytest.mark.parametrize("header", ["no colon", ": no name", "Bad Name: x"])
def test_verify_refuses_a_malformed_header_option_as_bad_usage(header: str) -> None:
    result = run_verify("--secret", "k", "--header", header)
    assert result.exit_code == 2
    assert "--header" in one_error_line(result) and "'Name: value'" in result.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ([], "Missing option '--secret'"),
        (["--secret", "k", "--scheme", "sha1"], "'sha1' is not one of"),
        (["--secret", "k", "--scheme", "standard", "--signature-header", "X-Sig"], "header names are fixed"),
        (["--secret", "k", "--scheme", "timestamped", "--signature-prefix", "v1="], "prefix only goes with"),
        (["--secret", "k", "--tolerance", "-1"], "--tolerance"),
        (["--secret", "whsec_!!secret!!", "--scheme", "standard"], "base64"),
    ],
)
def test_verify_reports_bad_options_in_one_line_with_exit_2(args: list[str], fragment: str) -> None:
    result = run_verify(*args)
    assert result.exit_code == 2
    assert fragment in one_error_line(result)
    assert "!!secret!!" not in result.output


def test_verify_reads_the_headers_from_a_file_and_header_options_win(tmp_path: Path) -> None:
    secret = new_secret()
    path = tmp_path / "request.headers"
    path.write_text(
        "# saved by hand\nContent-Type: application/json\n"
        + f"Webhook-Signature: {signed('mautic', ['x'])['Webhook-Signature']}\n"
    )
    assert run_verify("--secret", secret, "--headers-file", str(path)).exit_code == 1
    right = header_options(signed("mautic", [secret]))
    result = run_verify("--secret", secret, "--headers-file", str(path), *right)
    assert (result.exit_code, result.stdout) == (0, "genuine\n")


@pytest.mark.parametrize(
    ("content", "fragment"), [(None, "does not exist"), ("just text\n", "line 1: not a 'Name: value' header")]
)
def test_verify_refuses_a_bad_headers_file_in_one_line_with_exit_2(
    tmp_path: Path, content: str | None, fragment: str
) -> None:
    path = tmp_path / "0001.headers"
    if content is not None:
        path.write_text(content)
    result = run_verify("--secret", "k", "--headers-file", str(path))
    assert result.exit_code == 2
    assert fragment in one_error_line(result)


def test_verify_as_a_real_program(tmp_path: Path) -> None:
    headers = header_options(signed("github", ["k"]))
    command = [*dispatcher_command(), "verify", "--secret", "k", *CASES["github"][0], *headers]
    genuine = subprocess.run(command, input=BODY, capture_output=True, timeout=30, cwd=tmp_path)
    assert (genuine.returncode, genuine.stdout, genuine.stderr) == (0, b"genuine\n", b"")
    forged = subprocess.run(command, input=BODY + b" ", capture_output=True, timeout=30, cwd=tmp_path)
    assert forged.returncode == 1 and forged.stdout == b""
    assert forged.stderr.decode().splitlines() == ["Error: X-Hub-Signature-256 does not match the body for any secret"]


# --- dispatcher listen ------------------------------------------------------------------------------------------


class Listener:
    """`dispatcher listen` in a subprocess; its output is read on a thread so no read can hang the test."""

    def __init__(self, cwd: Path, *args: str) -> None:
        command = [sys.executable, "-m", "dispatcher", "listen", "--port", "0", *args]
        # No PYTHONUNBUFFERED: the command must flush its lines itself.
        self.process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        first = self.line()
        assert first.startswith("listening on http://127.0.0.1:") and first.endswith("/"), first
        self.url = first.removeprefix("listening on ")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def line(self, timeout: float = 10) -> str:
        line = self.lines.get(timeout=timeout)
        assert line is not None, "listen ended early"
        return line

    def until(self, last: str) -> list[str]:
        """The lines printed up to the first one that starts with ``last``."""
        lines = [self.line()]
        while not lines[-1].startswith(last):
            lines.append(self.line())
        return lines

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str]:
        self.process.send_signal(signum)
        code = self.process.wait(timeout=5)
        assert self.process.stderr is not None
        return code, self.process.stderr.read()


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[list[Listener]]:
    started: list[Listener] = []
    yield started
    for one in started:
        if one.process.poll() is None:
            one.process.kill()
            one.process.wait()


def test_listen_prints_each_request_and_answers_with_the_status(listener: list[Listener], tmp_path: Path) -> None:
    listener.append(one := Listener(tmp_path, "--secret", "k", "--status", "202"))
    headers = {**signed("mautic", ["k"]), "Content-Type": "application/json", "X-Lead-Source": "Web Form"}
    response = requests.post(one.url + "hooks/lead?x=1", data=BODY, headers=headers, timeout=5)
    assert response.status_code == 202 and response.content == b""
    lines = one.until("signature:")
    assert re.fullmatch(r"--- \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z -{40}", lines[0]), lines[0]
    assert lines[1] == "POST /hooks/lead?x=1"
    assert "X-Lead-Source: Web Form" in lines
    assert f"Webhook-Signature: {headers['Webhook-Signature']}" in lines
    assert lines[lines.index("{") :] == [
        "{",
        '  "batch_id": "b1",',
        '  "events": [',
        "    {",
        '      "id": 1,',
        '      "type": "lead.created",',
        '      "data": {',
        '        "name": "Zo\u00eb"',
        "      }",
        "    }",
        "  ]",
        "}",
        "",
        "signature: valid",
    ]
    assert one.stop() == (0, "")


@pytest.mark.parametrize("case", ["timestamped", "standard"])
def test_listen_checks_the_scheme_given(listener: list[Listener], tmp_path: Path, case: str) -> None:
    secret = new_secret(CASES[case][1].scheme)
    listener.append(one := Listener(tmp_path, "--secret", secret, *CASES[case][0]))
    requests.post(one.url, data=BODY, headers=signed(case, [secret]), timeout=5)
    assert one.until("signature:")[-1] == "signature: valid"
    requests.post(one.url, data=BODY + b"\n", headers=signed(case, [secret]), timeout=5)
    verdict = one.until("signature:")[-1]
    assert verdict.startswith("signature: INVALID (") and "the body for any secret" in verdict
    assert one.stop() == (0, "")


def test_listen_without_a_secret_checks_nothing_and_shows_text_bodies(listener: list[Listener], tmp_path: Path) -> None:
    listener.append(one := Listener(tmp_path))
    requests.put(one.url + "x", data=b"plain \xff text", timeout=5)
    lines = one.until("signature:")
    assert lines[1] == "PUT /x"
    assert "plain \ufffd text" in lines
    assert lines[-1] == "signature: not checked (no --secret)"
    assert one.stop(signal.SIGINT) == (0, "")  # Ctrl-C: quiet too


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A port on 127.0.0.1 that something else already listens on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def test_listen_on_a_busy_port_names_it(listening_port: int) -> None:
    result = CliRunner().invoke(cli, ["listen", "--port", str(listening_port)])
    assert result.exit_code == 1
    assert one_error_line(result) == f"Error: port {listening_port} is in use on 127.0.0.1"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--status", "99"], "--status"),
        (["--scheme", "standard", "--signature-header", "X"], "header names are fixed"),
        (["--reject-invalid"], "needs a secret to check them with (--secret)"),
        (["--save", "/etc/hostname"], "--save"),
    ],
)
def test_listen_refuses_bad_options_before_listening(args: list[str], fragment: str) -> None:
    result = CliRunner().invoke(cli, ["listen", "--port", "0", *args])
    assert result.exit_code == 2
    assert fragment in one_error_line(result)


def test_listen_reject_invalid_answers_401_and_still_prints_and_saves(listener: list[Listener], tmp_path: Path) -> None:
    listener.append(one := Listener(tmp_path, "--secret", "k", "--reject-invalid", "--save", "captures"))
    assert requests.post(one.url, data=BODY, headers=signed("mautic", ["k"]), timeout=5).status_code == 200
    assert one.until("signature:")[-1] == "signature: valid"
    assert one.line() == "saved: captures/0001.headers captures/0001.body"
    assert requests.post(one.url, data=BODY + b" ", headers=signed("mautic", ["k"]), timeout=5).status_code == 401
    assert one.until("signature:")[-1].endswith("does not match the body for any secret), answered 401")
    assert one.line() == "saved: captures/0002.headers captures/0002.body"
    assert (tmp_path / "captures" / "0002.body").read_bytes() == BODY + b" "
    comments = (tmp_path / "captures" / "0002.headers").read_text().splitlines()[:3]
    assert comments[0] == "# POST /" and comments[2].startswith("# signature: INVALID (")
    assert one.stop() == (0, "")


@pytest.mark.parametrize("case", CASES)
def test_a_delivery_captured_by_listen_save_verifies_with_the_verify_command(
    listener: list[Listener], tmp_path: Path, case: str
) -> None:
    """The README's promise, end to end: process sends, listen --save keeps it, verify says genuine."""
    scheme_options, signing = CASES[case]
    secret = new_secret(signing.scheme)
    listener.append(one := Listener(tmp_path, "--secret", secret, *scheme_options, "--save", "captures"))
    db = ["--db", str(tmp_path / "queue.db")]
    signature = ["--signature" if option == "--scheme" else option for option in scheme_options]
    runner = CliRunner()
    added = runner.invoke(
        cli, [*db, "endpoint", "add", one.url + "hooks", "--secret", secret, *signature, "--allow-private"]
    )
    assert added.exit_code == 0, added.output
    assert runner.invoke(cli, [*db, "enqueue", "lead.created", '{"name": "Zo\u00eb"}']).exit_code == 0
    sent = runner.invoke(cli, [*db, "process", "--time-limit", "10s"])
    assert sent.exit_code == 0, sent.output
    assert one.until("signature:")[-1] == "signature: valid"
    assert one.line() == "saved: captures/0001.headers captures/0001.body"
    command = [
        *dispatcher_command(),
        "verify",
        "--secret",
        secret,
        *scheme_options,
        "--headers-file",
        "captures/0001.headers",
    ]
    with (tmp_path / "captures" / "0001.body").open("rb") as body:
        verified = subprocess.run(command, stdin=body, capture_output=True, timeout=30, cwd=tmp_path)
    assert (verified.returncode, verified.stdout, verified.stderr) == (0, b"genuine\n", b"")
    assert one.stop() == (0, "")
