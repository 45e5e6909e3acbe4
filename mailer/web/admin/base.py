"""What every admin page shares: the blueprint, the login and role checks, the session
stamp, the audit trail, translation and the error pages."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as cookie
from sqlalchemy.orm import Session

from mailer.editors.models import Editor
from mailer.events import record_event
from mailer.i18n import LANGUAGES, LOCAL_ZONE, N_, gettext, ngettext
from mailer.runtime import runtime
from mailer.subscribers.addresses import display_email
from mailer.web import ViewResult
from mailer.web.admin.event_words import event_details, event_words
from mailer.web.admin.labels import label
from mailer.web.request_info import client_ip, page_language

bp = Blueprint("admin", __name__, url_prefix="/admin")

# Reachable without a login.
OPEN_ENDPOINTS = frozenset(
    {"admin.login", "admin.login_submit", "admin.login_code", "admin.login_code_submit"}
)
# Reachable by an editor who must enrol in two-factor first (admins require it).
ENROLMENT_ENDPOINTS = frozenset(
    {"admin.two_factor", "admin.two_factor_submit", "admin.logout", "admin.set_language"}
)


@dataclass(frozen=True)
class CurrentEditor:
    id: int
    email: str
    role: str
    language: str
    two_factor: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def current_editor() -> CurrentEditor:
    return g.editor


def language() -> str:
    editor = getattr(g, "editor", None)
    return editor.language if editor is not None else page_language()


def t(text: str) -> str:
    """A catalogue string in the editor's language."""
    return gettext(text, language())


def tn(singular: str, plural: str, n: int, **variables: Any) -> str:
    """The catalogue's form for ``n`` in the editor's language, ``%(num)s`` filled in."""
    return ngettext(singular, plural, n, language(), **variables)


def local_time(value: datetime | None) -> str:
    """A time as the editors in Oslo and Brussels read it."""
    return value.astimezone(LOCAL_ZONE).strftime("%Y-%m-%d %H:%M") if value else "–"


def translated(errors: dict[str, str]) -> dict[str, str]:
    return {field: t(message) for field, message in errors.items()}


def safe_next(target: str | None) -> str:
    """Only a local admin path: never another host, never a scheme-relative URL."""
    default = url_for("admin.dashboard")
    if not target or "\\" in target or any(ord(c) < 32 for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/admin"):
        return default
    if target.startswith("//"):
        return default
    return target


def session_stamp(secret: str | bytes, editor: Editor) -> str:
    """Ties a login to the password it was made with and to the editor's session epoch:
    the cookie carries this keyed digest of both, so a new password, a logout or "end all
    sessions" (a new epoch) ends every session made before, without a session table.
    (The cookie is signed but readable: hence keyed.)"""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    message = f"{editor.session_epoch}:{editor.password_hash}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def start_session(editor: Editor) -> None:
    """A fresh session: nothing from before (a planted id, an old token) survives."""
    cookie.clear()
    cookie["editor_id"] = editor.id
    cookie["stamp"] = session_stamp(current_app.secret_key or "", editor)


PENDING_SECONDS = 300


def await_second_factor(editor: Editor, next_target: str | None) -> None:
    """Password right, code still to come: the cookie names the editor (with the stamp of
    their password and epoch) for five minutes, and logs no one in."""
    cookie.clear()
    cookie["pending_editor"] = editor.id
    cookie["pending_stamp"] = session_stamp(current_app.secret_key or "", editor)
    cookie["pending_since"] = int(time.time())
    cookie["pending_next"] = next_target or ""


def pending_editor(session: Session) -> Editor | None:
    """The editor who gave the right password and now owes the code, if still in time."""
    editor_id, stamp = cookie.get("pending_editor"), cookie.get("pending_stamp")
    since = cookie.get("pending_since")
    if not isinstance(editor_id, int) or not isinstance(stamp, str) or not isinstance(since, int):
        return None
    if not 0 <= time.time() - since <= PENDING_SECONDS:
        return None
    editor = session.get(Editor, editor_id)
    if editor is None or not editor.active or not editor.has_two_factor:
        return None
    if not hmac.compare_digest(stamp, session_stamp(current_app.secret_key or "", editor)):
        return None
    return editor


@bp.before_request
def require_login() -> Any:
    g.editor = None
    editor_id = cookie.get("editor_id")
    if isinstance(editor_id, int):
        with runtime().db.session() as session:
            editor = session.get(Editor, editor_id)
            stamp = cookie.get("stamp")
            if editor is not None and editor.active and isinstance(stamp, str):
                current = session_stamp(current_app.secret_key or "", editor)
                if hmac.compare_digest(stamp, current):
                    g.editor = CurrentEditor(
                        editor.id,
                        editor.email,
                        editor.role,
                        editor.language,
                        editor.has_two_factor,
                    )
    if g.editor is None and editor_id is not None:
        # The account is gone or disabled, or its password or epoch changed since.
        cookie.pop("editor_id", None)
        cookie.pop("stamp", None)
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if g.editor is None:
        target = request.full_path if request.method == "GET" else None
        return redirect(url_for("admin.login", next=target.rstrip("?") if target else None))
    if (
        runtime().settings.site.require_two_factor
        and not g.editor.two_factor
        and request.endpoint not in ENROLMENT_ENDPOINTS
    ):
        return redirect(url_for("admin.two_factor"))
    return None


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Editor accounts and settings: admins only (an editor gets 403)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_editor().is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def audit(session: Session, action: str, **fields: Any) -> None:
    """Who did what, when: one event per change an editor makes in the admin."""
    data = fields.pop("data", {})
    editor = current_editor()
    record_event(
        session,
        f"admin.{action}",
        data={"editor_id": editor.id, "editor": editor.email, "ip": client_ip(), **data},
        **fields,
    )


def page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(f"admin/{template}", **context), status


@bp.context_processor
def admin_context() -> dict[str, Any]:
    return {
        "language": language(),
        "editor": getattr(g, "editor", None),
        "languages": LANGUAGES,
        "label": lambda kind, value: t(label(kind, value)),
        "local": local_time,
        "address": display_email,
        "event_words": lambda kind: event_words(kind, t),
        "event_details": lambda data: event_details(data, t),
        "zone": LOCAL_ZONE,
    }


def _error_page(code: int, message: str) -> ViewResult:
    return page("error.html", code, code=code, message=t(message))


@bp.errorhandler(403)
def forbidden(exc: Exception) -> ViewResult:
    return _error_page(
        403, N_("Du har ikke tilgang til denne siden. Den er bare for administratorer.")
    )


@bp.errorhandler(404)
def not_found(exc: Exception) -> ViewResult:
    return _error_page(404, N_("Siden finnes ikke"))
