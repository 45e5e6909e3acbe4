"""A CSV import never brings back a reader who left: unsubscribed, bounced or complained,
whether the rows wait for confirmation or the file says they already consented (issue 14).

Mutants this pins (each applied by hand and seen to fail): ``_has_left`` checks only
``unsubscribed`` (``status in LEFT`` → ``status == "unsubscribed"``, or a state dropped from
``LEFT``), or the check is skipped in "already consented" mode.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from mailer.events import Event
from mailer.subscribers.csv_files import import_csv
from mailer.subscribers.models import Consent, Subscriber, Subscription
from tests.conftest import SECRET
from tests.harness import factories

# Domain code only: each test is rolled back.
pytestmark = pytest.mark.rolled_back

TOPICS = ("Innovasjon", "Klima", "Forskning")


def _status(session, email: str) -> str:
    return str(
        session.scalar(
            select(Subscription.status).join(Subscriber).where(Subscriber.email == email)
        )
    )


@pytest.mark.parametrize("already_consented", [False, True], ids=["to-confirm", "consented"])
@pytest.mark.parametrize("left_as", ["unsubscribed", "bounced", "complained"])
def test_an_import_never_brings_back_a_reader_who_left(session, left_as, already_consented):
    gone = factories.subscription(session, "borte@example.no", "Borte", status=left_as)
    session.commit()
    consents = session.scalar(select(func.count()).select_from(Consent))

    report = import_csv(
        session,
        "email,name\nny@example.no,Ny\nBORTE@example.no,Borte igjen\n",
        TOPICS,
        already_consented=already_consented,
        source="import:liste.csv by admin@example.no",
        secret_keys=(SECRET,),
    )
    session.commit()

    assert report.former == [3]
    assert report.imported == 1  # the control: the new reader in the same file is in
    assert _status(session, "ny@example.no") == ("active" if already_consented else "pending")
    session.refresh(gone)
    assert gone.status == left_as
    assert gone.subscriber.name == "Borte"
    # Nothing was written about the reader who left: no consent record, no event.
    new_consents = session.scalars(
        select(Consent.subscription_id).order_by(Consent.id).offset(consents)
    ).all()
    assert gone.id not in new_consents
    assert not session.scalars(select(Event).where(Event.subscription_id == gone.id)).all()


@pytest.mark.parametrize("already_consented", [False, True], ids=["to-confirm", "consented"])
def test_only_rows_that_wait_for_confirmation_get_a_confirmation_mail(
    session, queued_tasks, already_consented
):
    """Survivor of the first `make mutate` (``import_csv``: ``mail_confirmation`` dropped or
    inverted): readers the file says consented were mailed a confirmation, or those who
    must confirm were not. And of the second (``subscribe(…, mail_confirmation=False)`` →
    ``True`` or dropped): every reader also got a mail of their own, one task each, on top
    of the chunk's (mailed twice, or mailed though they consented)."""
    report = import_csv(
        session,
        "email\nen@example.no\nto@example.no\n",
        TOPICS,
        already_consented=already_consented,
        source="import:x.csv",
    )
    session.commit()

    # One task carries a chunk of readers (tests/subscribers/test_confirmation_chunks.py).
    mails = [
        sid for name, args in queued_tasks if name == "mailer.send_confirmations" for sid in args[0]
    ]
    assert report.imported == 2
    assert [t for t in queued_tasks if t[0] == "mailer.send_confirmation"] == []
    if already_consented:
        assert mails == [] and report.to_confirm == []
    else:
        assert sorted(mails) == sorted(report.to_confirm)
        assert len(report.to_confirm) == 2 and None not in report.to_confirm


def test_an_upload_older_than_a_day_is_removed_at_the_next_upload(tmp_path):
    """Survivor of the first `make mutate` (``csv_uploads.stash``: the clean-up's glob or
    age test changed): a list of readers' addresses stayed on disk past its day."""
    import os
    import time

    from mailer.subscribers import csv_uploads

    old = csv_uploads.stash(tmp_path, 1, "email\nold@example.no\n")
    kept = csv_uploads.stash(tmp_path, 1, "email\nnew@example.no\n")
    day_ago = time.time() - csv_uploads.MAX_AGE_SECONDS - 60
    os.utime(tmp_path / "imports" / f"1-{old}.csv", (day_ago, day_ago))

    csv_uploads.stash(tmp_path, 2, "email\nnext@example.no\n")

    with pytest.raises(csv_uploads.UploadExpired):
        csv_uploads.load(tmp_path, 1, old)
    assert "new@example.no" in csv_uploads.load(tmp_path, 1, kept)


