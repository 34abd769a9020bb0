"""GET /metrics: Prometheus text, counted from the database at scrape time.

Deliveries happen in other processes too (cron's `dispatcher process`, other servers), so
in-process counters would miss most of them: a custom collector reads the store on each
scrape instead. The names follow the Prometheus naming guide; the README lists them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from ..store import Store
from .auth import StoreDep, check_key, now
from .problems import responses

router = APIRouter(tags=["metrics"])
_bearer = HTTPBearer(auto_error=False, description="An API key; none needed under `serve --metrics-public`.")

# Upper bounds of the request duration histogram, in seconds: a receiver on the same network
# answers in milliseconds, a slow one in seconds, and the default timeout is 30 s.
DURATION_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_ENDPOINT_LABELS = ["endpoint", "name"]


class DatabaseCollector(Collector):
    """Everything /metrics reports, read from one store at one moment."""

    def __init__(self, store: Store, moment: datetime) -> None:
        self.store = store
        self.moment = moment

    def collect(self) -> Iterator[Metric]:
        deliveries = CounterMetricFamily(
            "dispatcher_deliveries",
            "Finished deliveries (an event to an endpoint) the database keeps, by outcome and the "
            "status class of the last request ('none': no answer).",
            labels=["outcome", "status_class"],
        )
        for delivery in self.store.delivery_counts():
            deliveries.add_metric([delivery.outcome, delivery.status_class], delivery.count)
        yield deliveries
        attempts = CounterMetricFamily(
            "dispatcher_attempts",
            "HTTP requests made to receivers that the database keeps (test sends not counted).",
            labels=["outcome", "status_class"],
        )
        for attempt in self.store.attempt_counts():
            attempts.add_metric([attempt.outcome, attempt.status_class], attempt.count)
        yield attempts
        durations = self.store.request_durations(DURATION_BUCKETS_S)
        yield HistogramMetricFamily(
            "dispatcher_request_duration_seconds",
            "How long requests to receivers took (test sends not counted).",
            buckets=[(_bound(bound), count) for bound, count in durations.buckets] + [("+Inf", durations.count)],
            sum_value=durations.sum_seconds,
        )
        yield from self._endpoints()

    def _endpoints(self) -> Iterator[Metric]:
        families = {
            "pending": GaugeMetricFamily(
                "dispatcher_endpoint_pending_events",
                "Events waiting for delivery to the endpoint, in flight included.",
                labels=_ENDPOINT_LABELS,
            ),
            "age": GaugeMetricFamily(
                "dispatcher_endpoint_oldest_pending_age_seconds",
                "How long the endpoint's oldest waiting event has waited (0 when none waits).",
                labels=_ENDPOINT_LABELS,
            ),
            "dead": GaugeMetricFamily(
                "dispatcher_endpoint_dead_events",
                "Dead deliveries to the endpoint the database keeps (until replayed or pruned).",
                labels=_ENDPOINT_LABELS,
            ),
            "failures": GaugeMetricFamily(
                "dispatcher_endpoint_consecutive_failures",
                "Failed requests to the endpoint in a row (0 after a success).",
                labels=_ENDPOINT_LABELS,
            ),
            "enabled": GaugeMetricFamily(
                "dispatcher_endpoint_enabled",
                "1 while the endpoint gets requests, 0 once disabled.",
                labels=_ENDPOINT_LABELS,
            ),
        }
        for status in self.store.status(self.moment):
            labels = [str(status.endpoint), status.name or ""]
            families["pending"].add_metric(labels, status.pending + status.in_flight)
            families["age"].add_metric(labels, status.oldest_pending_age_s or 0.0)
            families["dead"].add_metric(labels, status.dead)
            families["failures"].add_metric(labels, status.consecutive_failures)
            families["enabled"].add_metric(labels, int(status.enabled))
        yield from families.values()


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text"},
        **responses(401),
    },
)
def metrics(
    request: Request, store: StoreDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Response:
    """Prometheus text format; needs an API key unless the server runs with `--metrics-public`."""
    if not request.app.state.metrics_public:
        check_key(request, credentials)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(store, now(request)))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _bound(seconds: float) -> str:
    """A bucket's ``le`` label as Prometheus writes it (``0.005``, ``1.0``)."""
    return repr(float(seconds))
