"""One function renders any mail: templates/email/<name>/{subject.txt,body.txt,body.html}."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from mailer.config import ROOT
from mailer.i18n import format_date, gettext


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(ROOT / "templates" / "email"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_email(template: str, language: str, **context: Any) -> RenderedEmail:
    env = _environment()
    context = {
        "_": lambda text: gettext(text, language),
        "date": lambda value: format_date(value, language),
        "language": language,
        **context,
    }
    subject = env.get_template(f"{template}/subject.txt").render(context)
    return RenderedEmail(
        # A subject is one line: a stray newline from a template would split the header.
        subject=" ".join(subject.split()),
        text=env.get_template(f"{template}/body.txt").render(context),
        html=env.get_template(f"{template}/body.html").render(context),
    )
