"""End-to-end tests of the `dispatcher` command line, checked the way a user would.

The database is a real SQLite file and every delivery crosses a real socket to
pytest-httpserver. Most commands run in-process through click's CliRunner for
speed; the ones whose behaviour depends on the real program (environment,
working directory, process exit, stdin) run the installed console script.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import random
import re
import subprocess
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from pytest_httpserver import HTTPServer

from dispatcher.cli import cli
from dispatcher.producer import Queue
from dispatcher.store import open_store

from .helpers import (
    TIME_LIMIT,
    Invoke,
    RunDispatcher,
    add_endpoint,
    as_json,
    assert_one_line_error,
    attempts_of,
    closed_port_url,
    dispatcher_command,
    enqueue,
    ok,
    outcome,
    query,
    show,
    status_of,
    stored_events,
)

ENDPOINT_KEYS = set(
    "id name description url events enabled disabled_reason disabled_at order batch_size timeout max_attempts retry"
    " max_age disable_after concurrency rate_limit notify_command format signature"
    " signature_header signature_prefix headers success allow_private ca_bundle retired_secrets created_at".split()
)
SCHEMA_TABLES = {"config", "endpoints", "events", "batches", "pending", "deliveries", "attempts"}
CONFIG_DEFAULTS = {
    "order": "asc",
    "batch_size": "10",
    "timeout": "15s",
    "max_attempts": "8",
    "retry": "schedule:5s,5m,30m,2h,5h,10h,10h",
    "max_age": "none",
    "disable_after": "20",
    "notify_command": "none",
    "concurrency": "1",
    "rate_limit": "none",
    "allow_private": "false",
    "allow_networks": "none",
    "retention": "7d",
    "notify_failing_after": "0",
    "smtp_host": "",
    "smtp_port": "25",
    "smtp_from": "",
    "smtp_to": "",
    "smtp_starttls": "false",
    "smtp_user": "",
    "smtp_password": "",
}


# --- reading what the CLI did ---------------------------------------------------


def parse_added(stdout: str) -> tuple[int, str]:
    """(id, secret) from the human output of `endpoint add`."""
    fields = dict(re.findall(r"^\s*(id|secret)\s*[:=]\s*(\S+)\s*$", stdout, re.MULTILINE | re.IGNORECASE))
    assert set(fields) == {"id", "secret"}, stdout
    return int(fields["id"]), fields["secret"]


SUMMARY_PATTERNS = {
    "requests": r"(\d+) requests?\b",
    "delivered": r"(\d+) events? delivered",
    "failures": r"(\d+) failures?\b",
    "retries": r"(\d+) retr(?:y|ies) scheduled",
    "dead": r"(\d+) dead\b",
}


def summary_of(stdout: str) -> dict[str, int]:
    lines = stdout.splitlines()
    assert len(lines) == 1, f"expected one summary line, got:\n{stdout}"
    found = {name: re.search(pattern, lines[0]) for name, pattern in SUMMARY_PATTERNS.items()}
    return {name: int(match.group(1)) for name, match in found.items() if match}


def summary(
    requests: int = 0, delivered: int = 0, failures: int = 0, retries: int = 0, dead: int = 0
) -> dict[str, int]:
    return {"requests": requests, "delivered": delivered, "failures": failures, "retries": retries, "dead": dead}


def config_lines(stdout: str) -> dict[str, str]:
    return dict(re.findall(r"^[ \t]*(\w+)[ \t]*[=:][ \t]*(.*?)[ \t]*$", stdout, re.MULTILINE))


def is_timestamp(text: Any) -> bool:
    return isinstance(text, str) and datetime.fromisoformat(text.replace("Z", "+00:00")).tzinfo is not None


# --- reading the database directly, where the CLI offers no view -------------


def table_names(path: Path) -> set[str]:
    return {name for (name,) in query(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}


# --- the receiver and a queue to deliver --------------------------------------


def receiver(httpserver: HTTPServer, status: int = 200, body: str = "thanks") -> str:
    """Answer every POST to /hook with ``status``; returns the URL to register."""
    httpserver.expect_request("/hook", method="POST").respond_with_data(body, status=status)
    return httpserver.url_for("/hook")


def received_batches(httpserver: HTTPServer) -> list[dict[str, Any]]:
    return [json.loads(request.get_data()) for request, _ in httpserver.log]


@dataclass(frozen=True)
class Queued:
    endpoint_id: int
    secret: str
    event_ids: list[int]
    payloads: list[dict[str, Any]]


def queue_for(invoke: Invoke, url: str, count: int, *endpoint_options: str) -> Queued:
    """Register ``url`` (a receiver on 127.0.0.1, so --allow-private) and queue ``count`` lead.created events for it."""
    endpoint_id, secret = parse_added(ok(invoke("endpoint", "add", url, "--allow-private", *endpoint_options)))
    payloads = [{"lead": n, "email": f"lead{n}@example.com"} for n in range(count)]
    ids = [enqueue(invoke, "lead.created", json.dumps(payload)) for payload in payloads]
    return Queued(endpoint_id, secret, ids, payloads)


# --- where the database is -----------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ("init",),
        ("enqueue", "lead.created"),
        ("endpoint", "add", "https://example.com/hook"),
        ("config", "set", "timeout", "5s"),
        ("import", "-", "--format", "jsonl", "--type", "lead.created"),
    ],
    ids=" ".join,
)
def test_commands_that_store_something_create_the_database(
    invoke: Invoke, db_path: Path, command: tuple[str, ...]
) -> None:
    ok(invoke(*command, input="{}\n"))
    assert SCHEMA_TABLES <= table_names(db_path)


READ_COMMANDS = [
    ("process", *TIME_LIMIT),
    ("status",),
    ("attempts",),
    ("dead",),
    ("replay", "--dead"),
    ("prune",),
    ("endpoint", "list"),
    ("endpoint", "show", "1"),
    ("endpoint", "update", "1", "--name", "x"),
    ("endpoint", "enable", "1"),
    ("endpoint", "disable", "1"),
    ("endpoint", "delete", "1", "--yes"),
    ("endpoint", "rotate-secret", "1"),
    ("endpoint", "test", "1"),
    ("endpoint", "retry", "1"),
    ("attempts", "show", "1"),
    ("config", "list"),
    ("config", "get", "timeout"),
]


@pytest.mark.parametrize("command", READ_COMMANDS, ids=" ".join)
def test_commands_that_only_read_or_deliver_refuse_a_missing_database(
    invoke: Invoke, db_path: Path, command: tuple[str, ...]
) -> None:
    message = assert_one_line_error(invoke(*command))
    assert message == f"Error: no database at {db_path} (create it with: dispatcher init)"
    assert list(db_path.parent.iterdir()) == []


def test_a_cron_line_with_a_mistyped_database_complains(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*dispatcher_command(), *args], cwd=tmp_path, capture_output=True, text=True, timeout=60)

    ok(run("--db", "queue.db", "init"))
    cron = run("--db", "queeu.db", "process", "--quiet")
    assert assert_one_line_error(cron) == "Error: no database at queeu.db (create it with: dispatcher init)"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["queue.db", "queue.db-lock"]


@pytest.mark.parametrize(
    ("db_option", "env_db", "expected"),
    [
        ((), "from-env.db", "from-env.db"),
        ((), None, "dispatcher.db"),
        (("--db", "from-flag.db"), "from-env.db", "from-flag.db"),
    ],
    ids=["env DISPATCHER_DB", "default ./dispatcher.db", "--db beats env"],
)
def test_database_location(tmp_path: Path, db_option: tuple[str, ...], env_db: str | None, expected: str) -> None:
    env = {name: value for name, value in os.environ.items() if name != "DISPATCHER_DB"}
    if env_db:
        env["DISPATCHER_DB"] = str(tmp_path / env_db)
    result = subprocess.run(
        [*dispatcher_command(), *db_option, "init"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    ok(result)
    assert {path.name for path in tmp_path.glob("*.db")} == {expected}
    assert SCHEMA_TABLES <= table_names(tmp_path / expected)


@pytest.mark.parametrize(
    "command",
    [("init",), ("status",), ("endpoint", "list"), ("enqueue", "lead.created", "{}"), ("process", *TIME_LIMIT)],
    ids=" ".join,
)
def test_corrupt_database_is_refused_and_left_alone(
    db_path: Path, run_dispatcher: RunDispatcher, command: tuple[str, ...]
) -> None:
    garbage = random.Random(1234).randbytes(8192)
    db_path.write_bytes(garbage)
    assert_one_line_error(run_dispatcher(*command), exit_code=None)
    assert db_path.read_bytes() == garbage


def test_a_database_the_user_cannot_write_is_refused_in_a_line_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    with closing(open_store(path)) as store:
        Queue(store).enqueue("kept", {"n": 1})
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = path.read_bytes()
    with read_only(path):
        for command in (("enqueue", "lead.created", "{}"), ("process", *TIME_LIMIT)):
            result = subprocess.run(
                [*dispatcher_command(), "--db", str(path), *command], capture_output=True, text=True, timeout=60
            )
            assert_one_line_error(result, exit_code=None)
    assert path.read_bytes() == before


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """No write permission; as root (CI), whom permissions do not bind, the immutable attribute."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        yield
        return
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("running as root, and this file system has no immutable attribute (chattr +i)")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


