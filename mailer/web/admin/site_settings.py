"""The service's own settings (admins only): base URL, sender, organisation, what readers
are told, the sites allowed to embed the form, the welcome mail, two-factor for everyone.

A field whose ``MAILER_*`` variable is set is shown read-only ("set by MAILER_X"): the
variable wins. Every save is audited with what changed; the process's cached copy is
dropped at once (others notice within mailer/site/cache.py's ``ttl``).
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for

from mailer.config_site import EDITABLE_BY_ENV
from mailer.errors import ValidationFailed
from mailer.runtime import runtime
from mailer.site.store import STORED_ONLY, env_value, save, set_by_env
from mailer.web import ViewResult
from mailer.web.admin.base import admin_required, audit, bp, language, page, t

FIELDS = (*EDITABLE_BY_ENV, *STORED_ONLY)
CHECKBOXES = ("welcome_enabled", "require_two_factor")


def _shown(settings: Any, key: str) -> Any:
    value = env_value(settings, key)
    return "\n".join(value) if key == "allowed_origins" else value


def _page(
    status: int = 200, errors: dict[str, str] | None = None, form: dict[str, Any] | None = None
) -> ViewResult:
    rt = runtime()
    rt.site.invalidate()  # the page shows what is stored now, whoever saved it
    settings = rt.settings
    values = {key: _shown(settings, key) for key in FIELDS}
    if form:
        values.update(form)
    return page(
        "site_settings.html",
        status,
        values=values,
        errors=errors or {},
        locked={key: set_by_env(rt.env_settings, key) for key in EDITABLE_BY_ENV},
    )


@bp.get("/settings/site")
@admin_required
def site_settings():
    return _page()


@bp.post("/settings/site")
@admin_required
def save_site_settings():
    rt = runtime()
    form: dict[str, Any] = {
        key: request.form.get(key, "") for key in FIELDS if key not in CHECKBOXES
    }
    form.update({key: request.form.get(key) == "on" for key in CHECKBOXES})
    with rt.db.session() as session:
        try:
            changes = save(session, form, rt.env_settings, ui=language())
        except ValidationFailed as exc:
            session.rollback()
            return _page(400, exc.errors, form)
        if changes:
            audit(session, "site_settings", data={"changes": changes})
        session.commit()
    rt.site.invalidate()
    flash(t("Innstillingene er lagret."), "ok")
    return redirect(url_for("admin.site_settings"))
