"""Signup, confirmation and unsubscribe: plain functions over a session.

Every answer the web gives a reader is the same whatever the address's
state, so these functions return what to *do* (send a confirmation or not),
never something the caller could show.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailer.db import utcnow
from mailer.errors import NotFound
from mailer.events import Event, record_event
from mailer.issues.models import Newsletter
from mailer.metrics import count_event
from mailer.queue import enqueue
from mailer.subscribers import new_signup
from mailer.subscribers.addresses import mailbox
from mailer.subscribers.consent import RequestContext, consent_values, record_consent
from mailer.subscribers.models import Subscriber, Subscription, mailbox_sql
from mailer.subscribers.signup_requests import SignupRequest
from mailer.subscribers.states import LEFT, SubscriptionStatus, can_become
from mailer.subscribers.suppression import lift_suppression
from mailer.tokens import new_link_secret

CONFIRMATION_RESEND_INTERVAL = timedelta(hours=1)
# One address signed up more often than this within the hour (a script, or someone
# bombing an address from many IPs): the answer stays the same, nothing is recorded.
MAX_SIGNUPS_PER_ADDRESS = 5
SIGNUP_WINDOW = timedelta(hours=1)


# `make mutate` covers confirm() and unsubscribe() of this module, not signup (issue 14's
# list; tests/MUTATION.md).
# pragma: no mutate start
@dataclass
class SignupOutcome:
    subscription_id: int
    send_confirmation: bool
    extra: dict[str, Any] = field(default_factory=dict)


def _like_literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _mailbox_mailed(email: str, since: datetime, postgresql: bool) -> ColumnElement[bool]:
    """EXISTS: a confirmation went to this address's mailbox (under any tag) since then.

    Computed, not stored: on PostgreSQL an index on each reader's mailbox finds the
    mailbox's readers (models.mailbox_sql); on SQLite, an equality or a LIKE on each
    reader whose mail went within the hour (the index on ``confirmation_sent_at``)."""
    box = mailbox(email)
    if postgresql:
        same_mailbox: ColumnElement[bool] = mailbox_sql(Subscriber.email) == box
    else:
        local, _, domain = box.rpartition("@")
        tagged = f"{_like_literal(local)}+%@{_like_literal(domain)}"
        same_mailbox = or_(Subscriber.email == box, Subscriber.email.like(tagged, escape="\\"))
    return exists(
        select(Subscription.id)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(Subscription.confirmation_sent_at >= since, same_mailbox)
    )


def mailbox_mailed_since(session: Session, email: str, since: datetime) -> bool:
    """Whether a confirmation went to this address's mailbox (under any tag) since then."""
    postgresql = session.get_bind().dialect.name == "postgresql"
    return bool(session.scalar(select(_mailbox_mailed(email, since, postgresql))))


@dataclass
class BulkSignups:
    """What an import of many readers knows up front, so that each row costs a few
    statements rather than a scan: the mailboxes mailed within the resend interval
    (read once, kept up to date as rows are mailed) and no savepoint per new reader (the
    import is one transaction: a concurrent signup of the same address fails it whole)."""

    mailed_mailboxes: set[str]
    newsletter: Newsletter
    # The import's addresses already in the database: the others need no look-up at all.
    known: set[str]
    # The subscriptions the import wrote, held here: the session's identity map holds its
    # objects weakly, and the import would read each one back with a SELECT.
    written: dict[int, Subscription] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session, now: datetime, emails: Iterable[str]) -> BulkSignups:
        since = now - CONFIRMATION_RESEND_INTERVAL
        mailed = session.scalars(
            select(Subscriber.email)
            .join(Subscription, Subscription.subscriber_id == Subscriber.id)
            .where(Subscription.confirmation_sent_at >= since)
        )
        wanted = sorted(set(emails))
        known: set[str] = set()
        for start in range(0, len(wanted), 1000):
            chunk = wanted[start : start + 1000]
            known.update(
                session.scalars(select(Subscriber.email).where(Subscriber.email.in_(chunk)))
            )
        return cls({mailbox(e) for e in mailed}, default_newsletter(session), known)

    def claim(self, email: str) -> bool:
        """The hourly rule for one row, in file order: True (a confirmation is due, and
        the mailbox counts as mailed from now on) unless its mailbox had one already."""
        box = mailbox(email)
        if box in self.mailed_mailboxes:
            return False
        self.mailed_mailboxes.add(box)
        return True


_newsletter_ids: dict[str, int] = {}


def default_newsletter_id(session: Session) -> int:
    """The default newsletter's id: made by the first migration and never changed, so
    looked up once per process and database, not per signup."""
    key = str(session.get_bind().engine.url)
    if key not in _newsletter_ids:
        _newsletter_ids[key] = default_newsletter(session).id
    return _newsletter_ids[key]


