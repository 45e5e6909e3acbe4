"""Drafting an issue from recent articles, and compiling it into a mail template."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from mailer import issue_states
from mailer.config import Settings
from mailer.db import utcnow
from mailer.email_templates import render_email
from mailer.i18n import gettext, month_name
from mailer.messages import MessageTemplate, make_template
from mailer.models import Article, Issue, IssueArticle, record_event
from mailer.subscriptions import default_newsletter

DEFAULT_PERIOD = timedelta(days=31)
MAX_ARTICLES = 30

GREETING_NAME = "GREETING_NAME"
UNSUBSCRIBE_URL = "UNSUBSCRIBE_URL"


class NothingToDraft(Exception):
    pass


def default_subject(when: datetime, language: str) -> str:
    local_month = month_name(when, language)
    return f"{gettext('Nyhetsbrev', language)} {local_month} {when.year}"


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
        .where(Issue.newsletter_id == newsletter.id, Issue.status == issue_states.SENT)
        .order_by(Issue.period_end.desc())
        .limit(1)
    )
    since = last_sent.period_end if last_sent else now - DEFAULT_PERIOD
    already_sent = (
        select(IssueArticle.article_id)
        .join(Issue, Issue.id == IssueArticle.issue_id)
        .where(Issue.status == issue_states.SENT)
    )
    articles = session.scalars(
        select(Article)
        .where(
            or_(
                Article.published_at >= since,
                and_(Article.created_at >= since, Article.published_at >= since - DEFAULT_PERIOD),
            ),
            Article.published_at <= now,
            Article.id.not_in(already_sent),
        )
        .order_by(Article.published_at.desc())
        .limit(MAX_ARTICLES)
    ).all()
    if not articles:
        raise NothingToDraft(f"no new articles published since {since:%Y-%m-%d %H:%M} UTC")
    issue = Issue(
        newsletter_id=newsletter.id,
        subject=default_subject(now, newsletter.language),
        intro="",
        language=newsletter.language,
        period_start=since,
        period_end=now,
        status=issue_states.DRAFT,
    )
    issue.items = [IssueArticle(article_id=a.id, position=i) for i, a in enumerate(articles)]
    session.add(issue)
    session.flush()
    record_event(session, "issue.drafted", issue_id=issue.id, data={"articles": len(articles)})
    return issue


def compile_issue(settings: Settings, issue: Issue, language: str) -> MessageTemplate:
    """Everything that is the same for every reader of one language, done once."""
    articles = [item.article for item in issue.items]
    rendered = render_email(
        "digest",
        language,
        subject=issue.subject,
        intro=issue.intro,
        articles=articles,
        newsletter_name=issue.newsletter.name,
        greeting_name=f"%%{GREETING_NAME}%%",
        unsubscribe_url=f"%%{UNSUBSCRIBE_URL}%%",
    )
    domain = settings.from_address.rpartition("@")[2]
    return make_template(
        from_name=settings.from_name or issue.newsletter.name,
        from_address=settings.from_address,
        subject=rendered.subject,
        text=rendered.text,
        html_body=rendered.html,
        list_id=f"<{issue.newsletter.slug}.{domain}>",
    )
