"""An issue's intro: Markdown written by an editor, sanitised to a small set of tags.

The source stays in ``Issue.intro``; the text part of a mail carries it as written,
the HTML part the sanitised rendering.
"""

from __future__ import annotations

import html
import re

from markupsafe import Markup

ALLOWED_TAGS = {"p", "br", "strong", "em", "b", "i", "a", "ul", "ol", "li", "blockquote"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = {"http", "https", "mailto"}


def intro_html(source: str) -> Markup:
    """Sanitised HTML for the Markdown ``source``; raw HTML in it is cleaned, never trusted."""
    if not source.strip():
        return Markup("")
    # Imported here, not at the top, for worker memory: the worker's main process never
    # renders an intro (markdown ~0.7 MB, nh3's code ~1 MB).
    import markdown
    import nh3

    rendered = markdown.markdown(source, output_format="html")
    cleaned = nh3.clean(
        rendered,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener",
    )
    return Markup(cleaned.strip())  # noqa: S704 - nh3 output is sanitised


def intro_text(source: str) -> str:
    """The intro as one line of plain text (for a mail's preheader)."""
    if not source.strip():
        return ""
    import nh3  # worker memory, as above

    text = nh3.clean(str(intro_html(source)), tags=set(), attributes={})
    return re.sub(r"\s+", " ", html.unescape(text)).strip()
