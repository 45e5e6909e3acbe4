"""The newsletter and its issues: one edition, its subject, intro and ordered articles."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailer.db import NO_ID_REUSE, Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from mailer.articles.models import Article


class Newsletter(Base):
    __tablename__ = "newsletter"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8), default="nb")
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
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