# --- endpoints -----------------------------------------------------------------


@pytest.mark.parametrize("given_secret", [None, "my-own-secret"], ids=["generated", "given"])
def test_endpoint_add_prints_id_and_secret(invoke: Invoke, given_secret: str | None) -> None:
    options = ("--secret", given_secret) if given_secret else ()
    endpoint_id, secret = parse_added(ok(invoke("endpoint", "add", "https://example.com/hook", *options)))
    if given_secret:
        assert secret == given_secret
    else:
        assert len(secret) >= 16  # generated: long enough to be a real key
    assert show(invoke, endpoint_id, "--show-secret")["secret"] == secret


def test_endpoint_add_json(invoke: Invoke) -> None:
    options = "--name CRM --event lead.* --event order.paid --secret s3cret --order desc --batch-size 3"
    data = add_endpoint(
        invoke, "https://example.com/hook", *options.split(), "--timeout", "500ms", "--max-attempts", "2"
    )
    assert set(data) == ENDPOINT_KEYS | {"secret"}
    assert data == {
        **data,
        "name": "CRM",
        "url": "https://example.com/hook",
        "events": ["lead.*", "order.paid"],
        "secret": "s3cret",
        "enabled": True,
        "disabled_reason": None,
        "disabled_at": None,
        "order": "desc",
        "batch_size": 3,
        "max_attempts": 2,
    }
    assert isinstance(data["id"], int)
    assert is_timestamp(data["created_at"])


