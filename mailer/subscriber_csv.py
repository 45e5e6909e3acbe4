"""CSV import and export of subscribers."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.models import Subscriber, Subscription
from mailer.subscriptions import (
    RequestContext,
    SignupRequest,
    ValidationFailed,
    confirm,
    parse_signup,
    subscribe,
)

EXPORT_COLUMNS = ("email", "name", "language", "status", "topics", "created_at", "confirmed_at")


@dataclass
class ImportReport:
    imported: int = 0
    unchanged: int = 0
    errors: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    to_confirm: list[int] = field(default_factory=list)


def import_csv(
    session: Session,
    text: str,
    allowed_topics: tuple[str, ...],
    already_consented: bool,
    source: str,
) -> ImportReport:
    """Rows with errors are reported and skipped; the good rows are imported together.

    With ``already_consented`` the rows become active at once (the consent
    record names the import as its source); otherwise they wait for the
    confirmation mail like any signup.
    """
    report = ImportReport()
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "email" not in [f.strip().lower() for f in reader.fieldnames]:
        raise ValidationFailed({"file": "the first line must name the columns and include 'email'"})
    ctx = RequestContext(channel="import", user_agent=source[:400])
    for line, row in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "") for k, v in row.items()}
        topics = [t.strip() for t in row.get("topics", "").split(";") if t.strip()]
        data = {**row, "topics": topics, "consent": "on"}
        try:
            signup: SignupRequest = parse_signup(data, allowed_topics)
        except ValidationFailed as exc:
            report.errors.append((line, exc.errors))
            continue
        outcome = subscribe(session, signup, ctx)
        subscription = session.get(Subscription, outcome.subscription_id)
        assert subscription is not None
        if already_consented and subscription.status == "pending":
            confirm(session, subscription.id, ctx)
            report.imported += 1
        elif outcome.send_confirmation:
            report.to_confirm.append(subscription.id)
            report.imported += 1
        else:
            report.unchanged += 1
    session.flush()
    return report


def export_rows(session: Session) -> Iterator[list[str]]:
    yield list(EXPORT_COLUMNS)
    rows: Iterable[tuple[Subscriber, Subscription]] = session.execute(
        select(Subscriber, Subscription)
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .order_by(Subscriber.id)
        .execution_options(yield_per=500)
    ).tuples()
    for subscriber, subscription in rows:
        yield [
            subscriber.email,
            subscriber.name,
            subscriber.language,
            subscription.status,
            ";".join(subscription.topics or []),
            subscriber.created_at.isoformat(),
            subscription.confirmed_at.isoformat() if subscription.confirmed_at else "",
        ]
