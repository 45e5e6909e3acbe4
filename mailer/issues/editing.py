"""An editor's changes to a drafted issue: its articles, their order, subject and intro.

Only a draft or a scheduled issue can change; once sending starts the content is
frozen. Every function checks all its input before it changes anything, and
raises ``ValidationFailed`` with the field named (messages in Norwegian, the
catalogue key; the web layer translates them).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.articles.models import Article
from mailer.db import LARGEST_ID
from mailer.errors import ValidationFailed
from mailer.i18n import N_
from mailer.issues.drafting import default_subject, issue_month
from mailer.issues.models import Issue, IssueArticle
from mailer.issues.states import IssueStatus
from mailer.sending.ledger import IssueNotFound
from mailer.subscribers.addresses import has_control_characters

EDITABLE = (IssueStatus.DRAFT, IssueStatus.SCHEDULED)
MAX_SUBJECT = 300
MAX_INTRO = 10_000
MAX_ARTICLES = 60
# Articles an editor may add: the recent ones, a little before the issue's period too.
CANDIDATE_WINDOW = timedelta(days=62)

NOT_EDITABLE = N_("Bare et utkast eller et planlagt nummer kan endres.")
EMPTY_SUBJECT = N_("Emnet kan ikke være tomt.")
LONG_SUBJECT = N_("Emnet er for langt (høyst 300 tegn).")
BAD_SUBJECT = N_("Emnet kan ikke inneholde linjeskift eller kontrolltegn.")
LONG_INTRO = N_("Innledningen er for lang (høyst 10 000 tegn).")
BAD_INTRO = N_("Innledningen inneholder kontrolltegn.")
UNKNOWN_ARTICLE = N_("Ukjent artikkel.")
HIDDEN_ARTICLE = N_("Artikkelen er skjult og kan ikke legges til.")
ALREADY_IN_ISSUE = N_("Artikkelen er allerede med i nummeret.")
NOT_IN_ISSUE = N_("Artikkelen er ikke med i nummeret.")
NO_ARTICLES = N_("Et nummer må ha minst én artikkel.")
TOO_MANY_ARTICLES = N_("Et nummer kan ha høyst 60 artikler.")
DUPLICATE_ARTICLE = N_("Den samme artikkelen står to ganger.")


def editable_issue(session: Session, issue_id: int) -> Issue:
    issue = session.get(Issue, issue_id)
    if issue is None:
        raise IssueNotFound(f"no issue with id {issue_id}")
    if issue.status not in EDITABLE:
        raise ValidationFailed({"status": NOT_EDITABLE})
    return issue


def check_subject(subject: str) -> str:
    subject = subject.strip()
    if not subject:
        raise ValidationFailed({"subject": EMPTY_SUBJECT})
    if has_control_characters(subject):
        raise ValidationFailed({"subject": BAD_SUBJECT})
    if len(subject) > MAX_SUBJECT:
        raise ValidationFailed({"subject": LONG_SUBJECT})
    return subject


def check_intro(intro: str) -> str:
    intro = intro.replace("\r\n", "\n").strip()
    if len(intro) > MAX_INTRO:
        raise ValidationFailed({"intro": LONG_INTRO})
    if any(has_control_characters(ch) for ch in intro if ch not in "\n\t"):
        raise ValidationFailed({"intro": BAD_INTRO})
    return intro


def update_content(
    session: Session, issue_id: int, subject: str | None = None, intro: str | None = None
) -> Issue:
    """Set the subject and/or intro (None leaves a field as it is).

    A subject equal to the generated one («Nyhetsbrev mars 2026») is stored as
    empty, so each reader keeps getting it in their own language.
    """
    issue = editable_issue(session, issue_id)
    errors: dict[str, str] = {}
    new_subject = new_intro = None
    if subject is not None:
        try:
            new_subject = check_subject(subject)
        except ValidationFailed as exc:
            errors.update(exc.errors)
    if intro is not None:
        try:
            new_intro = check_intro(intro)
        except ValidationFailed as exc:
            errors.update(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    if new_subject is not None:
        generated = default_subject(issue_month(issue), issue.language)
        issue.subject = "" if new_subject == generated else new_subject
    if new_intro is not None:
        issue.intro = new_intro
    session.flush()
    return issue


def article_ids(issue: Issue) -> list[int]:
    return [item.article_id for item in issue.items]


def set_articles(session: Session, issue_id: int, ids: list[int]) -> Issue:
    """Make the issue hold exactly these articles in this order (add, drop, reorder at once)."""
    issue = editable_issue(session, issue_id)
    if not ids:
        raise ValidationFailed({"article_ids": NO_ARTICLES})
    if len(ids) > MAX_ARTICLES:
        raise ValidationFailed({"article_ids": TOO_MANY_ARTICLES})
    if len(set(ids)) != len(ids):
        raise ValidationFailed({"article_ids": DUPLICATE_ARTICLE})
    current = set(article_ids(issue))
    # An id past the column names no article (and would fail to bind): not asked for.
    asked = [i for i in ids if 0 < i <= LARGEST_ID]
    found = {a.id: a for a in session.scalars(select(Article).where(Article.id.in_(asked)))}
    for article_id in ids:
        article = found.get(article_id)
        if article is None:
            raise ValidationFailed({"article_id": f"{UNKNOWN_ARTICLE} ({article_id})"})
        if article.hidden and article_id not in current:
            raise ValidationFailed({"article_id": HIDDEN_ARTICLE})
    by_id = {item.article_id: item for item in issue.items}
    items = []
    for position, article_id in enumerate(ids):
        item = by_id.get(article_id) or IssueArticle(article_id=article_id)
        item.position = position
        items.append(item)
    issue.items = items
    session.flush()
    session.expire(issue, ["items"])
    return issue


def _index(issue: Issue, article_id: int) -> int:
    ids = article_ids(issue)
    if article_id not in ids:
        raise ValidationFailed({"article_id": NOT_IN_ISSUE})
    return ids.index(article_id)


def move_article(session: Session, issue_id: int, article_id: int, offset: int) -> Issue:
    """Move one article up (offset -1) or down (+1); at either end it stays where it is."""
    issue = editable_issue(session, issue_id)
    ids = article_ids(issue)
    index = _index(issue, article_id)
    target = max(0, min(len(ids) - 1, index + offset))
    ids.insert(target, ids.pop(index))
    return set_articles(session, issue_id, ids)


def remove_article(session: Session, issue_id: int, article_id: int) -> Issue:
    issue = editable_issue(session, issue_id)
    ids = article_ids(issue)
    ids.pop(_index(issue, article_id))
    return set_articles(session, issue_id, ids)


def add_article(session: Session, issue_id: int, article_id: int) -> Issue:
    """Append a recent article to the end of the issue."""
    issue = editable_issue(session, issue_id)
    ids = article_ids(issue)
    if article_id in ids:
        raise ValidationFailed({"article_id": ALREADY_IN_ISSUE})
    if session.get(Article, article_id) is None:
        raise ValidationFailed({"article_id": UNKNOWN_ARTICLE})
    return set_articles(session, issue_id, [*ids, article_id])


def candidates(session: Session, issue: Issue, limit: int = 50) -> list[Article]:
    """Visible articles published recently that the issue does not hold, newest first."""
    since = issue.period_start - CANDIDATE_WINDOW
    return list(
        session.scalars(
            select(Article)
            .where(
                Article.published_at >= since,
                Article.hidden.is_(False),
                Article.id.not_in(article_ids(issue) or [0]),
            )
            .order_by(Article.published_at.desc())
            .limit(limit)
        )
    )