def test_endpoint_add_defaults_come_from_config(invoke: Invoke) -> None:
    data = add_endpoint(invoke)
    assert (data["events"], data["order"], data["batch_size"], data["max_attempts"]) == (["*"], "asc", 10, 8)
    assert show(invoke, data["id"]) == {key: value for key, value in data.items() if key != "secret"}


SECRET = "very-private-secret"


@pytest.mark.parametrize(
    "command",
    [
        ("endpoint", "list"),
        ("endpoint", "list", "--json"),
        ("endpoint", "show", "{id}"),
        ("endpoint", "show", "{id}", "--json"),
        ("endpoint", "update", "{id}", "--name", "renamed"),
        ("endpoint", "update", "{id}", "--name", "renamed", "--json"),
        ("endpoint", "disable", "{id}", "--json"),
        ("endpoint", "enable", "{id}", "--json"),
        ("status", "--json"),
    ],
    ids=" ".join,
)
def test_secret_is_not_shown_without_asking(invoke: Invoke, command: tuple[str, ...]) -> None:
    endpoint_id = add_endpoint(invoke, "https://example.com/hook", "--secret", SECRET)["id"]
    stdout = ok(invoke(*(part.format(id=endpoint_id) for part in command)))
    assert SECRET not in stdout
    assert '"secret"' not in stdout


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_show_secret_shows_it(invoke: Invoke, as_json: bool) -> None:
    endpoint_id = add_endpoint(invoke, "https://example.com/hook", "--secret", SECRET)["id"]
    stdout = ok(invoke("endpoint", "show", str(endpoint_id), "--show-secret", *(["--json"] if as_json else [])))
    if as_json:
        assert json.loads(stdout)["secret"] == SECRET
    else:
        assert SECRET in stdout


def test_endpoint_list(invoke: Invoke) -> None:
    added = [add_endpoint(invoke, f"https://example.com/{n}", "--name", f"hook-{n}") for n in range(2)]
    listed = as_json(invoke("endpoint", "list", "--json"))
    assert listed == [{key: value for key, value in item.items() if key != "secret"} for item in added]
    text = ok(invoke("endpoint", "list"))
    assert all(f"https://example.com/{n}" in text for n in range(2))


@pytest.mark.parametrize(
    ("command", "said"),
    [
        (("endpoint", "list"), "no endpoints yet (add one with: dispatcher endpoint add URL)\n"),
        (("status",), "no endpoints yet (add one with: dispatcher endpoint add URL)\n"),
        (("attempts",), "no attempts\n"),
        (("dead",), "no dead deliveries\n"),
    ],
    ids=" ".join,
)
def test_empty_results_say_so(invoke: Invoke, command: tuple[str, ...], said: str) -> None:
    ok(invoke("init"))
    assert ok(invoke(*command)) == said
    assert as_json(invoke(*command, "--json")) == []


@pytest.mark.parametrize(
    ("options", "changes"),
    [
        (("--name", "second"), {"name": "second"}),
        (("--url", "https://example.org/other"), {"url": "https://example.org/other"}),
        (("--event", "order.*", "--event", "invoice.paid"), {"events": ["order.*", "invoice.paid"]}),
        (("--order", "desc", "--batch-size", "7"), {"order": "desc", "batch_size": 7}),
        (("--max-attempts", "2"), {"max_attempts": 2}),
        (("--secret", "rotated"), {"secret": "rotated"}),
        ((), {}),
    ],
    ids=["name", "url", "events replaced", "order and batch size", "max attempts", "secret", "nothing"],
)
def test_endpoint_update_changes_only_what_is_given(
    invoke: Invoke, options: tuple[str, ...], changes: dict[str, Any]
) -> None:
    before = add_endpoint(
        invoke, "https://example.com/hook", "--name", "first", "--event", "lead.*", "--batch-size", "3"
    )
    printed = as_json(invoke("endpoint", "update", str(before["id"]), *options, "--json"))
    after = show(invoke, before["id"], "--show-secret")
    assert after == {**before, **changes}
    assert printed == {key: value for key, value in after.items() if key != "secret"}


