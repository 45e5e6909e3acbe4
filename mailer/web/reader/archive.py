"""Sent issues as web pages and as an RSS feed: no names, no personal links."""

from __future__ import annotations

from collections.abc import Sequence
from email.utils import format_datetime
from xml.sax.saxutils import escape

from flask import Blueprint, Response, abort, render_template
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from mailer.issues.drafting import issue_subject
from mailer.issues.intro import intro_text
from mailer.issues.models import Issue, IssueArticle
from mailer.issues.rendering import archive_page
from mailer.issues.states import IssueStatus
from mailer.runtime import runtime
from mailer.subscribers.subscriptions import default_newsletter
from mailer.web.request_info import page_language

bp = Blueprint("archive", __name__)


def _sent_issues(session: Session) -> Sequence[Issue]:
    return session.scalars(
        select(Issue).where(Issue.status == IssueStatus.SENT).order_by(Issue.sent_at.desc())
    ).all()


@bp.get("/archive")
def index():
    language = page_language()
    with runtime().db.session() as session:
        issues = [
            {"id": i.id, "subject": issue_subject(i, language), "sent_at": i.sent_at}
            for i in _sent_issues(session)
        ]
    return render_template("archive.html", language=language, issues=issues)


@bp.get("/archive/<int:issue_id>")
def show(issue_id: int):
    rt = runtime()
    with rt.db.session() as session:
        issue = session.scalar(
            select(Issue)
            .where(Issue.id == issue_id, Issue.status == IssueStatus.SENT)
            .options(selectinload(Issue.items).selectinload(IssueArticle.article))
        )
        if issue is None:
            abort(404)
        page = archive_page(rt.settings, issue, page_language())
    return Response(page, mimetype="text/html")


@bp.get("/archive.xml")
def feed():
    rt = runtime()
    settings = rt.settings
    base = settings.base_url
    with rt.db.session() as session:
        name = default_newsletter(session).name
        items = "".join(
            "<item>"
            f"<title>{escape(issue_subject(i, i.language))}</title>"
            f"<link>{base}/archive/{i.id}</link>"
            f'<guid isPermaLink="true">{base}/archive/{i.id}</guid>'
            f"<description>{escape(_item_description(i))}</description>"
            f"<pubDate>{format_datetime(i.sent_at)}</pubDate>"
            "</item>"
            for i in _sent_issues(session)
            if i.sent_at
        )
    # A feed reader asks in its user's language (or ?lang=en): the description in it.
    description = settings.site.text("description", page_language()) or name
    xml = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<rss version="2.0"><channel>'
        f"<title>{escape(name)}</title>"
        f"<link>{base}/archive</link>"
        f"<description>{escape(description)}</description>"
        f"{items}</channel></rss>"
    )
    return Response(xml, mimetype="application/rss+xml")


def _item_description(issue: Issue) -> str:
    """The intro as plain text, else the issue's article titles: what a feed reader shows."""
    intro = intro_text(issue.intro or "")
    if intro:
        return intro[:500]
    return " · ".join(item.article.title for item in issue.items)
