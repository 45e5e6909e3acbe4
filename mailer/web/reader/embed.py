"""GET /help/embed: the snippet an editor pastes into the CMS, for nb and en.

Nothing on it is secret (the snippet is plain HTML that ends up on the public site),
so the page needs no login; the editor admin links to it.
"""

from __future__ import annotations

from flask import Blueprint, render_template

from mailer.issues.newsletter import load_topics
from mailer.runtime import runtime
from mailer.subscribers.embed_snippet import embed_snippet
from mailer.web.request_info import page_language

bp = Blueprint("embed", __name__)


@bp.get("/help/embed")
def help_page():
    rt = runtime()
    settings = rt.settings
    origins = settings.allowed_origins
    next_url = f"{origins[0]}/" if origins else None
    topics = load_topics(rt.db, settings)
    snippets = {
        language: embed_snippet(settings.base_url, language, next_url, topics)
        for language in ("nb", "en")
    }
    return render_template(
        "embed_help.html",
        language=page_language(),
        snippets=snippets,
        origins=origins,
        base_url=settings.base_url,
    )
