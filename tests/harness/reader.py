"""Helpers for the reader-side tests: settings for one test, forms, links from mails."""

from __future__ import annotations

import dataclasses
import re
from html import unescape
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailer.events import Event
from mailer.runtime import Runtime
from mailer.subscribers.models import Consent, Subscriber, Subscription, Suppression
from mailer.tokens import Purpose, new_link_secret

BASE_URL = "https://nyhetsbrev.example.no"
SITE = "https://www.example.no"


def configure(rt: Runtime, monkeypatch: pytest.MonkeyPatch, **changes: Any) -> None:
    """Change settings for this test only (requests read rt.settings each time), as if the
    environment had set them (they win over stored ones)."""
    monkeypatch.setattr(rt, "env_settings", dataclasses.replace(rt.env_settings, **changes))


def hidden_fields(html: str) -> dict[str, str]:
    """The hidden inputs of a page's form, as a browser would send them."""
    fields: dict[str, str] = {}
    for tag in re.findall(r"<input[^>]*type=\"hidden\"[^>]*>", html):
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name:
            fields[unescape(name[1])] = unescape(value[1]) if value else ""
    return fields


def good_form(email: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "email": email,
        "name": "Ingrid Åsland",
        "language": "nb",
        "topics": ["Klima"],
        "consent": "on",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def post_signup_form(client, data: dict[str, Any], **kwargs: Any):  # type: ignore[no-untyped-def]
    """GET the form, then POST it with its hidden fields (CSRF token, stamp, version)."""
    page = client.get("/subscribe")
    assert page.status_code == 200
    return client.post(
        "/subscribe", data={**hidden_fields(page.get_data(as_text=True)), **data}, **kwargs
    )


def counts(session: Session) -> dict[str, int]:
    session.rollback()  # see what the requests committed
    return {
        model.__name__: session.scalar(select(func.count()).select_from(model)) or 0
        for model in (Subscriber, Subscription, Consent, Suppression)
    }


def events(session: Session, kind: str) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(Event).where(Event.kind == kind)) or 0


def subscription_of(session: Session, email: str) -> Subscription:
    """The row as the requests left it (not as this session last saw it)."""
    session.rollback()
    session.expire_all()
    return session.scalars(
        select(Subscription).join(Subscriber).where(Subscriber.email == email)
    ).one()


def local(url: str, server: str) -> str:
    """A link from a mail (our public base URL) pointed at the server under test."""
    assert url.startswith(BASE_URL), url
    return server + url[len(BASE_URL) :]


def link_in(message: Any, path: str) -> str:
    """The one link to ``path`` in a received mail's text part."""
    found = re.findall(
        rf"https?://[^\s\"<>]*{re.escape(path)}[^\s\"<>]*", message.part("text/plain")
    )
    assert found, f"no {path} link in the mail"
    return str(found[0])


def link_token(rt: Runtime, purpose: Purpose, subscription_id: int) -> str:
    """The token the app mails this row for ``purpose`` (its id and secret, as committed);
    for an id no row has, a well-formed token that names no one."""
    with rt.db.session() as session:
        secret = session.scalar(
            select(Subscription.link_secret).where(Subscription.id == subscription_id)
        )
    return rt.tokens.make(purpose, subscription_id, secret or new_link_secret())
