"""The tables. Migrations in migrations/ own the schema; these mirror them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailer.db import Base, UTCDateTime, utcnow
from mailer.tokens import new_link_secret

# SQLite hands a deleted highest id to the next row unless the table is AUTOINCREMENT.
# Every table whose id leaves the database (a personal link, a VERP address, an admin or
# API URL, an audit event) never reuses one: subscription, subscriber, delivery, issue,
# article, feed, editor, api_token. (PostgreSQL's sequences never reuse ids anyway.)
NO_ID_REUSE = {"sqlite_autoincrement": True}


class Newsletter(Base):
    __tablename__ = "newsletter"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8), default="nb")
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Subscriber(Base):
    __tablename__ = "subscriber"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(8), default="nb")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    subscriptions: Mapped[list[Subscription]] = relationship(back_populates="subscriber")


class Subscription(Base):
    __tablename__ = "subscription"
    __table_args__ = (UniqueConstraint("subscriber_id", "newsletter_id"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscriber.id", ondelete="CASCADE"))
    newsletter_id: Mapped[int] = mapped_column(ForeignKey("newsletter.id"))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Indexed: the hourly confirmation limit looks up the last hour's mails by mailbox.
    confirmation_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # In every personal link next to the id, so a link can only ever open this row.
    link_secret: Mapped[str] = mapped_column(String(32), default=new_link_secret)
    # Set by migration 0005 on rows that existed before link secrets: until then their
    # links mailed with the id alone still work (mailer.links.opens).
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


class Feed(Base):
    __tablename__ = "feed"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), unique=True)
    etag: Mapped[str | None] = mapped_column(String(400))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class Article(Base):
    __tablename__ = "article"
    __table_args__ = (UniqueConstraint("source", "guid"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(2000))
    guid: Mapped[str] = mapped_column(String(2000))
    url: Mapped[str] = mapped_column(String(2000))
    title: Mapped[str] = mapped_column(String(500))
    summary: Mapped[str] = mapped_column(Text, default="")
    image_url: Mapped[str | None] = mapped_column(String(2000))
    image_alt: Mapped[str | None] = mapped_column(String(500))
    # "Foto: …" under the picture in the CMS text, without the prefix.
    image_caption: Mapped[str | None] = mapped_column(Text)
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    # An editor can hide an article: it is never drafted into an issue.
    hidden: Mapped[bool] = mapped_column(default=False)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Issue(Base):
    __tablename__ = "issue"
    __table_args__ = (
        UniqueConstraint(
            "newsletter_id", "scheduled_for", name="uq_issue_newsletter_scheduled_for"
        ),
        NO_ID_REUSE,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    newsletter_id: Mapped[int] = mapped_column(ForeignKey("newsletter.id"))
    subject: Mapped[str] = mapped_column(String(300))
    intro: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(8), default="nb")
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # "YYYY-MM" for a digest the monthly schedule drafted; unique, so a beat that fires
    # twice (a restart, two beats by mistake) drafts and sends one digest, not two.
    scheduled_for: Mapped[str | None] = mapped_column(String(7))
    pause_reason: Mapped[str | None] = mapped_column(Text)
    # For status "scheduled": when beat should start the send.
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    send_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deliveries_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    newsletter: Mapped[Newsletter] = relationship()
    items: Mapped[list[IssueArticle]] = relationship(
        order_by="IssueArticle.position", cascade="all, delete-orphan"
    )


class IssueArticle(Base):
    __tablename__ = "issue_article"

    issue_id: Mapped[int] = mapped_column(
        ForeignKey("issue.id", ondelete="CASCADE"), primary_key=True
    )
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id"), primary_key=True)
    position: Mapped[int] = mapped_column(default=0)

    article: Mapped[Article] = relationship()


class Delivery(Base):
    """The ledger: one row per (issue, subscription); it makes sending resumable."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("issue_id", "subscription_id"),
        Index("ix_delivery_issue_status", "issue_id", "status"),
        NO_ID_REUSE,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issue.id", ondelete="CASCADE"))
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscription.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(300))
    # When the id last went to the broker: the reconciler re-queues rows left too long.
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # After a temporary SMTP failure: not before this time (backoff with jitter).
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Editor(Base):
    __tablename__ = "editor"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="editor")
    language: Mapped[str] = mapped_column(String(8), default="nb")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # In every session's stamp: raising it ends all of this editor's sessions.
    session_epoch: Mapped[int] = mapped_column(default=0)
    # A disabled editor cannot log in nor use an API token.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def active(self) -> bool:
        return self.disabled_at is None


class Suppression(Base):
    """Addresses never to mail again: only a keyed hash (HMAC) of each, so an erased
    reader's address is not kept in plain text."""

    __tablename__ = "suppression"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(Base):
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_token"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    editor_id: Mapped[int] = mapped_column(ForeignKey("editor.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    editor: Mapped[Editor] = relationship()


class Event(Base):
    """Append-only audit trail."""

    __tablename__ = "event"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    subscription_id: Mapped[int | None] = mapped_column(index=True)
    issue_id: Mapped[int | None] = mapped_column()
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def record_event(session: Any, kind: str, **fields: Any) -> None:
    data = fields.pop("data", {})
    session.add(Event(kind=kind, data=data, **fields))
