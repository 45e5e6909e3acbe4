"""The newsletter's settings (admins only): name, default language, topics."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for

from mailer.errors import ValidationFailed
from mailer.issues import topic_usage
from mailer.issues.newsletter import (
    MAX_TOPICS,
    settings_as_dict,
    topics_from_lines,
    update_settings,
)
from mailer.runtime import runtime
from mailer.web import ViewResult
from mailer.web.admin.base import admin_required, audit, bp, language, page, t


def _settings_page(
    status: int = 200, errors: dict[str, str] | None = None, form: dict[str, str] | None = None
) -> ViewResult:
    rt = runtime()
    with rt.db.session() as session:
        saved: dict[str, Any] = settings_as_dict(session, rt.settings)
        usage = topic_usage.readers_per_topic(session, rt.settings)
        suggestions = topic_usage.suggested_topics(session, rt.settings)
    values = form or {**saved, "topics": "\n".join(saved["topics"])}
    return page(
        "settings.html",
        status,
        values=values,
        from_default=saved["topics_from_default"] and bool(saved["topics"]),
        errors=errors or {},
        max_topics=MAX_TOPICS,
        usage=usage,
        suggestions=suggestions,
    )


@bp.get("/settings")
@admin_required
def newsletter_settings():
    return _settings_page()


@bp.post("/settings")
@admin_required
def save_newsletter_settings():
    form = {k: request.form.get(k, "") for k in ("name", "language", "topics")}
    rt = runtime()
    with rt.db.session() as session:
        try:
            # The domain writes its messages in the editor's language: a topic's message
            # names the topic, so it cannot be a plain catalogue key.
            changes = update_settings(
                session,
                form["name"],
                form["language"],
                topics_from_lines(form["topics"]),
                rt.settings,
                ui=language(),
            )
        except ValidationFailed as exc:
            session.rollback()
            return _settings_page(400, exc.errors, form)
        audit(session, "newsletter_settings", data={"changes": changes})
        session.commit()
    flash(t("Innstillingene er lagret."), "ok")
    return redirect(url_for("admin.newsletter_settings"))


@bp.post("/settings/topics")
@admin_required
def add_suggested_topic():
    """One click on a feed category makes it a topic."""
    topic = request.form.get("topic", "")
    rt = runtime()
    with rt.db.session() as session:
        try:
            changes = topic_usage.add_topic(session, topic, rt.settings, ui=language())
        except ValidationFailed as exc:
            session.rollback()
            return _settings_page(400, exc.errors)
        audit(session, "newsletter_settings", data={"changes": changes})
        session.commit()
    flash(t("Temaet er lagt til:") + f" {topic.strip()}", "ok")
    return redirect(url_for("admin.newsletter_settings"))
