"""Signup, confirmation and unsubscribe: plain functions over a session.

Every answer the web gives a reader is the same whatever the address's
state, so these functions return what to *do* (send a confirmation or not),
never something the caller could show.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import event, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailer.db import utcnow
from mailer.i18n import LANGUAGES, N_, gettext
from mailer.models import Consent, Event, Newsletter, Subscriber, Subscription, record_event

CONSENT_VERSION = "2026-11"
CONSENT_TEXT = N_("Ja, send meg nyhetsbrevet. Jeg kan melde meg av når som helst.")
# Every wording a form may still show, by version (Norwegian; gettext gives the English).
# A form carries the version it showed; keep old versions here while old copies of the
# embed snippet may still be out there, so the record says what the reader really saw.
CONSENT_TEXTS: dict[str, str] = {CONSENT_VERSION: CONSENT_TEXT}
MAX_EMAIL_INPUT = 320
MAX_NAME = 200
CONFIRMATION_RESEND_INTERVAL = timedelta(hours=1)
# One address signed up more often than this within the hour (a script, or someone
# bombing an address from many IPs): the answer stays the same, nothing is recorded.
MAX_SIGNUPS_PER_ADDRESS = 5
SIGNUP_WINDOW = timedelta(hours=1)


class ValidationFailed(ValueError):
    """Bad input: ``errors`` maps each field name to a message in the reader's language."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class SignupRequest:
    email: str
    name: str
    language: str
    topics: tuple[str, ...]
    consent_text: str = CONSENT_TEXT
    consent_version: str = CONSENT_VERSION


@dataclass(frozen=True)
class RequestContext:
    ip: str = ""
    user_agent: str = ""
    channel: str = "web"


@dataclass
class SignupOutcome:
    subscription_id: int
    send_confirmation: bool
    extra: dict[str, Any] = field(default_factory=dict)


def has_control_characters(value: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value)


