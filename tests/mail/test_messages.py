"""A header lint on the bytes mailer.mail.messages and mailer.issues.drafting produce."""

from __future__ import annotations

import email
import email.policy
import html
import re
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailer.articles.models import Article
from mailer.issues.drafting import draft_issue, issue_subject
from mailer.issues.rendering import GREETING_NAME, PREFERENCES_URL, UNSUBSCRIBE_URL, compile_issue
from mailer.mail.messages import HeaderInjection, MessageTemplate, Outgoing, make_template

# Domain code, views and commands in this thread only: each test is rolled back.
pytestmark = pytest.mark.rolled_back

FROM_NAME = "Europakontoret Øst – «Nyheter» på norsk"
FROM_ADDRESS = "nyhetsbrev@europakontor.example.no"
SUBJECT = "Nyhetsbrev for «Europa» – våre æøå-nyheter i november"
LIST_ID = "<nyhetsbrev.europakontor.example.no>"
UNSUBSCRIBE = "https://nyhetsbrev.example.no/unsubscribe/eyJzIjo0Mn0.aBc-123_x?lang=nb&kilde=epost"
MAILTO = "mailto:nyhetsbrev@europakontor.example.no?subject=unsubscribe"
KARE = "Kåre <b>"
KARE_ADDRESS = "kare@odegard.example.no"

TEXT = (
    f"Hei%%{GREETING_NAME}%%,\n\n"
    "Nytt fra Europakontoret: æøå, ÆØÅ og «sitater» – med tankestrek.\n\n"
    f"-- \nMeld deg av: %%{UNSUBSCRIBE_URL}%%\n"
)
HTML = (
    '<!DOCTYPE html><html lang="nb"><body>'
    f"<p>Hei%%{GREETING_NAME}%%,</p>"
    "<p>Nytt fra Europakontoret: æøå, ÆØÅ og «sitater» – med tankestrek.</p>"
    f'<p><a href="%%{UNSUBSCRIBE_URL}%%">Meld deg av</a></p>'
    "</body></html>\n"
)

ONCE = ("From", "To", "Date", "Message-ID", "Subject", "MIME-Version")


def lint(data: bytes) -> dict[str, list[str]]:
    """Check the raw bytes; return the unfolded header values by lower-case name."""
    assert data.endswith(b"\r\n")
    assert b"\r" not in data.replace(b"\r\n", b""), "bare CR"
    assert b"\n" not in data.replace(b"\r\n", b""), "bare LF"
    for line in data.split(b"\r\n"):
        assert len(line) <= 998, f"line of {len(line)} octets: {line[:80]!r}…"
    head, separator, body = data.partition(b"\r\n\r\n")
    assert separator and body
    assert all(byte < 0x80 for byte in head), "non-ASCII byte in the header"
    headers: dict[str, list[str]] = {}
    current: str | None = None
    for raw in head.split(b"\r\n"):
        line = raw.decode("ascii")
        if line[:1] in (" ", "\t"):
            assert current is not None, "continuation line before any header"
            headers[current][-1] += line
            continue
        name, colon, value = line.partition(":")
        assert colon and name and re.fullmatch(r"[!-9;-~]+", name), f"bad header line {line!r}"
        current = name.lower()
        headers.setdefault(current, []).append(value.lstrip(" "))
    for name in ONCE:
        assert len(headers.get(name.lower(), [])) == 1, f"{name}: {headers.get(name.lower())}"
    return headers


def decoded(value: str) -> str:
    return str(make_header(decode_header(value)))


def parse(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)  # type: ignore[return-value]


def parts(message: EmailMessage) -> tuple[str, str]:
    assert message.get_content_type() == "multipart/alternative"
    alternatives = list(message.iter_parts())
    assert [p.get_content_type() for p in alternatives] == ["text/plain", "text/html"]
    for part in alternatives:
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
    text, html = (str(p.get_content()).replace("\r\n", "\n") for p in alternatives)
    return text, html


def list_unsubscribe(headers: dict[str, list[str]]) -> tuple[str, str]:
    [value] = headers["list-unsubscribe"]
    targets = re.findall(r"<([^<>]*)>", value)
    assert re.fullmatch(r"\s*<[^<>]*>\s*,\s*<[^<>]*>\s*", value), value
    https = [t for t in targets if t.startswith("https://")]
    mailto = [t for t in targets if t.startswith("mailto:")]
    assert len(https) == 1 and len(mailto) == 1, value
    return https[0], mailto[0]


def template(from_name: str = FROM_NAME, subject: str = SUBJECT) -> MessageTemplate:
    return make_template(
        from_name=from_name,
        from_address=FROM_ADDRESS,
        subject=subject,
        text=TEXT,
        html_body=HTML,
        list_id=LIST_ID,
    )


