"""The domain's only door to the broker: a task queued inside a transaction leaves after
its commit, and never if it rolls back.

The domain calls ``enqueue(session, name, *ids)``; the process (web, CLI, worker) has
registered how to send with ``set_sender`` when it built its Celery app. This module
imports no Celery at module level, so the domain stays free of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

Sender = Callable[[str, tuple[Any, ...]], None]

_PENDING = "mailer.queue.pending"
_sender: Sender | None = None


class NoSender(RuntimeError):
    """A task was queued in a process that built no Celery app."""


def set_sender(sender: Sender | None) -> Sender | None:
    """Use ``sender`` from now on; returns the one it replaces (tests put it back)."""
    global _sender
    previous, _sender = _sender, sender
    return previous


def enqueue(session: Session, task_name: str, *args: Any) -> None:
    """Queue ``task_name(*args)`` (plain ids) for after the session's outermost commit."""
    if not session.in_transaction():
        # Tie the task to a transaction even before any statement ran, so that a rollback
        # drops it (begin() here takes no connection yet).
        session.begin()
    session.info.setdefault(_PENDING, []).append((task_name, args))


def pending(session: Session) -> list[tuple[str, tuple[Any, ...]]]:
    return list(session.info.get(_PENDING, []))


@event.listens_for(Session, "after_commit")
def _send_after_commit(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint was released: the transaction that decides is still open
    tasks = session.info.pop(_PENDING, [])
    if not tasks:
        return
    if _sender is None:
        raise NoSender(f"queued {tasks[0][0]} but this process has no broker connection")
    for name, args in tasks:
        _sender(name, args)


@event.listens_for(Session, "after_transaction_end")
def _drop_after_rollback(session: Session, transaction: SessionTransaction) -> None:
    # The outermost transaction ended without a commit (after_commit popped the list
    # first when it did commit): what it queued must never leave.
    if transaction.parent is None and transaction.nested is False:
        session.info.pop(_PENDING, None)
