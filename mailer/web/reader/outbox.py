"""Dev-only page listing what the local SMTP outbox received (registered only without SMTP_HOST)."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, render_template, request

from mailer.i18n import LOCAL_ZONE
from mailer.mail.outbox import list_outbox, read_message
from mailer.runtime import runtime
from mailer.web.request_info import page_language

bp = Blueprint("outbox", __name__, url_prefix="/outbox")
PER_PAGE = 50


def oslo_time(value: datetime) -> str:
    """As the admin shows times: Oslo's clock."""
    return value.astimezone(LOCAL_ZONE).strftime("%Y-%m-%d %H:%M:%S")


@bp.get("/")
def index():
    query = request.args.get("q", "")[:200]
    raw = request.args.get("page", "1")
    number = int(raw) if raw.isdigit() and len(raw) < 7 else 1
    listing = list_outbox(runtime().settings.outbox_dir, query, number, PER_PAGE)
    return render_template(
        "outbox.html", language=page_language(), listing=listing, q=query, when=oslo_time
    )


@bp.get("/<key>")
def show(key: str):
    message = read_message(runtime().settings.outbox_dir, key)
    if message is None:
        abort(404)
    return render_template(
        "outbox_message.html", language=page_language(), m=message, when=oslo_time
    )