def test_endpoint_update_reset_follows_the_global_setting_again(invoke: Invoke) -> None:
    ok(invoke("config", "set", "timeout", "20s"))
    ok(invoke("config", "set", "retry", "fixed:5m"))
    endpoint_id = add_endpoint(invoke, "https://example.com/hook", "--timeout", "3s", "--retry", "fixed:1m")["id"]
    reset = as_json(invoke("endpoint", "update", str(endpoint_id), "--reset", "timeout", "--reset", "retry", "--json"))
    assert (reset["timeout"], reset["retry"]) == (20.0, "fixed:5m")
    ok(invoke("config", "set", "timeout", "30s"))  # followed from now on, not copied
    assert show(invoke, endpoint_id)["timeout"] == 30.0


def test_endpoint_update_refuses_a_reset_and_a_value_together(invoke: Invoke) -> None:
    before = add_endpoint(invoke, "https://example.com/hook", "--timeout", "3s")
    error = assert_one_line_error(
        invoke("endpoint", "update", str(before["id"]), "--reset", "timeout", "--timeout", "5s")
    )
    assert "--reset timeout" in error
    assert show(invoke, before["id"], "--show-secret") == before


@pytest.mark.parametrize(
    "options",
    [
        ("--url", "ftp://example.com"),
        ("--batch-size", "0"),
        ("--order", "sideways"),
        ("--timeout", "5x"),
        ("--max-attempts", "0"),
        ("--event", ""),
        ("--reset", "url"),
    ],
    ids=" ".join,
)
def test_endpoint_update_refuses_bad_values(invoke: Invoke, options: tuple[str, ...]) -> None:
    before = add_endpoint(invoke)
    assert_one_line_error(invoke("endpoint", "update", str(before["id"]), *options))
    assert show(invoke, before["id"], "--show-secret") == before


def test_disable_records_why_and_when_and_enable_clears_it(invoke: Invoke) -> None:
    endpoint_id = add_endpoint(invoke)["id"]
    disabled = as_json(invoke("endpoint", "disable", str(endpoint_id), "--json"))
    assert disabled["enabled"] is False
    assert disabled["disabled_reason"]
    assert is_timestamp(disabled["disabled_at"])
    assert show(invoke, endpoint_id) == disabled
    enabled = as_json(invoke("endpoint", "enable", str(endpoint_id), "--json"))
    assert enabled == {**disabled, "enabled": True, "disabled_reason": None, "disabled_at": None}


def test_disabled_endpoint_keeps_queueing_and_gets_it_all_when_enabled(invoke: Invoke, httpserver: HTTPServer) -> None:
    queued = queue_for(invoke, receiver(httpserver), 0)
    ok(invoke("endpoint", "disable", str(queued.endpoint_id)))
    ids = [enqueue(invoke, "lead.created", "{}") for _ in range(2)]
    assert summary_of(ok(invoke("process", *TIME_LIMIT))) == summary()
    assert not httpserver.log
    assert [row["pending"] for row in status_of(invoke)] == [2]
    ok(invoke("endpoint", "enable", str(queued.endpoint_id)))
    assert summary_of(ok(invoke("process", *TIME_LIMIT))) == summary(requests=1, delivered=2)
    assert [[event["id"] for event in batch["events"]] for batch in received_batches(httpserver)] == [ids]


@pytest.mark.parametrize(
    ("options", "answer", "kept"),
    [(("--yes",), None, False), ((), "y\n", False), ((), "n\n", True)],
    ids=["--yes", "answered y", "answered n"],
)
def test_endpoint_delete(invoke: Invoke, options: tuple[str, ...], answer: str | None, kept: bool) -> None:
    endpoint_id = add_endpoint(invoke)["id"]
    result = invoke("endpoint", "delete", str(endpoint_id), *options, input=answer)
    outcome(result)  # no escaped exception, whichever way it went
    if kept:
        assert result.exit_code != 0  # the user stopped it: not a success for scripts
    else:
        ok(result)
    assert [item["id"] for item in as_json(invoke("endpoint", "list", "--json"))] == ([endpoint_id] if kept else [])


@pytest.mark.parametrize(
    "command",
    [("show",), ("update", "--name", "x"), ("enable",), ("disable",), ("delete", "--yes")],
    ids=" ".join,
)
def test_unknown_endpoint_id(invoke: Invoke, command: tuple[str, ...]) -> None:
    add_endpoint(invoke)
    name, *options = command
    message = assert_one_line_error(invoke("endpoint", name, "999", *options), exit_code=None)
    assert "999" in message


@pytest.mark.parametrize(
    "command", [("process", *TIME_LIMIT), ("attempts",), ("dead",), ("replay", "--dry-run"), ("replay",)], ids=" ".join
)
def test_filtering_by_an_endpoint_that_does_not_exist_is_an_error(
    invoke: Invoke, db_path: Path, command: tuple[str, ...]
) -> None:
    add_endpoint(invoke)
    enqueue(invoke, "lead.created", "{}")
    message = assert_one_line_error(invoke(*command, "--endpoint", "99"))
    assert message == "Error: no endpoint 99"
    assert query(db_path, "SELECT count(*) FROM pending") == [(1,)]


