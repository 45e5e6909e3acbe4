"""What editors see of a stopped worker: the CLI, the admin progress and the API say what
the send waits for; the in-doubt lists say whether the server may have each mail. And a
sender that lost its lease sends no more."""

from __future__ import annotations

import socket
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, insert, select, update

from mailer.editors.accounts import create_editor
from mailer.editors.api_tokens import create_token
from mailer.sending import batch as sending
from mailer.sending import ledger, recovery
from mailer.sending.journal import journal_paths
from mailer.sending.models import Delivery, SendRun
from mailer.sending.runs import lease_of
from tests.harness import factories
from tests.harness.admin import log_in, make_editors

pytestmark = pytest.mark.rolled_back


def _stopped_elsewhere(session, readers: int, claimed: int) -> tuple[int, list[int]]:
    """A send whose run on another host stopped a second ago, holding ``claimed`` rows."""
    for i in range(readers):
        factories.subscription(session, f"leser{i}@example.no")
    issue = factories.drafted_issue(session)
    assert ledger.request_send(session, issue.id)
    ledger.create_deliveries(session, issue.id)
    now = datetime.now(UTC)
    ids = ledger.queued_page(session, issue.id, 0, 100, now)
    session.execute(
        insert(SendRun).values(
            id="elsewhere-1",
            issue_id=issue.id,
            host="annen-vert.example",
            pid=1,
            process_id="elsewhere",
            delivery_ids=ids,
            started_at=now - timedelta(minutes=2),
            lease_expires_at=now - timedelta(seconds=1),
        )
    )
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids[:claimed]))
        .values(status="sending", attempts=1, run_id="elsewhere-1")
    )
    session.commit()
    return issue.id, ids


def test_cli_api_and_admin_say_what_the_send_waits_for(cli, client, session, rt):
    issue_id, _ = _stopped_elsewhere(session, readers=3, claimed=2)
    # Two claimed, one still waiting in its batch (no reconciler has seen the run stopped).
    waiting = "waiting for recovery of 3 rows from a stopped worker (next check at "

    status = cli.invoke(args=["digest", "status", str(issue_id), "--no-follow"])
    assert status.exit_code == 0 and waiting in status.output, status.output

    create_editor(session, "api@example.no", "et langt passord")
    token = create_token(session, "api@example.no")
    session.commit()
    body = client.get(
        f"/api/v1/issues/{issue_id}", headers={"Authorization": f"Bearer {token}"}
    ).get_json()
    assert body["recovery"]["rows"] == 3 and body["recovery"]["message"].startswith(waiting)
    interval = timedelta(seconds=rt.settings.reconcile_interval_seconds)
    next_check = datetime.fromisoformat(body["recovery"]["next_check_at"])
    run = session.scalars(select(SendRun)).one()
    assert next_check == run.lease_expires_at + interval

    log_in(client, make_editors(session)["editor"])
    progress = client.get(f"/admin/issues/{issue_id}/progress.json").get_json()
    assert progress["recovery_text"].startswith(
        "Venter på gjenoppretting av 3 rader fra en stoppet arbeider (neste sjekk kl. "
    )
    page = client.get(f"/admin/issues/{issue_id}").get_data(as_text=True)
    assert 'id="progress-recovery"' in page and "Venter på gjenoppretting av 3 rader" in page


def test_the_in_doubt_lists_say_whether_the_server_may_have_each_mail(client, session):
    issue_id, ids = _stopped_elsewhere(session, readers=3, claimed=0)
    session.execute(
        update(Delivery)
        .where(Delivery.id == ids[0])
        .values(status="in-doubt", message_id="<a@x>", last_error=recovery.UNANSWERED)
    )
    session.execute(
        update(Delivery)
        .where(Delivery.id == ids[1])
        .values(status="in-doubt", last_error=recovery.JOURNAL_LOST)
    )
    session.execute(delete(SendRun))
    create_editor(session, "api@example.no", "et langt passord")
    token = create_token(session, "api@example.no")
    session.commit()

    listed = client.get(
        f"/api/v1/issues/{issue_id}/deliveries", headers={"Authorization": f"Bearer {token}"}
    ).get_json()["deliveries"]
    assert [(d["content_sent"], d["message_id"]) for d in listed] == [(True, "<a@x>"), (None, None)]

    log_in(client, make_editors(session)["editor"])
    page = client.get(f"/admin/issues/{issue_id}").get_data(as_text=True)
    assert "Kan ha kommet fram" in page
    assert "Ja: innholdet ble sendt, men svaret uteble" in page
    assert "Ukjent: journalen gikk tapt, kanskje aldri forsøkt" in page


def test_digest_reconcile_repairs_by_hand(cli, session):
    for i in range(2):
        factories.subscription(session, f"leser{i}@example.no")
    issue = factories.drafted_issue(session)
    assert ledger.request_send(session, issue.id)
    ledger.create_deliveries(session, issue.id)
    ids = ledger.queued_page(session, issue.id, 0, 100, datetime.now(UTC))
    dead = subprocess.Popen(["true"])  # a pid on this host that no longer runs
    dead.wait()
    session.execute(
        insert(SendRun).values(
            id="gone-1",
            issue_id=issue.id,
            host=socket.gethostname(),
            pid=dead.pid,
            process_id="gone",
            delivery_ids=ids,
            started_at=datetime.now(UTC),
            lease_expires_at=datetime.now(UTC) + timedelta(minutes=1),
        )
    )
    session.execute(
        update(Delivery).where(Delivery.id == ids[0]).values(status="sending", run_id="gone-1")
    )
    session.commit()

    result = cli.invoke(args=["digest", "reconcile"])

    assert result.exit_code == 0, result.output
    assert "repaired 1 stopped send runs: 0 sent, 1 in doubt" in result.output
    session.expire_all()
    assert session.scalar(select(Delivery.status).where(Delivery.id == ids[0])) == "in-doubt"


def test_a_sender_that_lost_its_lease_sends_no_more(session, rt, smtp_sink, queued_tasks):
    for i in range(3):
        factories.subscription(session, f"leser{i}@example.no")
    issue = factories.drafted_issue(session)
    assert ledger.request_send(session, issue.id)
    ledger.create_deliveries(session, issue.id)
    session.commit()
    ids = ledger.queued_page(session, issue.id, 0, 100, datetime.now(UTC))
    skip = timedelta()

    def clock() -> datetime:
        # After the first mail, the run is given up elsewhere and a lease goes by.
        nonlocal skip
        if len(smtp_sink.messages) == 1 and not skip:
            with rt.db.session() as other:
                other.execute(delete(SendRun))
                other.commit()
            skip = lease_of(rt.settings)
        return datetime.now(UTC) + skip

    result = sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids, clock=clock)

    assert result.sent == 1 and len(smtp_sink.messages) == 1
    session.expire_all()
    rows = session.execute(
        select(Delivery.status, Delivery.last_error).where(Delivery.id.in_(ids))
    ).all()
    assert [r[0] for r in rows] == ["sent", "queued", "queued"]
    assert "lost its lease" in (rows[1][1] or "")
    assert journal_paths(rt.settings.journal_dir) == {}
    # Nothing was wrong with the server: the untried rows are due at once, and go to the
    # broker now rather than at the reconciler's next stale-row pass.
    due = session.scalars(select(Delivery.next_attempt_at).where(Delivery.id.in_(ids[1:])))
    assert list(due) == [None, None]
    assert ("mailer.dispatch", (issue.id,)) in queued_tasks