def default_newsletter(session: Session) -> Newsletter:
    newsletter = session.scalar(select(Newsletter).where(Newsletter.slug == "default"))
    if newsletter is None:
        raise RuntimeError("no default newsletter: run `mailer db upgrade`")
    return newsletter


def _subscriber_for(
    session: Session, request: SignupRequest, bulk: BulkSignups | None = None
) -> Subscriber:
    if bulk is None or request.email in bulk.known:
        found = session.scalar(select(Subscriber).where(Subscriber.email == request.email))
        if found is not None:
            return found
    subscriber = Subscriber(email=request.email, name=request.name, language=request.language)
    if bulk is not None:
        session.add(subscriber)
        session.flush()
        return subscriber
    try:
        with session.begin_nested():
            session.add(subscriber)
    except IntegrityError:
        # Another request created the same address a moment ago; use that row.
        subscriber = session.scalars(
            select(Subscriber).where(Subscriber.email == request.email)
        ).one()
    return subscriber


def subscribe(
    session: Session,
    request: SignupRequest,
    ctx: RequestContext,
    *,
    mail_confirmation: bool = True,
    bulk: BulkSignups | None = None,
) -> SignupOutcome:
    """Record a signup (pending until confirmed); the confirmation mail leaves after the
    caller's commit. ``mail_confirmation=False`` queues no mail (an import of readers who
    already consented confirms them at once)."""
    now = utcnow()
    if bulk is None:
        newsletter_id = default_newsletter_id(session)
        outcome = _subscribe_new_address(
            session, request, ctx, newsletter_id, now, mail_confirmation
        )
        if outcome is not None:
            return outcome
    else:
        newsletter_id = bulk.newsletter.id
    subscriber = _subscriber_for(session, request, bulk)
    subscription = None
    if bulk is None or request.email in bulk.known:
        subscription = session.scalar(
            select(Subscription).where(
                Subscription.subscriber_id == subscriber.id,
                Subscription.newsletter_id == newsletter_id,
            )
        )
    if subscription is not None and _recent_signups(session, subscription.id, now) >= (
        MAX_SIGNUPS_PER_ADDRESS
    ):
        return SignupOutcome(subscription.id, send_confirmation=False, extra={"throttled": True})
    if subscription is None:
        subscription = Subscription(
            subscriber_id=subscriber.id,
            newsletter_id=newsletter_id,
            status=SubscriptionStatus.PENDING,
            topics=list(request.topics),
        )
        session.add(subscription)
        session.flush()
    elif subscription.status == SubscriptionStatus.ACTIVE:
        # Already on the list: nothing changes, and the answer looks the same.
        record_event(session, "signup.repeat", subscription_id=subscription.id)
        return SignupOutcome(subscription.id, send_confirmation=False)
    elif subscription.status in LEFT:
        # A new signup after leaving is a new consent: its choices replace the old ones.
        subscription.status = SubscriptionStatus.PENDING
        subscription.topics = list(request.topics)
        if request.name:
            subscriber.name = request.name
        subscriber.language = request.language
        # The hourly limit counts from this signup, not the old mail.
        subscription.confirmation_sent_at = None
    # A repeat signup while pending changes nothing of the reader: anyone may type the
    # address, and the reader's own choices (name, language, topics) from the signup that
    # the confirmation mail answers must stand. Once confirmed, the preferences link in
    # every mail is where they change them.
    record_consent(
        session, subscription, "signup", ctx, request.consent_text, request.consent_version
    )
    record_event(session, "signup", subscription_id=subscription.id, data={"channel": ctx.channel})
    # One confirmation an hour per mailbox, whatever the tag: bomb+1@, bomb+2@, … reach the
    # same inbox.
    if bulk is None:
        since = now - CONFIRMATION_RESEND_INTERVAL
        send = not mailbox_mailed_since(session, subscriber.email, since)
    else:
        send = bulk.claim(subscriber.email)
    if send:
        subscription.confirmation_sent_at = now
        if mail_confirmation:
            enqueue(session, "mailer.send_confirmation", subscription.id)
    session.flush()
    if bulk is not None:
        bulk.written[subscription.id] = subscription
    return SignupOutcome(subscription.id, send_confirmation=send)


