"""Drafting an issue from the articles published since the last one."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from mailer.articles.models import Article
from mailer.db import utcnow
from mailer.events import record_event
from mailer.i18n import LOCAL_ZONE, gettext, month_name
from mailer.issues.models import Issue, IssueArticle
from mailer.issues.states import IssueStatus
from mailer.subscribers.subscriptions import default_newsletter

DEFAULT_PERIOD = timedelta(days=31)
MAX_ARTICLES = 30


class NothingToDraft(Exception):
    pass


def default_subject(when: datetime, language: str) -> str:
    year = when.astimezone(LOCAL_ZONE).year
    return gettext("Nyhetsbrev", language) + f" {month_name(when, language)} {year}"


def issue_month(issue: Issue) -> datetime:
    """The month an issue is about: the middle of its period (a digest drafted on
    1 December covers November)."""
    return issue.period_start + (issue.period_end - issue.period_start) / 2


def issue_subject(issue: Issue, language: str) -> str:
    """The editor's subject, or «Nyhetsbrev november 2026» in the reader's language."""
    return issue.subject or default_subject(issue_month(issue), language)


def draft_issue(session: Session, now: datetime | None = None) -> Issue:
    """A draft holding the articles published since the last sent issue (or the last 31 days).

    An article imported after the last issue was drafted counts as new even if
    its feed dates it a little earlier (feeds round times, or publish late),
    and articles a sent issue already carried are left out: so an article is
    neither lost between two issues nor sent twice.
    """
    now = now or utcnow()
    newsletter = default_newsletter(session)
    last_sent = session.scalar(
        select(Issue)
        .where(Issue.newsletter_id == newsletter.id, Issue.status == IssueStatus.SENT)
        .order_by(Issue.period_end.desc())
        .limit(1)
    )
    since = last_sent.period_end if last_sent else now - DEFAULT_PERIOD
    already_sent = (
        select(IssueArticle.article_id)
        .join(Issue, Issue.id == IssueArticle.issue_id)
        .where(Issue.status == IssueStatus.SENT)
    )
    articles = session.scalars(
        select(Article)
        .where(
            or_(
                Article.published_at >= since,
                and_(Article.created_at >= since, Article.published_at >= since - DEFAULT_PERIOD),
            ),
            Article.published_at <= now,
            Article.hidden.is_(False),
            Article.id.not_in(already_sent),
        )
        .order_by(Article.published_at.desc())
        .limit(MAX_ARTICLES)
    ).all()
    if not articles:
        raise NothingToDraft(f"no new articles published since {since:%Y-%m-%d %H:%M} UTC")
    issue = Issue(
        newsletter_id=newsletter.id,
        subject="",
        intro="",
        language=newsletter.language,
        period_start=since,
        period_end=now,
        status=IssueStatus.DRAFT,
    )
    issue.items = [IssueArticle(article_id=a.id, position=i) for i, a in enumerate(articles)]
    session.add(issue)
    session.flush()
    record_event(session, "issue.drafted", issue_id=issue.id, data={"articles": len(articles)})
    return issue