def personalise(
    tpl: MessageTemplate, name: str = KARE, address: str = KARE_ADDRESS, url: str = UNSUBSCRIBE
) -> Outgoing:
    return tpl.personalise(
        to_name=name,
        to_address=address,
        values={
            GREETING_NAME: f" {name}" if name else "",
            UNSUBSCRIBE_URL: url,
            PREFERENCES_URL: url.replace("/unsubscribe/", "/preferences/"),
        },
        list_unsubscribe=(url, MAILTO),
    )


# --- one personalised mail ---------------------------------------------------------------


def test_personalised_mail_headers():
    before = datetime.now(UTC).replace(microsecond=0)
    out = personalise(template())
    headers = lint(out.data)
    message = parse(out.data)

    assert decoded(headers["subject"][0]) == SUBJECT
    assert "=?utf-8?" in headers["subject"][0].lower()
    assert decoded(headers["from"][0]) == f"{FROM_NAME} <{FROM_ADDRESS}>"
    assert decoded(headers["to"][0]) == f"{KARE} <{KARE_ADDRESS}>"
    assert str(message["Subject"]) == SUBJECT
    [sender] = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (FROM_NAME, FROM_ADDRESS)
    [recipient] = message["To"].addresses
    assert (recipient.display_name, recipient.addr_spec) == (KARE, KARE_ADDRESS)
    assert (out.sender, out.recipient) == (FROM_ADDRESS, KARE_ADDRESS)

    assert headers["mime-version"] == ["1.0"]
    assert headers["list-id"] == [LIST_ID]
    assert list_unsubscribe(headers) == (UNSUBSCRIBE, MAILTO)
    assert headers["list-unsubscribe-post"] == ["List-Unsubscribe=One-Click"]
    assert headers["message-id"] == [out.message_id]
    assert re.fullmatch(r"<[^<>@\s]+@europakontor\.example\.no>", out.message_id)
    sent = parsedate_to_datetime(headers["date"][0])
    assert sent.tzinfo is not None
    assert before <= sent <= datetime.now(UTC) + timedelta(seconds=1)


def test_personalised_mail_body():
    out = personalise(template())
    text, html = parts(parse(out.data))

    for body in (text, html):
        assert "æøå, ÆØÅ og «sitater» – med tankestrek" in body
        assert "%%" not in body
    assert "Hei Kåre <b>," in text
    assert "Hei Kåre &lt;b&gt;," in html
    assert "Kåre <b>" not in html
    assert f"Meld deg av: {UNSUBSCRIBE}\n" in text
    assert f'href="{UNSUBSCRIBE.replace("&", "&amp;")}"' in html
    assert UNSUBSCRIBE not in html  # the bare "&" appears only escaped
    assert all(byte < 0x80 for byte in out.data)  # quoted-printable keeps the body 7-bit


def test_each_personalised_mail_is_its_own():
    tpl = template()
    first = personalise(tpl)
    second = personalise(tpl, name="Åse Løvås", address="ase@example.no")

    assert first.message_id != second.message_id
    assert lint(first.data)["message-id"] != lint(second.data)["message-id"]
    assert "Hei Åse Løvås," in parts(parse(second.data))[0]
    assert "Kåre" not in parts(parse(second.data))[0]
    assert "Åse" not in parts(parse(first.data))[0]


LONG_ADDRESS = "lesar.med.et.langt.navn@" + "avdeling-for-forskning." * 8 + "example.no"


@pytest.mark.parametrize(
    "name",
    [
        "Kåre Ødegård",
        "Åse «Tante» Løvås – Europakontoret",
        "Hansen, Per",
        'Per "Pelle" Hansen',
        "",
    ],
)
def test_display_names_round_trip(name):
    out = personalise(template(from_name=name or FROM_NAME), name=name, address=LONG_ADDRESS)

    headers = lint(out.data)
    message = parse(out.data)

    [recipient] = message["To"].addresses
    assert (recipient.display_name, recipient.addr_spec) == (name, LONG_ADDRESS)
    [sender] = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (name or FROM_NAME, FROM_ADDRESS)
    if not name.isascii():
        assert decoded(headers["to"][0]) == f"{name} <{LONG_ADDRESS}>"
        assert decoded(headers["from"][0]) == f"{name} <{FROM_ADDRESS}>"


