"""The Deliveries and Dead pages in a real headless Chromium, after real deliveries to a real receiver."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page
from pytest_httpserver import HTTPServer

from .served import Served, log_in, run_cli, screenshot, start_serve

pytestmark = pytest.mark.slow

HOSTILE = "<script>document.title='owned'</script><img src=x onerror=alert(1)>"


@pytest.fixture
def delivered(tmp_path: Path) -> Iterator[tuple[Served, int, int]]:
    """A hostile receiver that answers 200, and a broken one that let 3 events die. (served, ok, down)"""
    receiver = HTTPServer(host="127.0.0.1")
    receiver.start()
    receiver.expect_request("/ok").respond_with_data(HOSTILE, headers={"X-Evil": "<script>alert(2)</script>"})
    receiver.expect_request("/down").respond_with_data("broken", status=500)
    served = start_serve(tmp_path / "dispatcher.db")

    def add(path: str, *options: str) -> int:
        made = run_cli(served, "endpoint", "add", receiver.url_for(path), "--allow-private", "--json", *options)
        return int(json.loads(made.stdout)["id"])

    ok = add("/ok")
    down = add("/down", "--batch-size", "1", "--max-attempts", "1", "--disable-after", "0")
    events = [{"type": "new_lead" if n < 2 else "lead_update", "payload": {"n": n}} for n in range(3)]
    served.api().post("/api/v1/events/bulk", json={"events": events})
    run_cli(served, "process")
    yield served, ok, down
    served.stop()
    receiver.stop()


def test_the_log_an_attempt_and_a_hostile_answer_shown_as_text(
    page: Page, delivered: tuple[Served, int, int], tmp_path: Path
) -> None:
    served, ok, down = delivered
    log_in(page, served)
    page.goto(f"{served.url}/admin/deliveries")
    assert page.locator("#attempts tbody tr").count() == 4
    screenshot(page, tmp_path, "deliveries")
    page.fill("#webhook_id", str(ok))
    page.click("form.filters button[type=submit]")
    assert page.locator("#attempts tbody tr").count() == 1
    page.click("#attempts tbody tr a")
    assert page.locator("#response-body").inner_text() == HOSTILE
    assert "<script>alert(2)</script>" in page.locator("#response-headers").inner_text()
    assert page.locator("#request-line").inner_text().startswith("POST http://127.0.0.1:")
    assert len(page.locator("#body-sha").inner_text()) == 64
    assert page.locator("main script, main img").count() == 0 and page.title() != "owned"
    screenshot(page, tmp_path, "attempt")
    page.goto(f"{served.url}/admin/deliveries?status=teapot")
    assert "not an HTTP status code" in page.locator(".problem").inner_text()
    assert page.input_value("#status") == "teapot"


def test_replay_from_dead_by_selection_then_by_filter_after_a_confirmation(
    page: Page, delivered: tuple[Served, int, int], tmp_path: Path
) -> None:
    served, ok, down = delivered
    log_in(page, served)
    page.goto(f"{served.url}/admin/dead")
    assert page.locator("#dead tbody tr").count() == 3
    screenshot(page, tmp_path, "dead")
    page.locator("#dead tbody input[type=checkbox]").first.check()
    page.click("#replay-selected")
    assert page.locator("#question").inner_text() == "Replay 1 dead delivery?"
    screenshot(page, tmp_path, "replay-confirm")
    page.click("#confirm")
    assert page.locator("#replayed").inner_text() == "Replayed 1 delivery."
    assert page.locator("#dead tbody tr").count() == 2

    # The newest event (a lead_update) went back; the two new_lead ones are left, found by their type.
    page.fill("#type", "new_*")
    page.click("form.filters button[type=submit]")
    assert page.locator("#dead tbody tr").count() == 2
    page.click("#replay-matching")
    assert page.locator("#question").inner_text() == "Replay 2 dead deliveries?"
    page.click("#confirm")
    assert page.locator("#replayed").inner_text() == "Replayed 2 deliveries."
    assert served.api().get("/api/v1/dead").json()["data"] == []


def test_a_read_only_login_sees_no_replay_and_cannot_post_one(
    page: Page, delivered: tuple[Served, int, int], tmp_path: Path
) -> None:
    served, ok, down = delivered
    log_in(page, served, served.read_only_key)
    page.goto(f"{served.url}/admin/dead")
    assert page.locator("#dead tbody tr").count() == 3
    assert page.locator("main form[method=post], #replay-selected, #replay-matching, input[type=checkbox]").count() == 0
    screenshot(page, tmp_path, "dead-read-only")
    csrf = page.locator("header input[name=csrf_token]").input_value()
    answer = page.request.post(
        f"{served.url}/admin/dead/replay", form={"csrf_token": csrf, "mode": "matching", "confirmed": "true"}
    )
    assert answer.status == 403
    assert len(served.api().get("/api/v1/dead").json()["data"]) == 3
