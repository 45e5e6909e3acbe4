"""Every Norwegian string on the reader's pages and mails has its English translation."""

from __future__ import annotations

import re
from pathlib import Path

from mailer.i18n import EN

ROOT = Path(__file__).resolve().parents[2]
READER_TEMPLATES = [
    *(ROOT / "templates" / "web").glob("*.html"),
    *(ROOT / "templates" / "email" / "confirm").glob("*"),
    *(ROOT / "templates" / "email" / "data_export").glob("*"),
]
CALL = re.compile(r"""_\(\s*(["'])(.+?)\1\s*\)""")
PYTHON_STRINGS = [
    "mailer/web/errors.py",
    "mailer/subscribers/subscriptions.py",
    "mailer/subscribers/embed_snippet.py",
]


def test_every_reader_template_string_is_translated():
    missing, seen = [], 0
    for template in READER_TEMPLATES:
        if template.name.startswith("outbox"):
            continue  # the developer's outbox is Norwegian only
        for _, text in CALL.findall(template.read_text()):
            seen += 1
            if text not in EN:
                missing.append((template.name, text))
    assert not missing, missing
    assert seen > 60


def test_the_new_python_strings_are_translated():
    sources = "\n".join((ROOT / path).read_text() for path in PYTHON_STRINGS)
    for text in (
        "Du har sendt mange forespørsler på kort tid. Vent litt og prøv igjen.",
        "Samtykketeksten er endret. Last siden på nytt og prøv igjen.",
        "La dette feltet stå tomt",
        "Påmelding til nyhetsbrevet",
    ):
        assert text in sources
        assert EN[text] and EN[text] != text