def test_a_waiting_upload_is_readable_by_its_owner_only(tmp_path):
    """Mutant of ``csv_uploads.stash`` (a survivor of `make mutate`): ``chmod(0o600)`` →
    ``chmod(385)`` (0o601). The file is a list of readers' addresses: no other user of the
    machine may do anything with it."""
    import stat

    from mailer.subscribers import csv_uploads

    key = csv_uploads.stash(tmp_path, 1, "email\nkari@example.no\n")

    mode = (tmp_path / "imports" / f"1-{key}.csv").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_a_reader_who_left_is_kept_out_on_the_first_line_too(session):
    """Mutant of ``csv_files._left_before`` (a survivor of `make mutate`): ``range(0, …)``
    → ``range(1, …)``: the file's first address was never looked up, so a reader who left
    came back when their address opened the file."""
    factories.subscription(session, "borte@example.no", "Borte", status="unsubscribed")
    session.commit()

    report = import_csv(
        session,
        "email\nborte@example.no\nny@example.no\n",
        TOPICS,
        already_consented=True,
        source="import:liste.csv by admin@example.no",
    )

    assert (report.former, report.imported) == ([2], 1)
    assert _status(session, "borte@example.no") == "unsubscribed"


def test_a_file_whose_first_line_cannot_be_read_is_refused_on_the_file_field(session):
    """Mutants of ``csv_files.import_csv`` (survivors of `make mutate`): the error's field
    key changed or the error dropped. The page names the field that is wrong."""
    import csv

    from mailer.errors import ValidationFailed
    from mailer.subscribers.csv_files import BAD_CSV

    header = '"' + "x" * (csv.field_size_limit() + 1) + '"\n'
    with pytest.raises(ValidationFailed) as raised:
        import_csv(session, header, TOPICS, already_consented=False, source="import:x")
    assert raised.value.errors == {"file": BAD_CSV}


def _import(session, text: str, **options):
    options.setdefault("already_consented", True)
    return import_csv(
        session, text, TOPICS, source="import:liste.csv by admin@example.no", **options
    )


def test_short_lines_and_an_unnamed_column_import_with_empty_fields(session):
    """Mutants of ``csv_files._parse_rows`` (survivors of `make mutate`): the default for a
    cell a short line lacks (``""`` → None: a crash on ``split``; → "XXXX": a made-up
    name), and an unmapped field read anyway (``if column`` → ``or True``: a spreadsheet's
    trailing comma names a column "", whose cells would land in every unmapped field)."""
    report = _import(
        session,
        "email,name,topics,\nkort@example.no\nlang@example.no,Lang,Klima,tull\n",
        mapping={"email": "email", "name": "name", "topics": "topics"},
    )

    assert (report.errors, report.imported) == ([], 2)
    rows = dict(
        session.execute(
            select(Subscriber.email, Subscriber.name).where(
                Subscriber.email.in_(["kort@example.no", "lang@example.no"])
            )
        ).all()
    )
    assert rows == {"kort@example.no": "", "lang@example.no": "Lang"}
    languages = set(session.scalars(select(Subscriber.language)))
    assert languages == {"nb"}


def test_the_report_counts_every_blank_and_every_unchanged_line(session):
    """Mutants (survivors of `make mutate`): ``report.blank += 1`` and ``report.unchanged
    += 1`` → ``= 1``. The report's counts add up to the file's lines."""
    for email in ("a@example.no", "b@example.no"):
        factories.subscription(session, email)
    session.commit()

    report = _import(session, "email\na@example.no\n,\n\nb@example.no\n ,  \nc@example.no\n")

    assert (report.unchanged, report.blank, report.imported) == (2, 2, 1)
    assert report.rows == 5


def test_an_imported_readers_consent_names_the_import(session):
    """Mutant of ``csv_files.import_csv`` (a survivor of `make mutate`): the source left out
    of the consent record (``user_agent=source[:400]`` dropped): the record would not say
    which file, uploaded by whom, brought the reader in."""
    _import(session, "email\nny@example.no\n")

    subscription_id = session.scalar(
        select(Subscription.id).join(Subscriber).where(Subscriber.email == "ny@example.no")
    )
    agents = set(
        session.scalars(
            select(Consent.user_agent).where(Consent.subscription_id == subscription_id)
        )
    )
    assert agents == {"import:liste.csv by admin@example.no"}


def test_a_file_without_an_email_column_is_refused_with_the_reason(session):
    """Mutants (survivors of `make mutate`): the error without a mapping (the CLI's import)
    replaced by None, its field key or its words changed."""
    from mailer.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as raised:
        _import(session, "name\nKari\n")
    assert raised.value.errors == {
        "file": "the first line must name the columns and include 'email'"
    }


