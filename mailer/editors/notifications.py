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
from mailer.i18n import gettext, ngettext, normalise_language
from mailer.issues.drafting import issue_subject
from mailer.issues.models import Issue
from mailer.mail.templates import render_email
from mailer.mail.transactional import send_rendered


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

    def notice(language: str) -> dict[str, Any]:
        reason = issue.pause_reason or gettext("ukjent", language)
        return {
            "title": gettext("Utsendelsen av «%(subject)s» er satt på pause", language)
            % {"subject": issue_subject(issue, language)},
            "lines": [
                gettext("Grunn: %(reason)s", language) % {"reason": reason},
                gettext("Se status: %(command)s", language)
                % {"command": f"mailer digest status {issue.id}"},
                gettext("Fortsett når årsaken er rettet: %(command)s", language)
                % {"command": f"mailer digest resume {issue.id}"},
            ],
        }

    count = notify_editors_in_their_language(
        session, settings, issue.newsletter.name, "editor_notice", notice
    )
    record_event(session, "editors.notified", issue_id=issue_id, data={"editors": count})
    session.commit()
    return count


def notify_editors_draft_ready(session: Session, settings: Settings, issue_id: int) -> int:
    issue = session.get(Issue, issue_id)
    if issue is None:
        return 0

    def notice(language: str) -> dict[str, Any]:
        return {
            "title": gettext("Utkast klart: «%(subject)s»", language)
            % {"subject": issue_subject(issue, language)},
            "lines": [
                ngettext(
                    "Månedens nyhetsbrev er laget med %(num)s artikkel og venter på deg.",
                    "Månedens nyhetsbrev er laget med %(num)s artikler og venter på deg.",
                    len(issue.items),
                    language,
                ),
                gettext("Send det: %(command)s", language)
                % {"command": f"mailer digest send {issue.id}"},
            ],
        }

    count = notify_editors_in_their_language(
        session, settings, issue.newsletter.name, "editor_notice", notice
    )
    record_event(session, "editors.notified", issue_id=issue_id, data={"editors": count})
    session.commit()
    return count
