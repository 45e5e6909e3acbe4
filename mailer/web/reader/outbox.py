"""Dev-only page listing what the local SMTP outbox received (registered only without SMTP_HOST)."""

from __future__ import annotations

from flask import Blueprint, abort, render_template

from mailer.mail.outbox import read_outbox
from mailer.runtime import runtime
from mailer.web.request_info import page_language

bp = Blueprint("outbox", __name__, url_prefix="/outbox")


@bp.get("/")
def index():
    messages = read_outbox(runtime().settings.outbox_dir)
    return render_template("outbox.html", language=page_language(), messages=messages)


@bp.get("/<key>")
def show(key: str):
    for message in read_outbox(runtime().settings.outbox_dir, limit=10_000):
        if message.key == key:
            return render_template("outbox_message.html", language=page_language(), m=message)
    abort(404)