@pytest.mark.parametrize(
    "name",
    [
        "🌊" * 200,  # the signup form takes 200 characters of anything printable
        "–" * 200,
        "Ærøy–Åsgård " * 16 + "Ødegård",
    ],
)
def test_longest_names_stay_within_998_octets(name):
    out = personalise(template(from_name=name), name=name, address=LONG_ADDRESS)

    headers = lint(out.data)

    # decode_header drops the folding between encoded words, as RFC 2047 says.
    assert decoded(headers["to"][0]) == f"{name} <{LONG_ADDRESS}>"
    assert decoded(headers["from"][0]) == f"{name} <{FROM_ADDRESS}>"
    [recipient] = parse(out.data)["To"].addresses
    assert recipient.addr_spec == LONG_ADDRESS


def test_long_subject_is_folded_and_decodes_back():
    subject = "Nyhetsbrev: " + " – ".join(f"«Sak {n}» fra Østlandet og Ærøy" for n in range(25))
    out = personalise(template(subject=subject))

    headers = lint(out.data)

    assert decoded(headers["subject"][0]) == subject
    assert str(parse(out.data)["Subject"]) == subject


# --- what may not go into a header ---------------------------------------------------------


BREAKS = ["\r\nBcc: alle@example.no", "\nBcc: alle@example.no", "\r", "\x00"]
PLACES = {
    "to name": lambda bad: personalise(template(), name=f"Kåre{bad}"),
    "to address": lambda bad: personalise(template(), address=f"{KARE_ADDRESS}{bad}"),
    "from name": lambda bad: template(from_name=f"{FROM_NAME}{bad}"),
    "from address": lambda bad: make_template(
        from_name=FROM_NAME,
        from_address=f"{FROM_ADDRESS}{bad}",
        subject=SUBJECT,
        text=TEXT,
        html_body=HTML,
    ),
    "subject": lambda bad: template(subject=f"{SUBJECT}{bad}"),
    "unsubscribe url": lambda bad: personalise(template(), url=f"{UNSUBSCRIBE}{bad}"),
    "unsubscribe mailto": lambda bad: template().personalise(
        to_name="Kåre",
        to_address=KARE_ADDRESS,
        values={},
        list_unsubscribe=(UNSUBSCRIBE, f"{MAILTO}{bad}"),
    ),
}


@pytest.mark.parametrize("bad", BREAKS, ids=["crlf", "lf", "cr", "nul"])
@pytest.mark.parametrize("place", sorted(PLACES))
def test_line_breaks_in_header_values_are_refused(place, bad):
    with pytest.raises(HeaderInjection):
        PLACES[place](bad)


def test_the_same_values_without_breaks_are_fine():
    for build in PLACES.values():
        built = build("")
        out = built if isinstance(built, Outgoing) else personalise(built)
        lint(out.data)


@pytest.mark.parametrize("address", ["kåre@example.no", "kare@ødegård.example.no"])
def test_non_ascii_addresses_are_refused(address):
    with pytest.raises(HeaderInjection):
        personalise(template(), address=address)
    with pytest.raises(HeaderInjection):
        make_template(
            from_name=FROM_NAME,
            from_address=address,
            subject=SUBJECT,
            text=TEXT,
            html_body=HTML,
        )


# --- a real digest -------------------------------------------------------------------------

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SOURCE = "https://europakontor.example.no/feed.rss"


def _draft(session):  # type: ignore[no-untyped-def]
    articles = [
        Article(
            source=SOURCE,
            guid="fjordbyer-klima",
            url="https://europakontor.example.no/nyheter/fjordbyer-klima",
            title="Fjordbyer deler klimaløsninger på nettverksmøte i Drammen",
            summary="«Vi lærer mest av hverandre», sa leder for nettverket, Åse Løvås.",
            published_at=datetime(2026, 11, 3, 9, 15, tzinfo=UTC),
            topics=["Klima"],
        ),
        Article(
            source=SOURCE,
            guid="horisont",
            url="https://europakontor.example.no/nyheter/horisont?side=1&sok=ja",
            title="Forskning & innovasjon: «Horisont Europa» åpner ny runde",
            summary="Kommunene på Østlandet kan søke sammen med bedrifter & universiteter.",
            # 23:30 UTC on 31 October is 00:30 on 1 November in Oslo.
            published_at=datetime(2026, 10, 31, 23, 30, tzinfo=UTC),
            topics=["Forskning"],
        ),
    ]
    session.add_all(articles)
    session.flush()
    issue = draft_issue(session, now=NOW)
    assert issue.subject == ""  # the default subject comes from the template, per language
    assert issue_subject(issue, "nb") == "Nyhetsbrev november 2026"
    assert issue_subject(issue, "en") == "Newsletter November 2026"
    assert [item.article.guid for item in issue.items] == ["fjordbyer-klima", "horisont"]
    issue.subject = "Nyhetsbrev november 2026 – «Klima» og forskning på Østlandet"
    session.flush()
    return issue


