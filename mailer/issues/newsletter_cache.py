"""The newsletter's topics, cached per process: every signup (form, JSON API, embed)
checks the reader's topics against them, and they change only when an admin saves the
settings.

Invalidation: ``invalidate_after_commit`` (called by whatever changes the row) bumps a
generation number once the change is committed: in this process at once, and, when a
shared store is configured (MAILER_REDIS_URL), in Redis, which every other process
reads (one GET, no SQL) before trusting its copy, at most once every ``RECHECK_SECONDS``:
a change shows in the process that made it at once and in every other within a second.
(A GET per request cost a fifth of a signup's Redis round trips, bench/signup.py.)
Without a shared store there is one web process (DECISIONS), so the in-process bump is
enough. If Redis cannot be read, the copy is not trusted and the row is read again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.db import Database
from mailer.issues.models import Newsletter

log = logging.getLogger(__name__)

GENERATION_KEY = "mailer:newsletter:generation"
RECHECK_SECONDS = 1.0
_BUMP = "mailer.newsletter_cache.bump"


@dataclass(frozen=True)
class _Entry:
    generation: int
    stored_topics: tuple[str, ...]
    checked_at: float


_lock = threading.Lock()
_entries: dict[str, _Entry] = {}  # database URL → what its newsletter row said
_local_generation = 0
_clients: dict[tuple[int, str], Any] = {}


def _redis(url: str) -> Any:
    key = (os.getpid(), url)  # a connection pool is not shared across a fork
    client = _clients.get(key)
    if client is None:
        import redis  # only processes that use the cache with Redis load it

        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        _clients[key] = client
    return client


def _generation(settings: Settings) -> int | None:
    """The current generation; None when the shared store cannot say."""
    if not settings.redis_url:
        return _local_generation
    try:
        value = _redis(settings.redis_url).get(GENERATION_KEY)
    except Exception as exc:  # noqa: BLE001 - any Redis failure: read the row instead
        log.warning("newsletter cache: cannot read the generation from Redis: %s", exc)
        return None
    return _local_generation + int(value or 0)


def stored_topics(db: Database, settings: Settings) -> tuple[str, ...]:
    """The newsletter row's own topic list (empty: the configured seed applies)."""
    url = str(db.engine.url)
    entry = _entries.get(url)
    now = time.monotonic()
    if entry is not None and now - entry.checked_at < RECHECK_SECONDS:
        return entry.stored_topics
    generation = _generation(settings)
    if entry is not None and generation is not None and entry.generation == generation:
        with _lock:
            _entries[url] = _Entry(generation, entry.stored_topics, now)
        return entry.stored_topics
    with db.session() as session:
        topics = session.scalar(select(Newsletter.topics).where(Newsletter.slug == "default"))
    if topics is None:
        raise RuntimeError("no default newsletter: run `mailer db upgrade`")
    if generation is not None:
        with _lock:
            _entries[url] = _Entry(generation, tuple(topics), now)
    return tuple(topics)


def invalidate_after_commit(session: Session, settings: Settings) -> None:
    """The newsletter row changes in this session's transaction: once it is committed,
    every process reads it again."""
    session.info[_BUMP] = settings


@event.listens_for(Session, "after_commit")
def _bump_after_commit(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint was released: the transaction that decides is still open
    settings: Settings | None = session.info.pop(_BUMP, None)
    if settings is not None:
        clear()
        if settings.redis_url:
            try:
                _redis(settings.redis_url).incr(GENERATION_KEY)
            except Exception as exc:  # noqa: BLE001 - the change is committed regardless
                log.error("newsletter cache: cannot tell other processes: %s", exc)


@event.listens_for(Session, "after_transaction_end")
def _drop_after_rollback(session: Session, transaction: Any) -> None:
    if transaction.parent is None and transaction.nested is False:
        session.info.pop(_BUMP, None)


def clear() -> None:
    """Forget every copy in this process (and move its generation on)."""
    global _local_generation
    with _lock:
        _local_generation += 1
        _entries.clear()
