"""`mailer digest …` commands: clear messages and exit codes."""

from __future__ import annotations

import pytest

from mailer.sending import ledger
from mailer.sending import progress as send_progress
from tests.harness import factories

# Domain code, views and commands in this thread only: each test is rolled back.
pytestmark = pytest.mark.rolled_back


def test_draft_with_nothing_new_fails_clearly(cli):
    result = cli.invoke(args=["digest", "draft"])
    assert result.exit_code == 1
    assert "no new articles" in result.output


def test_draft_prints_the_id_alone_on_its_last_line(cli, session):
    factories.article(session, "a", "Nyhet om «havbruk» i Ørsta")
    session.commit()
    result = cli.invoke(args=["digest", "draft"])
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.isdigit()
    assert "Nyhetsbrev" in result.output


def test_status_pause_resume_cancel(cli, session):
    factories.subscription(session, "a@example.no")
    issue = factories.drafted_issue(session)
    status = cli.invoke(args=["digest", "status", str(issue.id), "--no-follow"])
    assert status.exit_code == 0 and f"issue {issue.id} is draft" in status.output

    refused = cli.invoke(args=["digest", "pause", str(issue.id)])
    assert refused.exit_code == 1 and "draft" in refused.output

    assert ledger.request_send(session, issue.id)
    session.commit()
    paused = cli.invoke(args=["digest", "pause", str(issue.id)])
    assert paused.exit_code == 0 and "paused" in paused.output
    shown = cli.invoke(args=["digest", "status", str(issue.id)])
    assert "paused (paused by an editor)" in shown.output
    resumed = cli.invoke(args=["digest", "resume", str(issue.id)])
    assert resumed.exit_code == 0, resumed.output
    cancelled = cli.invoke(args=["digest", "cancel", str(issue.id)])
    assert cancelled.exit_code == 0 and "cancelled" in cancelled.output
    again = cli.invoke(args=["digest", "resume", str(issue.id)])
    assert again.exit_code == 1 and "is cancelled; cannot resume it" in again.output


def test_unknown_issue_is_named(cli, session):
    for args in (["send", "424242", "--yes"], ["status", "424242"], ["pause", "424242"]):
        result = cli.invoke(args=["digest", *args])
        assert result.exit_code == 1
        assert "424242" in result.output


def test_send_asks_first_and_a_no_changes_nothing(cli, session):
    factories.subscription(session, "a@example.no")
    issue = factories.drafted_issue(session)
    result = cli.invoke(args=["digest", "send", str(issue.id)], input="n\n")
    assert result.exit_code == 1
    assert "to 1 subscriber?" in result.output
    session.expire_all()
    assert send_progress.progress(session, issue.id).status == "draft"


def test_resend_in_doubt_refuses_a_draft(cli, session):
    issue = factories.drafted_issue(session)
    result = cli.invoke(args=["digest", "resend-in-doubt", str(issue.id), "--yes"])
    assert result.exit_code == 1 and "draft" in result.output
