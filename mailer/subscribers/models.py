"""Readers, their subscriptions, the consent log and the suppression list."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, func, literal_column
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailer.db import NO_ID_REUSE, Base, UTCDateTime, utcnow
from mailer.subscribers.states import SubscriptionStatus
from mailer.tokens import new_link_secret

if TYPE_CHECKING:
    from mailer.issues.models import Newsletter


class Subscriber(Base):
    __tablename__ = "subscriber"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(8), default="nb")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    subscriptions: Mapped[list[Subscription]] = relationship(back_populates="subscriber")


# subscribers.addresses.mailbox() in SQL, for PostgreSQL: the address without its +tag
# (``bomb+1@x`` → ``bomb@x``; a local part that starts with "+" is kept whole, as there).
# The pattern is inline, not a parameter, so that a prepared statement's generic plan
# still matches the index below.
MAILBOX_PATTERN = r"'^([^+@]+)\+[^@]*@'"


def mailbox_sql(email: Any) -> Any:
    return func.regexp_replace(email, literal_column(MAILBOX_PATTERN), literal_column(r"'\1@'"))


# The hourly confirmation limit looks readers up by mailbox: without this index each signup
# read every reader (a LIKE on the tagged address cannot use the index on email), so a
# signup cost grew with the list (bench/README.md, "Signup, fourth pass"). PostgreSQL only:
# SQLite has no regexp_replace (the small, embedded setup keeps its scan).
Index("ix_subscriber_mailbox", mailbox_sql(Subscriber.email)).ddl_if(dialect="postgresql")


class Subscription(Base):
    __tablename__ = "subscription"
    __table_args__ = (UniqueConstraint("subscriber_id", "newsletter_id"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscriber.id", ondelete="CASCADE"))
    newsletter_id: Mapped[int] = mapped_column(ForeignKey("newsletter.id"))
    status: Mapped[str] = mapped_column(String(16), default=SubscriptionStatus.PENDING, index=True)
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Indexed: the hourly confirmation limit looks up the last hour's mails by mailbox.
    confirmation_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # In every personal link next to the id, so a link can only ever open this row.
    link_secret: Mapped[str] = mapped_column(String(32), default=new_link_secret)
    # Set by migration 0005 on rows that existed before link secrets: until then their
    # links mailed with the id alone still work (mailer.subscribers.links.opens).
    legacy_links_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    subscriber: Mapped[Subscriber] = relationship(back_populates="subscriptions")
    newsletter: Mapped[Newsletter] = relationship()


class Consent(Base):
    """Append-only record of what a reader agreed to or withdrew, when and from where."""

    __tablename__ = "consent"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscription.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text, default="")
    text_version: Mapped[str] = mapped_column(String(32), default="")
    channel: Mapped[str] = mapped_column(String(16), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(400), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Suppression(Base):
    """Addresses never to mail again: only a keyed hash (HMAC) of each, so an erased
    reader's address is not kept in plain text."""

    __tablename__ = "suppression"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
