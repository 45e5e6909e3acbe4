"""Log in, log out (ending sessions), the editor's own password, language and account."""

from __future__ import annotations

import hashlib
from functools import cache

from flask import Response, current_app, flash, g, redirect, request, url_for
from flask import session as cookie
from flask_limiter.errors import RateLimitExceeded
from sqlalchemy import select

from mailer.db import utcnow
from mailer.editors.accounts import (
    WrongPassword,
    _hasher,
    change_password,
    end_sessions,
    login_identity,
    verify_password,
)
from mailer.editors.api_tokens import tokens_of
from mailer.editors.models import Editor
from mailer.errors import ValidationFailed
from mailer.events import record_event
from mailer.i18n import LANGUAGES, N_
from mailer.runtime import runtime
from mailer.web import ViewResult
from mailer.web.admin.base import (
    audit,
    await_second_factor,
    bp,
    current_editor,
    page,
    safe_next,
    start_session,
    t,
    translated,
)
from mailer.web.limits import limiter
from mailer.web.request_info import client_ip

IP_LIMIT = "10 per minute"
ACCOUNT_LIMIT = "5 per 15 minutes"
WRONG_LOGIN = N_("Feil e-postadresse eller passord.")
DISABLED = N_("Kontoen er deaktivert. Spør en administrator om å aktivere den igjen.")
THROTTLED = N_("For mange forsøk. Vent litt og prøv igjen senere.")
# The choices for a new API token's lifetime; 0 = until revoked.
EXPIRY_DAYS = (0, 30, 90, 365)


def _ip_limit() -> str:
    return str(current_app.config.get("ADMIN_LOGIN_IP_LIMIT", IP_LIMIT))


def _account_limit() -> str:
    return str(current_app.config.get("ADMIN_LOGIN_ACCOUNT_LIMIT", ACCOUNT_LIMIT))


def _account_key() -> str:
    """Failed logins count per account named, whether or not it exists: on exactly the
    identity login looks up, so no other spelling of the address starts a fresh count."""
    identity = login_identity(request.form.get("email", "")[:400])
    return "account:" + hashlib.sha256(identity.encode("utf-8")).hexdigest()


def _failed(response: Response) -> bool:
    return bool(response.status_code == 401)


@cache
def _dummy_hash() -> str:
    return _hasher.hash("no such editor, same work")


@bp.errorhandler(RateLimitExceeded)
def throttled_page(exc: Exception | None = None) -> ViewResult:
    if request.endpoint == "admin.change_password_submit":
        return _password_page(429, {"current_password": THROTTLED})
    return page(
        "login.html",
        429,
        error=t(THROTTLED),
        email=request.form.get("email", ""),
        next=request.form.get("next", ""),
    )


@bp.get("/login")
def login():
    if g.editor is not None:
        return redirect(url_for("admin.dashboard"))
    return page("login.html", next=request.args.get("next", ""), email="", error=None)


@bp.post("/login")
@limiter.limit(_ip_limit, key_func=client_ip, scope="admin-login-ip")
@limiter.limit(
    _account_limit, key_func=_account_key, deduct_when=_failed, scope="admin-login-account"
)
def login_submit():
    typed = request.form.get("email", "")
    password = request.form.get("password", "")
    with runtime().db.session() as session:
        editor = session.scalar(select(Editor).where(Editor.email == login_identity(typed)))
        if editor is None:
            # The same argon2 work as for a real account: the answer's timing tells nothing.
            verify_password(Editor(password_hash=_dummy_hash()), password)
            ok = False
        else:
            ok = verify_password(editor, password)
        if editor is None or not ok:
            record_event(session, "admin.login_failed", data={"ip": client_ip()})
            session.commit()
            return page(
                "login.html",
                401,
                error=t(WRONG_LOGIN),
                email=typed[:320],
                next=request.form.get("next", ""),
            )
        if not editor.active:
            # Told only to someone who knows the password; not a failure to throttle.
            record_event(
                session, "admin.login_disabled", data={"editor_id": editor.id, "ip": client_ip()}
            )
            session.commit()
            return page(
                "login.html",
                403,
                error=t(DISABLED),
                email=typed[:320],
                next=request.form.get("next", ""),
            )
        if editor.has_two_factor:
            # The password was right; the session starts only after the code.
            await_second_factor(editor, request.form.get("next"))
            session.commit()
            return redirect(url_for("admin.login_code"))
        start_session(editor)
        record_event(session, "admin.login", data={"editor_id": editor.id, "ip": client_ip()})
        session.commit()
    return redirect(safe_next(request.form.get("next")))