# --- enqueue -------------------------------------------------------------------

PAYLOAD = '{"lead": 1,  "tags": ["a", "b"]}'  # odd spacing: stored as given, not re-serialized


def _inline(tmp_path: Path) -> tuple[list[str], str | None]:
    return [PAYLOAD], None


def _stdin(tmp_path: Path) -> tuple[list[str], str | None]:
    return ["-"], PAYLOAD


def _file(tmp_path: Path) -> tuple[list[str], str | None]:
    path = tmp_path / "payload.json"
    path.write_text(PAYLOAD, encoding="utf-8")
    return [f"@{path}"], None


@pytest.mark.parametrize("source", [_inline, _stdin, _file], ids=["inline", "stdin", "@file"])
def test_enqueue_payload_sources(
    invoke: Invoke, db_path: Path, tmp_path: Path, source: Callable[[Path], tuple[list[str], str | None]]
) -> None:
    args, stdin = source(tmp_path)
    stdout = ok(invoke("enqueue", "lead.created", *args, input=stdin))
    ((event_id, event_type, payload),) = stored_events(db_path)
    assert stdout == f"{event_id}\n"
    assert event_type == "lead.created"
    assert payload == PAYLOAD


def test_enqueue_without_payload_queues_an_empty_object(invoke: Invoke, db_path: Path) -> None:
    first = enqueue(invoke, "ping", "{}")
    stdout = ok(invoke("enqueue", "ping"))
    assert stdout == f"{first + 1}\n"
    assert json.loads(stored_events(db_path)[-1][2]) == {}


@pytest.mark.parametrize(
    "payload",
    ["not json", "{", '{"a": 1} trailing', "42", '"text"', "null", "true", "NaN", '{"a": NaN}', "[1, -Infinity]", ""],
    ids=["text", "truncated", "trailing", "number", "string", "null", "bool", "NaN", "nested NaN", "Infinity", "empty"],
)
@pytest.mark.parametrize("via", ["inline", "stdin"])
def test_enqueue_refuses_bad_payload(invoke: Invoke, db_path: Path, payload: str, via: str) -> None:
    ok(invoke("init"))
    args, stdin = ([payload], None) if via == "inline" else (["-"], payload)
    assert_one_line_error(invoke("enqueue", "lead.created", *args, input=stdin))
    assert stored_events(db_path) == []


@pytest.mark.parametrize(
    "content",
    [b"NaN", b"[1,", b'{"name": "caf\xe9"}', b"\xff\xfe{\x00}\x00"],
    ids=["NaN", "truncated", "latin-1", "utf-16"],
)
@pytest.mark.parametrize("via", ["stdin", "@file"])
def test_enqueue_refuses_bad_bytes(db_path: Path, tmp_path: Path, content: bytes, via: str) -> None:
    """Real programs pipe or point at files that are not UTF-8; that is bad input too."""
    ok(CliRunner().invoke(cli, ["--db", str(db_path), "init"]))
    path = tmp_path / "payload.json"
    path.write_bytes(content)
    args, stdin = (["-"], content) if via == "stdin" else ([f"@{path}"], None)
    result = CliRunner().invoke(cli, ["--db", str(db_path), "enqueue", "lead.created", *args], input=stdin)
    assert_one_line_error(result)
    assert stored_events(db_path) == []


def test_enqueue_missing_payload_file(invoke: Invoke, db_path: Path, tmp_path: Path) -> None:
    message = assert_one_line_error(invoke("enqueue", "lead.created", f"@{tmp_path / 'nowhere.json'}"))
    assert "nowhere.json" in message
    assert stored_events(db_path) == []


def test_enqueue_from_stdin_of_the_real_program(run_dispatcher: RunDispatcher, db_path: Path) -> None:
    stdout = ok(run_dispatcher("enqueue", "lead.created", "-", input=PAYLOAD + "\n"))
    ((event_id, _, payload),) = stored_events(db_path)
    assert stdout == f"{event_id}\n"
    assert json.loads(payload) == json.loads(PAYLOAD)


# --- delivering -----------------------------------------------------------------


def test_process_delivers_one_signed_batch(
    invoke: Invoke, run_dispatcher: RunDispatcher, httpserver: HTTPServer
) -> None:
    queued = queue_for(invoke, receiver(httpserver), 3)
    result = run_dispatcher("process", "--time-limit", "5s")  # the real program, as cron runs it
    assert summary_of(ok(result)) == summary(requests=1, delivered=3)
    assert result.stderr == ""

    ((request, _),) = httpserver.log
    body = request.get_data()
    batch = json.loads(body)
    assert isinstance(batch["batch_id"], str) and batch["batch_id"]
    assert [event["id"] for event in batch["events"]] == queued.event_ids
    for event, payload in zip(batch["events"], queued.payloads):
        assert set(event) == {"id", "type", "timestamp", "data"}
        assert event["type"] == "lead.created"
        assert event["data"] == payload
        assert is_timestamp(event["timestamp"])

    expected = base64.b64encode(hmac.new(queued.secret.encode(), body, hashlib.sha256).digest()).decode()
    assert hmac.compare_digest(request.headers["Webhook-Signature"], expected)


