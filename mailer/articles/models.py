"""The site's feeds and the articles they bring."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from mailer.db import NO_ID_REUSE, Base, UTCDateTime, utcnow


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
    # "Foto: …" under the picture in the CMS text, prefix kept (a credit, not a byline).
    image_caption: Mapped[str | None] = mapped_column(Text)
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    # An editor can hide an article: it is never drafted into an issue.
    # The server default as migration 0004 made it, for the rows that were there then.
    hidden: Mapped[bool] = mapped_column(default=False, server_default=false())
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # For each field an editor changed, the feed's latest value of it (None: never edited).
    # The columns above hold what goes out; a poll updates this, never an edited column.
    feed_values: Mapped[dict[str, str | None] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
