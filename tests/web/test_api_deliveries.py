"""The attempt log (/api/v1/webhooks/deliveries/), dead letters, replay and status, over a real socket,
after real deliveries by `dispatcher process` to a real receiver."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer

from .served import Served, problem, run_cli, start_serve


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, int, int, list[int]]]:
    """Endpoint `ok` got 6 events one request each; endpoint `down` let all 6 die. (served, ok, down, ids)

    Shared by the module (a server and a delivery run take seconds): the replay test comes last."""
    receiver = HTTPServer(host="127.0.0.1")
    receiver.start()
    receiver.expect_request("/ok").respond_with_data("<b>fine</b>", headers={"X-Receiver": "<script>x</script>"})
    receiver.expect_request("/down").respond_with_data("broken", status=500)
    served = start_serve(tmp_path_factory.mktemp("deliveries") / "dispatcher.db")

    def add(path: str, *options: str) -> int:
        made = run_cli(served, "endpoint", "add", receiver.url_for(path), "--allow-private", "--json", *options)
        return int(json.loads(made.stdout)["id"])

    ok = add("/ok", "--batch-size", "1")
    down = add("/down", "--batch-size", "3", "--max-attempts", "1", "--disable-after", "0")
    ids = (
        served.api()
        .post("/api/v1/events/bulk", json={"events": [{"type": "lead", "payload": {"n": n}} for n in range(6)]})
        .json()["ids"]
    )
    run_cli(served, "process")
    yield served, ok, down, ids
    served.stop()
    receiver.stop()


def test_both_spellings_of_the_log_answer_without_a_redirect(history: tuple[Served, int, int, list[int]]) -> None:
    served, ok, down, ids = history
    api = served.api()
    with_slash = api.get("/api/v1/webhooks/deliveries/", allow_redirects=False)
    without = api.get("/api/v1/webhooks/deliveries", allow_redirects=False)
    assert (with_slash.status_code, without.status_code) == (200, 200)
    assert with_slash.json() == without.json()
    data = with_slash.json()["data"]
    assert len(data) == 8 and [row["id"] for row in data] == sorted((row["id"] for row in data), reverse=True)


def test_filters_and_cursor_paging_over_several_pages(history: tuple[Served, int, int, list[int]]) -> None:
    served, ok, down, ids = history
    api = served.api()
    seen, cursor, pages = [], None, 0
    while True:
        params: dict[str, object] = {"webhook_id": ok, "status": "ok", "limit": 4}
        if cursor:
            params["cursor"] = cursor
        answer = api.get("/api/v1/webhooks/deliveries/", params=params).json()
        seen += [row["event_ids"][0] for row in answer["data"]]
        pages += 1
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert (seen, pages) == (ids[::-1], 2)
    failed = api.get("/api/v1/webhooks/deliveries/", params={"status": "500"}).json()["data"]
    assert {(row["endpoint"], row["ok"]) for row in failed} == {(down, False)} and len(failed) == 2
    assert api.get("/api/v1/webhooks/deliveries/", params={"status": "failed"}).json()["data"] == failed
    carried = api.get("/api/v1/webhooks/deliveries/", params={"event_id": ids[4]}).json()["data"]
    assert sorted(row["endpoint"] for row in carried) == [ok, down]
    window = {"since": "2020-01-01T00:00:00Z", "until": "2020-01-02T00:00:00Z"}
    assert api.get("/api/v1/webhooks/deliveries", params=window).json() == {"data": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"webhook_id": 999}, 404, "no endpoint 999"),
        ({"status": "fine"}, 422, "status"),
        ({"since": "yesterday"}, 422, "since: invalid time"),
        ({"since": "1h", "until": "2h"}, 422, "invalid time window"),
        ({"cursor": "nonsense"}, 422, "invalid cursor"),
        ({"limit": 0}, 422, "limit"),
    ],
)
def test_bad_filters_are_problems(
    history: tuple[Served, int, int, list[int]], params: dict[str, object], status: int, says: str
) -> None:
    served = history[0]
    assert says in str(problem(served.api().get("/api/v1/webhooks/deliveries/", params=params), status)["detail"])


def test_one_attempt_with_its_request_and_response_headers(history: tuple[Served, int, int, list[int]]) -> None:
    served, ok, down, ids = history
    api = served.api()
    newest = api.get("/api/v1/webhooks/deliveries/", params={"webhook_id": ok, "limit": 1}).json()["data"][0]
    detail = api.get(f"/api/v1/webhooks/deliveries/{newest['id']}").json()
    assert detail["request"]["line"].startswith("POST http://127.0.0.1:") and detail["request"]["body_state"] == "exact"
    sent = dict(detail["request"]["headers"])
    assert sent["Content-Type"] == "application/json" and len(detail["request"]["body_sha256"]) == 64
    assert detail["response"]["status_code"] == 200 and detail["response"]["body_excerpt"] == "<b>fine</b>"
    assert dict(detail["response"]["headers"])["X-Receiver"] == "<script>x</script>"
    assert "no attempt 99999" in str(problem(api.get("/api/v1/webhooks/deliveries/99999"), 404)["detail"])
    assert problem(served.api_as(None).get(f"/api/v1/webhooks/deliveries/{newest['id']}"), 401)


def test_status_is_what_the_cli_prints(history: tuple[Served, int, int, list[int]]) -> None:
    served, ok, down, ids = history
    answer = served.api_as(served.read_only_key).get("/api/v1/status").json()
    printed = json.loads(run_cli(served, "status", "--json").stdout)
    volatile = ("oldest_pending_age_s", "next_attempt_at")
    assert [{k: v for k, v in row.items() if k not in volatile} for row in answer] == [
        {k: v for k, v in row.items() if k not in volatile} for row in printed
    ]
    assert [(row["endpoint"], row["delivered"], row["dead"]) for row in answer] == [(ok, 6, 0), (down, 0, 6)]
    assert problem(served.api_as(None).get("/api/v1/status"), 401)


def test_the_api_needs_a_key(server: Served) -> None:
    for path in ("/api/v1/webhooks/deliveries/", "/api/v1/webhooks/deliveries/1", "/api/v1/dead"):
        assert problem(server.api_as("dsp_wrong").get(path), 401)


def test_dead_pages_and_replay_with_a_dry_run_first(history: tuple[Served, int, int, list[int]]) -> None:
    served, ok, down, ids = history
    api = served.api()
    first = api.get("/api/v1/dead", params={"limit": 4}).json()
    rest = api.get("/api/v1/dead", params={"limit": 4, "cursor": first["next_cursor"]}).json()
    assert [row["event_id"] for row in first["data"] + rest["data"]] == ids[::-1] and rest["next_cursor"] is None
    assert {row["endpoint"] for row in first["data"]} == {down}
    assert api.get("/api/v1/dead", params={"type": "other.*"}).json()["data"] == []
    assert problem(api.get("/api/v1/dead", params={"webhook_id": 999}), 404)

    dry = api.post("/api/v1/replay", json={"webhook_id": down, "dead": True, "dry_run": True}).json()
    assert dry == {"count": 6, "dry_run": True}
    assert api.get("/api/v1/dead").json()["data"] != []  # a dry run changes nothing
    done = api.post("/api/v1/replay", json={"webhook_id": down, "dead": True, "since": "1h"}).json()
    assert done == {"count": 6, "dry_run": False}
    assert api.get("/api/v1/dead").json() == {"data": [], "next_cursor": None}
    assert "needs a filter" in str(problem(api.post("/api/v1/replay", json={}), 422)["detail"])
    assert problem(api.post("/api/v1/replay", json={"dead": True, "everything": True}), 422)
    assert problem(api.post("/api/v1/replay", json={"webhook_id": 999}), 404)
    assert problem(served.api_as(served.read_only_key).post("/api/v1/replay", json={"dead": True}), 403)
