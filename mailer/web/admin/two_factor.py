"""Two-factor login: the code after the password, and an editor's own enrolment."""

from __future__ import annotations

from flask import redirect, request, url_for
from flask import session as cookie

from mailer.editors.models import Editor
from mailer.editors.two_factor import (
    WRONG_CODE,
    check_second_factor,
    confirm_enrolment,
    provisioning_uri,
    qr_code_svg,
    recovery_codes_left,
    start_enrolment,
)
from mailer.errors import ValidationFailed
from mailer.events import record_event
from mailer.runtime import runtime
from mailer.web import ViewResult
from mailer.web.admin.auth import _ip_limit
from mailer.web.admin.base import (
    audit,
    bp,
    current_editor,
    page,
    pending_editor,
    safe_next,
    start_session,
    t,
)
from mailer.web.limits import limiter
from mailer.web.request_info import client_ip


@bp.get("/login/code")
def login_code():
    with runtime().db.session() as session:
        if pending_editor(session) is None:
            return redirect(url_for("admin.login"))
    return page("login_code.html", error=None)


@bp.post("/login/code")
@limiter.limit(_ip_limit, key_func=client_ip, scope="admin-login-code")
def login_code_submit():
    with runtime().db.session() as session:
        editor = pending_editor(session)
        if editor is None:
            return redirect(url_for("admin.login"))
        if not check_second_factor(session, editor, request.form.get("code", "")):
            record_event(session, "admin.login_failed", data={"ip": client_ip(), "step": "code"})
            session.commit()
            return page("login_code.html", 401, error=t(WRONG_CODE))
        target = cookie.get("pending_next")
        start_session(editor)
        record_event(session, "admin.login", data={"editor_id": editor.id, "ip": client_ip()})
        session.commit()
    return redirect(safe_next(target if isinstance(target, str) else None))


def _enrolment_page(status: int = 200, error: str | None = None) -> ViewResult:
    rt = runtime()
    with rt.db.session() as session:
        editor = session.get(Editor, current_editor().id)
        assert editor is not None
        if editor.has_two_factor:
            return page(
                "two_factor.html",
                enabled=True,
                codes_left=recovery_codes_left(session, editor.id),
            )
        if not editor.totp_secret:
            start_enrolment(session, editor)
            session.commit()
        issuer = rt.settings.organisation or rt.settings.from_name or "Nyhetsbrev"
        uri = provisioning_uri(editor, issuer)
        return page(
            "two_factor.html",
            status,
            enabled=False,
            required=rt.settings.site.require_two_factor,
            qr=qr_code_svg(uri),
            secret=editor.totp_secret,
            error=error,
        )


@bp.get("/account/two-factor")
def two_factor():
    return _enrolment_page()


@bp.post("/account/two-factor")
def two_factor_submit():
    with runtime().db.session() as session:
        editor = session.get(Editor, current_editor().id)
        assert editor is not None
        try:
            codes = confirm_enrolment(session, editor, request.form.get("code", ""))
        except ValidationFailed as exc:
            session.rollback()
            return _enrolment_page(400, t(exc.errors["code"]))
        audit(session, "two_factor_on")
        session.commit()
    return page("two_factor_codes.html", codes=codes)
