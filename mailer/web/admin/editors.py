"""Editor accounts (admins only): list, create, change a role."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from sqlalchemy import func, select

from mailer.editors.accounts import ROLES, create_editor
from mailer.models import Editor
from mailer.runtime import runtime
from mailer.subscribers.subscriptions import ValidationFailed
from mailer.web.admin import admin_required, audit, bp, current_editor, page, t, translated

LAST_ADMIN = "Det må finnes minst én administrator."
UNKNOWN_ROLE = "Ukjent rolle."


def _editors_page(status: int = 200, errors: dict[str, str] | None = None, form=None):  # type: ignore[no-untyped-def]
    with runtime().db.session() as session:
        editors = session.scalars(select(Editor).order_by(Editor.email)).all()
    return page(
        "editors.html",
        status,
        editors=editors,
        roles=ROLES,
        errors=translated(errors or {}),
        form=form or {},
    )


@bp.get("/editors")
@admin_required
def editors():
    return _editors_page()


@bp.post("/editors")
@admin_required
def create():
    form = {k: request.form.get(k, "") for k in ("email", "role")}
    with runtime().db.session() as session:
        try:
            editor = create_editor(
                session, form["email"], request.form.get("password", ""), form["role"]
            )
        except ValidationFailed as exc:
            session.rollback()
            return _editors_page(400, _known(exc.errors), form)
        audit(session, "editor_create", data={"new_editor_id": editor.id, "role": editor.role})
        session.commit()
    flash(f"{t('Redaktøren er opprettet:')} {editor.email}", "ok")
    return redirect(url_for("admin.editors"))


def _known(errors: dict[str, str]) -> dict[str, str]:
    """create_editor's English messages as catalogue keys where we have them."""
    mapped = {}
    for field, message in errors.items():
        if field == "password":
            mapped[field] = "Passordet må ha minst 10 tegn."
        elif field == "role":
            mapped[field] = UNKNOWN_ROLE
        elif field == "email" and "exists" in message:
            mapped[field] = "Det finnes allerede en redaktør med denne adressen."
        else:
            mapped[field] = message
    return mapped


@bp.post("/editors/<int:editor_id>/role")
@admin_required
def change_role(editor_id: int):
    role = request.form.get("role", "")
    if role not in ROLES:
        return _editors_page(400, {"role": UNKNOWN_ROLE})
    with runtime().db.session() as session:
        editor = session.get(Editor, editor_id)
        if editor is None:
            abort(404)
        if editor.role == "admin" and role != "admin":
            admins = session.scalar(select(func.count()).where(Editor.role == "admin")) or 0
            if admins <= 1:
                return _editors_page(400, {"role": LAST_ADMIN})
        editor.role = role
        audit(session, "editor_role", data={"target_editor_id": editor_id, "role": role})
        session.commit()
    if editor_id == current_editor().id and role != "admin":
        return redirect(url_for("admin.dashboard"))
    return redirect(url_for("admin.editors"))