def normalise_email(raw: str, language: str = "nb") -> str:
    """Validated, lower-cased, with an IDN domain in punycode; raises ValidationFailed."""
    message = gettext("E-postadressen er ikke gyldig", language)
    if not raw.strip():
        raise ValidationFailed({"email": gettext("Skriv inn en e-postadresse.", language)})
    if len(raw) > MAX_EMAIL_INPUT or has_control_characters(raw):
        raise ValidationFailed({"email": message})
    try:
        info = validate_email(raw.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        # email-validator explains in English; a Norwegian page keeps to Norwegian.
        detail = f"{message}: {exc}" if language == "en" else f"{message}."
        raise ValidationFailed({"email": detail}) from exc
    ascii_email = info.ascii_email or info.normalized
    return ascii_email.lower()


def mailbox(email: str) -> str:
    """The mailbox a normalised (lower-case) address reaches: without its sub-address tag,
    so ``bomb+1@x`` and ``bomb+2@x`` are both ``bomb@x``."""
    local, _, domain = email.rpartition("@")
    return f"{local.split('+', 1)[0] or local}@{domain}"


def _like_literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def mailbox_mailed_since(session: Session, email: str, since: datetime) -> bool:
    """Whether a confirmation went to this address's mailbox (under any tag) since then.

    Computed, not stored: the index on ``confirmation_sent_at`` narrows the rows to the
    last hour's few mails, and the address test is an equality or a LIKE on those."""
    box = mailbox(email)
    local, _, domain = box.rpartition("@")
    tagged = f"{_like_literal(local)}+%@{_like_literal(domain)}"
    found = session.scalar(
        select(Subscription.id)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(
            Subscription.confirmation_sent_at >= since,
            or_(Subscriber.email == box, Subscriber.email.like(tagged, escape="\\")),
        )
        .limit(1)
    )
    return found is not None


def parse_signup(data: dict[str, Any], allowed_topics: tuple[str, ...]) -> SignupRequest:
    """Check every field at once so the reader sees all problems together."""

    errors: dict[str, str] = {}
    wrong_types: dict[str, str] = {}

    def text(name: str) -> str:
        # JSON may send a number, list or object where text belongs: refuse it rather than
        # store its str() (or walk a deeply nested value to print it).
        value = data.get(name, "")
        if value is None:
            return ""
        if not isinstance(value, str):
            wrong_types[name] = N_("Må være tekst.")
            return ""
        return value

    language = text("language").strip().lower() or "nb"
    if language not in LANGUAGES:
        errors["language"] = gettext("Ukjent språk.", "nb")
        language = "nb"
    email = ""
    try:
        email = normalise_email(text("email"), language)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    name = text("name").strip()
    if has_control_characters(name):
        errors["name"] = gettext(
            "Navnet kan ikke inneholde linjeskift eller kontrolltegn.", language
        )
    elif len(name) > MAX_NAME:
        errors["name"] = gettext("Navnet er for langt (høyst 200 tegn).", language)
    consent = data.get("consent")
    version = text("consent_version").strip() or CONSENT_VERSION
    if consent not in (True, "on", "yes", "true", "1", 1):
        errors["consent"] = gettext("Du må krysse av for samtykke.", language)
    elif version not in CONSENT_TEXTS:
        errors["consent"] = gettext(
            "Samtykketeksten er endret. Last siden på nytt og prøv igjen.", language
        )
    raw_topics = data.get("topics") or []
    topics: list[str] = []
    if not isinstance(raw_topics, list) or not all(isinstance(t, str) for t in raw_topics):
        errors["topics"] = gettext("Temaer må være en liste med tekster.", language)
    else:
        for topic in raw_topics:
            if topic not in allowed_topics:
                errors["topics"] = gettext("Ukjent tema", language) + f": {topic[:40]}"
                break
            if topic not in topics:
                topics.append(topic)
    # A field of the wrong type is named as such, not by what its empty stand-in implied.
    errors.update({name: gettext(message, language) for name, message in wrong_types.items()})
    if errors:
        raise ValidationFailed(errors)
    return SignupRequest(
        email=email,
        name=name,
        language=language,
        topics=tuple(topics),
        # The consent record keeps the wording the reader was shown, in their language.
        consent_text=gettext(CONSENT_TEXTS[version], language),
        consent_version=version,
    )


def default_newsletter(session: Session) -> Newsletter:
    newsletter = session.scalar(select(Newsletter).where(Newsletter.slug == "default"))
    if newsletter is None:
        raise RuntimeError("no default newsletter: run `mailer db upgrade`")
    return newsletter


class ConsentLogIsAppendOnly(RuntimeError):
    """A consent record was changed or deleted one by one: the log only grows.

    (Erasure and the clean-up of unconfirmed signups delete a reader's records
    wholesale, with bulk DELETE statements, as the law asks; nothing edits them.)"""


@event.listens_for(Session, "before_flush")
def _consent_log_is_append_only(session: Session, _context: Any, _instances: Any) -> None:
    for row in (*session.dirty, *session.deleted):
        if isinstance(row, Consent) and (row in session.deleted or session.is_modified(row)):
            raise ConsentLogIsAppendOnly(f"consent record {row.id} cannot be changed")


def _consent(
    session: Session,
    subscription: Subscription,
    action: str,
    ctx: RequestContext,
    text: str = "",
    version: str = CONSENT_VERSION,
) -> None:
    session.add(
        Consent(
            subscription_id=subscription.id,
            action=action,
            text=text,
            text_version=version if text else "",
            channel=ctx.channel,
            ip=ctx.ip[:64],
            user_agent=ctx.user_agent[:400],
        )
    )


def _subscriber_for(session: Session, request: SignupRequest) -> Subscriber:
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email == request.email))
    if subscriber is not None:
        return subscriber
    subscriber = Subscriber(email=request.email, name=request.name, language=request.language)
    try:
        with session.begin_nested():
            session.add(subscriber)
    except IntegrityError:
        # Another request created the same address a moment ago; use that row.
        subscriber = session.scalars(
            select(Subscriber).where(Subscriber.email == request.email)
        ).one()
    return subscriber


