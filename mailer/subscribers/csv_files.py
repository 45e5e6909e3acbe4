"""CSV import and export of subscribers."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.csv_cells import restore
from mailer.db import utcnow
from mailer.errors import ValidationFailed
from mailer.i18n import N_
from mailer.subscribers.bulk_import import NewReader, insert_new_readers
from mailer.subscribers.confirmation import queue_confirmations
from mailer.subscribers.consent import RequestContext
from mailer.subscribers.models import Subscriber, Subscription
from mailer.subscribers.signup_requests import SignupRequest, parse_signup
from mailer.subscribers.states import LEFT, SubscriptionStatus
from mailer.subscribers.subscriptions import BulkSignups, confirm, subscribe
from mailer.subscribers.suppression import suppressed_among

EXPORT_COLUMNS = ("email", "name", "language", "status", "topics", "created_at", "confirmed_at")


MAX_UPLOAD_BYTES = 5 * 1024 * 1024
PREVIEW_ROWS = 10
FIELDS = ("email", "name", "language", "topics")
# Header names an editor's spreadsheet may use for each field (lower case).
HEADER_NAMES = {
    "email": ("email", "e-mail", "epost", "e-post", "e-postadresse", "mail", "email address"),
    "name": ("name", "navn", "fullt navn", "full name"),
    "language": ("language", "språk", "lang"),
    "topics": ("topics", "temaer", "tema"),
}

NOT_UTF8 = N_("Filen er ikke UTF-8. Lagre den som «CSV UTF-8» og prøv igjen.")
EMPTY_FILE = N_("Filen er tom.")
TOO_LARGE = N_("Filen er for stor (høyst 5 MB).")
NOT_TEXT = N_("Filen er ikke en CSV-tekstfil.")
NO_HEADER = N_("Første linje må navngi kolonnene.")
NO_EMAIL_COLUMN = N_("Ingen kolonne ser ut til å inneholde e-postadresser.")
UNKNOWN_COLUMN = N_("Ukjent kolonne.")
EMAIL_COLUMN_REQUIRED = N_("Velg kolonnen med e-postadresser.")
DUPLICATE_COLUMN = N_("Samme kolonne er valgt for flere felt.")
BAD_CSV = N_("Filen kan ikke leses som CSV.")


def decode_upload(data: bytes) -> str:
    """The uploaded bytes as text; ValidationFailed({"file": …}) for anything not UTF-8 CSV."""
    if not data.strip():
        raise ValidationFailed({"file": EMPTY_FILE})
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValidationFailed({"file": TOO_LARGE})
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed({"file": NOT_UTF8}) from exc
    if "\x00" in text:
        raise ValidationFailed({"file": NOT_TEXT})
    return text


@dataclass
class CsvPreview:
    columns: list[str]
    rows: list[list[str]]
    total_rows: int
    mapping: dict[str, str]


def _rows(text: str) -> list[list[str]]:
    try:
        return [[restore(cell) for cell in row] for row in csv.reader(io.StringIO(text))]
    except csv.Error as exc:
        raise ValidationFailed({"file": BAD_CSV}) from exc


def guess_mapping(columns: list[str]) -> dict[str, str]:
    mapping = dict.fromkeys(FIELDS, "")
    for column in columns:
        key = column.strip().lower()
        for name, aliases in HEADER_NAMES.items():
            if key in aliases and not mapping[name]:
                mapping[name] = column
    return mapping


def preview_csv(text: str) -> CsvPreview:
    """The header, the first rows and a guessed column mapping; refuses a file in which
    no column can hold the addresses."""
    rows = [r for r in _rows(text) if any(cell.strip() for cell in r)]
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise ValidationFailed({"file": NO_HEADER})
    columns = [cell.strip() for cell in rows[0]]
    body = rows[1:]
    mapping = guess_mapping(columns)
    if not mapping["email"]:
        with_at = [
            columns[i]
            for i in range(len(columns))
            if any(i < len(r) and "@" in r[i] for r in body[:50])
        ]
        if not with_at:
            raise ValidationFailed({"file": NO_EMAIL_COLUMN})
        mapping["email"] = with_at[0]
    return CsvPreview(columns, body[:PREVIEW_ROWS], len(body), mapping)


def check_mapping(columns: list[str], mapping: dict[str, str]) -> dict[str, str]:
    """Field → column (or "" for none); ValidationFailed names the field that is wrong."""
    errors: dict[str, str] = {}
    clean = {f: (mapping.get(f) or "").strip() for f in FIELDS}
    for name, column in clean.items():
        if column and column not in columns:
            errors[name] = UNKNOWN_COLUMN
    if not clean["email"]:
        errors["email"] = EMAIL_COLUMN_REQUIRED
    chosen = [c for c in clean.values() if c]
    if len(chosen) != len(set(chosen)):
        errors["mapping"] = DUPLICATE_COLUMN
    if errors:
        raise ValidationFailed(errors)
    return clean


@dataclass
class ImportReport:
    """Every data line of the file lands in exactly one of: imported, unchanged, errors,
    duplicates, suppressed, former, blank; ``rows`` is their sum."""

    rows: int = 0
    blank: int = 0
    imported: int = 0
    unchanged: int = 0
    errors: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    to_confirm: list[int] = field(default_factory=list)
    # (line, the earlier line with the same address)
    duplicates: list[tuple[int, int]] = field(default_factory=list)
    suppressed: list[int] = field(default_factory=list)
    # Lines of readers who left (unsubscribed, bounced, complained): an import never
    # brings them back; only they can, by signing up again.
    former: list[int] = field(default_factory=list)


def _left_before(session: Session, emails: list[str]) -> set[str]:
    """The addresses among these whose reader left (one query per thousand, not per row)."""
    left: set[str] = set()
    for start in range(0, len(emails), 1000):
        chunk = emails[start : start + 1000]
        left.update(
            session.scalars(
                select(Subscriber.email)
                .join(Subscription, Subscription.subscriber_id == Subscriber.id)
                .where(Subscriber.email.in_(chunk), Subscription.status.in_(tuple(LEFT)))
            )
        )
    return left


def import_csv(
    session: Session,
    text: str,
    allowed_topics: tuple[str, ...],
    already_consented: bool,
    source: str,
    *,
    mapping: dict[str, str] | None = None,
    secret_keys: tuple[str, ...] = (),
    message_language: str | None = None,
) -> ImportReport:
    """Rows with errors are reported and skipped; the good rows are imported together.

    With ``already_consented`` the rows become active at once (the consent
    record names the import as its source); otherwise they wait for the
    confirmation mail like any signup. ``mapping`` says which column holds each
    field (by header name); without it the headers must be named email, name, …
    An address seen earlier in the file is skipped as a duplicate, and one on the
    suppression list (with ``secret_keys``) is never imported.
    """
    report = ImportReport()
    reader = csv.DictReader(io.StringIO(text))
    try:
        columns = [(f or "").strip() for f in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise ValidationFailed({"file": BAD_CSV}) from exc
    if mapping is None:
        if "email" not in [c.lower() for c in columns]:
            raise ValidationFailed(
                {"file": "the first line must name the columns and include 'email'"}
            )
        lowered = {c.lower(): c for c in columns}
        mapping = {f: lowered.get(f, "") for f in FIELDS}
    else:
        mapping = check_mapping(columns, mapping)
    ctx = RequestContext(channel="import", user_agent=source[:400])
    parsed = _parse_rows(reader, mapping, allowed_topics, report, message_language)
    left = _left_before(session, [signup.email for _, signup in parsed])
    suppressed = suppressed_among(
        session, (signup.email for _, signup in parsed), secret_keys, normalised=True
    )
    bulk = BulkSignups.load(session, utcnow(), (signup.email for _, signup in parsed))
    seen: dict[str, int] = {}
    new: list[NewReader] = []
    new_lines: list[int] = []
    # (line, subscription id) of the readers to mail, put in file order at the end.
    mails: list[tuple[int, int]] = []
    for line, signup in parsed:
        if signup.email in seen:
            report.duplicates.append((line, seen[signup.email]))
            continue
        seen[signup.email] = line
        if signup.email in suppressed:
            report.suppressed.append(line)
            continue
        if signup.email in left:
            report.former.append(line)
            continue
        if already_consented:
            # The record keeps where the consent came from, not a wording they never saw.
            signup = dataclasses.replace(signup, consent_text=f"already consented: {source}")
        if signup.email not in bulk.known:
            # Written below, a thousand a statement; the hourly mailbox rule is decided
            # here, in file order with the known addresses' rows.
            new.append(NewReader(signup, mailed=bulk.claim(signup.email)))
            new_lines.append(line)
            continue
        _import_known(session, signup, ctx, bulk, already_consented, line, report, mails)
    ids = insert_new_readers(session, new, ctx, bulk.newsletter.id, consented=already_consented)
    for added, line, subscription_id in zip(new, new_lines, ids, strict=True):
        # As subscribe() answers for a new address: pending, and mailed unless its mailbox
        # had a mail within the hour (then nothing is due: counted as unchanged).
        if already_consented or added.mailed:
            report.imported += 1
            if not already_consented:
                mails.append((line, subscription_id))
        else:
            report.unchanged += 1
    report.to_confirm = [subscription_id for _, subscription_id in sorted(mails)]
    if not already_consented:
        queue_confirmations(session, report.to_confirm)
    session.flush()
    return report


def _import_known(
    session: Session,
    signup: SignupRequest,
    ctx: RequestContext,
    bulk: BulkSignups,
    already_consented: bool,
    line: int,
    report: ImportReport,
    mails: list[tuple[int, int]],
) -> None:
    """A row whose address the database knows: the general path decides (its states,
    the hourly limit on repeated signups)."""
    # The mails are queued by the caller, a chunk of readers a task, not one task a row.
    outcome = subscribe(session, signup, ctx, mail_confirmation=False, bulk=bulk)
    subscription = bulk.written.get(outcome.subscription_id) or session.get(
        Subscription, outcome.subscription_id
    )
    assert subscription is not None
    if already_consented and subscription.status == SubscriptionStatus.PENDING:
        confirm(session, subscription.id, ctx)
        report.imported += 1
    elif outcome.send_confirmation:
        mails.append((line, subscription.id))
        report.imported += 1
    else:
        report.unchanged += 1


def _parse_rows(
    reader: csv.DictReader[str],
    mapping: dict[str, str],
    allowed_topics: tuple[str, ...],
    report: ImportReport,
    message_language: str | None,
) -> list[tuple[int, SignupRequest]]:
    """Each data line checked; errors and blank lines counted on the report."""
    parsed: list[tuple[int, SignupRequest]] = []
    rows = iter(reader)
    while True:
        try:
            raw = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ValidationFailed({"file": f"{BAD_CSV} ({exc})"}) from exc
        line = reader.line_num
        report.rows += 1
        # A file we exported carries a ' before formula-like cells: the values come back as
        # they were, and a round trip never grows them (csv_cells.restore).
        row = {(k or "").strip(): restore(v or "") for k, v in raw.items() if isinstance(v, str)}
        if not any(v.strip() for v in row.values()):
            report.blank += 1
            continue
        value = {f: row.get(column, "") if column else "" for f, column in mapping.items()}
        topics = [t.strip() for t in value["topics"].split(";") if t.strip()]
        data = {**value, "topics": topics, "consent": "on"}
        try:
            parsed.append((line, parse_signup(data, allowed_topics, message_language)))
        except ValidationFailed as exc:
            report.errors.append((line, exc.errors))
    return parsed


def export_rows(session: Session) -> Iterator[list[str]]:
    yield list(EXPORT_COLUMNS)
    rows: Iterable[Any] = session.execute(
        select(Subscriber, Subscription)
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .order_by(Subscriber.id)
        .execution_options(yield_per=500)
    )
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
