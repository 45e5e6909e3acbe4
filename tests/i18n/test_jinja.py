"""Templates translate in the language their context names, for pages and mails alike."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from jinja2 import Environment

from mailer.i18n.jinja import install_i18n


@pytest.fixture
def env() -> Environment:
    environment = Environment(autoescape=True)
    install_i18n(environment)
    return environment


def _render(env: Environment, source: str, **context: object) -> str:
    return env.from_string(source).render(**context)


@pytest.mark.parametrize(("language", "shown"), [("nb", "Meld deg av"), ("en", "Unsubscribe")])
def test_underscore_follows_the_context_language(env, language, shown):
    assert _render(env, '{{ _("Meld deg av") }}', language=language) == shown


def test_without_a_language_a_template_is_norwegian(env):
    assert _render(env, '{{ gettext("Meld deg av") }}') == "Meld deg av"


@pytest.mark.parametrize(
    ("language", "n", "shown"),
    [
        ("nb", 1, "1 rad"),
        ("nb", 5, "5 rader"),
        ("en", 1, "1 row"),
        ("en", 5, "5 rows"),
    ],
)
def test_ngettext_picks_the_form_and_fills_in_the_count(env, language, n, shown):
    source = '{{ ngettext("%(num)s rad", "%(num)s rader", n) }}'
    assert _render(env, source, language=language, n=n) == shown


def test_values_filled_into_a_translation_are_escaped(env):
    source = (
        '{{ ngettext("Send «%(subject)s» til %(num)s abonnent?",'
        ' "Send «%(subject)s» til %(num)s abonnenter?", n, subject=subject) }}'
    )
    shown = _render(env, source, language="en", n=2, subject="<b>Mars</b>")
    assert shown == "Send «&lt;b&gt;Mars&lt;/b&gt;» to 2 subscribers?"


def test_markup_built_in_the_template_stays_markup(env):
    source = (
        '{% set n %}<span id="row-count">{{ rows }}</span>{% endset %}'
        '{{ ngettext("%(num)s rad", "%(num)s rader", rows, num=n) }}'
    )
    assert _render(env, source, language="nb", rows=5) == '<span id="row-count">5</span> rader'


def test_dates_and_decimals_follow_the_context_language(env):
    when = datetime(2026, 11, 3, 12, tzinfo=UTC)
    source = "{{ date(when) }} · {{ rate|decimal(1) }}"
    assert _render(env, source, language="nb", when=when, rate=127.5) == "3. november 2026 · 127,5"
    assert _render(env, source, language="en", when=when, rate=127.5) == "3 November 2026 · 127.5"
