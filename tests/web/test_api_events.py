"""POST /api/v1/events (one and bulk, with Idempotency-Key) and GET /api/v1/events/{id}, over a real socket."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
import requests
from pytest_httpserver import HTTPServer

from ..helpers import query
from .served import Api, Served, problem, run_cli


def post_raw(api: Api, path: str, body: str, **headers: str) -> requests.Response:
    return api.post(path, data=body.encode(), headers={"Content-Type": "application/json", **headers})


def test_an_event_is_queued_with_its_payload_as_sent(server: Served, api: Api) -> None:
    answer = post_raw(api, "/api/v1/events", '{"type": "new_lead", "payload": {"b": 1.50,  "a": "\\u00e9"}}')
    assert answer.status_code == 201
    event_id = answer.json()["id"]
    assert query(server.db, f"SELECT type, payload FROM events WHERE id = {event_id}") == [
        ("new_lead", '{"b": 1.50,  "a": "\\u00e9"}')
    ]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ('{"type": "a", "payload": 1}', "payload: invalid payload: must be a JSON object or array"),
        ('{"type": "a", "payload": {"x": NaN}}', "NaN is not JSON"),
        ('{"type": "", "payload": {}}', "type"),
        ('{"type": "a", "payload": {}, "extra": 1}', "extra"),
        ('{"type": "a", "payload": ["' + "x" * 1024 * 1024 + '"]}', "over the limit"),
    ],
)
def test_a_bad_event_is_a_422_and_queues_nothing(server: Served, api: Api, body: str, says: str) -> None:
    before = query(server.db, "SELECT count(*) FROM events")
    assert says in str(problem(post_raw(api, "/api/v1/events", body), 422)["detail"])
    assert query(server.db, "SELECT count(*) FROM events") == before


def test_keys_are_needed_and_a_read_only_key_queues_nothing(server: Served) -> None:
    body = {"type": "a", "payload": {}}
    assert problem(server.api_as(None).post("/api/v1/events", json=body), 401)
    assert problem(server.api_as("dsp_wrong").post("/api/v1/events", json=body), 401)
    assert "read-only" in str(problem(server.api_as(server.read_only_key).post("/api/v1/events", json=body), 403))
    assert problem(server.api_as(None).get("/api/v1/events/1"), 401)


def test_a_repeat_with_its_idempotency_key_gets_the_first_answer(server: Served, api: Api) -> None:
    body = '{"type": "idem", "payload": {"n": 1}}'
    first = post_raw(api, "/api/v1/events", body, **{"Idempotency-Key": "order-1"})
    again = post_raw(api, "/api/v1/events", body, **{"Idempotency-Key": "order-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.content == again.content and again.headers["Idempotent-Replayed"] == "true"
    assert query(server.db, "SELECT count(*) FROM events WHERE type = 'idem'") == [(1,)]
    # The same key for another body: a 409, nothing queued.
    other = post_raw(api, "/api/v1/events", '{"type": "idem", "payload": {"n": 2}}', **{"Idempotency-Key": "order-1"})
    assert "different request" in str(problem(other, 409)["detail"])
    # Keys are the API key's own: another key's same key is another request.
    second_key = json.loads(run_cli(server, "api-key", "create", "--json").stdout)["key"]
    elsewhere = post_raw(server.api_as(second_key), "/api/v1/events", body, **{"Idempotency-Key": "order-1"})
    assert elsewhere.status_code == 201 and elsewhere.json()["id"] != first.json()["id"]
    assert query(server.db, "SELECT count(*) FROM events WHERE type = 'idem'") == [(2,)]


def test_a_bulk_is_all_or_nothing(server: Served, api: Api) -> None:
    made = api.post("/api/v1/events/bulk", json={"events": [{"type": "bulk", "payload": [n]} for n in range(3)]})
    assert made.status_code == 201
    ids = made.json()["ids"]
    assert query(server.db, "SELECT id, payload FROM events WHERE type = 'bulk'") == [
        (ids[0], "[0]"),
        (ids[1], "[1]"),
        (ids[2], "[2]"),
    ]
    bad = post_raw(
        api, "/api/v1/events/bulk", '{"events": [{"type": "bulk2", "payload": []}, {"type": "bulk2", "payload": 7}]}'
    )
    assert str(problem(bad, 422)["detail"]).startswith("events.1.payload")
    assert query(server.db, "SELECT count(*) FROM events WHERE type = 'bulk2'") == [(0,)]
    assert problem(api.post("/api/v1/events/bulk", json={"events": []}), 422)
    assert problem(server.api_as(server.read_only_key).post("/api/v1/events/bulk", json={"events": []}), 403)


def test_an_event_after_a_real_delivery_shows_its_attempts(serve: Callable[..., Served], receiver: HTTPServer) -> None:
    receiver.expect_request("/hook").respond_with_data("thanks", status=202)
    served = serve("--deliver")
    api = served.api()
    run_cli(served, "endpoint", "add", receiver.url_for("/hook"), "--allow-private")
    event_id = api.post("/api/v1/events", json={"type": "new_lead", "payload": {"id": "lead_123"}}).json()["id"]
    for _ in range(200):
        event = api.get(f"/api/v1/events/{event_id}").json()
        if event["deliveries"][0]["state"] == "delivered":
            break
        time.sleep(0.05)
    assert (event["type"], event["payload"]) == ("new_lead", {"id": "lead_123"})
    (delivery,) = event["deliveries"]
    (attempt,) = delivery["attempts"]
    assert (delivery["state"], attempt["status_code"], attempt["ok"]) == ("delivered", 202, True)
    assert attempt["batch_id"] == delivery["batch_id"] and attempt["event_ids"] == [event_id]
    assert "no event 999" in str(problem(api.get("/api/v1/events/999"), 404)["detail"])
    assert problem(api.get("/api/v1/events/abc"), 422)
