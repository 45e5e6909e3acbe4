"""Rows in one line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from mailer.articles.models import Article
from mailer.issues.drafting import draft_issue
from mailer.issues.models import Issue
from mailer.subscribers.models import Subscriber, Subscription
from mailer.subscribers.subscriptions import default_newsletter


def subscription(
    session: Session, email: str, name: str = "", status: str = "active", language: str = "nb"
) -> Subscription:
    subscriber = Subscriber(email=email, name=name, language=language)
    session.add(subscriber)
    session.flush()
    row = Subscription(
        subscriber_id=subscriber.id,
        newsletter_id=default_newsletter(session).id,
        status=status,
        topics=[],
        confirmed_at=datetime.now(UTC) if status == "active" else None,
    )
    session.add(row)
    session.flush()
    return row


def article(session: Session, guid: str, title: str, days_ago: float = 1) -> Article:
    row = Article(
        source="https://europakontor.example.no/feed",
        guid=guid,
        url=f"https://europakontor.example.no/nyheter/{guid}",
        title=title,
        summary=f"Sammendrag av «{title}» – med æ, ø og å.",
        topics=[],
        published_at=datetime.now(UTC) - timedelta(days=days_ago),
    )
    session.add(row)
    session.flush()
    return row


def drafted_issue(session: Session, articles: int = 2) -> Issue:
    for i in range(articles):
        article(session, f"sak-{i}", f"Sak nummer {i} fra Bærum", days_ago=i + 1)
    issue = draft_issue(session)
    session.commit()
    return issue
