"""A digest really sent (to the suite's SMTP sink) with VERP senders, for bounce tests."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.issues.models import Issue
from mailer.runtime import Runtime
from mailer.sending import batch as sending
from mailer.sending import ledger
from mailer.sending.models import Delivery
from mailer.subscribers.models import Subscription
from mailer.tokens import Purpose
from tests.harness import factories
from tests.harness.smtp import SMTPSink

BOUNCE_DOMAIN = "bounces.europakontor.example.no"


@dataclass
class SentCopy:
    subscription: Subscription
    delivery: Delivery
    verp: str  # the envelope sender the copy went out with


def verp_address(rt: Runtime, delivery_id: int) -> str:
    return f"bounces+{rt.tokens.sign_short(Purpose.BOUNCE, delivery_id)}@{BOUNCE_DOMAIN}"


def send_digest(
    session: Session, rt: Runtime, sink: SMTPSink, emails: list[str], smtp_port: int | None = None
) -> tuple[Issue, dict[str, SentCopy]]:
    subs = {e: factories.subscription(session, e) for e in emails}
    issue = factories.drafted_issue(session)
    assert ledger.request_send(session, issue.id)
    ledger.create_deliveries(session, issue.id)
    session.commit()
    ids = ledger.queued_page(session, issue.id, 0, 1000, datetime.now(UTC))
    settings = dataclasses.replace(
        rt.settings, bounce_domain=BOUNCE_DOMAIN, smtp_port=smtp_port or rt.settings.smtp_port
    )
    sending.send_batch(session, settings, rt.tokens, issue.id, ids)
    copies = {}
    for email, sub in subs.items():
        delivery = session.scalars(select(Delivery).where(Delivery.subscription_id == sub.id)).one()
        copies[email] = SentCopy(sub, delivery, verp_address(rt, delivery.id))
    return issue, copies
