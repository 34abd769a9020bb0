"""Notifications through real parts: /bin/sh commands and a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from dispatcher.errors import DispatcherError
from dispatcher.notify import Mail, Notice, mail_from_config, notify, run_command, send_mail
from dispatcher.sending.reach import public_url

from .helpers import free_port
from .smtp_inbox import Inbox

NOTICE = Notice(
    "disabled", 3, "https://crm.example/hook", "20 consecutive failures, the last: HTTP 503", "2026-11-22T10:00:00.000Z"
)
SECRET_URL = "https://ops:hunter2@crm.example/hook"
USER, PASSWORD = "ops", "s3cret-pass"


def read_later(path: Path, timeout: float = 5.0) -> str:
    """The file's text once something is in it; a process may still be writing when it is first looked at."""
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return path.read_text()


def running(pid: int) -> bool:
    """True while ``pid`` lives; a zombie waiting for its reaper has already ended."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


# The command channel.


def test_public_url_drops_credentials_only() -> None:
    assert public_url("https://crm.example/hook?a=1") == "https://crm.example/hook?a=1"
    assert public_url(SECRET_URL) == "https://crm.example/hook"
    assert public_url("https://token@crm.example:8443/h") == "https://crm.example:8443/h"
    assert public_url("http://u:p@ss@crm.example/h") == "http://crm.example/h"  # the host follows the last "@"
    assert public_url("https://crm.example/a@b?to=x@y#@z") == "https://crm.example/a@b?to=x@y#@z"
    assert public_url("not a url @ all") == "not a url @ all"


def test_notice_json_has_the_five_keys_and_a_public_url() -> None:
    notice = Notice("failing", 7, SECRET_URL, "HTTP 503", "2026-11-22T10:00:00.000Z")
    assert notice.url == "https://crm.example/hook"
    assert json.loads(notice.as_json()) == {
        "event": "failing",
        "endpoint_id": 7,
        "url": "https://crm.example/hook",
        "reason": "HTTP 503",
        "at": "2026-11-22T10:00:00.000Z",
    }
    assert "\n" not in notice.as_json() and ", " not in notice.as_json()


def test_an_unknown_event_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown notice event 'disable'"):
        Notice("disable", 3, "https://crm.example/hook", "HTTP 410 Gone", "2026-11-22T10:00:00.000Z")


def test_command_gets_the_json_on_stdin(tmp_path: Path) -> None:
    received = tmp_path / "notice.json"
    notice = Notice("disabled", 3, SECRET_URL, "HTTP 410 Gone", "2026-11-22T10:00:00.000Z")
    assert run_command(f"cat > '{received}'", notice) is None
    text = received.read_text()
    assert text.endswith("}\n")
    assert json.loads(text) == {
        "event": "disabled",
        "endpoint_id": 3,
        "url": "https://crm.example/hook",
        "reason": "HTTP 410 Gone",
        "at": "2026-11-22T10:00:00.000Z",
    }
    assert "hunter2" not in text and "ops:" not in text


def test_command_output_is_captured_not_inherited(capfd: pytest.CaptureFixture[str]) -> None:
    assert run_command("echo to-stdout; echo to-stderr >&2", NOTICE) is None
    out, err = capfd.readouterr()
    assert "to-stdout" not in out and "to-stderr" not in err


def test_a_failing_command_reports_the_last_line_of_stderr() -> None:
    error = run_command("cat > /dev/null; echo starting >&2; echo 'webhook  down:\tno route' >&2; exit 3", NOTICE)
    assert error == "notify command exited 3: webhook down: no route"


def test_stderr_is_cut_to_one_short_line() -> None:
    error = run_command("printf 'x%.0s' $(seq 500) >&2; printf '\\n\\n' >&2; exit 1", NOTICE)
    assert error == "notify command exited 1: " + "x" * 200


def test_stdout_speaks_when_stderr_is_silent() -> None:
    assert run_command("echo 'quota exceeded'; exit 2", NOTICE) == "notify command exited 2: quota exceeded"
    assert run_command("exit 4", NOTICE) == "notify command exited 4"


def test_a_command_killed_by_a_signal() -> None:
    assert run_command("kill -9 $$", NOTICE) == "notify command killed by signal 9"


def test_a_command_that_does_not_exist() -> None:
    error = run_command("/nonexistent/x", NOTICE)
    assert error is not None and error.startswith("notify command exited 127: ")
    assert "/nonexistent/x" in error and "\n" not in error


def test_a_command_that_cannot_start() -> None:
    assert run_command("echo \0", NOTICE) == "notify command could not start: embedded null byte"


def assert_gone(pid: int) -> None:
    deadline = time.monotonic() + 5
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not running(pid)


def test_a_slow_command_is_cut_off_with_everything_it_started(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    start = time.monotonic()
    error = run_command(f"sleep 60 & echo $! > '{pidfile}'; wait", NOTICE, timeout=0.5)
    assert time.monotonic() - start < 5
    assert error == "notify command timed out after 0.5s"
    assert_gone(int(read_later(pidfile)))


def test_a_command_that_leaves_a_child_holding_its_output_is_cut_off(tmp_path: Path) -> None:
    # The shell exits at once, but its child keeps stdout open: still the timeout, and the child goes too.
    pidfile = tmp_path / "pid"
    error = run_command(f"sleep 60 & echo $! > '{pidfile}'", NOTICE, timeout=0.5)
    assert error == "notify command timed out after 0.5s"
    assert_gone(int(read_later(pidfile)))


def test_a_command_that_ignores_stdin_is_fine() -> None:
    assert run_command("true", NOTICE) is None


# The email channel.


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    good = isinstance(data, LoginPassword) and (data.login, data.password) == (USER.encode(), PASSWORD.encode())
    # handled=False: aiosmtpd sends the reply; auth_data: kept on the session, where Inbox finds the login.
    return AuthResult(success=good, handled=False, auth_data=data)


def test_email_reaches_the_server(smtp_server: Callable[..., tuple[Inbox, int]]) -> None:
    inbox, port = smtp_server()
    mail = Mail("127.0.0.1", port, "Dispatcher <dispatcher@app.example>", ("ops@example.org", "dev@example.org"))
    notice = Notice(
        "disabled", 3, SECRET_URL, "20 consecutive failures, the last: HTTP 503", "2026-11-22T10:00:00.000Z"
    )
    assert send_mail(mail, notice) is None
    [message] = inbox.messages
    assert inbox.envelopes == [("dispatcher@app.example", ["ops@example.org", "dev@example.org"])]
    assert message["From"] == "Dispatcher <dispatcher@app.example>"
    assert [address.addr_spec for address in message["To"].addresses] == ["ops@example.org", "dev@example.org"]
    assert message["Subject"] == "dispatcher: endpoint 3 disabled (https://crm.example/hook)"
    assert message["Date"]
    body = message.get_content()
    assert "20 consecutive failures, the last: HTTP 503" in body
    assert "2026-11-22T10:00:00.000Z" in body
    assert "dispatcher endpoint enable 3" in body
    assert json.loads(body.strip().splitlines()[-1]) == json.loads(notice.as_json())
    assert "hunter2" not in message.as_string()


def test_failing_email_says_so(smtp_server: Callable[..., tuple[Inbox, int]]) -> None:
    inbox, port = smtp_server()
    notice = Notice(
        "failing", 5, "https://crm.example/hook", "5 consecutive failed requests", "2026-11-22T10:00:00.000Z"
    )
    assert send_mail(Mail("127.0.0.1", port, recipients=("ops@example.org",)), notice) is None
    [message] = inbox.messages
    assert message["Subject"] == "dispatcher: endpoint 5 is failing (https://crm.example/hook)"
    assert "is failing" in message.get_content()
    assert message["From"].startswith("dispatcher@")  # no smtp_from: named after this machine


def test_email_login(smtp_server: Callable[..., tuple[Inbox, int]]) -> None:
    inbox, port = smtp_server(authenticator=authenticate, auth_require_tls=False)
    mail = Mail("127.0.0.1", port, "d@app.example", ("ops@example.org",), user=USER, password=PASSWORD)
    assert send_mail(mail, NOTICE) is None
    assert inbox.logins == [USER.encode()]


def test_email_with_a_wrong_password(smtp_server: Callable[..., tuple[Inbox, int]]) -> None:
    inbox, port = smtp_server(authenticator=authenticate, auth_require_tls=False)
    wrong = "not-the-password"
    mail = Mail("127.0.0.1", port, "d@app.example", ("ops@example.org",), user=USER, password=wrong)
    error = send_mail(mail, NOTICE)
    assert error == "notify email failed: 535 5.7.8 Authentication credentials invalid"
    assert wrong not in error and "\n" not in error
    assert inbox.messages == []


def test_email_login_where_the_server_offers_none(smtp_server: Callable[..., tuple[Inbox, int]]) -> None:
    _, port = smtp_server()
    error = send_mail(Mail("127.0.0.1", port, recipients=("ops@example.org",), user=USER, password=PASSWORD), NOTICE)
    assert error == "notify email failed: SMTP AUTH extension not supported by server."


def test_email_some_recipients_refused(smtp_server: Callable[..., tuple[Inbox, int]]) -> None:
    inbox, port = smtp_server()
    error = send_mail(Mail("127.0.0.1", port, recipients=("ops@example.org", Inbox.REFUSED)), NOTICE)
    assert error == f"notify email failed: refused {Inbox.REFUSED} (550 5.1.1 no such user)"
    assert len(inbox.messages) == 1  # the others still have it


def test_email_every_recipient_refused(smtp_server: Callable[..., tuple[Inbox, int]]) -> None:
    inbox, port = smtp_server()
    error = send_mail(Mail("127.0.0.1", port, recipients=(Inbox.REFUSED,)), NOTICE)
    assert error == f"notify email failed: refused {Inbox.REFUSED} (550 5.1.1 no such user)"
    assert inbox.messages == []


def test_email_to_a_closed_port() -> None:
    start = time.monotonic()
    error = send_mail(Mail("127.0.0.1", free_port(), recipients=("ops@example.org",)), NOTICE)
    assert time.monotonic() - start < 5
    assert error is not None and error.startswith("notify email failed: ") and "refused" in error
    assert "\n" not in error


def test_email_starttls_where_the_server_offers_none(smtp_server: Callable[..., tuple[Inbox, int]]) -> None:
    _, port = smtp_server()
    error = send_mail(Mail("127.0.0.1", port, recipients=("ops@example.org",), starttls=True), NOTICE)
    assert error == "notify email failed: STARTTLS extension not supported by server."


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command (skips without it)."""
    if shutil.which("openssl") is None:
        pytest.skip("STARTTLS needs a certificate, made here with the openssl command")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return cert, key