def test_process_quiet_prints_nothing(invoke: Invoke, run_dispatcher: RunDispatcher, httpserver: HTTPServer) -> None:
    queue_for(invoke, receiver(httpserver), 3)
    result = run_dispatcher("process", "--quiet", *TIME_LIMIT)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert len(httpserver.log) == 1


def test_status_and_attempts_after_delivery(invoke: Invoke, httpserver: HTTPServer) -> None:
    queued = queue_for(invoke, receiver(httpserver), 3)
    ok(invoke("process", *TIME_LIMIT))
    (row,) = status_of(invoke)
    assert row == {
        **row,
        "endpoint": queued.endpoint_id,
        "url": httpserver.url_for("/hook"),
        "enabled": True,
        "pending": 0,
        "in_flight": 0,
        "delivered": 3,
        "dead": 0,
        "consecutive_failures": 0,
        "last_error": None,
        "oldest_pending_age_s": None,
    }
    assert is_timestamp(row["last_success_at"])

    (attempt,) = attempts_of(invoke)
    (batch,) = received_batches(httpserver)
    assert attempt == {
        **attempt,
        "endpoint": queued.endpoint_id,
        "batch_id": batch["batch_id"],
        "event_ids": queued.event_ids,
        "status_code": 200,
        "error": None,
    }
    assert is_timestamp(attempt["started_at"])
    assert isinstance(attempt["duration_ms"], int) and attempt["duration_ms"] >= 0
    assert attempts_of(invoke, "--failed") == []
    # Nothing is left, so a second run sends nothing.
    assert summary_of(ok(invoke("process", *TIME_LIMIT))) == summary()
    assert len(httpserver.log) == 1


@pytest.mark.parametrize(
    ("options", "expected_summary", "expected_status"),
    [
        ((), summary(requests=1, failures=1, retries=1), {"pending": 3, "dead": 0}),
        (("--max-attempts", "1"), summary(requests=1, failures=1, dead=3), {"pending": 0, "dead": 3}),
    ],
    ids=["retry scheduled", "last attempt: dead"],
)
def test_receiver_answering_500(
    invoke: Invoke,
    httpserver: HTTPServer,
    options: tuple[str, ...],
    expected_summary: dict[str, int],
    expected_status: dict[str, int],
) -> None:
    queued = queue_for(invoke, receiver(httpserver, status=500, body="boom"), 3, *options)
    # The run completed; the receiver's answer is not the dispatcher's failure.
    assert summary_of(ok(invoke("process", *TIME_LIMIT))) == expected_summary
    (row,) = status_of(invoke)
    assert row == {**row, "delivered": 0, "in_flight": 0, "consecutive_failures": 1, **expected_status}
    assert "500" in row["last_error"]
    assert row["last_success_at"] is None

    (failed,) = attempts_of(invoke, "--failed")
    assert failed == {**failed, "endpoint": queued.endpoint_id, "event_ids": queued.event_ids, "status_code": 500}
    assert "500" in failed["error"]
    assert "boom" in failed["response_excerpt"]
    assert attempts_of(invoke) == [failed]
    assert "500" in ok(invoke("attempts", "--failed"))


def test_unreachable_receiver_is_a_failure_not_a_crash(invoke: Invoke) -> None:
    queue_for(invoke, closed_port_url(), 1)
    assert summary_of(ok(invoke("process", *TIME_LIMIT))) == summary(requests=1, failures=1, retries=1)
    (row,) = status_of(invoke)
    assert (row["pending"], row["consecutive_failures"]) == (1, 1)
    assert row["last_error"]


def test_process_only_one_endpoint(invoke: Invoke, httpserver: HTTPServer) -> None:
    first = queue_for(invoke, receiver(httpserver), 0)
    second = queue_for(invoke, httpserver.url_for("/hook"), 0)
    enqueue(invoke, "lead.created", "{}")  # fans out to both
    assert summary_of(ok(invoke("process", "--endpoint", str(second.endpoint_id), *TIME_LIMIT))) == summary(
        requests=1, delivered=1
    )
    pending = {row["endpoint"]: row["pending"] for row in status_of(invoke)}
    assert pending == {first.endpoint_id: 1, second.endpoint_id: 0}