def subscribe(session: Session, request: SignupRequest, ctx: RequestContext) -> SignupOutcome:
    """Record a signup (pending until confirmed). The caller commits, then queues the mail."""
    newsletter = default_newsletter(session)
    subscriber = _subscriber_for(session, request)
    subscription = session.scalar(
        select(Subscription).where(
            Subscription.subscriber_id == subscriber.id,
            Subscription.newsletter_id == newsletter.id,
        )
    )
    now = utcnow()
    if subscription is not None and _recent_signups(session, subscription.id, now) >= (
        MAX_SIGNUPS_PER_ADDRESS
    ):
        return SignupOutcome(subscription.id, send_confirmation=False, extra={"throttled": True})
    if subscription is None:
        subscription = Subscription(
            subscriber_id=subscriber.id,
            newsletter_id=newsletter.id,
            status="pending",
            topics=list(request.topics),
        )
        session.add(subscription)
        session.flush()
    elif subscription.status == "active":
        # Already on the list: nothing changes, and the answer looks the same.
        record_event(session, "signup.repeat", subscription_id=subscription.id)
        return SignupOutcome(subscription.id, send_confirmation=False)
    elif subscription.status in ("unsubscribed", "bounced", "complained"):
        # A new signup after leaving is a new consent: its choices replace the old ones.
        subscription.status = "pending"
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
    _consent(session, subscription, "signup", ctx, request.consent_text, request.consent_version)
    record_event(session, "signup", subscription_id=subscription.id, data={"channel": ctx.channel})
    # One confirmation an hour per mailbox, whatever the tag: bomb+1@, bomb+2@, … reach the
    # same inbox.
    send = not mailbox_mailed_since(session, subscriber.email, now - CONFIRMATION_RESEND_INTERVAL)
    if send:
        subscription.confirmation_sent_at = now
    session.flush()
    return SignupOutcome(subscription.id, send_confirmation=send)


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


class NotFound(LookupError):
    pass


def confirm(
    session: Session,
    subscription_id: int,
    ctx: RequestContext,
    *,
    secret_keys: Iterable[str] = (),
) -> Subscription:
    """Pending → active. With ``secret_keys``, an address on the suppression list (an
    erased or suppressed reader who signed up anew) comes off it: the reader has just
    proved, through double opt-in, that they want the newsletter again."""
    subscription = session.get(Subscription, subscription_id)
    if subscription is None:
        raise NotFound("no such subscription")
    if subscription.status == "pending":
        subscription.status = "active"
        subscription.confirmed_at = utcnow()
        subscription.unsubscribed_at = None
        _consent(session, subscription, "confirm", ctx)
        record_event(session, "confirm", subscription_id=subscription.id)
        keys = tuple(secret_keys)
        if keys:
            from mailer.subscribers.erasure import lift_suppression

            if lift_suppression(session, subscription.subscriber.email, keys):
                record_event(session, "suppression.lifted", subscription_id=subscription.id)
    return subscription


def request_new_confirmation(session: Session, subscription_id: int) -> bool:
    """A reader whose confirmation link expired asks for a new one: True if one should be
    sent (the subscription still waits and no link went to its mailbox within the hour)."""
    subscription = session.get(Subscription, subscription_id)
    if subscription is None or subscription.status != "pending":
        return False
    now = utcnow()
    email = subscription.subscriber.email
    if mailbox_mailed_since(session, email, now - CONFIRMATION_RESEND_INTERVAL):
        return False
    subscription.confirmation_sent_at = now
    record_event(session, "confirmation.resend", subscription_id=subscription.id)
    session.flush()
    return True


def unsubscribe(session: Session, subscription_id: int, ctx: RequestContext) -> Subscription:
    """Idempotent: a second call changes nothing."""
    subscription = session.get(Subscription, subscription_id)
    if subscription is None:
        raise NotFound("no such subscription")
    if subscription.status in ("active", "pending"):
        subscription.status = "unsubscribed"
        subscription.unsubscribed_at = utcnow()
        _consent(session, subscription, "unsubscribe", ctx)
        record_event(
            session, "unsubscribe", subscription_id=subscription.id, data={"channel": ctx.channel}
        )
    return subscription


@dataclass(frozen=True)
class Preferences:
    name: str
    language: str
    topics: tuple[str, ...]


def parse_preferences(data: dict[str, Any], allowed_topics: tuple[str, ...]) -> Preferences:
    """The same field rules as signup, without email and consent."""
    probe = {**data, "email": "probe@example.org", "consent": "on", "consent_version": ""}
    signup = parse_signup(probe, allowed_topics)
    return Preferences(name=signup.name, language=signup.language, topics=signup.topics)


def update_preferences(
    session: Session, subscription_id: int, prefs: Preferences, ctx: RequestContext
) -> Subscription:
    subscription = session.get(Subscription, subscription_id)
    if subscription is None:
        raise NotFound("no such subscription")
    subscriber = subscription.subscriber
    subscriber.name = prefs.name
    subscriber.language = prefs.language
    subscription.topics = list(prefs.topics)
    _consent(session, subscription, "preferences", ctx)
    record_event(
        session,
        "preferences",
        subscription_id=subscription.id,
        data={"topics": list(prefs.topics), "language": prefs.language},
    )
    return subscription
