"""Telling a person that an endpoint was disabled or is failing: a command, an email, or both.

No database: the process loop builds a :class:`Notice` and passes the channels
configured. A failed notification is an error line for the run's summary,
never an exception, so it cannot stop deliveries.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import smtplib
import socket
import ssl
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from .config import config_value
from .errors import DispatcherError
from .models import Channel
from .sending.reach import public_url

EVENTS = ("disabled", "failing")

COMMAND_TIMEOUT = 30.0  # seconds for the command, and for each step of the SMTP exchange
ERROR_TEXT = 200  # characters of a command's stderr or a server's reply kept in an error


@dataclass(frozen=True)
class Notice:
    event: str  # one of EVENTS
    endpoint_id: int
    url: str  # made public on construction
    reason: str
    at: str

    def __post_init__(self) -> None:
        if self.event not in EVENTS:
            raise ValueError(f"unknown notice event {self.event!r}")
        # Whoever builds the notice, credentials never reach a command, an inbox or a log.
        object.__setattr__(self, "url", public_url(self.url))

    def as_json(self) -> str:
        return json.dumps(
            {
                "event": self.event,
                "endpoint_id": self.endpoint_id,
                "url": self.url,
                "reason": self.reason,
                "at": self.at,
            },
            separators=(",", ":"),
        )


@dataclass(frozen=True)
class Mail:
    host: str
    port: int = 25
    sender: str = ""  # empty: dispatcher@ this machine's name
    recipients: tuple[str, ...] = ()
    starttls: bool = False
    user: str | None = None  # None: no login
    password: str | None = None


def mail_from_config(config: Mapping[str, str]) -> Mail | None:
    """The email channel from the stored config; None unless both ``smtp_host`` and ``smtp_to`` are set."""
    host = _setting(config, "smtp_host")
    recipients = tuple(address.strip() for address in _setting(config, "smtp_to").split(",") if address.strip())
    if not host or not recipients:
        return None
    return Mail(
        host=host,
        port=_setting(config, "smtp_port"),
        sender=_setting(config, "smtp_from"),
        recipients=recipients,
        starttls=_setting(config, "smtp_starttls"),
        user=_setting(config, "smtp_user") or None,
        password=_setting(config, "smtp_password") or None,
    )


def _setting(config: Mapping[str, str], name: str) -> Any:
    # The validators `config set` uses, with the setting's name added: this runs inside `process`,
    # where "invalid number 'x'" alone would not say what to fix.
    try:
        return config_value(config, name)
    except DispatcherError as exc:
        raise DispatcherError(f"{name}: {exc}") from None


def notify(notice: Notice, command: str | None, mail: Mail | None) -> dict[Channel, str | None]:
    """Every configured channel, the command first: each one's error, or None when it took the
    notice. Empty when no channel is configured, so no one was told."""
    results: dict[Channel, str | None] = {}
    if command is not None:
        results["command"] = run_command(command, notice)
    if mail is not None:
        results["email"] = send_mail(mail, notice)
    return results


def run_command(command: str, notice: Notice, timeout: float = COMMAND_TIMEOUT) -> str | None:
    """Run ``command`` with /bin/sh, the notice's JSON on stdin; None on exit 0, else a one-line error."""
    try:
        process = subprocess.Popen(
            ["/bin/sh", "-c", command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # A group of its own, so a timeout can end whatever the shell started too.
            start_new_session=True,
        )
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the command
        return f"notify command could not start: {_one_line(str(exc))}"
    with process:
        try:
            stdout, stderr = process.communicate((notice.as_json() + "\n").encode(), timeout=timeout)
        except subprocess.TimeoutExpired:
            # The group is named by the shell's pid, which stays ours until it is reaped on leaving `with`.
            with contextlib.suppress(OSError):
                os.killpg(process.pid, signal.SIGKILL)
            return f"notify command timed out after {timeout:g}s"
    if process.returncode == 0:
        return None
    status = f"killed by signal {-process.returncode}" if process.returncode < 0 else f"exited {process.returncode}"
    # Some scripts report on stdout; stderr is the better witness when it says anything.
    said = _last_line(stderr) or _last_line(stdout)
    return f"notify command {status}" + (f": {said}" if said else "")


def send_mail(mail: Mail, notice: Notice, timeout: float = COMMAND_TIMEOUT) -> str | None:
    """Email the notice; None when the server took it for every recipient, else a one-line error."""
    if not mail.recipients:
        return "notify email failed: no recipients"
    try:
        with smtplib.SMTP(mail.host, mail.port, timeout=timeout) as smtp:
            if mail.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if mail.user is not None:
                smtp.login(mail.user, mail.password or "")
            refused = smtp.send_message(_message(mail, notice))
    except smtplib.SMTPRecipientsRefused as exc:
        return _mail_error(_refused(exc.recipients), mail.password)
    except smtplib.SMTPResponseException as exc:
        return _mail_error(f"{exc.smtp_code} {_text(exc.smtp_error)}", mail.password)
    except (OSError, ValueError) as exc:  # ValueError: an address or header the email package rejects
        return _mail_error(str(exc) or type(exc).__name__, mail.password)
    # Refused by some recipients only: the others have it, but nobody learns of the gap otherwise.
    return _mail_error(_refused(refused), mail.password) if refused else None


def _message(mail: Mail, notice: Notice) -> EmailMessage:
    message = EmailMessage()
    message["From"] = mail.sender or f"dispatcher@{socket.getfqdn()}"
    message["To"] = ", ".join(mail.recipients)
    message["Date"] = formatdate(usegmt=True)
    headline = "disabled" if notice.event == "disabled" else "is failing"
    message["Subject"] = f"dispatcher: endpoint {notice.endpoint_id} {headline} ({notice.url})"
    message.set_content(_body(notice))
    return message


def _body(notice: Notice) -> str:
    resume = f"dispatcher endpoint enable {notice.endpoint_id}"
    if notice.event == "disabled":
        what = f"The dispatcher disabled endpoint {notice.endpoint_id} ({notice.url}) and stopped sending to it."
        then = f"Its events keep queueing and go out once it is enabled again:\n\n    {resume}"
    else:
        what = f"Endpoint {notice.endpoint_id} ({notice.url}) is failing; the dispatcher keeps retrying it."
        then = f"If it gets disabled for failing, this resumes it:\n\n    {resume}"
    return f"{what}\n\nReason: {notice.reason}\nAt: {notice.at}\n\n{then}\n\n{notice.as_json()}\n"


def _refused(recipients: Mapping[str, tuple[int, bytes | str]]) -> str:
    return "refused " + ", ".join(f"{address} ({code} {_text(reply)})" for address, (code, reply) in recipients.items())


def _mail_error(reason: str, password: str | None) -> str:
    if password:
        reason = reason.replace(password, "***")  # a server may echo what it was sent
    return f"notify email failed: {_one_line(reason)}"


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", errors="replace") if isinstance(reply, bytes) else reply


def _last_line(output: bytes) -> str:
    lines = [line for line in _text(output).splitlines() if line.strip()]
    return _one_line(lines[-1]) if lines else ""


def _one_line(text: str) -> str:
    return " ".join(text.split())[:ERROR_TEXT]
