"""/admin/webhooks: the list, the create form, one webhook's page, in a real browser and over HTTP."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from pytest_httpserver import HTTPServer

from dispatcher.producer import enqueue

from .served import Served, admin_client, log_in, screenshot

HOSTILE = "<script>alert(1)</script>"


def webhook_id_of(page: Page) -> int:
    found = re.search(r"/admin/webhooks/(\d+)", page.url)
    assert found is not None, page.url
    return int(found.group(1))


def create_in_browser(page: Page, served: Served, url: str, name: str, events: list[str]) -> str:
    """Fill and send the create form; the secret the answer shows."""
    page.goto(f"{served.url}/admin/webhooks")
    page.fill("#url", url)
    page.fill("#name", name)
    page.fill("#description", "Production webhook endpoint")
    for event_type in events:
        page.check(f"input[name=events][value='{event_type}']")
    page.fill("#batch_size", "5")
    page.fill("#max_retries", "3")
    page.select_option("#allow_private", "true")  # the receiver is on 127.0.0.1
    page.click("text=Create webhook")
    return page.inner_text("#secret")


def test_create_see_the_secret_once_edit_test_disable_rotate_delete(
    page: Page, server: Served, receiver: HTTPServer, tmp_path: Path
) -> None:
    for event_type in ["lead.created", "lead.updated", "order.paid"]:
        enqueue(server.db, event_type, {"n": 1})
    page.on("dialog", lambda dialog: dialog.accept())  # the rotate button's confirm()
    log_in(page, server)

    secret = create_in_browser(page, server, receiver.url_for("/hook"), "crm", ["lead.created", "lead.updated"])
    assert secret.startswith("whsec_")
    expect(page.locator("h1")).to_contain_text("created")
    screenshot(page, tmp_path, "webhook-created")
    page.click("text=All webhooks")
    row = page.locator("table.webhooks tr", has_text="crm")
    expect(row).to_contain_text("lead.created, lead.updated")
    expect(row.locator(".health")).to_have_text("enabled")
    assert secret not in page.content()
    screenshot(page, tmp_path, "webhooks")

    row.locator("a", has_text="crm").click()
    assert secret not in page.content()
    expect(page.locator("#batch_size")).to_have_value("5")
    expect(page.locator("input[name=events][value='lead.created']")).to_be_checked()
    expect(page.locator("input[name=events][value='order.paid']")).not_to_be_checked()
    expect(page.locator("#concurrency")).to_have_attribute("placeholder", "global: 1")
    page.fill("#batch_size", "7")
    page.fill("#concurrency", "4")
    page.fill("#rate_limit", "5/s")
    page.check("input[name=events][value='order.paid']")
    page.click("text=Save settings")
    expect(page.locator("[role=status]")).to_have_text("Settings saved.")
    expect(page.locator("#batch_size")).to_have_value("7")
    expect(page.locator("#concurrency")).to_have_value("4")
    expect(page.locator("#rate_limit")).to_have_value("5/s")
    expect(page.locator("input[name=events][value='order.paid']")).to_be_checked()
    expect(page.locator("#max_retries")).to_have_value("3")
    screenshot(page, tmp_path, "webhook")

    receiver.expect_request("/hook").respond_with_data(HOSTILE, status=200, headers={"X-Receiver": "yes"})
    page.click("text=Send test request")
    expect(page.locator("#verdict")).to_contain_text("HTTP 200: accepted")
    expect(page.locator("#response-body")).to_have_text(HOSTILE)
    expect(page.locator("#response-headers")).to_contain_text("X-Receiver")
    # Shown as text: the only script on the page is the UI's own.
    assert page.locator("script").count() == 1 and page.locator("#response-body *").count() == 0
    screenshot(page, tmp_path, "webhook-test")
    page.click("text=Back to the webhook")
    expect(page.locator("table.attempts")).to_contain_text("test")

    page.click("button:text-is('Disable')")
    expect(page.locator("h1 .health")).to_have_text("disabled")
    expect(page.locator("main")).to_contain_text("disabled by user")
    page.click("button:text-is('Enable')")
    expect(page.locator("h1 .health")).to_have_text("enabled")
    page.click("button:text-is('Retry now')")
    expect(page.locator("[role=status]")).to_have_text("Nothing was waiting for a retry.")

    page.click("text=Rotate secret")
    rotated = page.inner_text("#secret")
    assert rotated.startswith("whsec_") and rotated != secret
    page.click("text=Open the webhook")
    webhook_id = webhook_id_of(page)

    page.click("text=Delete…")
    expect(page.locator("h1")).to_contain_text(f"Delete webhook {webhook_id}")
    page.click(f"button:has-text('Delete webhook {webhook_id}')")
    expect(page.locator("[role=status]")).to_have_text("Webhook deleted.")
    expect(page.locator("table.webhooks")).not_to_contain_text("crm")


def test_a_refused_create_says_why_and_keeps_the_input(page: Page, server: Served) -> None:
    log_in(page, server)
    page.goto(f"{server.url}/admin/webhooks")
    page.fill("#url", "ftp://example.com/")
    page.fill("#name", "kept name")
    page.fill("#event_patterns", "lead.*, order.paid")
    page.fill("#batch_size", "5")
    page.click("text=Create webhook")
    expect(page.locator("[role=alert]")).to_contain_text("invalid URL 'ftp://example.com/'")
    expect(page.locator("#url")).to_have_value("ftp://example.com/")
    expect(page.locator("#name")).to_have_value("kept name")
    expect(page.locator("#event_patterns")).to_have_value("lead.*, order.paid")
    expect(page.locator("#batch_size")).to_have_value("5")
    page.fill("#url", "https://example.com/hook")
    page.fill("#batch_size", "many")
    page.click("text=Create webhook")
    expect(page.locator("[role=alert]")).to_contain_text("batch_size: Input should be a valid integer")


def test_a_refused_edit_says_why_and_keeps_the_input(page: Page, server: Served) -> None:
    created = server.api().post("/api/v1/webhooks", json={"url": "https://example.com/hook", "name": "edit me"})
    log_in(page, server)
    page.goto(f"{server.url}/admin/webhooks/{created.json()['id']}")
    page.fill("#timeout", "0")
    page.fill("#name", "new name")
    page.click("text=Save settings")
    expect(page.locator("[role=alert]")).to_contain_text("invalid timeout 0s")
    expect(page.locator("#timeout")).to_have_value("0")
    expect(page.locator("#name")).to_have_value("new name")
    assert server.api().get(f"/api/v1/webhooks/{created.json()['id']}").json()["name"] == "edit me"


def test_a_read_only_login_sees_the_pages_without_a_single_button(page: Page, server: Served, tmp_path: Path) -> None:
    created = server.api().post("/api/v1/webhooks", json={"url": "https://example.com/hook", "name": "look only"})
    webhook_id = created.json()["id"]
    log_in(page, server, server.read_only_key)
    for path in ["/admin/webhooks", f"/admin/webhooks/{webhook_id}", f"/admin/webhooks/{webhook_id}/delete"]:
        page.goto(server.url + path)
        expect(page.locator("main")).to_contain_text("look only")
        assert page.locator("main form").count() == 0, path
        assert page.locator("main button").count() == 0, path
    page.goto(f"{server.url}/admin/webhooks/{webhook_id}")
    expect(page.locator("table.settings")).to_contain_text("batch_size")
    screenshot(page, tmp_path, "webhook-read-only")


CHANGES = ["", "/enable", "/disable", "/retry", "/rotate-secret", "/test", "/delete"]


@pytest.mark.parametrize("suffix", CHANGES)
def test_a_read_only_session_s_posts_are_refused(server: Served, suffix: str) -> None:
    created = server.api().post("/api/v1/webhooks", json={"url": "https://example.com/hook"}).json()
    session, csrf = admin_client(server, server.read_only_key)
    answer = session.post(f"{server.url}/admin/webhooks/{created['id']}{suffix}", data={"csrf_token": csrf})
    assert answer.status_code == 403 and "read-only" in answer.text
    assert server.api().get(f"/api/v1/webhooks/{created['id']}").json()["enabled"] is True


def test_a_read_only_session_cannot_create(server: Served) -> None:
    session, csrf = admin_client(server, server.read_only_key)
    before = server.api().get("/api/v1/webhooks", params={"limit": 1000}).json()["data"]
    form = {"csrf_token": csrf, "url": "https://example.com/ro"}
    assert session.post(f"{server.url}/admin/webhooks", data=form).status_code == 403
    assert server.api().get("/api/v1/webhooks", params={"limit": 1000}).json()["data"] == before


@pytest.mark.parametrize("suffix", CHANGES)
def test_a_post_without_the_csrf_token_is_refused(server: Served, suffix: str) -> None:
    created = server.api().post("/api/v1/webhooks", json={"url": "https://example.com/hook"}).json()
    session, _ = admin_client(server)
    answer = session.post(f"{server.url}/admin/webhooks/{created['id']}{suffix}", data={"csrf_token": "forged"})
    assert answer.status_code == 403 and "CSRF" in answer.text
    assert server.api().get(f"/api/v1/webhooks/{created['id']}").status_code == 200


def test_posts_redirect_back_and_an_unknown_webhook_is_a_404_page(server: Served) -> None:
    created: dict[str, Any] = server.api().post("/api/v1/webhooks", json={"url": "https://example.com/h"}).json()
    session, csrf = admin_client(server)
    answer = session.post(
        f"{server.url}/admin/webhooks/{created['id']}/disable", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/admin/webhooks/{created['id']}?done=disabled"
    missing = session.get(f"{server.url}/admin/webhooks/99999")
    assert missing.status_code == 404 and "no endpoint 99999" in missing.text
    gone = session.post(f"{server.url}/admin/webhooks/99999/test", data={"csrf_token": csrf})
    assert gone.status_code == 404


class _FormInputs(HTMLParser):
    """The settings form's inputs as a browser posts them untouched: name -> values."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, list[str]] = {}
        self._in_form = False
        self._text_of: str | None = None  # the textarea, or the selected option without a value, being read

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        name = found.get("name") or ""
        if tag == "form":
            self._in_form = "settings" in (found.get("class") or "")
        elif not self._in_form:
            return
        elif tag == "input" and name and (found.get("type") != "checkbox" or "checked" in found):
            self.values.setdefault(name, []).append(found.get("value") or "")
        elif tag == "select":
            self._select = name
            self.values[name] = [""]
        elif tag == "option" and "selected" in found:
            if "value" in found:
                self.values[self._select] = [found["value"] or ""]
            else:
                self._text_of = self._select
        elif tag == "textarea":
            self._text_of = name
            self.values[name] = [""]

    def handle_data(self, data: str) -> None:
        if self._text_of is not None:
            self.values[self._text_of] = [self.values[self._text_of][0] + data]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("option", "textarea"):
            self._text_of = None
        elif tag == "form":
            self._in_form = False


