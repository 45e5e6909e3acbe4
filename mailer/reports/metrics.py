"""What ``GET /metrics`` answers: the counters of this host's processes added up, and gauges
read from the database at scrape time.

The gauges come from the database, the one place every host writes to, so one scrape of
any web process shows the work of all worker hosts: deliveries by state and issue state,
the age of the oldest delivery waiting in a sending issue, the send rate of the last
minute, subscriptions (bounced and complained included) and issues by state.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailer.bounces.models import BounceReport
from mailer.issues.models import Issue
from mailer.issues.states import IssueStatus
from mailer.metrics import MULTIPROC_ENV, instruments, multiprocess_files
from mailer.sending.models import Delivery
from mailer.sending.states import DeliveryStatus
from mailer.subscribers.models import Subscription
from mailer.subscribers.states import SubscriptionStatus

RATE_WINDOW = timedelta(seconds=60)


@dataclass(frozen=True)
class GaugeReading:
    name: str
    help: str
    labels: tuple[str, ...] = ()
    # One value per label combination (in ``labels`` order); () for a gauge without labels.
    values: dict[tuple[str, ...], float] = field(default_factory=dict)


def _deliveries(session: Session, now: datetime) -> GaugeReading:
    rows = session.execute(
        select(Delivery.status, Issue.status, func.count())
        .join(Issue, Issue.id == Delivery.issue_id)
        .group_by(Delivery.status, Issue.status)
    )
    values: dict[tuple[str, ...], float] = {(str(d), str(i)): float(n) for d, i, n in rows}
    return GaugeReading(
        "mailer_deliveries",
        "Deliveries by their state and their issue's state",
        ("state", "issue_state"),
        values,
    )


def _oldest_queued(session: Session, now: datetime) -> GaugeReading:
    """Seconds the longest-waiting delivery of a sending issue has waited (0: none waits).

    It waits since it was handed to the broker, or, never handed over yet, since the send
    was asked for."""
    since = func.coalesce(Delivery.enqueued_at, Issue.send_requested_at)
    oldest = session.scalar(
        select(func.min(since))
        .join(Issue, Issue.id == Delivery.issue_id)
        .where(Delivery.status == DeliveryStatus.QUEUED, Issue.status == IssueStatus.SENDING)
    )
    if isinstance(oldest, str):  # SQLite's MIN over a COALESCE loses the column's type
        oldest = datetime.fromisoformat(oldest).replace(tzinfo=now.tzinfo)
    elif oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=now.tzinfo)
    age = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    return GaugeReading(
        "mailer_oldest_queued_delivery_age_seconds",
        "How long the oldest queued delivery of a sending issue has waited",
        values={(): age},
    )


def _send_rate(session: Session, now: datetime) -> GaugeReading:
    sent = session.scalar(
        select(func.count())
        .select_from(Delivery)
        .join(Issue, Issue.id == Delivery.issue_id)
        .where(
            Issue.status.in_((IssueStatus.SENDING, IssueStatus.PAUSED, IssueStatus.SENT)),
            Delivery.status == DeliveryStatus.SENT,
            Delivery.sent_at >= now - RATE_WINDOW,
        )
    )
    return GaugeReading(
        "mailer_send_rate_per_second",
        "Mails sent a second over the last minute, by every worker host",
        values={(): (sent or 0) / RATE_WINDOW.total_seconds()},
    )


def _subscriptions(session: Session, now: datetime) -> GaugeReading:
    values: dict[tuple[str, ...], float] = {(str(s),): 0.0 for s in SubscriptionStatus}
    for status, n in session.execute(
        select(Subscription.status, func.count()).group_by(Subscription.status)
    ):
        values[(str(status),)] = float(n)
    return GaugeReading(
        "mailer_subscriptions",
        "Subscriptions by state (bounced and complained: the address is no longer mailed)",
        ("state",),
        values,
    )


def _issues(session: Session, now: datetime) -> GaugeReading:
    values: dict[tuple[str, ...], float] = {(str(s),): 0.0 for s in IssueStatus}
    for status, n in session.execute(select(Issue.status, func.count()).group_by(Issue.status)):
        values[(str(status),)] = float(n)
    return GaugeReading("mailer_issues", "Issues by state", ("state",), values)


GaugeSource = Callable[[Session, datetime], GaugeReading]


# Each is one query at scrape time. Bounce and complaint reports (the bounces domain's own
# table) add their source here: a function counting its rows by kind, as these do.
def _bounce_reports(session: Session, now: datetime) -> GaugeReading:
    """Every report received (listener, mailbox, webhooks), by what it was judged to be
    (hard, soft, policy, complaint, other; "" while stored and not yet judged) and by its
    processing state: a growing ``stored`` count means the judging task is not running."""
    rows = session.execute(
        select(BounceReport.kind, BounceReport.status, func.count()).group_by(
            BounceReport.kind, BounceReport.status
        )
    )
    values: dict[tuple[str, ...], float] = {(k or "", str(s)): float(n) for k, s, n in rows}
    return GaugeReading(
        "mailer_bounce_reports",
        "Bounce and complaint reports received, by kind and processing state",
        ("kind", "status"),
        values,
    )


GAUGE_SOURCES: list[GaugeSource] = [
    _deliveries,
    _oldest_queued,
    _send_rate,
    _subscriptions,
    _issues,
    _bounce_reports,
]


def database_gauges(session: Session, now: datetime) -> list[GaugeReading]:
    return [source(session, now) for source in GAUGE_SOURCES]


# --- the exposition ----------------------------------------------------------------------


def _families(readings: Iterable[GaugeReading]) -> Iterator[Any]:
    from prometheus_client.core import GaugeMetricFamily

    for reading in readings:
        family = GaugeMetricFamily(reading.name, reading.help, labels=list(reading.labels))
        for labels, value in sorted(reading.values.items()):
            family.add_metric(list(labels), value)
        yield family


def _merged(families: Iterable[Any]) -> list[Any]:
    """One family per name, samples with the same labels added: the counters of this
    process and those of the other processes' files may name the same series."""
    from prometheus_client.metrics_core import Metric
    from prometheus_client.samples import Sample

    merged: dict[str, Any] = {}
    sums: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for family in families:
        if family.name not in merged:
            merged[family.name] = Metric(family.name, family.documentation, family.type)
            sums[family.name] = {}
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            sums[family.name][key] = sums[family.name].get(key, 0.0) + sample.value
    for name, metric in merged.items():
        metric.samples = [
            Sample(sample_name, dict(labels), value)
            for (sample_name, labels), value in sums[name].items()
        ]
    return list(merged.values())


def exposition(session: Session, now: datetime, var_dir: Path) -> tuple[bytes, str]:
    """(body, content type) in Prometheus's text format."""
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
    from prometheus_client.multiprocess import MultiProcessCollector

    instruments()  # this process's own counters exist, at zero, before the first count
    families: list[Any] = list(
        MultiProcessCollector.merge(multiprocess_files(var_dir), accumulate=True)
    )
    if not os.environ.get(MULTIPROC_ENV):
        # One process alone (the dev server, a test): its own counts are in memory, not in
        # files; the files are this host's Celery workers'.
        families.extend(f for f in REGISTRY.collect() if f.name.startswith("mailer_"))
    families.extend(_families(database_gauges(session, now)))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(_merged(families)))
    # The classic text format (all our names are plain): Prometheus 2 and 3 both read it.
    return generate_latest(registry), CONTENT_TYPE_PLAIN_0_0_4


class _Families:
    """A collector of families already read (prometheus_client's collector protocol)."""

    def __init__(self, families: list[Any]) -> None:
        self.families = families

    def collect(self) -> list[Any]:
        return self.families
