"""`dispatcher endpoint` for the wire contract: its options, `rotate-secret` and `test`, as users run them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from pytest_httpserver import HTTPServer

from dispatcher.cli import cli

from .helpers import (
    SECRET,
    Invoke,
    add_endpoint,
    as_json,
    assert_one_line_error,
    attempts_of,
    closed_port_url,
    ok,
    outcome,
    show,
    status_of,
)

LEASECLOUD = [
    "--format",
    "raw",
    "--signature",
    "timestamped",
    "--signature-header",
    "LeaseCloud-Signature",
    "--header",
    "LeaseCloud-Version: 1.0.0",
    "--success",
    "200",
]


@pytest.fixture
def invoke(invoke_anywhere: Invoke) -> Invoke:
    """Every test here runs on each backend: SQLite, then PostgreSQL."""
    return invoke_anywhere


def test_wire_options_are_stored_and_shown(invoke: Invoke) -> None:
    added = add_endpoint(invoke, "https://example.com/hook", *LEASECLOUD)
    expected = {
        "format": "raw",
        "signature": "timestamped",
        "signature_header": "LeaseCloud-Signature",
        "signature_prefix": "",
        "headers": {"LeaseCloud-Version": "1.0.0"},
        "success": "200",
        "batch_size": 1,
    }
    assert {key: added[key] for key in expected} == expected
    text = ok(invoke("endpoint", "show", str(added["id"])))
    assert "signature_header: LeaseCloud-Signature" in text
    assert "headers: LeaseCloud-Version: 1.0.0" in text


def test_update_changes_the_wire_and_clears_headers(invoke: Invoke) -> None:
    endpoint_id = add_endpoint(invoke, "https://example.com/hook", *LEASECLOUD)["id"]
    updated = as_json(
        invoke("endpoint", "update", str(endpoint_id), "--header", "X-A: 1", "--header", "X-B: 2", "--json")
    )
    assert updated["headers"] == {"X-A": "1", "X-B": "2"}  # replaced, not added to
    cleared = as_json(invoke("endpoint", "update", str(endpoint_id), "--clear-headers", "--format", "mautic", "--json"))
    assert (cleared["headers"], cleared["format"], cleared["batch_size"]) == ({}, "mautic", 10)


@pytest.mark.parametrize(
    "options",
    [
        ("--format", "xml"),
        ("--signature", "md5"),
        ("--signature", "standard", "--secret", "plain"),
        ("--signature-header", "Bad Name"),
        ("--header", "no colon"),
        ("--header", "Webhook-Signature: forged"),
        ("--success", "3xx"),
    ],
    ids=" ".join,
)
def test_bad_wire_options_are_one_line_errors(invoke: Invoke, options: tuple[str, ...]) -> None:
    ok(invoke("init"))
    message = assert_one_line_error(invoke("endpoint", "add", "https://example.com/hook", *options), exit_code=None)
    assert "plain" not in message or "secret" not in options  # a secret is never echoed
    assert as_json(invoke("endpoint", "list", "--json")) == []


# --- rotate-secret -----------------------------------------------------------------


def test_rotate_secret_prints_the_new_secret_and_the_grace(invoke: Invoke) -> None:
    endpoint_id = add_endpoint(invoke, "https://example.com/hook", *LEASECLOUD, "--secret", SECRET)["id"]
    text = ok(invoke("endpoint", "rotate-secret", str(endpoint_id), "--grace", "2h"))
    new_secret = text.splitlines()[0].removeprefix("secret: ")
    assert new_secret != SECRET and len(new_secret) >= 32
    assert "the old secret also signs until" in text
    shown = show(invoke, endpoint_id, "--show-secret")
    assert shown["secret"] == new_secret
    assert [old["secret"] for old in shown["retired_secrets"]] == [SECRET]
    text = ok(invoke("endpoint", "show", str(endpoint_id)))
    assert f"retired_secrets: until={shown['retired_secrets'][0]['until']}" in text
    assert SECRET not in text


def test_rotate_secret_json_with_a_given_secret(invoke: Invoke) -> None:
    endpoint_id = add_endpoint(invoke, "https://example.com/hook")["id"]
    data = as_json(
        invoke("endpoint", "rotate-secret", str(endpoint_id), "--secret", "next-one", "--json", "--show-secret")
    )
    assert data == {"id": endpoint_id, "secret": "next-one", "old_secret_signs_until": None}  # mautic: one signature


@pytest.mark.parametrize("options", [("--grace", "-1s"), ("--grace", "soon"), ("--secret", "")], ids=" ".join)
def test_rotate_secret_refuses_bad_input(invoke: Invoke, options: tuple[str, ...]) -> None:
    before = add_endpoint(invoke)
    assert_one_line_error(invoke("endpoint", "rotate-secret", str(before["id"]), *options), exit_code=None)
    assert show(invoke, before["id"], "--show-secret") == before


# --- test ----------------------------------------------------------------------------


def test_endpoint_test_shows_the_answer_and_exits_0(invoke: Invoke, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("got it", headers={"X-Request-Id": "r-9"})
    endpoint_id = add_endpoint(invoke, httpserver.url_for("/hook"))["id"]
    text = ok(invoke("endpoint", "test", str(endpoint_id)))
    assert text.startswith("status: 200 (accepted) in ")
    assert "X-Request-Id: r-9" in text
    assert text.rstrip().endswith("got it")
    [attempt] = attempts_of(invoke)
    assert attempt["test"] is True
    assert status_of(invoke)[0]["delivered"] == 0


def test_endpoint_test_with_type_and_payload_as_json(invoke: Invoke, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("", status=202)
    endpoint_id = add_endpoint(invoke, httpserver.url_for("/hook"), "--format", "mautic")["id"]
    report = as_json(invoke("endpoint", "test", str(endpoint_id), "--type", "lead.x", "--payload", '{"a":1}', "--json"))
    assert (report["accepted"], report["status_code"]) == (True, 202)
    sent = json.loads(httpserver.log[0][0].get_data())
    assert list(sent) == ["lead.x"] and sent["lead.x"][0]["a"] == 1


@pytest.mark.parametrize("reachable", [True, False], ids=["HTTP 500", "connection refused"])
def test_endpoint_test_not_accepted_exits_1(invoke: Invoke, httpserver: HTTPServer, reachable: bool) -> None:
    httpserver.expect_request("/hook").respond_with_data("broken", status=500)
    url = httpserver.url_for("/hook") if reachable else closed_port_url()
    endpoint_id = add_endpoint(invoke, url)["id"]
    result = invoke("endpoint", "test", str(endpoint_id))
    code, stdout, _ = outcome(result)
    assert code == 1
    assert "NOT accepted" in stdout
    assert status_of(invoke)[0]["consecutive_failures"] == 0  # health untouched


@pytest.mark.parametrize("options", [("--payload", "not json"), ("--payload", "3"), ("--type", "")], ids=" ".join)
def test_endpoint_test_refuses_bad_input(invoke: Invoke, httpserver: HTTPServer, options: tuple[str, ...]) -> None:
    endpoint_id = add_endpoint(invoke, httpserver.url_for("/hook"))["id"]
    assert_one_line_error(invoke("endpoint", "test", str(endpoint_id), *options), exit_code=None)
    assert not httpserver.log


def test_add_and_update_warn_when_the_guard_would_refuse_the_url(db_path: Path) -> None:
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(cli, ["--db", str(db_path), *args])

    added = run("endpoint", "add", "http://169.254.169.254/latest/meta-data", "--json")
    assert added.exit_code == 0
    assert added.stderr == (
        "Warning: requests to this URL will fail: 169.254.169.254 is a link-local address; "
        "allow it with --allow-private or the allow_networks setting\n"
    )
    endpoint_id = json.loads(added.stdout)["id"]
    assert run("endpoint", "update", str(endpoint_id), "--allow-private").stderr == ""
    assert run("endpoint", "update", str(endpoint_id), "--no-allow-private").stderr.startswith("Warning: ")
    assert run("config", "set", "allow_networks", "169.254.0.0/16").exit_code == 0
    assert run("endpoint", "update", str(endpoint_id), "--name", "metadata").stderr == ""
    assert run("endpoint", "add", "http://[::1]:8080/hook").stderr.startswith("Warning: ")


def test_a_batch_size_on_a_raw_endpoint_is_kept_with_a_warning(db_path: Path) -> None:
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(cli, ["--db", str(db_path), *args])

    added = run("endpoint", "add", "https://example.com/hook", "--format", "raw", "--batch-size", "5", "--json")
    assert added.exit_code == 0
    assert added.stderr == (
        "Warning: the raw format sends one event per request: batch size 5 applies only to other formats\n"
    )
    endpoint_id = str(json.loads(added.stdout)["id"])
    assert json.loads(run("endpoint", "show", endpoint_id, "--json").stdout)["batch_size"] == 1

    def warned(*args: str) -> str:
        done = run(*args)
        assert done.exit_code == 0, done.output
        return done.stderr

    assert warned("endpoint", "update", endpoint_id, "--format", "batch") == ""
    assert json.loads(run("endpoint", "show", endpoint_id, "--json").stdout)["batch_size"] == 5
    assert warned("endpoint", "update", endpoint_id, "--format", "raw").startswith("Warning: the raw format")
    assert warned("endpoint", "update", endpoint_id, "--batch-size", "1") == ""
    assert warned("endpoint", "add", "https://example.com/raw", "--format", "raw") == ""


def test_json_output_holds_no_secret_unless_asked(invoke: Invoke) -> None:
    added = as_json(invoke("endpoint", "add", "https://example.com/hook", "--secret", "s3cret-one", "--json"))
    rotated = as_json(invoke("endpoint", "rotate-secret", str(added["id"]), "--secret", "s3cret-two", "--json"))
    listed = as_json(invoke("endpoint", "list", "--json"))
    shown = as_json(invoke("endpoint", "show", str(added["id"]), "--json"))
    for output in (added, rotated, listed, shown):
        assert "s3cret" not in json.dumps(output)
    assert as_json(invoke("endpoint", "show", str(added["id"]), "--json", "--show-secret"))["secret"] == "s3cret-two"


def test_a_login_in_the_url_is_shown_nowhere_unless_asked(invoke: Invoke) -> None:
    url = "https://crm:pa55word@crm.example/hook"
    added = as_json(invoke("endpoint", "add", url, "--json"))
    endpoint_id = str(added["id"])
    outputs = [
        json.dumps(added),
        invoke("endpoint", "list").output,
        invoke("endpoint", "show", endpoint_id).output,
        invoke("status", "--json").output,
    ]
    for output in outputs:
        assert "pa55word" not in output and "https://crm.example/hook" in output
    assert "pa55word" not in invoke("status").output
    assert as_json(invoke("endpoint", "show", endpoint_id, "--json", "--show-secret"))["url"] == url


# --- description -------------------------------------------------------------------


def test_a_description_is_added_shown_and_updated(invoke: Invoke) -> None:
    added = add_endpoint(invoke, "https://example.com/hook", "--description", "Leads for the CRM.\nOwned by sales.")
    endpoint_id = str(added["id"])
    assert added["description"] == "Leads for the CRM.\nOwned by sales."
    lines = ok(invoke("endpoint", "show", endpoint_id)).splitlines()
    # Its second line indented under it: it cannot pass for a setting of its own.
    assert lines[lines.index("description: Leads for the CRM.") + 1] == "  Owned by sales."
    updated = as_json(invoke("endpoint", "update", endpoint_id, "--description", "Orders too.", "--json"))
    assert updated["description"] == "Orders too."
    assert as_json(invoke("endpoint", "update", endpoint_id, "--name", "crm", "--json"))["description"] == "Orders too."
    assert show(invoke, added["id"])["description"] == "Orders too."
    assert as_json(invoke("endpoint", "list", "--json"))[0]["description"] == "Orders too."


def test_an_endpoint_without_a_description_shows_none(invoke: Invoke) -> None:
    added = add_endpoint(invoke)
    assert added["description"] is None
    assert "description: " in ok(invoke("endpoint", "show", str(added["id"]))).splitlines()


@pytest.mark.parametrize(
    "text,refusal",
    [
        ("\x1b[2J\x1b[Hall clear", "Error: invalid description: no control characters other than newline and tab"),
        ("over\rwritten", "Error: invalid description: no control characters other than newline and tab"),
        ("x" * 1001, "Error: invalid description: at most 1000 characters, not 1001"),
    ],
    ids=["terminal escape", "carriage return", "too long"],
)
def test_a_bad_description_is_a_one_line_error_and_changes_nothing(invoke: Invoke, text: str, refusal: str) -> None:
    ok(invoke("init"))
    assert (
        assert_one_line_error(invoke("endpoint", "add", "https://example.com/hook", "--description", text)) == refusal
    )
    assert as_json(invoke("endpoint", "list", "--json")) == []
    before = add_endpoint(invoke, "https://example.com/hook", "--description", "kept")
    assert assert_one_line_error(invoke("endpoint", "update", str(before["id"]), "--description", text)) == refusal
    assert show(invoke, before["id"], "--show-secret") == before