def test_attempts_limit_and_endpoint_filter(invoke: Invoke, httpserver: HTTPServer) -> None:
    url = receiver(httpserver)
    first = queue_for(invoke, url, 0, "--batch-size", "1", "--event", "lead.*")
    second = queue_for(invoke, url, 0, "--batch-size", "1", "--event", "order.*")
    for _ in range(3):
        enqueue(invoke, "lead.created", "{}")
    enqueue(invoke, "order.paid", "{}")
    assert summary_of(ok(invoke("process", *TIME_LIMIT)))["requests"] == 4
    assert {row["endpoint"] for row in attempts_of(invoke, "--endpoint", str(second.endpoint_id))} == {
        second.endpoint_id
    }
    newest = attempts_of(invoke, "--limit", "2")
    everything = attempts_of(invoke)
    assert len(everything) == 4 and newest == everything[-2:]
    assert {row["endpoint"] for row in everything} == {first.endpoint_id, second.endpoint_id}


# --- config ----------------------------------------------------------------------


def test_config_list_shows_the_defaults(invoke: Invoke) -> None:
    ok(invoke("init"))
    assert config_lines(ok(invoke("config", "list"))) == CONFIG_DEFAULTS


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("timeout", "2m", "2m"),
        ("timeout", "500ms", "500ms"),
        ("retention", "48h", "48h"),
        ("timeout", "120s", "120s"),
        ("timeout", "0.5s", "0.5s"),
        ("allow_private", "yes", "yes"),
        ("batch_size", "2", "2"),
        ("order", "desc", "desc"),
        ("max_attempts", "3", "3"),
    ],
)
def test_config_set_then_get(invoke: Invoke, name: str, value: str, shown: str) -> None:
    assert ok(invoke("config", "set", name, value)) == f"{name} = {shown}\n"
    assert ok(invoke("config", "get", name)) == f"{shown}\n"
    assert config_lines(ok(invoke("config", "list"))) == {**CONFIG_DEFAULTS, name: shown}


@pytest.mark.parametrize(
    "command",
    [
        ("set", "colour", "blue"),
        ("get", "colour"),
        ("set", "batch_size", "0"),
        ("set", "batch_size", "many"),
        ("set", "timeout", "5x"),
        ("set", "order", "sideways"),
        ("set", "max_attempts", "0"),
        ("set", "--", "batch_size", "-1"),
    ],
    ids=" ".join,
)
def test_config_refuses_bad_input(invoke: Invoke, command: tuple[str, ...]) -> None:
    ok(invoke("init"))
    assert_one_line_error(invoke("config", *command))
    assert config_lines(ok(invoke("config", "list"))) == CONFIG_DEFAULTS


@pytest.mark.parametrize(
    ("endpoint_options", "batch_sizes"),
    [((), [2, 2, 1]), (("--batch-size", "5"), [5])],
    ids=["config batch_size", "endpoint --batch-size overrides"],
)
def test_batch_size_setting(
    invoke: Invoke, httpserver: HTTPServer, endpoint_options: tuple[str, ...], batch_sizes: list[int]
) -> None:
    ok(invoke("config", "set", "batch_size", "2"))
    queued = queue_for(invoke, receiver(httpserver), 5, *endpoint_options)
    assert show(invoke, queued.endpoint_id)["batch_size"] == max(batch_sizes)
    assert summary_of(ok(invoke("process", *TIME_LIMIT))) == summary(requests=len(batch_sizes), delivered=5)
    batches = received_batches(httpserver)
    assert [len(batch["events"]) for batch in batches] == batch_sizes
    assert [event["id"] for batch in batches for event in batch["events"]] == queued.event_ids


# --- bad input, everywhere --------------------------------------------------------

BAD_INPUT = {
    "bad duration": ("process", "--time-limit", "5x"),
    "bad endpoint timeout": ("endpoint", "add", "https://example.com", "--timeout", "soon"),
    "zero timeout": ("endpoint", "add", "https://example.com", "--timeout", "0"),
    "ftp URL": ("endpoint", "add", "ftp://x"),
    "URL without host": ("endpoint", "add", "http://"),
    "not a URL": ("endpoint", "add", "example.com"),
    "zero batch size": ("endpoint", "add", "https://example.com", "--batch-size", "0"),
    "negative batch size": ("endpoint", "add", "https://example.com", "--batch-size", "-1"),
    "batch size not a number": ("endpoint", "add", "https://example.com", "--batch-size", "ten"),
    "zero max attempts": ("endpoint", "add", "https://example.com", "--max-attempts", "0"),
    "unknown order": ("endpoint", "add", "https://example.com", "--order", "sideways"),
    "empty event pattern": ("endpoint", "add", "https://example.com", "--event", " "),
    "empty secret": ("endpoint", "add", "https://example.com", "--secret", ""),
    "name with a newline": ("endpoint", "add", "https://example.com", "--name", "crm\nid: 2"),
    "name with a terminal escape": ("endpoint", "add", "https://example.com", "--name", "\x1b[31mcrm"),
    "endpoint id not a number": ("endpoint", "show", "one"),
    "endpoint id beyond 64 bits": ("endpoint", "show", "9" * 23),
    "event filter beyond 64 bits": ("replay", "--event", "9" * 23, "--dry-run"),
    "dead filter beyond 64 bits": ("dead", "--endpoint", "9" * 23),
    "attempts limit beyond 64 bits": ("attempts", "--limit", "9" * 23),
    "duration beyond a century": ("prune", "--older-than", "64000000000"),
    "retention beyond a century": ("config", "set", "retention", "36501d"),
    "empty event type": ("enqueue", "", "{}"),
    "zero workers": ("process", "--workers", "0", *TIME_LIMIT),
    "zero attempts limit": ("attempts", "--limit", "0"),
    "unknown command": ("frobnicate",),
    "unknown subcommand": ("endpoint", "frobnicate"),
    "unknown option": ("status", "--frobnicate"),
    "missing URL": ("endpoint", "add"),
    "missing id": ("endpoint", "show"),
    "missing event type": ("enqueue",),
    "missing config value": ("config", "set", "batch_size"),
    "missing command after options": (),  # `dispatcher --db PATH`
}


