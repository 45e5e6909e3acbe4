"""API tokens: an editor makes and revokes their own (on the account page); admins see
and revoke everyone's."""

from __future__ import annotations

from datetime import timedelta

from flask import abort, flash, redirect, request, url_for
from sqlalchemy import select

from mailer.db import utcnow
from mailer.editors.api_tokens import create_token, revoke_token, tokens_of
from mailer.editors.models import Editor
from mailer.i18n import N_
from mailer.runtime import runtime
from mailer.web.admin.auth import EXPIRY_DAYS, account_page
from mailer.web.admin.base import admin_required, audit, bp, current_editor, page, safe_next, t

UNKNOWN_EXPIRY = N_("Velg en av varighetene i listen.")


@bp.post("/account/token")
def new_token():
    raw = request.form.get("expires_days", "0")
    days = int(raw) if raw.isdigit() else -1
    if days not in EXPIRY_DAYS:
        return account_page(status=400, errors={"expires_days": UNKNOWN_EXPIRY})
    expires_at = utcnow() + timedelta(days=days) if days else None
    with runtime().db.session() as session:
        token = create_token(session, current_editor().email, expires_at)
        audit(session, "api_token", data={"expires_days": days})
        session.commit()
    return account_page(new_token=token)


@bp.get("/tokens")
@admin_required
def all_tokens():
    with runtime().db.session() as session:
        tokens = tokens_of(session)
        emails = {row.id: row.email for row in session.execute(select(Editor.id, Editor.email))}
    return page("tokens.html", tokens=tokens, emails=emails, now=utcnow())


@bp.post("/tokens/<int:token_id>/revoke")
def revoke(token_id: int):
    """The token's owner or an admin; anyone else is told there is no such token."""
    editor = current_editor()
    with runtime().db.session() as session:
        owner = None if editor.is_admin else editor.id
        if not revoke_token(session, token_id, owner):
            abort(404)
        audit(session, "api_token_revoke", data={"token_id": token_id})
        session.commit()
    flash(t("API-nøkkelen er trukket tilbake."), "ok")
    return redirect(safe_next(request.form.get("next") or url_for("admin.account")))
