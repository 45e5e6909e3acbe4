"""bench/send.py's data: N readers bulk-loaded, articles and a drafted issue, and one
digest mail captured exactly as mailer builds it (the raw phase sends those bytes)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

CHUNK = 10_000
NAMES = ["Kari Nordmann", "Kåre Ødegård", "Ingrid Åsland", "Per Hansen", "", "Siri Bækkelund"]


# --------------------------------------------------------------------------- the database


def _name(i: int) -> str:
    base = NAMES[i % len(NAMES)]
    return f"{base} {i}" if base else ""


def load_subscribers(db: Any, n: int, newsletter_id: int) -> None:
    """N subscribers with one active subscription each: executemany (SQLite) or COPY (PG)."""
    from sqlalchemy import insert, text

    from mailer.db import utcnow
    from mailer.subscribers.models import Subscriber, Subscription
    from mailer.tokens import new_link_secret

    now = utcnow()
    if db.engine.dialect.name == "postgresql":
        naive = now.replace(tzinfo=None)
        raw = db.engine.raw_connection()
        try:
            pg = raw.driver_connection
            with pg.cursor() as cur:
                with cur.copy(
                    "COPY subscriber (id, email, name, language, created_at) FROM STDIN"
                ) as copy:
                    for i in range(1, n + 1):
                        copy.write_row((i, f"leser{i}@example.no", _name(i), "nb", naive))
                with cur.copy(
                    "COPY subscription (id, subscriber_id, newsletter_id, status, topics, "
                    "created_at, confirmed_at, link_secret) FROM STDIN"
                ) as copy:
                    for i in range(1, n + 1):
                        copy.write_row(
                            (i, i, newsletter_id, "active", "[]", naive, naive, new_link_secret())
                        )
                for table in ("subscriber", "subscription"):
                    cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {n})")
            pg.commit()
        finally:
            raw.close()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
        return
    with db.engine.begin() as conn:
        for start in range(1, n + 1, CHUNK):
            ids = range(start, min(start + CHUNK, n + 1))
            conn.execute(
                insert(Subscriber.__table__),
                [
                    {
                        "id": i,
                        "email": f"leser{i}@example.no",
                        "name": _name(i),
                        "language": "nb",
                        "created_at": now,
                    }
                    for i in ids
                ],
            )
            conn.execute(
                insert(Subscription.__table__),
                [
                    {
                        "id": i,
                        "subscriber_id": i,
                        "newsletter_id": newsletter_id,
                        "status": "active",
                        "topics": [],
                        "created_at": now,
                        "confirmed_at": now,
                    }
                    for i in ids
                ],
            )


SUMMARY = (
    "Regionene på Vestlandet og i Nord-Norge samarbeider tettere med europeiske partnere om "
    "klimatilpasning, grønn skipsfart og forskning. Prosjektet får støtte fra Horisont Europa "
    "og samler kommuner, universiteter og næringsliv – «et løft for hele landsdelen», sier "
    "prosjektlederen. Søknadsfristen for neste utlysning er i februar, og kontoret holder "
    "informasjonsmøter i Bergen, Tromsø og Brussel."
)


def draft_issue_with_articles(db: Any, tag: str, count: int) -> int:
    """``count`` new articles published just now, and a draft issue carrying them."""
    from mailer.articles.models import Article
    from mailer.db import utcnow
    from mailer.issues.drafting import draft_issue

    now = utcnow()
    with db.session() as session:
        for k in range(count):
            session.add(
                Article(
                    source="https://europakontor.example.no/feed",
                    guid=f"{tag}-{k}",
                    url=f"https://europakontor.example.no/nyheter/{tag}-sak-nummer-{k}",
                    title=f"Sak {k}: Fjordbyer i Bærum og Ålesund deler klimaløsninger ({tag})",
                    summary=SUMMARY,
                    topics=[],
                    published_at=now - timedelta(milliseconds=k + 1),
                )
            )
        session.flush()
        issue = draft_issue(session, now=utcnow())
        session.commit()
        return issue.id


def capture_message(settings: Any, tag: str, articles: int, n: int) -> tuple[str, bytes]:
    """One digest mail exactly as mailer sends it: sending.send_batch on a scratch SQLite
    database holding one reader (subscriber N) and the same articles, with an SMTP
    connection that keeps the message instead of sending it."""
    import dataclasses

    from mailer.db import Database, utcnow
    from mailer.migrate import upgrade
    from mailer.sending import batch as sending
    from mailer.sending import ledger
    from mailer.subscribers.models import Subscriber, Subscription
    from mailer.subscribers.subscriptions import default_newsletter
    from mailer.tokens import Tokens

    scratch = Path(tempfile.mkdtemp(prefix="mailer-bench-capture-"))
    captured: list[Any] = []

    class Capture:
        pipelining = False

        def __init__(self, _settings: Any) -> None:
            pass

        def __enter__(self) -> Capture:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def send(
            self,
            message: Any,
            meanwhile: Callable[[], None] | None = None,
            before_data: Callable[[], None] | None = None,
            following: Any = None,
        ) -> None:
            if before_data is not None:
                before_data()
            captured.append(message)
            if meanwhile is not None:
                meanwhile()

    try:
        url = f"sqlite:///{scratch / 'capture.db'}"
        upgrade(url)
        db = Database(url)
        with db.session() as session:
            newsletter = default_newsletter(session)
            session.add(
                Subscriber(id=n, email=f"leser{n}@example.no", name=_name(n), language="nb")
            )
            session.flush()
            session.add(
                Subscription(
                    id=n,
                    subscriber_id=n,
                    newsletter_id=newsletter.id,
                    status="active",
                    topics=[],
                    confirmed_at=utcnow(),
                )
            )
            session.commit()
        issue_id = draft_issue_with_articles(db, tag, articles)
        with db.session() as session:
            assert ledger.request_send(session, issue_id)
            ledger.create_deliveries(session, issue_id)
            session.commit()
            ids = ledger.queued_page(session, issue_id, 0, 10, utcnow())
            sending.send_batch(
                session,
                dataclasses.replace(settings, database_url=url),
                Tokens(settings.secret_keys),
                issue_id,
                ids,
                connection_factory=Capture,
            )
        db.engine.dispose()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if len(captured) != 1:
        raise RuntimeError(f"expected one captured mail, got {len(captured)}")
    return captured[0].sender, captured[0].data
