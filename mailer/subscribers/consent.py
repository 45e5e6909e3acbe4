"""The consent log: what a reader agreed to or withdrew, when, where and in which words.
Append-only: a flush that edits or deletes one record is refused."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from mailer.i18n import N_
from mailer.subscribers.models import Consent, Subscription

CONSENT_VERSION = "2026-11"
CONSENT_TEXT = N_("Ja, send meg nyhetsbrevet. Jeg kan melde meg av når som helst.")
# Every wording a form may still show, by version (Norwegian; gettext gives the English).
# A form carries the version it showed; keep old versions here while old copies of the
# embed snippet may still be out there, so the record says what the reader really saw.
CONSENT_TEXTS: dict[str, str] = {CONSENT_VERSION: CONSENT_TEXT}


@dataclass(frozen=True)
class RequestContext:
    ip: str = ""
    user_agent: str = ""
    channel: str = "web"


class ConsentLogIsAppendOnly(RuntimeError):
    """A consent record was changed or deleted one by one: the log only grows.

    (Erasure and the clean-up of unconfirmed signups delete a reader's records
    wholesale, with bulk DELETE statements, as the law asks; nothing edits them.)"""


@event.listens_for(Session, "before_flush")
def _consent_log_is_append_only(session: Session, _context: Any, _instances: Any) -> None:
    for row in (*session.dirty, *session.deleted):
        if isinstance(row, Consent) and (row in session.deleted or session.is_modified(row)):
            raise ConsentLogIsAppendOnly(f"consent record {row.id} cannot be changed")


def consent_values(
    action: str, ctx: RequestContext, text: str = "", version: str = CONSENT_VERSION
) -> dict[str, Any]:
    """A consent record's columns but its subscription and time: the one place that says
    what a record keeps (the ORM path, the signup's prebuilt INSERT and an import's bulk
    INSERT all write these)."""
    return {
        "action": action,
        "text": text,
        "text_version": version if text else "",
        "channel": ctx.channel,
        "ip": ctx.ip[:64],
        "user_agent": ctx.user_agent[:400],
    }


def record_consent(
    session: Session,
    subscription: Subscription | int,
    action: str,
    ctx: RequestContext,
    text: str = "",
    version: str = CONSENT_VERSION,
) -> None:
    session.add(
        Consent(
            subscription_id=subscription if isinstance(subscription, int) else subscription.id,
            **consent_values(action, ctx, text, version),
        )
    )
