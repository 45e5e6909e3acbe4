"""What the big CMSs add to a feed around an article's own words, taken out before cleaning.

Joomla hides e-mail addresses from harvesters: Joomla 3 writes a ``<span id="cloak…">``
holding a notice and a ``<script>`` that builds the link from string pieces; Joomla 4/5
write ``<joomla-hidden-mail>`` with the address in base64 attributes. Neither the notice
nor the script means anything in a digest, but the address does: where the markup holds
it, it becomes a plain ``mailto:`` link (the text cleaner keeps its words).

WordPress ends an excerpt with "[…]", a "Continue reading" link and (with Yoast) "The
post … appeared first on …"; the Norwegian translations say the same in nb.

Regular expressions over the HTML, not a parser: each construct has a fixed shape the
CMS writes itself, and the text cleaner (nh3) runs on whatever is left.
"""

from __future__ import annotations

import base64
import binascii
import html
import re

from email_validator import EmailNotValidError, validate_email

# Joomla 3: the span (its notice in any language) and the script right after it.
_JOOMLA3 = re.compile(
    r"<span\b[^>]*\bid\s*=\s*[\"']cloak(?P<id>[\w-]+)[\"'][^>]*>.*?</span>\s*"
    r"(?:<script\b[^>]*>(?P<script>.*?)</script\s*>)?",
    re.IGNORECASE | re.DOTALL,
)
# A script that fills a cloak whose span went elsewhere (or was already removed).
_CLOAK_SCRIPT = re.compile(
    r"<script\b[^>]*>(?P<script>(?:(?!</script).)*?cloak(?:(?!</script).)*)</script\s*>",
    re.IGNORECASE | re.DOTALL,
)
_ADDY_STATEMENT = re.compile(
    r"\baddy(?!_text)\w*\s*=\s*(?:addy\w*\s*\+\s*)?"
    r"(?P<pieces>'(?:[^'\\]|\\.)*'(?:\s*\+\s*'(?:[^'\\]|\\.)*')*)"
)
_JS_STRING = re.compile(r"'((?:[^'\\]|\\.)*)'")
# Joomla 4/5: a custom element whose attributes carry the address in base64.
_JOOMLA4 = re.compile(
    r"<joomla-hidden-mail\b(?P<attrs>[^>]*)>.*?</joomla-hidden-mail\s*>",
    re.IGNORECASE | re.DOTALL,
)
_ATTRIBUTE = re.compile(r"([\w-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")

# The cloak's notice as plain text, wherever it ends up (nb as Joomla 3 and 4 spell it, en).
NOTICES = [
    re.compile(
        r"Denne e-postadressen er beskyttet mot (?:programmer som samler e-postadresser"
        r"|spambots)\.?(?:\s*Du (?:må|trenger)[^.]*?java\s*s[ck]ript[^.]*\.?)?",
        re.IGNORECASE,
    ),
    re.compile(
        r"This email address is being protected from spambots\.?"
        r"(?:\s*You need JavaScript enabled to view it\.?)?",
        re.IGNORECASE,
    ),
]

# WordPress: "The post <a>Title</a> appeared first on <a>Site</a>." in its own paragraph.
_WP_APPEARED = re.compile(
    r"(?:<p\b[^>]*>\s*)?(?:The post|Innlegget)\s.{0,600}?"
    r"(?:appeared first on|dukket først opp på|vises først på)\s*"
    r"(?:<a\b[^>]*>.{0,400}?</a\s*>\s*\.?|[^<.]{0,200}\.?)"
    r"(?:\s*</p\s*>)?",
    re.IGNORECASE | re.DOTALL,
)
# "Continue reading <span class=screen-reader-text>Title</span> →" and the nb wording.
_WP_MORE_LINK = re.compile(
    r"<a\b[^>]*>\s*(?:Continue reading|Fortsett å lese|Les mer|Read more)\b.*?</a\s*>",
    re.IGNORECASE | re.DOTALL,
)
_WP_MORE_TEXT = re.compile(
    r"(?:Continue reading|Fortsett å lese)(?:\s*(?:→|&rarr;|&#8594;|»|&raquo;))?\s*$",
    re.IGNORECASE,
)
_WP_ELLIPSIS = re.compile(r"\s*\[\s*(?:…|&hellip;|&#8230;|&#x2026;|\.\.\.)\s*\]", re.IGNORECASE)


def _address(candidate: str) -> str | None:
    """The address if it is one (syntax only, no DNS), else None."""
    candidate = candidate.strip()
    if not candidate or len(candidate) > 254:
        return None
    try:
        return validate_email(candidate, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def _link(address: str | None) -> str:
    if address is None:
        return ""
    escaped = html.escape(address, quote=True)
    return f'<a href="mailto:{escaped}">{escaped}</a>'


def _joomla3_address(script: str | None) -> str | None:
    """The address a Joomla 3 cloak script assembles from its ``addy`` string pieces."""
    if not script:
        return None
    pieces: list[str] = []
    # "var addy1a2b = 'p&#111;st' + '&#64;'" and "addy1a2b = addy1a2b + '…' + '…'"; the
    # addy_text variable is the link's text, not the address. (Entities hold ";", so
    # the statements are found by their shape, not split on it.)
    for statement in _ADDY_STATEMENT.finditer(script):
        pieces.extend(_JS_STRING.findall(statement.group("pieces")))
    joined = html.unescape("".join(p.replace("\\'", "'") for p in pieces))
    return _address(joined)


def _b64(value: str | None) -> str:
    if not value:
        return ""
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ""


def _joomla4_address(attrs: str) -> str | None:
    values = {
        m.group(1).lower(): m.group(2) or m.group(3) or "" for m in _ATTRIBUTE.finditer(attrs)
    }
    first, last = _b64(values.get("first")), _b64(values.get("last"))
    if first and last:
        return _address(f"{first}@{last}")
    return _address(_b64(values.get("text")))


def strip_cms_markup(raw_html: str) -> str:
    """The HTML without cloaks and excerpt boilerplate; recovered addresses as mailto links."""
    text = raw_html or ""
    text = _JOOMLA3.sub(lambda m: _link(_joomla3_address(m.group("script"))), text)
    text = _CLOAK_SCRIPT.sub(lambda m: _link(_joomla3_address(m.group("script"))), text)
    text = _JOOMLA4.sub(lambda m: _link(_joomla4_address(m.group("attrs"))), text)
    text = _WP_APPEARED.sub(" ", text)
    text = _WP_MORE_LINK.sub(" ", text)
    return _WP_ELLIPSIS.sub("", text)


def strip_notices(text: str) -> str:
    """Plain text without a cloak notice or a trailing "Continue reading" that slipped through."""
    for pattern in NOTICES:
        text = pattern.sub(" ", text)
    text = _WP_ELLIPSIS.sub("", text)
    return _WP_MORE_TEXT.sub("", text.rstrip())
