"""`mailer subscribers import`: every row counted once, in English, readers who left named."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from mailer.subscribers.models import Subscriber, Subscription
from tests.harness import factories

pytestmark = pytest.mark.rolled_back


def test_the_cli_report_counts_every_row_in_english(cli, session, tmp_path, rt):
    factories.subscription(session, "gikk@example.no", "Gikk i fjor", status="unsubscribed")
    factories.subscription(session, "finnes@example.no", "Finnes", status="active")
    session.commit()
    rows = [f"leser{i}@blåbær.no,Åse {i}" for i in range(20)]
    rows += [
        "ikke-en-adresse,Feil",  # line 22
        "leser3@blåbær.no,Dublett av linje 5",  # line 23
        "gikk@example.no,Tilbake via import?",  # line 24
        ",",  # line 25: blank
        "finnes@example.no,Finnes",  # line 26
    ]
    path = tmp_path / "lesere.csv"
    path.write_text("email,name\n" + "\n".join(rows) + "\n", encoding="utf-8")

    result = cli.invoke(args=["subscribers", "import", str(path)])

    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1] == (
        "25 rows: 20 imported, 1 unchanged, 1 with errors, 1 duplicate, "
        "1 unsubscribed before (not added again), 0 suppressed, 1 blank; "
        "20 confirmation mails queued"
    )
    assert "line 22: email: The email address is not valid" in result.output
    assert "line 23: the same address as line 5 (imported once)" in result.output
    assert "line 24: the reader unsubscribed before; not added again" in result.output
    for norwegian in ("E-postadressen", "ikke gyldig", "Linje"):
        assert norwegian not in result.output
    session.rollback()
    count = select(func.count()).select_from(Subscriber)
    assert session.scalar(count) == 22
    status = session.scalar(
        select(Subscription.status).join(Subscriber).where(Subscriber.email == "gikk@example.no")
    )
    assert status == "unsubscribed"


def test_the_fast_path_still_mails_a_mailbox_once_an_hour(cli, session, tmp_path, queued_tasks):
    """Tagged addresses reach one inbox: the bulk path keeps the one-mail-an-hour rule."""
    path = tmp_path / "tagger.csv"
    path.write_text(
        "email\nbomb+1@example.no\nbomb+2@example.no\nannen@example.no\n", encoding="utf-8"
    )
    result = cli.invoke(args=["subscribers", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "2 confirmation mails queued" in result.output
    assert "3 rows: 2 imported, 1 unchanged" in result.output