def test_saving_the_settings_form_untouched_changes_no_setting(server: Served) -> None:
    """Every setting has its input on the page: one without would be posted empty, and an empty
    input returns its setting to the global default."""
    given = {
        "url": "https://example.com/hook",
        "name": "crm",
        "events": ["lead.*"],
        "order": "desc",
        "batch_size": 3,
        "timeout": 2.5,
        "max_retries": 4,
        "retry": "fixed:5m",
        "max_age": 3600,
        "disable_after": 7,
        "concurrency": 4,
        "rate_limit": "5/s",
        "headers": {"X-Tenant": "7"},
        "allow_private": False,
    }
    created = server.api().post("/api/v1/webhooks", json=given).json()
    before = server.api().get(f"/api/v1/webhooks/{created['id']}").json()
    session, csrf = admin_client(server)
    page = session.get(f"{server.url}/admin/webhooks/{created['id']}")
    inputs = _FormInputs()
    inputs.feed(page.text)
    inputs.values["csrf_token"] = [csrf]

    saved = session.post(f"{server.url}/admin/webhooks/{created['id']}", data=inputs.values)

    assert saved.status_code == 200 and "Settings saved." in saved.text, saved.text
    assert server.api().get(f"/api/v1/webhooks/{created['id']}").json() == before
