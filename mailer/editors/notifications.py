"""Mails to the editors: a send paused itself, a monthly draft waits for review, servers
refuse an issue because of us or its readers complain (mailer.bounces.alerts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.editors.models import Editor
from mailer.events import record_event
from mailer.i18n import ngettext, normalise_language
from mailer.issues.drafting import issue_subject
from mailer.issues.models import Issue
from mailer.mail.templates import render_email
from mailer.mail.transactional import send_rendered


def notify_editors(
    session: Session, settings: Settings, newsletter_name: str, title: str, lines: list[str]
) -> int:
    editors = session.scalars(select(Editor).order_by(Editor.id)).all()
    if not editors:
        return 0
    rendered = render_email(
        "editor_notice", "nb", newsletter_name=newsletter_name, title=title, lines=lines
    )
    send_rendered(settings, rendered, newsletter_name, [("", e.email) for e in editors])
    return len(editors)


def notify_editors_in_their_language(
    session: Session,
    settings: Settings,
    newsletter_name: str,
    template: str,
    context_for: Callable[[str], dict[str, Any]],
) -> int:
    """``template`` rendered once per language the active editors read, each editor getting
    the one in theirs; ``context_for(language)`` gives what the template shows."""
    editors = session.scalars(
        select(Editor).where(Editor.disabled_at.is_(None)).order_by(Editor.id)
    ).all()
    by_language: dict[str, list[tuple[str, str]]] = {}
    for editor in editors:
        by_language.setdefault(normalise_language(editor.language), []).append(("", editor.email))
    for language, recipients in by_language.items():
        rendered = render_email(
            template, language, newsletter_name=newsletter_name, **context_for(language)
        )
        send_rendered(settings, rendered, newsletter_name, recipients)
    return len(editors)


def notify_editors_paused(session: Session, settings: Settings, issue_id: int) -> int:
    issue = session.get(Issue, issue_id)
    if issue is None or issue.status != "paused":
        return 0
    count = notify_editors(
        session,
        settings,
        issue.newsletter.name,
        f"Utsendelsen av «{issue_subject(issue, 'nb')}» er satt på pause",
        [
            f"Grunn: {issue.pause_reason or 'ukjent'}",
            f"Se status: mailer digest status {issue.id}",
            f"Fortsett når årsaken er rettet: mailer digest resume {issue.id}",
        ],
    )
    record_event(session, "editors.notified", issue_id=issue_id, data={"editors": count})
    session.commit()
    return count


def notify_editors_draft_ready(session: Session, settings: Settings, issue_id: int) -> int:
    issue = session.get(Issue, issue_id)
    if issue is None:
        return 0
    count = notify_editors(
        session,
        settings,
        issue.newsletter.name,
        f"Utkast klart: «{issue_subject(issue, 'nb')}»",
        [
            # One notice goes to every editor, in Norwegian (as its template is rendered).
            ngettext(
                "Månedens nyhetsbrev er laget med %(num)s artikkel og venter på deg.",
                "Månedens nyhetsbrev er laget med %(num)s artikler og venter på deg.",
                len(issue.items),
                "nb",
            ),
            f"Send det: mailer digest send {issue.id}",
        ],
    )
    record_event(session, "editors.notified", issue_id=issue_id, data={"editors": count})
    session.commit()
    return count