@pytest.mark.parametrize(
    ("language", "hello", "read_more", "other_read_more", "dates", "not_dates"),
    [
        (
            "nb",
            "Hei",
            "Les mer",
            "Read more",
            ["3. november 2026", "1. november 2026"],
            ["oktober", "November"],
        ),
        (
            "en",
            "Hello",
            "Read more",
            "Les mer",
            ["3 November 2026", "1 November 2026"],
            ["October", ". november"],
        ),
    ],
)
def test_digest_mail(session, rt, language, hello, read_more, other_read_more, dates, not_dates):
    issue = _draft(session)
    compiled = compile_issue(rt.settings, issue, language)
    tpl = compiled.template_for(compiled.selection(None))
    first = personalise(tpl)
    second = personalise(tpl, name="Åse Løvås", address="ase@example.no")

    headers = lint(first.data)
    lint(second.data)
    assert first.message_id != second.message_id
    assert decoded(headers["subject"][0]) == issue.subject
    assert not rt.settings.from_name.isascii()  # "Europakontoret – nyhetsbrev" in conftest
    assert decoded(headers["from"][0]) == (f"{rt.settings.from_name} <{rt.settings.from_address}>")
    assert parse(first.data)["From"].addresses[0].display_name == rt.settings.from_name
    assert decoded(headers["to"][0]) == f"{KARE} <{KARE_ADDRESS}>"
    assert headers["list-id"] == [f"<{issue.newsletter.slug}.europakontor.example.no>"]
    assert list_unsubscribe(headers) == (UNSUBSCRIBE, MAILTO)
    assert headers["list-unsubscribe-post"] == ["List-Unsubscribe=One-Click"]

    text, html = parts(parse(first.data))
    assert f"{hello} Kåre <b>," in text
    assert f"{hello} Kåre &lt;b&gt;," in html and "Kåre <b>" not in html
    assert f"{UNSUBSCRIBE}\n" in text
    assert f'href="{UNSUBSCRIBE.replace("&", "&amp;")}"' in html
    assert "%%" not in text and "%%" not in html

    assert "Fjordbyer deler klimaløsninger på nettverksmøte i Drammen" in text
    assert "Fjordbyer deler klimaløsninger på nettverksmøte i Drammen" in html
    assert "«Vi lærer mest av hverandre», sa leder for nettverket, Åse Løvås." in text
    assert "Forskning & innovasjon: «Horisont Europa» åpner ny runde" in text
    assert "Forskning &amp; innovasjon: «Horisont Europa» åpner ny runde" in html
    assert "bedrifter &amp; universiteter" in html
    assert f"{read_more}: https://europakontor.example.no/nyheter/horisont?side=1&sok=ja" in text
    assert 'href="https://europakontor.example.no/nyheter/horisont?side=1&amp;sok=ja"' in html
    assert f"{read_more} »" in html
    for body in (text, html):
        assert other_read_more not in body
        for date in dates:
            assert date in body
        for wrong in not_dates:
            assert wrong not in body
    assert text.index("Fjordbyer") < text.index("Horisont")  # newest first


# --- the body is encoded once per template, then only the values per reader ---------------

_piece = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r%"), max_size=200
)
_value = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="%"),
    max_size=120,
)
_KEYS = (GREETING_NAME, UNSUBSCRIBE_URL, PREFERENCES_URL)


@given(
    pieces=st.lists(_piece, min_size=1, max_size=5),
    keys=st.lists(st.sampled_from(_KEYS), max_size=4),
    values=st.fixed_dictionaries({k: _value for k in _KEYS[:2]}),
)
def test_chunked_quoted_printable_decodes_to_the_plain_substitution(pieces, keys, values):
    body = pieces[0]
    for key, piece in zip(keys, pieces[1:], strict=False):
        body += f"%%{key}%%{piece}"
    tpl = make_template(
        from_name=FROM_NAME, from_address=FROM_ADDRESS, subject=SUBJECT, text=body, html_body=body
    )
    out = tpl.personalise(to_name="", to_address=KARE_ADDRESS, values=values)

    expected_text = body.replace("\r\n", "\n")
    expected_html = expected_text
    for key, value in values.items():
        expected_text = expected_text.replace(f"%%{key}%%", value)
        expected_html = expected_html.replace(f"%%{key}%%", html.escape(value, quote=True))
    text, body_html = parts(parse(out.data))
    # The parser hands back the body with CRLF; the template's own line breaks were LF.
    assert text.replace("\r\n", "\n").rstrip("\n") == expected_text.rstrip("\n")
    assert body_html.replace("\r\n", "\n").rstrip("\n") == expected_html.rstrip("\n")
    body_lines = out.data.split(b"\r\n\r\n", 1)[1].split(b"\r\n")
    assert all(len(line) <= 76 for line in body_lines)
    assert all(byte < 0x80 for byte in out.data)
