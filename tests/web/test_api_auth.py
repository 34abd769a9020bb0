"""Every operation of the API, as its own spec lists them, refuses a call without a valid key, and
every operation that changes state refuses a read-only key."""

from __future__ import annotations

from typing import Any

import pytest

from .served import Api, Served, problem

OPEN = {("GET", "/healthz")}  # for load balancers: it tells nothing but that the database answers


def concrete(path: str) -> str:
    """The path with each {parameter} given a plausible value."""
    return "/".join("1" if part.startswith("{") else part for part in path.split("/"))


def every_operation(api: Api) -> list[tuple[str, str]]:
    spec: dict[str, Any] = api.get("/openapi.json").json()
    found = [(method.upper(), path) for path, item in spec["paths"].items() for method in item]
    return [(method, concrete(path)) for method, path in found if (method, path) not in OPEN]


@pytest.mark.parametrize("key", [None, "dsp_not-a-key", "Basic dXNlcjpwYXNz"])
def test_no_operation_answers_without_a_valid_key(server: Served, api: Api, key: str | None) -> None:
    checked = every_operation(api)
    assert len(checked) > 20  # the spec lists the whole API
    for method, path in checked:
        caller = server.api_as(key)
        if key is not None and key.startswith("Basic "):
            caller = server.api_as(None)
            answer = caller.request(method, path, headers={"Authorization": key}, json={})
        else:
            answer = caller.request(method, path, json={} if method != "GET" else None)
        assert problem(answer, 401)["detail"], (method, path)


def test_a_read_only_key_changes_nothing_anywhere(server: Served, api: Api) -> None:
    viewer = server.api_as(server.read_only_key)
    for method, path in every_operation(api):
        if method == "GET" and not path.endswith("/secret"):
            continue
        answer = viewer.request(method, path, json={} if method != "GET" else None)
        assert "read-only" in problem(answer, 403)["detail"], (method, path)
