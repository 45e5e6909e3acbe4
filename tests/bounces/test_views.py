"""What editors see: counts and rates per issue (admin page, API, `mailer digest status`),
the dashboard's complaint warning (0.1 %) and alarm (0.3 %), the unrecognised mail, the
Feedback-ID header, and an editor's audited reactivation of a bounced reader."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select, update

from mailer.bounces import service
from mailer.bounces.models import BounceReport
from mailer.editors.accounts import create_editor
from mailer.editors.api_tokens import create_token
from mailer.events import Event
from mailer.issues.models import Issue
from mailer.sending.models import Delivery
from mailer.subscribers.models import Subscriber, Subscription
from mailer.subscribers.subscriptions import default_newsletter
from mailer.subscribers.suppression import is_suppressed
from tests.bounces import reports
from tests.bounces.scenario import send_digest
from tests.harness import factories
from tests.harness.admin import log_in, make_editors, token_from

pytestmark = pytest.mark.rolled_back


def _judge(session, rt, raw: bytes, envelope_to: str = "") -> BounceReport:
    stored = service.store_report(session, rt.settings, "smtp", raw, envelope_to=envelope_to)
    service.process_report(session, rt.settings, rt.tokens, stored.report_id)
    return session.get(BounceReport, stored.report_id)


def _one_of_each(session, rt, smtp_sink):
    issue, copies = send_digest(
        session,
        rt,
        smtp_sink,
        ["borte@example.no", "full@example.no", "klager@example.no", "her@example.no"],
    )
    _judge(
        session,
        rt,
        reports.dsn(to=copies["borte@example.no"].verp, recipient="borte@example.no"),
        copies["borte@example.no"].verp,
    )
    _judge(
        session,
        rt,
        reports.dsn(
            to=copies["full@example.no"].verp,
            action="delayed",
            status="4.2.2",
            recipient="full@example.no",
        ),
        copies["full@example.no"].verp,
    )
    _judge(
        session,
        rt,
        reports.arf_yahoo(
            message_id=copies["klager@example.no"].delivery.message_id,
            recipient="klager@example.no",
        ),
    )
    return issue, copies


def test_digests_carry_a_feedback_id(session, rt, smtp_sink):
    issue, _ = send_digest(session, rt, smtp_sink, ["her@example.no"])
    [mail] = smtp_sink.messages
    assert mail.message["Feedback-ID"] == (
        f"issue-{issue.id}:{issue.newsletter.slug}:digest:europakontor.example.no"
    )


def test_counts_and_rates_on_the_admin_issue_page(session, rt, smtp_sink, client):
    issue, _ = _one_of_each(session, rt, smtp_sink)
    ids = make_editors(session)
    html = log_in(client, ids["editor"]).get(f"/admin/issues/{issue.id}").get_data(as_text=True)
    assert 'id="count-hard">1<' in html
    assert 'id="count-soft">1<' in html
    assert 'id="count-complaints">1<' in html
    assert 'id="count-policy">0<' in html
    assert 'id="complaint-rate">25,00 %<' in html  # 1 of 4 delivered, Norwegian decimals


def test_counts_and_rates_in_the_api_and_the_cli(session, rt, smtp_sink, client, cli):
    issue, _ = _one_of_each(session, rt, smtp_sink)
    create_editor(session, "cms@europakontor.example.no", "et langt passord for cms")
    token = create_token(session, "cms@europakontor.example.no")
    session.commit()
    body = client.get(
        f"/api/v1/issues/{issue.id}", headers={"Authorization": f"Bearer {token}"}
    ).json
    assert body["bounces"] == {
        "delivered": 4,
        "hard": 1,
        "soft": 1,
        "policy": 0,
        "complaints": 1,
        "bounce_rate": 0.25,
        "complaint_rate": 0.25,
    }
    out = cli.invoke(args=["digest", "status", str(issue.id), "--no-follow"]).output
    assert "bounces: 1 hard, 1 soft, 0 refused as policy; complaints: 1" in out
    assert "complaint rate 25.00% of 4 delivered" in out


def _big_sent_issue(session, readers: int, complaints: int) -> int:
    """An issue delivered to ``readers`` readers, ``complaints`` of whom complained."""
    issue = factories.drafted_issue(session)
    session.execute(
        update(Issue).where(Issue.id == issue.id).values(status="sent", sent_at=datetime.now(UTC))
    )
    newsletter = default_newsletter(session).id
    session.execute(
        insert(Subscriber),
        [{"email": f"leser{i}@example.no", "name": "", "language": "nb"} for i in range(readers)],
    )
    by_email = dict(session.execute(select(Subscriber.email, Subscriber.id)).all())
    session.execute(
        insert(Subscription),
        [
            {
                "subscriber_id": by_email[f"leser{i}@example.no"],
                "newsletter_id": newsletter,
                "status": "active",
                "topics": [],
            }
            for i in range(readers)
        ],
    )
    subs = list(session.scalars(select(Subscription.id).order_by(Subscription.id)))
    session.execute(
        insert(Delivery),
        [{"issue_id": issue.id, "subscription_id": s, "status": "sent"} for s in subs],
    )
    if complaints:
        session.execute(
            insert(BounceReport),
            [
                {
                    "source": "smtp",
                    "digest": f"d{i}",
                    "envelope_to": "",
                    "content": "",
                    "size": 0,
                    "status": "processed",
                    "kind": "complaint",
                    "subscription_id": subs[i],
                    "issue_id": issue.id,
                    "detail": {},
                    "received_at": datetime.now(UTC),
                }
                for i in range(complaints)
            ],
        )
    session.commit()
    return issue.id


@pytest.mark.parametrize(
    ("complaints", "level"), [(0, None), (1, "warning"), (2, "warning"), (3, "alarm")]
)
def test_the_dashboard_warns_at_0_1_and_alarms_at_0_3_percent(session, client, complaints, level):
    issue_id = _big_sent_issue(session, 1000, complaints)
    ids = make_editors(session)
    html = log_in(client, ids["editor"]).get("/admin/").get_data(as_text=True)
    if level is None:
        assert 'id="complaint-alert"' not in html
    else:
        assert f'data-level="{level}"' in html
        assert f'href="/admin/issues/{issue_id}"' in html


def test_the_dashboard_lists_unrecognised_mail(session, rt, client):
    _judge(session, rt, b"From: x@example.net\r\nSubject: Takk for brevet!\r\n\r\nHei\r\n")
    ids = make_editors(session)
    html = log_in(client, ids["editor"]).get("/admin/").get_data(as_text=True)
    assert 'id="unrecognised-mail"' in html and "Takk for brevet!" in html


def test_an_editor_reactivates_a_bounced_reader_and_it_is_audited(session, rt, smtp_sink, client):
    _, copies = send_digest(session, rt, smtp_sink, ["borte@example.no"])
    gone = copies["borte@example.no"]
    _judge(session, rt, reports.dsn(to=gone.verp, recipient="borte@example.no"), gone.verp)
    assert is_suppressed(session, "borte@example.no", rt.settings.secret_keys)
    ids = make_editors(session)
    log_in(client, ids["editor"])
    page = f"/admin/subscribers/{gone.subscription.subscriber_id}"
    assert 'id="reactivate"' in client.get(page).get_data(as_text=True)
    response = client.post(f"{page}/reactivate", data={"csrf_token": token_from(client, page)})
    assert response.status_code == 302
    session.refresh(gone.subscription)
    assert gone.subscription.status == "active"
    assert not is_suppressed(session, "borte@example.no", rt.settings.secret_keys)
    audit = session.scalars(select(Event).where(Event.kind == "admin.reactivate")).one()
    assert audit.data["editor_id"] == ids["editor"] and audit.data["changed"] == 1
    assert 'id="reactivate"' not in client.get(page).get_data(as_text=True)


def test_policy_refusals_raise_the_sender_reputation_alert_not_the_readers(
    session, rt, smtp_sink, client
):
    issue, copies = send_digest(session, rt, smtp_sink, ["her@example.no"])
    session.execute(update(Issue).where(Issue.id == issue.id).values(status="sent"))
    session.commit()
    ids = make_editors(session)
    log_in(client, ids["editor"])
    assert 'id="reputation-alert"' not in client.get("/admin/").get_data(as_text=True)
    copy = copies["her@example.no"]
    _judge(
        session,
        rt,
        reports.dsn(
            to=copy.verp,
            recipient="her@example.no",
            status="5.7.1",
            diagnostic="smtp; 550 5.7.1 Service unavailable; client host blocked",
        ),
        copy.verp,
    )
    html = client.get("/admin/").get_data(as_text=True)
    assert 'id="reputation-alert"' in html and f"/admin/issues/{issue.id}" in html
    session.refresh(copy.subscription)
    assert copy.subscription.status == "active"