@pytest.mark.parametrize("args", BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_is_one_line_exit_2(invoke: Invoke, db_path: Path, args: tuple[str, ...]) -> None:
    ok(invoke("init"))
    assert_one_line_error(invoke(*args))
    assert query(db_path, "SELECT count(*) FROM endpoints") == [(0,)]
    assert stored_events(db_path) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("attempts", "--limit", "0"), "--limit must be a whole number, at least 1, not 0"),
        (("attempts", "--limit", "abc"), "--limit: 'abc' is not a whole number"),
        (("attempts", "--limit", "9" * 20), f"--limit must be a whole number from 1 to {2**63 - 1}, not {'9' * 20}"),
        (("process", "--workers", "300"), "--workers must be a whole number from 1 to 256, not 300"),
        (("endpoint", "show", "one"), "ENDPOINT_ID: 'one' is not a whole number"),
        (("endpoint", "add", "https://example.com", "--batch-size", "0"), "--batch-size must be a whole number from 1"),
        (("endpoint", "add", "https://example.com", "--max-attempts", "x"), "--max-attempts: 'x' is not a whole"),
        (("endpoint", "add", "https://example.com", "--disable-after", "-1"), "--disable-after must be a whole number"),
        (("listen", "--port", "70000"), "--port must be a whole number from 0 to 65535, not 70000"),
        (("verify", "--secret", "s", "--tolerance", "-5"), "--tolerance must be a whole number, at least 0, not -5"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else "",
)
def test_numbers_are_refused_in_words(invoke: Invoke, args: tuple[str, ...], message: str) -> None:
    ok(invoke("init"))
    assert assert_one_line_error(invoke(*args)).startswith(f"Error: {message}")


@pytest.mark.parametrize("command", [("status",), ("endpoint", "list")], ids=" ".join)
@pytest.mark.parametrize("given", [("--db", "other.db"), ("--db=other.db",)], ids=["--db x", "--db=x"])
def test_the_database_option_after_the_command_says_where_it_goes(
    invoke: Invoke, command: tuple[str, ...], given: tuple[str, ...]
) -> None:
    ok(invoke("init"))
    message = assert_one_line_error(invoke(*command, *given))
    assert message == f"Error: --db goes before the command: dispatcher --db other.db {' '.join(command)}"


def test_bad_input_in_the_real_program(run_dispatcher: RunDispatcher) -> None:
    assert_one_line_error(run_dispatcher("process", "--time-limit", "5x"))


@pytest.mark.parametrize("args", [(), ("endpoint",), ("config",)], ids=["dispatcher", "endpoint", "config"])
def test_group_without_command(tmp_path: Path, args: tuple[str, ...]) -> None:
    """What a user gets typing a bare group name, with no --db or anything else.

    The contract allows either reading: show the help (exit 0, on stdout), or
    treat the missing command as bad input (one line on stderr, exit 2, as
    `dispatcher --db PATH` alone already does). A multi-line "Error: Usage: ..."
    is neither.
    """
    result = subprocess.run([*dispatcher_command(), *args], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    if result.returncode == 0:
        assert result.stdout.startswith("Usage:")
        assert result.stderr == ""
    else:
        assert_one_line_error(result)


# --- the rest ------------------------------------------------------------------------


def test_demo(run_dispatcher: RunDispatcher) -> None:
    assert "demo OK" in ok(run_dispatcher("demo"))


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # not group.commands: the root group loads its commands lazily
        command = group.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            yield from command_paths(command, (*prefix, name))
        else:
            yield (*prefix, name)


@pytest.mark.parametrize("flag", ["--help", "-h"])
@pytest.mark.parametrize("path", list(command_paths(cli)), ids=lambda path: " ".join(path) or "dispatcher")
def test_help(invoke: Invoke, db_path: Path, path: tuple[str, ...], flag: str) -> None:
    stdout = ok(invoke(*path, flag))
    first_line = stdout.splitlines()[0]
    assert first_line.startswith("Usage:")
    assert " ".join(path) in first_line
    assert not db_path.exists()  # asking for help must not create a database
