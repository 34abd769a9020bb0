"""The whole story in a real browser, as a new user lives it: log in, create a webhook with event
checkboxes, Test it, queue events through the API, deliver them with `dispatcher process` (cron),
find the attempt in Deliveries and open it, make the receiver fail until the delivery is dead, and
replay it from Dead. Screenshots of every main page land in the test's temp folder."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pytest_httpserver import HTTPServer

from .served import Served, log_in, run_cli, screenshot

pytestmark = pytest.mark.slow


@pytest.fixture
def serve(serve_anywhere: Callable[..., Served]) -> Callable[..., Served]:
    """The journey on each backend: SQLite, then PostgreSQL."""
    return serve_anywhere


def test_a_new_user_sets_up_a_webhook_sees_it_deliver_fail_and_replays_it(
    page: Page, serve: Callable[..., Served], receiver: HTTPServer, tmp_path: Path
) -> None:
    served = serve()
    api = served.api()
    for event_type in ("lead.created", "order.paid"):  # the types the create form offers
        assert api.post("/api/v1/events", json={"type": event_type, "payload": {"seed": True}}).status_code == 201

    log_in(page, served)
    expect(page.locator("h1")).to_have_text(re.compile("Dashboard"))
    # The command it offers names this database (on PostgreSQL: its schema too), to paste as it is.
    expect(page.locator("pre")).to_contain_text(f"dispatcher --db {shlex.quote(str(served.db))} endpoint add")
    screenshot(page, tmp_path, "1-dashboard-empty")

    page.goto(f"{served.url}/admin/webhooks")
    page.fill("#url", receiver.url_for("/leads"))
    page.fill("#name", "partner CRM")
    page.check("input[name=events][value='lead.created']")
    page.fill("#max_retries", "0")  # a failed request makes the delivery dead at once
    page.select_option("#allow_private", "true")  # the receiver runs on 127.0.0.1
    screenshot(page, tmp_path, "2-create-form")
    page.click("text=Create webhook")
    secret = page.inner_text("#secret")
    assert secret.startswith("whsec_")
    page.click("text=Open the webhook")
    webhook_id = int(re.findall(r"/admin/webhooks/(\d+)", page.url)[0])

    receiver.clear_all_handlers()
    receiver.expect_request("/leads").respond_with_data("thanks", headers={"X-Partner": "ok"})
    page.click("text=Send test request")
    expect(page.locator("#verdict")).to_contain_text("HTTP 200")
    expect(page.locator("#response-body")).to_have_text("thanks")
    screenshot(page, tmp_path, "3-test-result")

    # Events through the API; only lead.created is the webhook's.
    queued = [
        api.post("/api/v1/events", json={"type": kind, "payload": {"n": n}}).json()["id"]
        for n, kind in enumerate(["lead.created", "order.paid", "lead.created"])
    ]
    receiver.clear_all_handlers()
    receiver.expect_request("/leads").respond_with_data("ok")
    assert "1 request, 2 events delivered" in run_cli(served, "process").stdout
    delivered = receiver.log[-1][0]
    assert [event["id"] for event in delivered.get_json()["events"]] == [queued[0], queued[2]]

    page.goto(f"{served.url}/admin")
    expect(page.locator("main")).to_contain_text("partner CRM")
    screenshot(page, tmp_path, "4-dashboard")

    page.goto(f"{served.url}/admin/deliveries")
    row = page.locator("#attempts tbody tr").first
    expect(row).to_contain_text("200")
    screenshot(page, tmp_path, "5-deliveries")
    row.locator("a").first.click()
    expect(page.locator("#request-line")).to_contain_text("POST " + receiver.url_for("/leads"))
    expect(page.locator("main")).to_contain_text("Webhook-Signature")  # the request's own headers
    screenshot(page, tmp_path, "6-attempt")

    # The receiver breaks: with no retries left, the delivery is dead.
    receiver.clear_all_handlers()
    receiver.expect_request("/leads").respond_with_data("down for maintenance", status=503)
    failed = api.post("/api/v1/events", json={"type": "lead.created", "payload": {"n": 9}}).json()["id"]
    assert "1 failure" in run_cli(served, "process").stdout
    page.goto(f"{served.url}/admin/dead")
    expect(page.locator("#dead tbody tr")).to_have_count(1)
    expect(page.locator("#dead")).to_contain_text(str(failed))
    screenshot(page, tmp_path, "7-dead")

    page.locator("#dead tbody input[type=checkbox]").first.check()
    page.click("#replay-selected")
    expect(page.locator("#question")).to_have_text("Replay 1 dead delivery?")
    page.click("#confirm")
    expect(page.locator("#replayed")).to_have_text("Replayed 1 delivery.")
    expect(page.locator("#dead tbody tr")).to_have_count(0)

    receiver.clear_all_handlers()
    receiver.expect_request("/leads").respond_with_data("ok")
    assert "1 event delivered" in run_cli(served, "process").stdout
    assert [event["id"] for event in receiver.log[-1][0].get_json()["events"]] == [failed]
    event = api.get(f"/api/v1/events/{failed}").json()
    assert [(item["endpoint"], item["state"]) for item in event["deliveries"]] == [(webhook_id, "delivered")]
