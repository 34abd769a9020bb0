"""GET /metrics of a real `dispatcher serve --deliver`: Prometheus text counted from the database."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pytest_httpserver import HTTPServer
from werkzeug import Response

import dispatcher
from dispatcher.web.metrics import DURATION_BUCKETS_S

from ..helpers import closed_port_url
from .served import Api, Served, add_endpoint, wait_until

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(api: Api) -> Samples:
    answer = api.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: Samples, metric: str, **labels: str) -> float:
    return samples[(metric, frozenset(labels.items()))]


@pytest.mark.slow
def test_metrics_count_real_deliveries_from_the_database(serve: Callable[..., Served], receiver: HTTPServer) -> None:
    served = serve("--deliver")
    ok = add_endpoint(served.db, receiver.url_for("/ok"), name="crm")
    dead = add_endpoint(served.db, receiver.url_for("/dead"), max_attempts=1)
    down = add_endpoint(served.db, closed_port_url(), retry="fixed:1h")
    receiver.expect_request("/ok").respond_with_data("fine")
    receiver.expect_request("/dead").respond_with_handler(lambda request: Response("no", status=500))
    with dispatcher.open(served.db) as queue:
        for n in range(3):
            queue.enqueue("lead.created", {"n": n})
    api = served.api()
    # One request each: the batch delivered, the batch dead at once, the batch waiting an hour.
    wait_until(lambda: scrape(api).get(("dispatcher_request_duration_seconds_count", frozenset())) == 3)

    samples = scrape(api)
    assert value(samples, "dispatcher_deliveries_total", outcome="delivered", status_class="2xx") == 3
    assert value(samples, "dispatcher_deliveries_total", outcome="dead", status_class="5xx") == 3
    assert value(samples, "dispatcher_attempts_total", outcome="ok", status_class="2xx") == 1  # one batch of 3
    assert value(samples, "dispatcher_attempts_total", outcome="failed", status_class="5xx") == 1
    assert value(samples, "dispatcher_attempts_total", outcome="failed", status_class="none") == 1  # no answer
    # Three requests timed: every one within the last bucket, and the +Inf bucket is the count.
    assert value(samples, "dispatcher_request_duration_seconds_count") == 3
    assert value(samples, "dispatcher_request_duration_seconds_bucket", le="+Inf") == 3
    assert value(samples, "dispatcher_request_duration_seconds_bucket", le=repr(DURATION_BUCKETS_S[-1])) == 3
    assert 0 < value(samples, "dispatcher_request_duration_seconds_sum") < 30

    def per_endpoint(metric: str, endpoint: int, name: str = "") -> float:
        return value(samples, metric, endpoint=str(endpoint), name=name)

    assert per_endpoint("dispatcher_endpoint_pending_events", ok, "crm") == 0
    assert per_endpoint("dispatcher_endpoint_pending_events", down) == 3
    assert per_endpoint("dispatcher_endpoint_oldest_pending_age_seconds", down) > 0
    assert per_endpoint("dispatcher_endpoint_oldest_pending_age_seconds", ok, "crm") == 0
    assert per_endpoint("dispatcher_endpoint_dead_events", dead) == 3
    assert per_endpoint("dispatcher_endpoint_consecutive_failures", down) == 1
    assert per_endpoint("dispatcher_endpoint_consecutive_failures", ok, "crm") == 0
    assert per_endpoint("dispatcher_endpoint_enabled", ok, "crm") == 1


@pytest.mark.slow
def test_metrics_need_a_key_unless_served_public(serve: Callable[..., Served]) -> None:
    private = serve()
    refused = private.api_as(None).get("/metrics")
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert private.api_as("dsp_wrong").get("/metrics").status_code == 401
    assert private.api_as(private.read_only_key).get("/metrics").status_code == 200  # reading is all it does

    public = serve("--metrics-public")
    answer = public.api_as(None).get("/metrics")
    assert answer.status_code == 200
    assert "# TYPE dispatcher_deliveries_total counter" in answer.text
