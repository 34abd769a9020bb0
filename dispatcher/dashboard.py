"""The admin UI's dashboard: every endpoint's health and figures at a glance, and their totals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .endpoint_view import Health, health
from .models import EndpointStatus
from .store import Store

# The dashboard's delivered and failed counts cover this much time back from now.
RECENT = timedelta(hours=24)


@dataclass(frozen=True)
class DashboardRow:
    status: EndpointStatus
    health: Health
    disabled_reason: str | None
    delivered_recently: int  # events delivered in the last RECENT
    failed_recently: int  # failed requests in the last RECENT

    @property
    def waiting(self) -> int:
        """Events not yet delivered nor dead, in flight included."""
        return self.status.pending + self.status.in_flight


@dataclass(frozen=True)
class Totals:
    endpoints: int
    health: dict[Health, int]  # how many endpoints are in each state
    waiting: int
    oldest_pending_age_s: float | None
    delivered_recently: int
    failed_recently: int
    next_attempt_at: datetime | None  # the soonest of them all


@dataclass(frozen=True)
class Dashboard:
    rows: tuple[DashboardRow, ...]
    totals: Totals


def dashboard(store: Store, now: datetime) -> Dashboard:
    recent = {figures.endpoint: figures for figures in store.recent_figures(now - RECENT)}
    rows = []
    for status in store.status(now):
        figures = recent.get(status.endpoint)  # None: the endpoint was added between the two reads
        rows.append(
            DashboardRow(
                status=status,
                health=health(status.enabled, status.consecutive_failures),
                disabled_reason=None if figures is None or status.enabled else figures.disabled_reason,
                delivered_recently=0 if figures is None else figures.delivered,
                failed_recently=0 if figures is None else figures.failed,
            )
        )
    return Dashboard(tuple(rows), totals(rows))


def totals(rows: list[DashboardRow]) -> Totals:
    ages = [row.status.oldest_pending_age_s for row in rows if row.status.oldest_pending_age_s is not None]
    due = [row.status.next_attempt_at for row in rows if row.status.next_attempt_at is not None]
    states: dict[Health, int] = {"enabled": 0, "failing": 0, "disabled": 0}
    for row in rows:
        states[row.health] += 1
    return Totals(
        endpoints=len(rows),
        health=states,
        waiting=sum(row.waiting for row in rows),
        oldest_pending_age_s=max(ages, default=None),
        delivered_recently=sum(row.delivered_recently for row in rows),
        failed_recently=sum(row.failed_recently for row in rows),
        next_attempt_at=min(due, default=None),
    )
