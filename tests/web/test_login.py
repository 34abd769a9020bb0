"""Logging in to the admin UI with a key: cookies, sessions, CSRF, read-only sessions."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page

from dispatcher import api_keys
from dispatcher.clock import SystemClock
from dispatcher.store import open_store

from .served import Served, add_endpoint, log_in, screenshot, start_serve

pytestmark = pytest.mark.slow  # a server process per module, a browser for one test

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def logged_in(served: Served, key: str) -> requests.Session:
    """A client holding a session cookie made with ``key``."""
    client = requests.Session()
    form = client.get(f"{served.url}/admin/login", timeout=10)
    token = CSRF.search(form.text)
    assert token, form.text
    answer = client.post(
        f"{served.url}/admin/login",
        data={"key": key, "csrf_token": token.group(1), "next": "/admin"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/admin", answer.text
    return client


def page_token(client: requests.Session, served: Served) -> str:
    found = CSRF.search(client.get(f"{served.url}/admin", timeout=10).text)
    assert found
    return found.group(1)


def test_a_wrong_key_shows_an_error_and_the_right_one_logs_in(server: Served) -> None:
    client = requests.Session()
    token = CSRF.search(client.get(f"{server.url}/admin/login", timeout=10).text)
    assert token
    wrong = client.post(f"{server.url}/admin/login", data={"key": "dsp_nope", "csrf_token": token.group(1)}, timeout=10)
    assert wrong.status_code == 401 and "not a valid API key" in wrong.text

    client = logged_in(server, server.key)
    cookie = client.cookies.get("dispatcher_session")
    assert cookie
    raw = requests.Session()
    token = CSRF.search(raw.get(f"{server.url}/admin/login", timeout=10).text)
    assert token
    made = raw.post(
        f"{server.url}/admin/login", data={"key": server.key, "csrf_token": token.group(1)}, allow_redirects=False
    )
    set_cookie = made.headers["set-cookie"].lower()
    assert "dispatcher_session=" in set_cookie and "httponly" in set_cookie and "samesite=lax" in set_cookie
    assert "secure" not in set_cookie  # plain http on loopback; behind an https proxy it is Secure
    assert client.get(f"{server.url}/admin", timeout=10).status_code == 200


def test_logout_ends_the_session_for_the_old_cookie_too(server: Served) -> None:
    client = logged_in(server, server.key)
    cookie = client.cookies.get("dispatcher_session")
    out = client.post(
        f"{server.url}/admin/logout", data={"csrf_token": page_token(client, server)}, allow_redirects=False
    )
    assert out.status_code == 303 and out.headers["location"] == "/admin/login"
    replayed = requests.get(
        f"{server.url}/admin", cookies={"dispatcher_session": cookie or ""}, allow_redirects=False, timeout=10
    )
    assert replayed.status_code == 303 and replayed.headers["location"].startswith("/admin/login")


def test_revoking_the_key_ends_its_sessions(server: Served) -> None:
    store = open_store(server.db)
    try:
        made = api_keys.create(store, SystemClock().now(), "temporary")
        client = logged_in(server, made.text)
        assert client.get(f"{server.url}/admin", allow_redirects=False, timeout=10).status_code == 200
        api_keys.revoke(store, made.key.id)
    finally:
        store.close()
    assert client.get(f"{server.url}/admin", allow_redirects=False, timeout=10).status_code == 303


def test_a_login_form_without_its_cookie_token_is_refused(server: Served) -> None:
    token = CSRF.search(requests.get(f"{server.url}/admin/login", timeout=10).text)
    assert token
    # Another browser (another site's form): the token without the cookie that goes with it.
    forged = requests.post(
        f"{server.url}/admin/login", data={"key": server.key, "csrf_token": token.group(1)}, allow_redirects=False
    )
    assert forged.status_code == 401 and "stale" in forged.text
    assert "dispatcher_session" not in forged.cookies


def crawl(served: Served, client: requests.Session, limit: int = 40) -> tuple[set[str], set[str]]:
    """The admin pages a logged-in person reaches by following links from /admin, and the
    actions of the forms on them that post (pages added later are covered as they are linked)."""
    pages, posts, seen, todo = set(), set(), set(), ["/admin"]
    while todo and len(pages) < limit:
        path = todo.pop()
        if path in pages or path in seen:
            continue
        seen.add(path)
        answer = client.get(served.url + path, timeout=10)
        if answer.status_code != 200:
            continue  # a link to a page this build does not have
        pages.add(path)
        text = answer.text
        todo += [link for link in re.findall(r'href="(/admin[^"?#]*)', text) if link not in pages]
        posts |= set(re.findall(r'<form[^>]*method="post"[^>]*action="([^"]+)"', text))
    return pages - {"/admin/login"}, posts - {"/admin/login"}


def test_every_admin_page_redirects_to_login_without_a_session(server: Served) -> None:
    pages, _ = crawl(server, logged_in(server, server.key))
    assert "/admin" in pages
    for path in pages:
        answer = requests.get(server.url + path, allow_redirects=False, timeout=10)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/admin/login"), path


def test_a_post_without_its_csrf_token_is_403(server: Served) -> None:
    client = logged_in(server, server.key)
    _, posts = crawl(server, client)
    assert "/admin/logout" in posts
    for path in posts:
        assert client.post(server.url + path, data={}, allow_redirects=False, timeout=10).status_code == 403, path
    assert client.get(f"{server.url}/admin", allow_redirects=False, timeout=10).status_code == 200  # still in


def test_a_read_only_session_gets_403_on_every_post_but_logout(server: Served) -> None:
    client = logged_in(server, server.read_only_key)
    token = page_token(client, server)
    _, posts = crawl(server, logged_in(server, server.key))  # the read-write key sees every form
    for path in posts - {"/admin/logout"}:
        answer = client.post(server.url + path, data={"csrf_token": token}, allow_redirects=False, timeout=10)
        assert answer.status_code == 403, path
    out = client.post(f"{server.url}/admin/logout", data={"csrf_token": token}, allow_redirects=False, timeout=10)
    assert out.status_code == 303


def test_the_login_page_with_no_key_yet_shows_the_command_to_make_one(tmp_path: Path) -> None:
    served = start_serve(tmp_path / "empty.db", keys=("", ""))
    try:
        page = requests.get(f"{served.url}/admin/login", timeout=10).text
    finally:
        served.stop()
    assert "No API key exists yet" in page
    assert f"dispatcher --db {served.db} api-key create --name admin" in page


def test_logged_in_the_dashboard_shows_an_endpoint_and_its_figures(
    serve: Callable[..., Served], page: Page, tmp_path: Path
) -> None:
    served = serve()
    log_in(page, served)
    assert page.url.endswith("/admin")
    assert "No endpoints yet" in page.inner_text("main")
    assert page.locator("a[href='/admin/webhooks']").count() >= 1
    screenshot(page, tmp_path, "dashboard-empty")

    add_endpoint(served.db, "http://127.0.0.1:9/hook", name="crm <b>")
    page.reload()
    row = page.locator("tr[data-endpoint]")
    assert row.count() == 1
    assert "crm <b>" in row.inner_text() and "http://127.0.0.1:9/hook" in row.inner_text()
    assert "enabled" in row.locator("td.health-cell").inner_text()
    assert page.locator("body").get_attribute("data-refresh-seconds") == "5"
    assert "Total" in page.locator("tfoot").inner_text()
    screenshot(page, tmp_path, "dashboard")
