"""GET /metrics: 404 without MAILER_METRICS_TOKEN, 401 without the right bearer token;
counters counted with the commit (never for a rollback), request latency and counts, and
gauges read from the database at scrape time."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from sqlalchemy.orm import Session

from mailer.config_metrics import MetricsSettings
from mailer.db import utcnow
from mailer.issues.models import Issue
from mailer.reports.metrics import database_gauges
from mailer.runtime import Runtime
from mailer.sending.models import Delivery
from mailer.subscribers.consent import RequestContext
from mailer.subscribers.signup_requests import SignupRequest
from mailer.subscribers.subscriptions import subscribe
from tests.harness import factories
from tests.harness.apps import other_app

TOKEN = "metrics-token-for-the-tests-0123"


def values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return values(text).get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def metrics_app(app: Flask, rt: Runtime) -> Iterator[Flask]:
    settings = dataclasses.replace(rt.settings, metrics=MetricsSettings(token=TOKEN))
    with other_app(app, settings) as other:
        yield other


def scrape(flask_app: Flask) -> str:
    response = flask_app.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return response.get_data(as_text=True)


def test_no_token_set_means_no_metrics(client) -> None:
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404


@pytest.mark.parametrize("header", [None, "Bearer wrong-token-0123456789", f"Basic {TOKEN}"])
def test_a_missing_or_wrong_token_is_refused(
    metrics_app: Flask, session: Session, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = metrics_app.test_client().get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert "mailer_" not in response.get_data(as_text=True)


def test_signups_count_with_the_commit_and_never_for_a_rollback(
    metrics_app: Flask, rt: Runtime, session: Session
) -> None:
    before = scrape(metrics_app)
    answered = metrics_app.test_client().post(
        "/api/v1/subscribers", json={"email": "solveig@example.no", "consent": True}
    )
    assert answered.status_code == 202
    with rt.db.session() as other:
        subscribe(
            other,
            SignupRequest(email="rullet@example.no", name="", language="nb", topics=[]),
            RequestContext(channel="web"),
        )
        other.rollback()

    after = scrape(metrics_app)

    grown = value(after, "mailer_signups_total", channel="api") - value(
        before, "mailer_signups_total", channel="api"
    )
    assert grown == 1
    assert value(after, "mailer_signups_total", channel="web") == value(
        before, "mailer_signups_total", channel="web"
    )
    # The scrape before was a request too: counted, with its latency, by endpoint.
    assert (
        value(
            after,
            "mailer_http_requests_total",
            method="GET",
            endpoint="metrics.metrics",
            status="200",
        )
        >= 1
    )
    assert (
        value(
            after,
            "mailer_http_request_duration_seconds_count",
            method="POST",
            endpoint="api.create_subscriber",
        )
        >= 1
    )


@pytest.mark.rolled_back
def test_database_gauges_show_every_hosts_work(rt: Runtime, session: Session) -> None:
    now = utcnow()
    readers = [factories.subscription(session, f"leser{i}@example.no") for i in range(4)]
    factories.subscription(session, "borte@example.no", status="bounced")
    issue = factories.drafted_issue(session)
    issue.status = "sending"
    issue.send_requested_at = now - timedelta(minutes=10)
    states = ["queued", "queued", "sent", "in-doubt"]
    for reader, state in zip(readers, states, strict=True):
        session.add(
            Delivery(issue_id=issue.id, subscription_id=reader.id, status=state, attempts=0)
        )
    session.flush()
    # One queued row handed to the broker 2 minutes ago, one never handed over (waits
    # since the send was asked for, 10 minutes ago); one mail sent 30 s ago.
    first_queued = session.query(Delivery).filter_by(status="queued").order_by(Delivery.id)
    queued_ids = [d.id for d in first_queued]
    session.execute(
        update(Delivery)
        .where(Delivery.id == queued_ids[0])
        .values(enqueued_at=now - timedelta(minutes=2))
    )
    session.execute(
        update(Delivery)
        .where(Delivery.status == "sent")
        .values(sent_at=now - timedelta(seconds=30))
    )
    session.flush()

    found = {reading.name: reading.values for reading in database_gauges(session, now)}

    assert found["mailer_deliveries"] == {
        ("queued", "sending"): 2,
        ("sent", "sending"): 1,
        ("in-doubt", "sending"): 1,
    }
    assert found["mailer_oldest_queued_delivery_age_seconds"] == {(): 600.0}
    assert found["mailer_send_rate_per_second"] == {(): 1 / 60}
    assert found["mailer_subscriptions"][("active",)] == 4
    assert found["mailer_subscriptions"][("bounced",)] == 1
    assert found["mailer_issues"][("sending",)] == 1

    # Nothing waits once the issue is paused: the age is about sending issues only.
    session.execute(update(Issue).where(Issue.id == issue.id).values(status="paused"))
    later = {r.name: r.values for r in database_gauges(session, now + timedelta(hours=1))}
    assert later["mailer_oldest_queued_delivery_age_seconds"] == {(): 0.0}
    assert later["mailer_send_rate_per_second"] == {(): 0.0}


def test_the_scrape_carries_the_database_gauges(metrics_app: Flask, session: Session) -> None:
    factories.subscription(session, "aktiv@example.no")
    session.commit()

    text = scrape(metrics_app)

    assert value(text, "mailer_subscriptions", state="active") == 1
    assert value(text, "mailer_oldest_queued_delivery_age_seconds") == 0
    families = [f.name for f in text_string_to_metric_families(text)]
    assert len(families) == len(set(families))  # one family per name, however many sources
    for name in ("mailer_mails", "mailer_smtp_errors", "mailer_feed_poll_failures"):
        assert name in families


@pytest.mark.rolled_back
def test_bounce_reports_show_as_received_then_as_judged(rt: Runtime, session: Session) -> None:
    """The bounces domain's gauge: a stored report waits as ("", "stored") until the judging
    task has run; then it counts under what it was judged to be, still once."""
    from mailer.bounces import service
    from tests.bounces.reports import dsn

    stored = service.store_report(
        session, rt.settings, "smtp", dsn(to="bounces@europakontor.example.no"), envelope_to=""
    )

    def bounce_gauge() -> dict[tuple[str, ...], float]:
        readings = {r.name: r.values for r in database_gauges(session, utcnow())}
        return readings["mailer_bounce_reports"]

    assert bounce_gauge() == {("", "stored"): 1}
    service.process_report(session, rt.settings, rt.tokens, stored.report_id)
    judged = bounce_gauge()
    assert ("", "stored") not in judged
    assert sum(judged.values()) == 1
