"""Jinja's i18n extension bound to our catalogues, for web pages and mails alike.

A page or mail is rendered in the language named by its ``language`` variable (a reader's,
an editor's, the subscriber's a preview shows), not one per request: so the gettext
callables read it from the template context. Newstyle gettext fills ``%(name)s`` from
keyword arguments and escapes them: ``{{ ngettext("%(num)s rad", "%(num)s rader", n) }}``.
"""

from __future__ import annotations

from datetime import datetime

from jinja2 import Environment, pass_context
from jinja2.runtime import Context

from mailer.i18n import DEFAULT_LANGUAGE, LANGUAGES, format_date, format_decimal, translations


def _language(context: Context) -> str:
    return str(context.get("language", DEFAULT_LANGUAGE))


@pass_context
def _gettext(context: Context, text: str) -> str:
    return translations(_language(context)).gettext(text) if text else text


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return translations(_language(context)).ngettext(singular, plural, n)


@pass_context
def _date(context: Context, value: datetime) -> str:
    return format_date(value, _language(context))


@pass_context
def _decimal(context: Context, value: float, digits: int = 1) -> str:
    return format_decimal(value, _language(context), digits)


def install_i18n(env: Environment, *, preload: bool = True) -> None:
    """``_``, ``gettext``, ``ngettext``, ``date(value)`` and ``value|decimal(digits)``.

    ``preload`` (the web) reads every catalogue now: a broken ``.po`` stops the process
    at start, not a page. The worker reads a catalogue when a mail first needs it, in
    the pool child that sends it: ~2.4 MB of parsed catalogues and Babel's .po reader
    stay out of its main process (tests/i18n checks the catalogues instead)."""
    if preload:
        for language in LANGUAGES:
            translations(language)
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_gettext, ngettext=_ngettext, newstyle=True
    )
    env.globals["date"] = _date
    env.filters["decimal"] = _decimal
