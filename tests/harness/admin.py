"""Helpers for the admin tests: editors, a logged-in test client, a small world of rows."""

from __future__ import annotations

from dataclasses import dataclass

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.articles.models import Feed
from mailer.bounces.models import BounceReport
from mailer.editors.accounts import create_editor
from mailer.editors.api_tokens import create_token
from mailer.editors.models import ApiToken, Editor
from mailer.subscribers.models import Subscription
from mailer.web.admin.base import session_stamp
from tests.harness import factories
from tests.harness.pages import csrf_token

PASSWORD = "et langt og trygt passord"
ADMIN = "admin@example.no"
EDITOR = "redaktor@example.no"


def make_editors(session: Session) -> dict[str, int]:
    admin = create_editor(session, ADMIN, PASSWORD, "admin")
    editor = create_editor(session, EDITOR, PASSWORD, "editor")
    session.commit()
    return {"admin": admin.id, "editor": editor.id}


def log_in(client: FlaskClient, editor_id: int) -> FlaskClient:
    """A logged-in session without the login form (the login itself has its own tests)."""
    app = client.application
    with app.extensions["mailer"].db.session() as session:
        editor = session.get(Editor, editor_id)
        assert editor is not None
        stamp = session_stamp(app.secret_key or "", editor)
    with client.session_transaction() as cookie:
        cookie["editor_id"] = editor_id
        cookie["stamp"] = stamp
    return client


def token_from(client: FlaskClient, path: str = "/admin/") -> str:
    return csrf_token(client.get(path).get_data(as_text=True))


@dataclass
class World:
    issue_id: int
    article_ids: list[int]
    extra_article_id: int
    subscriber_id: int
    subscriber_email: str
    feed_id: int
    # The editor's API token (make_editors first), or 0.
    token_id: int = 0
    # A stored bounce report nobody could match (the dashboard lists it).
    report_id: int = 0


def make_world(session: Session) -> World:
    """A drafted issue with three articles, one more article to add, a reader and a feed."""
    reader = factories.subscription(session, "kare@example.no", "Kåre Ødegård")
    factories.subscription(session, "ingrid@example.no", "Ingrid Åsland")
    issue = factories.drafted_issue(session, articles=3)
    extra = factories.article(session, "ekstra", "Ekstra sak fra Brussel", days_ago=40)
    feed = Feed(url="http://127.0.0.1:9/feed.xml")
    session.add(feed)
    report = BounceReport(
        source="smtp",
        digest="0" * 64,
        content="From: postmaster@example.no\nSubject: Hei\n\nIngen rapport.",
        status="unrecognised",
    )
    session.add(report)
    session.commit()
    subscription = session.get(Subscription, reader.id)
    assert subscription is not None
    token_id = 0
    if session.scalar(select(Editor).where(Editor.email == EDITOR)) is not None:
        create_token(session, EDITOR)
        session.commit()
        token_id = session.scalars(select(ApiToken.id)).one()
    return World(
        issue_id=issue.id,
        article_ids=[item.article_id for item in issue.items],
        extra_article_id=extra.id,
        subscriber_id=subscription.subscriber_id,
        subscriber_email="kare@example.no",
        feed_id=feed.id,
        token_id=token_id,
        report_id=report.id,
    )