def _subscribe_new_address(
    session: Session,
    request: SignupRequest,
    ctx: RequestContext,
    newsletter_id: int,
    now: datetime,
    mail_confirmation: bool,
) -> SignupOutcome | None:
    """A signup of an address never seen before, in four INSERTs (the path a viral link
    takes): the reader, their subscription (the hourly mailbox limit decided inside the
    same INSERT), the consent record and the event; on PostgreSQL one statement carries
    all four (new_signup). None when the address exists (or another request inserted it a
    moment ago): the caller takes the general path."""
    built = new_signup.statements(session)
    box = mailbox(request.email)
    local, _, domain = box.rpartition("@")
    reader = {
        "email": request.email,
        "name": request.name,
        "language": request.language,
        "created_at": now,
    }
    subscription = {
        "newsletter_id": newsletter_id,
        "status": SubscriptionStatus.PENDING,
        "topics": list(request.topics),
        "created_at": now,
        "link_secret": new_link_secret(),
        # One confirmation an hour per mailbox, whatever the tag: bomb+1@, bomb+2@, …
        # reach the same inbox.
        "since": now - CONFIRMATION_RESEND_INTERVAL,
        "box": box,
        "tagged": f"{_like_literal(local)}+%@{_like_literal(domain)}",
        "sent_at": now,
    }
    consent = {
        **consent_values("signup", ctx, request.consent_text, request.consent_version),
        "created_at": now,
    }
    data = {"channel": ctx.channel}
    if built.together is not None:
        row = session.execute(
            built.together, {**reader, **subscription, **consent, "data": data}
        ).first()
        if row is None:
            return None
        subscription_id, send = row[0], row[1] is not None
    else:
        subscriber_id = session.execute(built.subscriber, reader).scalar()
        if subscriber_id is None:
            return None
        row = session.execute(
            built.subscription, {**subscription, "subscriber_id": subscriber_id}
        ).one()
        subscription_id, send = row[0], row[1] is not None
        session.execute(built.consent, {**consent, "subscription_id": subscription_id})
        session.execute(
            built.event,
            {"kind": "signup", "subscription_id": subscription_id, "data": data, "created_at": now},
        )
    count_event(session, "signup", data)
    if send and mail_confirmation:
        enqueue(session, "mailer.send_confirmation", subscription_id)
    return SignupOutcome(subscription_id, send_confirmation=send)


def _recent_signups(session: Session, subscription_id: int, now: datetime) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Event)
            .where(
                Event.subscription_id == subscription_id,
                Event.kind.in_(("signup", "signup.repeat")),
                Event.created_at > now - SIGNUP_WINDOW,
            )
        )
        or 0
    )


# pragma: no mutate end
class SubscriptionNotFound(NotFound):
    pass


def confirm(
    session: Session,
    subscription_id: int,
    ctx: RequestContext,
    *,
    secret_keys: Iterable[str] = (),
    welcome: bool = False,
) -> Subscription:
    """Pending → active. With ``secret_keys``, an address on the suppression list (an
    erased or suppressed reader who signed up anew) comes off it: the reader has just
    proved, through double opt-in, that they want the newsletter again. With ``welcome``
    (the admin's welcome mail is on), the welcome mail is queued, once, on this change."""
    subscription = session.get(Subscription, subscription_id)
    if subscription is None:
        raise SubscriptionNotFound("no such subscription")
    if can_become(subscription.status, SubscriptionStatus.ACTIVE):
        subscription.status = SubscriptionStatus.ACTIVE
        subscription.confirmed_at = utcnow()
        subscription.unsubscribed_at = None
        record_consent(session, subscription, "confirm", ctx)
        record_event(session, "confirm", subscription_id=subscription.id)
        if welcome:
            enqueue(session, "mailer.send_welcome", subscription.id)
        keys = tuple(secret_keys)
        if keys:
            if lift_suppression(session, subscription.subscriber.email, keys):
                record_event(session, "suppression.lifted", subscription_id=subscription.id)
    return subscription


# pragma: no mutate start
def request_new_confirmation(session: Session, subscription_id: int) -> bool:
    """A reader whose confirmation link expired asks for a new one: True if one should be
    sent (the subscription still waits and no link went to its mailbox within the hour)."""
    subscription = session.get(Subscription, subscription_id)
    if subscription is None or subscription.status != SubscriptionStatus.PENDING:
        return False
    now = utcnow()
    email = subscription.subscriber.email
    if mailbox_mailed_since(session, email, now - CONFIRMATION_RESEND_INTERVAL):
        return False
    subscription.confirmation_sent_at = now
    record_event(session, "confirmation.resend", subscription_id=subscription.id)
    enqueue(session, "mailer.send_confirmation", subscription.id)
    session.flush()
    return True


# pragma: no mutate end
def unsubscribe(session: Session, subscription_id: int, ctx: RequestContext) -> Subscription:
    """Idempotent: a second call changes nothing."""
    subscription = session.get(Subscription, subscription_id)
    if subscription is None:
        raise SubscriptionNotFound("no such subscription")
    if can_become(subscription.status, SubscriptionStatus.UNSUBSCRIBED):
        subscription.status = SubscriptionStatus.UNSUBSCRIBED
        subscription.unsubscribed_at = utcnow()
        record_consent(session, subscription, "unsubscribe", ctx)
        record_event(
            session, "unsubscribe", subscription_id=subscription.id, data={"channel": ctx.channel}
        )
    return subscription
