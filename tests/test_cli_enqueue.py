"""`dispatcher enqueue`: light enough to run once per event, and never silent about an event no one gets."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from dispatcher.store import open_store

from .helpers import dispatcher_command


def test_an_event_no_endpoint_subscribes_to_is_kept_with_a_warning(invoke, db_path: Path) -> None:
    store = open_store(db_path)
    store.close()
    result = invoke("enqueue", "lead.created", '{"id": 1}')
    assert result.exit_code == 0
    assert result.stdout.strip() == "1"
    assert "no endpoint subscribes to 'lead.created'" in result.stderr
    assert "kept but will not be sent" in result.stderr


def test_a_subscribed_event_is_queued_without_a_warning(invoke) -> None:
    invoke("endpoint", "add", "http://127.0.0.1:9/hook", "--event", "lead.*")
    result = invoke("enqueue", "lead.created", '{"id": 1}')
    assert result.exit_code == 0
    assert result.stderr == ""
    # The warning is about subscriptions, not the type: another type still warns.
    assert "no endpoint subscribes to 'invoice.paid'" in invoke("enqueue", "invoice.paid").stderr


def test_the_warning_counts_only_deliveries_not_the_applications_own_triggers(invoke, db_path: Path) -> None:
    """The file may be the application's, with triggers of its own on events."""
    open_store(db_path).close()
    with sqlite3.connect(db_path) as conn:
        conn.executescript(
            "CREATE TABLE audit (event_id INTEGER);"
            "CREATE TRIGGER audit_events AFTER INSERT ON events BEGIN INSERT INTO audit VALUES (NEW.id); END;"
        )
    conn.close()
    assert "no endpoint subscribes to 'lead.created'" in invoke("enqueue", "lead.created").stderr


def test_enqueue_imports_neither_the_http_stack_nor_sqlite_utils(db_path: Path) -> None:
    """What makes `dispatcher enqueue` cheap: the modules only delivery and admin need stay unloaded."""
    program = (
        "import json, sys\n"
        "from dispatcher.cli import cli\n"
        "try:\n"
        f"    cli(['--db', {str(db_path)!r}, 'enqueue', 'lead.created', '{{}}'])\n"
        "except SystemExit as done:\n"
        "    assert done.code == 0, done.code\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    assert "dispatcher.producer" in loaded  # it did queue
    heavy = {
        "requests",
        "urllib3",
        "sqlite_utils",
        "ssl",
        "smtplib",
        "dispatcher.delivery",
        "dispatcher.sending.sender",
    }
    assert not heavy & loaded


def test_shell_completion_as_the_readme_sets_it_up() -> None:
    """The README's completion recipe: the script it evals, and click completing command names from
    the lazily loaded groups too."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert 'eval "$(_DISPATCHER_COMPLETE=bash_source dispatcher)"' in readme

    def complete(asked: dict[str, str]) -> str:
        env = {**os.environ, **asked}
        return subprocess.run(dispatcher_command(), capture_output=True, text=True, env=env, timeout=60).stdout

    script = complete({"_DISPATCHER_COMPLETE": "bash_source"})
    assert "-F _dispatcher_completion dispatcher" in script
    asked = {"_DISPATCHER_COMPLETE": "bash_complete", "COMP_WORDS": "dispatcher endpoint ad", "COMP_CWORD": "2"}
    assert complete(asked).split() == ["plain,add"]
    asked["COMP_WORDS"], asked["COMP_CWORD"] = "dispatcher enq", "1"
    assert complete(asked).split() == ["plain,enqueue"]
