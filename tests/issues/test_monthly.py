"""The monthly schedule: one draft a month however often beat fires; optional autosend."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from mailer.editors.accounts import create_editor
from mailer.editors.notifications import notify_editors_draft_ready
from mailer.issues.models import Issue
from mailer.issues.monthly import draft_monthly, month_key
from mailer.issues.tasks import schedule_from_cron
from tests.harness import factories

# Domain code, views and commands in this thread only: each test is rolled back.
pytestmark = pytest.mark.rolled_back


def test_beat_firing_twice_drafts_one_issue(session):
    factories.article(session, "a", "Nytt fra Brussel")
    now = datetime.now(UTC)
    first = draft_monthly(session, now, autosend=False)
    second = draft_monthly(session, now, autosend=False)
    assert first.created and not second.created
    assert second.issue_id == first.issue_id
    assert session.scalar(select(func.count()).select_from(Issue)) == 1
    issue = session.get(Issue, first.issue_id)
    assert (issue.status, issue.scheduled_for) == ("draft", month_key(now))


def test_autosend_starts_the_send(session):
    factories.article(session, "a", "Nytt fra Oslo")
    outcome = draft_monthly(session, datetime.now(UTC), autosend=True)
    assert outcome.send
    assert session.get(Issue, outcome.issue_id).status == "sending"


def test_no_articles_no_issue(session):
    outcome = draft_monthly(session, datetime.now(UTC), autosend=False)
    assert outcome.issue_id is None and "no new articles" in outcome.reason


def test_month_key_uses_oslo_time():
    # 23:30 UTC on 31 December is already January in Oslo.
    assert month_key(datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == "2027-01"


def test_default_schedule_is_nine_on_the_first_in_oslo(app):
    entry = app.extensions["celery"].conf.beat_schedule["monthly-digest"]
    schedule = entry["schedule"]
    assert entry["task"] == "mailer.monthly_digest"
    assert schedule.hour == {9} and schedule.minute == {0} and schedule.day_of_month == {1}
    assert app.extensions["celery"].conf.timezone == "Europe/Oslo"
    assert schedule_from_cron("30 7 * * 1").day_of_week == {1}


def test_editors_are_mailed_when_a_draft_is_ready(session, rt, smtp_sink):
    create_editor(session, "redaktor@example.no", "et langt passord")
    factories.article(session, "a", "Nytt fra Bærum")
    outcome = draft_monthly(session, datetime.now(UTC), autosend=False)
    assert notify_editors_draft_ready(session, rt.settings, outcome.issue_id) == 1
    [mail] = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == ["redaktor@example.no"]
    assert "Utkast klart" in str(mail.message["Subject"])
    assert f"mailer digest send {outcome.issue_id}" in mail.part("text/plain")