@pytest.mark.parametrize("where", ["header", "line"])
def test_an_unreadable_line_is_refused_on_the_file_field(session, where):
    """Mutants of ``csv_files._rows`` and ``_parse_rows`` (survivors of `make mutate`): the
    error's field key changed, or the error replaced by None."""
    import csv

    from mailer.errors import ValidationFailed
    from mailer.subscribers.csv_files import BAD_CSV, preview_csv

    huge = '"' + "x" * (csv.field_size_limit() + 1) + '"'
    text = f"{huge}\n" if where == "header" else f"email\na@example.no\n{huge}\n"
    for read in (lambda: preview_csv(text), lambda: _import(session, text)):
        with pytest.raises(ValidationFailed) as raised:
            read()
        assert list(raised.value.errors) == ["file"]
        assert raised.value.errors["file"].startswith(BAD_CSV)


def test_a_preview_of_a_header_alone_or_of_commas_alone(session):
    """Mutants of ``csv_files.preview_csv`` and ``guess_mapping`` (survivors of `make
    mutate`): ``or`` → ``and`` (a file of commas alone: a crash, not "name the columns"),
    ``rows[0]`` → ``rows[1]`` (a header alone: a crash), an unguessed field None instead
    of "" (the import page would offer a column named "None")."""
    from mailer.errors import ValidationFailed
    from mailer.subscribers.csv_files import NO_HEADER, preview_csv

    preview = preview_csv("E-post\n")
    assert (preview.total_rows, preview.rows) == (0, [])
    assert preview.mapping == {"email": "E-post", "name": "", "language": "", "topics": ""}
    with pytest.raises(ValidationFailed) as raised:
        preview_csv(",,\n ,\n")
    assert raised.value.errors == {"file": NO_HEADER}


def test_readers_imported_as_consented_get_no_welcome_mail(session, queued_tasks):
    """Mutant of ``subscriptions.confirm`` (a survivor of `make mutate`): ``welcome``
    defaulting to True. The import confirms its consented rows without asking for a
    welcome mail: a list of a thousand readers would each get one, setting or not."""
    report = _import(session, "email\nen@example.no\nto@example.no\n")
    session.commit()

    assert report.imported == 2
    assert [name for name, _ in queued_tasks if name == "mailer.send_welcome"] == []


def test_the_export_has_one_line_per_subscription_with_its_own_reader(session):
    """Mutants of ``csv_files.export_rows`` (survivors of `make mutate`; the export shares
    the import's module): the join inverted (every reader paired with the others' rows),
    the topics' separator or list changed, a confirmation time made up or dropped."""
    from mailer.subscribers.csv_files import EXPORT_COLUMNS, export_rows

    kari = factories.subscription(session, "kari@example.no", "Kari")
    kari.topics = ["Klima", "Forskning"]
    factories.subscription(session, "per@example.no", "Per", status="pending")
    session.flush()

    header, *lines = list(export_rows(session))

    assert header == list(EXPORT_COLUMNS)
    assert [line[:5] for line in lines] == [
        ["kari@example.no", "Kari", "nb", "active", "Klima;Forskning"],
        ["per@example.no", "Per", "nb", "pending", ""],
    ]
    assert lines[0][6] != "" and lines[1][6] == ""


@pytest.mark.parametrize("already_consented", [False, True], ids=["to-confirm", "consented"])
def test_readers_already_waiting_are_counted_once_and_mailed_once(
    session, queued_tasks, already_consented
):
    """Addresses the database knows take the general path (``_import_known``). Survivors
    of `make mutate` after the bulk path: ``report.imported += 1`` → ``= 1``, ``-= 1`` or
    ``+= 2``; ``mails.append((line, id))`` → ``append(None)``; ``subscribe(…,
    mail_confirmation=False)`` → ``True``, ``None`` or dropped (a task of their own on top
    of the chunk's). Two readers still waiting, their last mail two hours ago, are
    imported again: each counted once, and mailed once (in the chunk) or confirmed."""
    from datetime import UTC, datetime, timedelta

    waiting = []
    for email in ("venter1@example.no", "venter2@example.no"):
        row = factories.subscription(session, email, status="pending")
        row.confirmation_sent_at = datetime.now(UTC) - timedelta(hours=2)
        waiting.append(row)
    session.commit()

    report = _import(
        session,
        "email\nny@example.no\nventer1@example.no\nventer2@example.no\n",
        already_consented=already_consented,
    )
    session.commit()

    assert report.imported == 3 and report.unchanged == 0
    assert [t for t in queued_tasks if t[0] == "mailer.send_confirmation"] == []
    if already_consented:
        assert report.to_confirm == []
        assert all(row.status == "active" for row in waiting)
    else:
        mails = [sid for name, args in queued_tasks for sid in args[0]]
        assert report.to_confirm[1:] == [row.id for row in waiting]
        assert mails == report.to_confirm and len(mails) == 3