def tls_options(cert: Path, key: Path) -> dict[str, Any]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return {"tls_context": context, "require_starttls": True}


def test_email_over_starttls_with_login(
    smtp_server: Callable[..., tuple[Inbox, int]], certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = certificate
    # The certificate is trusted the way an administrator would trust a private CA: OpenSSL's own variable.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    # Login only over TLS (aiosmtpd's default), and no mail before STARTTLS: a delivery proves both happened.
    inbox, port = smtp_server(**tls_options(cert, key), authenticator=authenticate, auth_required=True)
    mail = Mail("127.0.0.1", port, "d@app.example", ("ops@example.org",), starttls=True, user=USER, password=PASSWORD)
    assert send_mail(mail, NOTICE) is None
    assert inbox.logins == [USER.encode()]


def test_email_starttls_checks_the_certificate(
    smtp_server: Callable[..., tuple[Inbox, int]], certificate: tuple[Path, Path]
) -> None:
    inbox, port = smtp_server(**tls_options(*certificate))
    error = send_mail(Mail("127.0.0.1", port, recipients=("ops@example.org",), starttls=True), NOTICE)
    assert error is not None and error.startswith("notify email failed: ") and "CERTIFICATE_VERIFY_FAILED" in error
    assert inbox.messages == []


def test_email_with_no_recipients_is_an_error(smtp_server: Callable[..., tuple[Inbox, int]]) -> None:
    # Mail() can be built without any; mail_from_config never does that.
    _, port = smtp_server()
    assert send_mail(Mail("127.0.0.1", port), NOTICE) == "notify email failed: no recipients"


def test_email_with_a_header_injection_is_an_error(smtp_server: Callable[..., tuple[Inbox, int]]) -> None:
    inbox, port = smtp_server()
    error = send_mail(Mail("127.0.0.1", port, recipients=("ops@example.org\nBcc: all@example.org",)), NOTICE)
    assert error is not None and error.startswith("notify email failed: ") and "\n" not in error
    assert inbox.messages == []


# Both channels.


def test_notify_uses_both_channels(tmp_path: Path, smtp_server: Callable[..., tuple[Inbox, int]]) -> None:
    inbox, port = smtp_server()
    received = tmp_path / "notice.json"
    mail = Mail("127.0.0.1", port, recipients=("ops@example.org",))
    assert notify(NOTICE, f"cat > '{received}'", mail) == {"command": None, "email": None}
    assert json.loads(received.read_text()) == json.loads(NOTICE.as_json())
    assert len(inbox.messages) == 1


def test_notify_collects_the_errors_of_both_command_first() -> None:
    results = notify(NOTICE, "echo broken >&2; exit 3", Mail("127.0.0.1", free_port(), recipients=("ops@example.org",)))
    assert list(results) == ["command", "email"]
    assert results["command"] == "notify command exited 3: broken"
    assert (results["email"] or "").startswith("notify email failed: ")


def test_notify_with_nothing_configured() -> None:
    assert notify(NOTICE, None, None) == {}


# Configuration.


def test_mail_from_config_not_configured() -> None:
    assert mail_from_config({}) is None
    assert mail_from_config({"smtp_host": "mail.example"}) is None
    assert mail_from_config({"smtp_to": "ops@example.org"}) is None
    assert mail_from_config({"smtp_host": "  ", "smtp_to": "ops@example.org"}) is None
    assert mail_from_config({"smtp_host": "mail.example", "smtp_to": " , "}) is None


def test_mail_from_config_defaults() -> None:
    assert mail_from_config({"smtp_host": "mail.example", "smtp_to": "ops@example.org"}) == Mail(
        "mail.example", 25, "", ("ops@example.org",), starttls=False, user=None, password=None
    )


def test_mail_from_config_everything() -> None:
    config = {
        "smtp_host": " mail.example ",
        "smtp_port": "587",
        "smtp_from": "Dispatcher <dispatcher@app.example>",
        "smtp_to": "ops@example.org, dev@example.org,",
        "smtp_starttls": "yes",
        "smtp_user": "ops",
        "smtp_password": " pass word ",
    }
    assert mail_from_config(config) == Mail(
        host="mail.example",
        port=587,
        sender="Dispatcher <dispatcher@app.example>",
        recipients=("ops@example.org", "dev@example.org"),
        starttls=True,
        user="ops",
        password=" pass word ",  # a password is taken as it is
    )


@pytest.mark.parametrize(
    ("text", "expected"), [("true", True), ("1", True), ("YES", True), ("false", False), ("0", False), ("no", False)]
)
def test_mail_from_config_starttls_spellings(text: str, expected: bool) -> None:
    mail = mail_from_config({"smtp_host": "mail.example", "smtp_to": "ops@example.org", "smtp_starttls": text})
    assert mail is not None and mail.starttls is expected


@pytest.mark.parametrize(
    ("key", "text"),
    [("smtp_port", "smtp"), ("smtp_port", "0"), ("smtp_port", "70000"), ("smtp_port", ""), ("smtp_starttls", "maybe")],
)
def test_mail_from_config_bad_values(key: str, text: str) -> None:
    with pytest.raises(DispatcherError) as raised:
        mail_from_config({"smtp_host": "mail.example", "smtp_to": "ops@example.org", key: text})
    message = str(raised.value)
    assert message.startswith(f"{key}: invalid ") and "\n" not in message
