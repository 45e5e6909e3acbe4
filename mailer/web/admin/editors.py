"""Editor accounts (admins only): list, create, change a role, end sessions, disable."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailer.editors.accounts import (
    LAST_ADMIN,
    ROLES,
    active_admins,
    create_editor,
    disable_editor,
    enable_editor,
    end_sessions,
)
from mailer.editors.models import ApiToken, Editor
from mailer.errors import ValidationFailed
from mailer.i18n import N_
from mailer.runtime import runtime
from mailer.web import ViewResult
from mailer.web.admin.base import admin_required, audit, bp, current_editor, page, t, translated

NOT_YOURSELF = N_("Du kan ikke deaktivere din egen konto.")
UNKNOWN_ROLE = N_("Ukjent rolle.")


def _editors_page(
    status: int = 200, errors: dict[str, str] | None = None, form: dict[str, str] | None = None
) -> ViewResult:
    with runtime().db.session() as session:
        editors = session.scalars(select(Editor).order_by(Editor.email)).all()
        counted = select(ApiToken.editor_id, func.count()).group_by(ApiToken.editor_id)
        tokens = {editor_id: count for editor_id, count in session.execute(counted)}
    return page(
        "editors.html",
        status,
        editors=editors,
        tokens=tokens,
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
    flash(t("Redaktøren er opprettet:") + f" {editor.email}", "ok")
    return redirect(url_for("admin.editors"))


def _known(errors: dict[str, str]) -> dict[str, str]:
    """create_editor's English messages as catalogue keys where we have them."""
    mapped = {}
    for field, message in errors.items():
        if field == "password":
            mapped[field] = N_("Passordet må ha minst 10 tegn.")
        elif field == "role":
            mapped[field] = UNKNOWN_ROLE
        elif field == "email" and "exists" in message:
            mapped[field] = N_("Det finnes allerede en redaktør med denne adressen.")
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
        if editor.role == "admin" and role != "admin" and editor.active:
            if active_admins(session) <= 1:
                return _editors_page(400, {"role": LAST_ADMIN})
        editor.role = role
        audit(session, "editor_role", data={"target_editor_id": editor_id, "role": role})
        session.commit()
    if editor_id == current_editor().id and role != "admin":
        return redirect(url_for("admin.dashboard"))
    return redirect(url_for("admin.editors"))


def _target(session: Session, editor_id: int) -> Editor:
    editor = session.get(Editor, editor_id)
    if editor is None:
        abort(404)
    return editor


@bp.post("/editors/<int:editor_id>/sessions/end")
@admin_required
def end_editor_sessions(editor_id: int):
    with runtime().db.session() as session:
        editor = _target(session, editor_id)
        audit(session, "editor_sessions_end", data={"target_editor_id": editor_id})
        end_sessions(session, editor)
        session.commit()
    if editor_id == current_editor().id:
        return redirect(url_for("admin.login"))
    flash(t("Alle innlogginger er avsluttet for") + f" {editor.email}", "ok")
    return redirect(url_for("admin.editors"))


@bp.post("/editors/<int:editor_id>/disable")
@admin_required
def disable(editor_id: int):
    if editor_id == current_editor().id:
        return _editors_page(400, {"editor": NOT_YOURSELF})
    with runtime().db.session() as session:
        editor = _target(session, editor_id)
        try:
            revoked = disable_editor(session, editor)
        except ValidationFailed as exc:
            session.rollback()
            return _editors_page(400, exc.errors)
        audit(session, "editor_disable", data={"target_editor_id": editor_id, "tokens": revoked})
        session.commit()
    flash(t("Kontoen er deaktivert:") + f" {editor.email}", "ok")
    return redirect(url_for("admin.editors"))


@bp.post("/editors/<int:editor_id>/enable")
@admin_required
def enable(editor_id: int):
    with runtime().db.session() as session:
        editor = _target(session, editor_id)
        enable_editor(session, editor)
        audit(session, "editor_enable", data={"target_editor_id": editor_id})
        session.commit()
    flash(t("Kontoen er aktivert igjen:") + f" {editor.email}", "ok")
    return redirect(url_for("admin.editors"))
