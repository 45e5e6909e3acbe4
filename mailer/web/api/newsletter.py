"""JSON API for the newsletter's settings (bearer token): any editor reads them, an admin
changes them. The same rules and audit trail as the admin's settings page."""

from __future__ import annotations

from flask import Blueprint, g, request

from mailer.editors.models import Editor
from mailer.errors import ValidationFailed
from mailer.events import record_event
from mailer.issues.newsletter import settings_as_dict, update_settings
from mailer.runtime import runtime
from mailer.web.api import schemas
from mailer.web.api.spec import operation
from mailer.web.auth import token_required
from mailer.web.csrf import csrf

bp = Blueprint("api_newsletter", __name__, url_prefix="/api/v1/newsletter")
csrf.exempt(bp)
TAGS = ("newsletter",)


@bp.get("")
@operation(tags=TAGS, HTTP_200=schemas.NewsletterSettings)
@token_required
def show():
    """The newsletter's name, default language and topics."""
    rt = runtime()
    with rt.db.session() as session:
        return settings_as_dict(session, rt.settings)


@bp.put("")
@operation(
    tags=TAGS,
    json_body=schemas.NewsletterChange,
    HTTP_200=schemas.NewsletterSettings,
    HTTP_403=schemas.Errors,
)
@token_required
def change():
    """{"name", "language", "topics": [...]}; a field left out keeps its current value."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return {"errors": {"body": "expected a JSON object (Content-Type: application/json)"}}, 400
    rt = runtime()
    with rt.db.session() as session:
        editor = session.get(Editor, g.editor_id)
        if editor is None or editor.role != "admin":
            return {"errors": {"authorization": "the newsletter settings are for admins"}}, 403
        now = settings_as_dict(session, rt.settings)
        try:
            changes = update_settings(
                session,
                data.get("name", now["name"]),
                data.get("language", now["language"]),
                data.get("topics", now["topics"]),
                rt.settings,
                ui="en",
            )
        except ValidationFailed as exc:
            session.rollback()
            return {"errors": exc.errors}, 400
        record_event(
            session,
            "api.newsletter_settings",
            data={"editor_id": editor.id, "changes": changes},
        )
        session.commit()
        return settings_as_dict(session, rt.settings)
