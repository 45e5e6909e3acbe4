"""One function renders any mail: templates/email/<name>/{subject.txt,body.txt,body.html}.

The bodies come back as template text for ``messages``: the per-reader placeholders
(``%%UNSUBSCRIBE_URL%%``) are only those written in the template files. Every value a
template shows (a feed's title or link, an editor's intro, a reader's name) goes in
through ``literal``, so text that spells a placeholder stays text for every reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from mailer.config import ROOT
from mailer.mail.messages import literal, substitute

if TYPE_CHECKING:
    from jinja2 import Environment


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def _as_data(value: Any) -> Any:
    # Markup (sanitised HTML) stays Markup: str.replace on it returns Markup.
    return literal(value) if isinstance(value, str) else value


@cache
def _environment() -> Environment:
    # Imported here, not at the top, for worker memory: the pool child that renders a mail
    # loads Jinja (~1.5 MB), the worker's main process (which imports every task module,
    # this one among them) never does.
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    from mailer.i18n.jinja import install_i18n

    env = Environment(
        finalize=_as_data,
        loader=FileSystemLoader(ROOT / "templates" / "email"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    install_i18n(env, preload=False)  # the web app's own environment reads them at start
    return env


def render_email(template: str, language: str, **context: Any) -> RenderedEmail:
    env = _environment()
    context = {
        "language": language,
        **context,
    }
    subject = env.get_template(f"{template}/subject.txt").render(context)
    return RenderedEmail(
        # A subject is one line: a stray newline from a template would split the header.
        # The subject is a header, never personalised: plain text again.
        subject=" ".join(substitute(subject, {}, escape=False).split()),
        text=env.get_template(f"{template}/body.txt").render(context),
        html=env.get_template(f"{template}/body.html").render(context),
    )
