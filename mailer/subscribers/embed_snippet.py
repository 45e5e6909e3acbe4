"""The HTML an editor pastes into the site's CMS: a plain form that posts to /subscribe.

It works without JavaScript. It carries the embed marker (so it is accepted without
a CSRF token, but only from an origin in ``MAILER_ALLOWED_ORIGINS``), the consent
wording and its version, a honeypot field hidden from people, and optionally where
to send the reader afterwards (``next``, again only to an allowed origin).
"""

from __future__ import annotations

from markupsafe import escape

from mailer.i18n import gettext
from mailer.subscribers.abuse import EMBED_FIELD, HONEYPOT_FIELD
from mailer.subscribers.consent import CONSENT_TEXTS, CONSENT_VERSION

# Inline, because the snippet lives on a page without our stylesheet.
HIDDEN_STYLE = "position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden"


def embed_snippet(
    base_url: str,
    language: str = "nb",
    next_url: str | None = None,
    topics: tuple[str, ...] = (),
) -> str:
    def _(text: str) -> str:
        return str(escape(gettext(text, language)))

    def attr(value: str) -> str:
        return str(escape(value))

    # Translated up front: extraction does not look inside f-strings.
    title, email, name = _("Påmelding til nyhetsbrevet"), _("E-postadresse"), _("Navn")
    topics_legend, leave_empty, submit = (
        _("Temaer"),
        _("La dette feltet stå tomt"),
        _("Meld meg på"),
    )
    lines = [
        f"<!-- {title} (mailer) -->",
        f'<form action="{attr(base_url)}/subscribe" method="post" accept-charset="utf-8">',
        f'  <input type="hidden" name="{EMBED_FIELD}" value="1">',
        f'  <input type="hidden" name="language" value="{attr(language)}">',
        f'  <input type="hidden" name="consent_version" value="{attr(CONSENT_VERSION)}">',
    ]
    if next_url:
        lines.append(f'  <input type="hidden" name="next" value="{attr(next_url)}">')
    lines += [
        "  <p>",
        f'    <label for="newsletter-email">{email}</label>',
        '    <input type="email" id="newsletter-email" name="email" autocomplete="email"'
        ' maxlength="320" required>',
        "  </p>",
        "  <p>",
        f'    <label for="newsletter-name">{name}</label>',
        '    <input type="text" id="newsletter-name" name="name" autocomplete="name"'
        ' maxlength="200">',
        "  </p>",
    ]
    if topics:
        lines.append(f"  <fieldset><legend>{topics_legend}</legend>")
        for index, topic in enumerate(topics):
            lines.append(
                f'    <input type="checkbox" id="newsletter-topic-{index}" name="topics"'
                f' value="{attr(topic)}">'
                f' <label for="newsletter-topic-{index}">{attr(topic)}</label><br>'
            )
        lines.append("  </fieldset>")
    lines += [
        "  <p>",
        '    <input type="checkbox" id="newsletter-consent" name="consent" value="on" required>',
        f'    <label for="newsletter-consent">{_(CONSENT_TEXTS[CONSENT_VERSION])}</label>',
        "  </p>",
        f'  <p style="{HIDDEN_STYLE}" aria-hidden="true">',
        f'    <label for="newsletter-{HONEYPOT_FIELD}">{leave_empty}</label>',
        f'    <input type="text" id="newsletter-{HONEYPOT_FIELD}" name="{HONEYPOT_FIELD}"'
        ' tabindex="-1" autocomplete="off">',
        "  </p>",
        f'  <button type="submit">{submit}</button>',
        "</form>",
    ]
    return "\n".join(lines) + "\n"
