"""/api/v1/webhooks over a real socket, against `dispatcher serve` running as a process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from .served import Api, Served, problem

# The lead-management seed's example, as its guide prints it (003_d7a2d363f04ea475.txt, "Via API").
SEED_CURL = """\
curl -X POST http://localhost:8000/api/v1/webhooks \\
  -H "Authorization: Bearer YOUR_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{
    "url": "https://your-app.com/webhook",
    "description": "Production webhook endpoint",
    "events": ["new_lead", "lead_update"],
    "max_retries": 5,
    "timeout": 30
  }'
"""
SEED_ANSWER_FIELDS = {"id", "url", "description", "secret", "events", "is_active", "max_retries", "timeout"}
# What a bare webhook on a loopback receiver needs: the server refuses private addresses by default.
LOCAL = {"allow_private": True}


def create(api: Api, url: str = "https://example.com/hook", **fields: Any) -> dict[str, Any]:
    answer = api.post("/api/v1/webhooks", json={"url": url, **fields})
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def test_the_seed_s_curl_example_works_as_written(server: Served, tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.fail("this test runs the seed's example with curl: apt-get install curl")
    command = SEED_CURL.replace("http://localhost:8000", server.url).replace("YOUR_API_KEY", server.key)
    # The status code comes from a .curlrc, so the command itself stays as the seed wrote it.
    (tmp_path / ".curlrc").write_text('silent\nwrite-out = "\\n%{http_code}"\n')
    run = subprocess.run(
        ["bash", "-c", command],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "CURL_HOME": str(tmp_path)},
    )
    body, _, status = run.stdout.rpartition("\n")
    assert (run.returncode, status) == (0, "201"), run.stderr
    created = json.loads(body)
    assert SEED_ANSWER_FIELDS <= set(created)
    assert created["url"] == "https://your-app.com/webhook"
    assert created["description"] == "Production webhook endpoint"
    assert created["events"] == ["new_lead", "lead_update"]
    assert (created["is_active"], created["max_retries"], created["timeout"]) == (True, 5, 30)
    assert created["secret"].startswith("whsec_")
    assert created["max_attempts"] == 6  # retries after the first attempt


def test_create_answers_every_setting_and_the_secret_once(api: Api) -> None:
    created = create(api, name="crm", batch_size=5, format="mautic", success="200")
    assert created["secret"].startswith("whsec_")
    shown = (created["name"], created["batch_size"], created["format"], created["success"])
    assert shown == ("crm", 5, "mautic", "200")
    for name in ["order", "retry", "max_age", "disable_after", "signature", "signature_header", "headers"]:
        assert name in created
    assert created["events"] == ["*"] and created["enabled"] is True
    again = api.get(f"/api/v1/webhooks/{created['id']}")
    assert again.status_code == 200
    assert "secret" not in again.json() and created["secret"] not in again.text


def test_create_takes_every_setting_the_cli_does(api: Api, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = {
        "name": "partner",
        "order": "desc",
        "batch_size": 50,
        "format": "mautic",
        "signature": "hex",
        "signature_header": "X-LeaseFetcher-Signature",
        "signature_prefix": "sha256=",
        "headers": {"X-Partner": "7", "Authorization": "Bearer abc"},
        "success": "200",
        "retry": "fixed:5m",
        "max_age": 3600,
        "disable_after": 0,
        "allow_private": True,
        "ca_bundle": str(bundle),
        "max_attempts": 3,
        "secret": "a secret of ours",
    }
    created = create(api, **settings)
    shown = api.get(f"/api/v1/webhooks/{created['id']}").json()
    for name, value in settings.items():
        if name != "secret":
            assert shown[name] == value, name
    assert shown["max_retries"] == 2
    assert api.get(f"/api/v1/webhooks/{created['id']}/secret").json()["secret"] == "a secret of ours"


def test_a_given_secret_is_checked_as_the_cli_checks_it(api: Api) -> None:
    refused = problem(
        api.post(
            "/api/v1/webhooks", json={"url": "https://a.example/", "signature": "standard", "secret": "not-whsec"}
        ),
        422,
    )
    assert "whsec_" in refused["detail"] and "not-whsec" not in refused["detail"]


def test_max_retries_and_max_attempts_together_are_refused(api: Api) -> None:
    body = {"url": "https://a.example/", "max_retries": 2, "max_attempts": 3}
    assert "max_retries or max_attempts" in problem(api.post("/api/v1/webhooks", json=body), 422)["detail"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"url": "ftp://example.com/"}, "invalid URL 'ftp://example.com/'"),
        ({"url": "https://a.example/", "colour": "red"}, "colour: Extra inputs are not permitted"),
        ({"url": "https://a.example/", "batch_size": 0}, "invalid batch size 0: use 1 to 1000"),
        ({"url": "https://a.example/", "format": "xml"}, "format: Input should be 'batch', 'mautic' or 'raw'"),
        ({"url": "https://a.example/", "headers": {"Host": "x"}}, "invalid header 'Host'"),
        ({"description": "no url"}, "url: Field required"),
    ],
)
def test_bad_input_is_a_422_problem(api: Api, body: dict[str, Any], detail: str) -> None:
    assert detail in problem(api.post("/api/v1/webhooks", json=body), 422)["detail"]


def test_the_list_pages_by_cursor(api: Api) -> None:
    ids = [create(api, f"https://list.example/{n}")["id"] for n in range(3)]
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        answer = api.get("/api/v1/webhooks", params=params)
        assert answer.status_code == 200
        page = answer.json()
        assert len(page["data"]) <= 2
        assert all("secret" not in item for item in page["data"])
        seen += [item["id"] for item in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert set(ids) <= set(seen) and seen == sorted(seen)
    assert "invalid cursor" in problem(api.get("/api/v1/webhooks", params={"cursor": "nope"}), 422)["detail"]


def test_patch_changes_what_it_is_given_and_null_resets(api: Api) -> None:
    created = create(api, description="old", batch_size=5, max_retries=2, name="n")
    answer = api.patch(f"/api/v1/webhooks/{created['id']}", json={"description": "new", "max_retries": None})
    assert answer.status_code == 200
    changed = answer.json()
    assert (changed["description"], changed["batch_size"], changed["name"]) == ("new", 5, "n")
    assert changed["max_attempts"] == 8  # the global default again
    assert "secret" not in changed and created["secret"] not in answer.text
    events = api.patch(f"/api/v1/webhooks/{created['id']}", json={"events": ["lead.*"], "headers": {"X-A": "b"}})
    assert (events.json()["events"], events.json()["headers"]) == (["lead.*"], {"X-A": "b"})


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"url": "not a url"}, "invalid URL"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
        ({"timeout": 0}, "invalid timeout 0s"),
        ({"notify_command": "rm -rf /"}, "notify_command: Extra inputs are not permitted"),
    ],
)
def test_a_bad_patch_is_a_422_problem_and_changes_nothing(api: Api, body: dict[str, Any], detail: str) -> None:
    created = create(api)
    assert detail in problem(api.patch(f"/api/v1/webhooks/{created['id']}", json=body), 422)["detail"]
    after = api.get(f"/api/v1/webhooks/{created['id']}").json()
    del created["secret"]
    assert after == created


def test_delete_answers_204_and_then_it_is_gone(api: Api) -> None:
    created = create(api)
    answer = api.delete(f"/api/v1/webhooks/{created['id']}")
    assert (answer.status_code, answer.content) == (204, b"")
    assert f"no endpoint {created['id']}" in problem(api.get(f"/api/v1/webhooks/{created['id']}"), 404)["detail"]


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("GET", "/secret"),
        ("POST", "/enable"),
        ("POST", "/disable"),
        ("POST", "/retry"),
        ("POST", "/rotate-secret"),
        ("POST", "/test"),
    ],
)
def test_an_unknown_id_is_a_404_problem(api: Api, method: str, suffix: str) -> None:
    answer = api.request(method, f"/api/v1/webhooks/99999{suffix}", json={} if method != "GET" else None)
    assert problem(answer, 404)["detail"] == "no endpoint 99999"


def test_a_non_numeric_id_is_a_422_problem(api: Api) -> None:
    assert "webhook_id" in problem(api.get("/api/v1/webhooks/abc"), 422)["detail"]


def test_disable_and_enable(api: Api) -> None:
    created = create(api)
    disabled = api.post(f"/api/v1/webhooks/{created['id']}/disable").json()
    assert (disabled["is_active"], disabled["enabled"], disabled["disabled_reason"]) == (
        False,
        False,
        "disabled by user",
    )
    enabled = api.post(f"/api/v1/webhooks/{created['id']}/enable").json()
    assert (enabled["is_active"], enabled["disabled_reason"]) == (True, None)


def test_retry_says_how_many_batches_were_made_due(api: Api) -> None:
    created = create(api)
    answer = api.post(f"/api/v1/webhooks/{created['id']}/retry")
    assert answer.json() == {"id": created["id"], "due_now": 0, "enabled": True}


def test_rotate_secret_answers_the_new_one_and_secret_shows_both(api: Api) -> None:
    created = create(api, signature="standard")
    answer = api.post(f"/api/v1/webhooks/{created['id']}/rotate-secret", json={"grace": "1h"})
    rotated = answer.json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
    assert rotated["old_secret_signs_until"] is not None
    secrets = api.get(f"/api/v1/webhooks/{created['id']}/secret").json()
    assert secrets["secret"] == rotated["secret"]
    assert [old["secret"] for old in secrets["retired_secrets"]] == [created["secret"]]
    shown = api.get(f"/api/v1/webhooks/{created['id']}")
    assert rotated["secret"] not in shown.text and created["secret"] not in shown.text
    given = api.post(f"/api/v1/webhooks/{created['id']}/rotate-secret", json={"secret": "plain", "grace": 0})
    assert "whsec_" in problem(given, 422)["detail"]
    bare = api.post(f"/api/v1/webhooks/{created['id']}/rotate-secret")  # no body: a new secret, 24 h grace
    assert bare.status_code == 200 and bare.json()["secret"] != rotated["secret"]
    assert (
        "invalid duration"
        in problem(api.post(f"/api/v1/webhooks/{created['id']}/rotate-secret", json={"grace": "soon"}), 422)["detail"]
    )


def test_test_sends_one_signed_request_and_answers_the_receiver_s_reply(api: Api, receiver: HTTPServer) -> None:
    receiver.expect_request("/hook", method="POST").respond_with_data(
        "<script>alert(1)</script>", status=202, headers={"X-Receiver": "yes"}
    )
    created = create(api, receiver.url_for("/hook"), **LOCAL)
    answer = api.post(f"/api/v1/webhooks/{created['id']}/test", json={"type": "lead.new", "payload": {"id": 7}})
    assert answer.status_code == 200
    result = answer.json()
    assert (result["ok"], result["status_code"], result["error"]) == (True, 202, None)
    assert result["headers"]["X-Receiver"] == "yes"
    assert result["body"] == "<script>alert(1)</script>"
    assert result["duration_ms"] >= 0
    request, _ = receiver.log[0]
    assert request.headers["X-Webhook-Event"] == "lead.new" and "Webhook-Signature" in request.headers
    assert json.loads(request.get_data())["events"][0]["data"] == {"id": 7}


def test_test_of_an_unreachable_receiver_says_why(api: Api) -> None:
    created = create(api, "http://127.0.0.1:9/hook", **LOCAL)
    result = api.post(f"/api/v1/webhooks/{created['id']}/test").json()
    assert result["ok"] is False and result["status_code"] is None and result["error"]


@pytest.mark.parametrize("key", [None, "dsp_wrong"])
def test_no_key_or_a_wrong_key_is_a_401_problem(server: Served, key: str | None) -> None:
    client = server.api_as(key)
    for method, path in [("GET", "/api/v1/webhooks"), ("POST", "/api/v1/webhooks"), ("GET", "/api/v1/webhooks/1")]:
        answer = client.request(method, path, json={"url": "https://a.example/"} if method == "POST" else None)
        assert "API key" in problem(answer, 401)["detail"]
        assert answer.headers["www-authenticate"] == "Bearer"


def test_a_read_only_key_reads_and_changes_nothing(server: Served, api: Api) -> None:
    created = create(api)
    viewer = server.api_as(server.read_only_key)
    assert viewer.get("/api/v1/webhooks").status_code == 200
    assert viewer.get(f"/api/v1/webhooks/{created['id']}").status_code == 200
    for method, suffix in [
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/enable"),
        ("POST", "/disable"),
        ("POST", "/retry"),
        ("POST", "/rotate-secret"),
        ("POST", "/test"),
        ("GET", "/secret"),  # a read-only key sees everything but credentials
    ]:
        body = {} if method != "GET" else None
        answer = viewer.request(method, f"/api/v1/webhooks/{created['id']}{suffix}", json=body)
        assert "read-only" in problem(answer, 403)["detail"], (method, suffix)
    assert "read-only" in problem(viewer.post("/api/v1/webhooks", json={"url": "https://a.example/"}), 403)["detail"]
    after = api.get(f"/api/v1/webhooks/{created['id']}").json()
    del created["secret"]
    assert after == created


def test_the_openapi_spec_describes_the_webhook_models(api: Api) -> None:
    spec = api.get("/openapi.json").json()
    create_body = spec["components"]["schemas"]["WebhookCreate"]
    assert create_body["required"] == ["url"] and create_body["additionalProperties"] is False
    assert "notify_command" not in create_body["properties"]
    assert "secret" not in spec["components"]["schemas"]["Webhook"]["properties"]
    assert {"/api/v1/webhooks", "/api/v1/webhooks/{webhook_id}/test"} <= set(spec["paths"])