def _end_own_sessions(action: str) -> ViewResult:
    """Ends every session of the current editor, this one included (a copy of the cookie
    taken before is refused from now on), and goes to the login page."""
    with runtime().db.session() as session:
        editor = session.get(Editor, current_editor().id)
        assert editor is not None
        audit(session, action)
        end_sessions(session, editor)
        session.commit()
    cookie.clear()
    return redirect(url_for("admin.login"))


@bp.post("/logout")
def logout():
    return _end_own_sessions("logout")


@bp.post("/account/sessions/end")
def end_own_sessions():
    return _end_own_sessions("sessions_end")


@bp.post("/language")
def set_language():
    choice = request.form.get("language", "")
    if choice not in LANGUAGES:
        return page("error.html", 400, code=400, message="language: " + t("Ukjent språk."))
    with runtime().db.session() as session:
        editor = session.get(Editor, current_editor().id)
        assert editor is not None
        editor.language = choice
        audit(session, "language", data={"language": choice})
        session.commit()
    return redirect(safe_next(request.form.get("next")))


def account_page(
    new_token: str | None = None, status: int = 200, errors: dict[str, str] | None = None
) -> ViewResult:
    with runtime().db.session() as session:
        tokens = tokens_of(session, current_editor().id)
    return page(
        "account.html",
        status,
        tokens=tokens,
        new_token=new_token,
        expiry_days=EXPIRY_DAYS,
        errors=translated(errors or {}),
        now=utcnow(),
    )


@bp.get("/account")
def account():
    return account_page()


# ---- the editor's own password ---------------------------------------------------------


def _editor_key() -> str:
    """Wrong current passwords count per account (from the cookie: the limit is checked
    before the login check has run)."""
    return f"editor:{cookie.get('editor_id')}"


def _wrong_password(response: Response) -> bool:
    return bool(g.get("wrong_password"))


def _password_page(status: int = 200, errors: dict[str, str] | None = None) -> ViewResult:
    return page("password.html", status, errors=translated(errors or {}))


@bp.get("/account/password")
def password():
    return _password_page()


@bp.post("/account/password")
@limiter.limit(_ip_limit, key_func=client_ip, scope="admin-password-ip")
@limiter.limit(
    _account_limit, key_func=_editor_key, deduct_when=_wrong_password, scope="admin-password"
)
def change_password_submit():
    with runtime().db.session() as session:
        editor = session.get(Editor, current_editor().id)
        assert editor is not None
        try:
            change_password(
                session,
                editor,
                request.form.get("current_password", ""),
                request.form.get("new_password", ""),
                request.form.get("repeat_password", ""),
            )
        except WrongPassword as exc:
            g.wrong_password = True
            session.rollback()
            audit(session, "password_failed")  # like a failed login: someone may be guessing
            session.commit()
            return _password_page(400, exc.errors)
        except ValidationFailed as exc:
            session.rollback()
            return _password_page(400, exc.errors)
        audit(session, "password")
        session.commit()
        # This session carries the new password's stamp; every other one no longer matches.
        start_session(editor)
    flash(t("Passordet er endret. Andre innlogginger med det gamle passordet er logget ut."), "ok")
    return redirect(url_for("admin.account"))
