"""Feed content is data: only http(s) links become hrefs, and text that spells a per-reader
placeholder reaches every reader as that text, never filled with their own links."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from mailer.articles.models import Article, Feed
from mailer.issues.drafting import draft_issue
from mailer.issues.rendering import GREETING_NAME, PREFERENCES_URL, UNSUBSCRIBE_URL
from mailer.mail.messages import literal, make_template, substitute
from mailer.sending import batch as sending
from mailer.sending import ledger
from tests.harness import factories
from tests.harness.admin import log_in, make_editors
from tests.harness.feeds import Item, default_items, rss
from tests.harness.pages import links
from tests.mail.test_messages import parse, parts

# Domain code, views and commands in this thread only: each test is rolled back.
pytestmark = pytest.mark.rolled_back

# --- (a) only http(s) links ----------------------------------------------------------------


@dataclass
class _LinkedItem(Item):
    href: str = ""

    @property
    def link(self) -> str:
        return self.href


BAD_LINKS = [
    "javascript:alert(document.cookie)",
    "JaVaScRiPt:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
]


def test_entries_without_a_web_link_are_skipped_with_the_reason_and_the_rest_imported(
    cli, session, rt, feed_server
):
    now = datetime.now(UTC)
    bad = [
        _LinkedItem(f"ond-{i}", f"Ond sak {i}", "<p>Klikk.</p>", now - timedelta(hours=i), href=h)
        for i, h in enumerate(BAD_LINKS, start=1)
    ]
    relative = _LinkedItem("relativ", "Relativ lenke", "<p>Tekst.</p>", now, href="/nyheter/rel")
    good = default_items()
    feed_server.body = rss([*bad, relative, *good])

    result = cli.invoke(args=["articles", "import-feed", feed_server.url])

    assert result.exit_code == 0, result.output
    assert f"{feed_server.url}: 4 new, 0 updated, 0 unchanged; 4 skipped: " in result.output
    urls = sorted(session.scalars(select(Article.url)))
    base = feed_server.url.rsplit("/", 1)[0]
    assert urls == sorted([f"{base}/nyheter/rel", *(item.link for item in good)])
    error = session.scalar(select(Feed.last_error).where(Feed.url == feed_server.url))
    assert error == "4 skipped: " + "; ".join(
        f"entry {i}: its link is not an http:// or https:// URL" for i in range(1, 5)
    )
    assert "javascript" not in result.output.lower()


def test_a_stored_non_web_link_is_never_an_href(client, app, session, rt, smtp_sink):
    """Rows stored before links were checked: the digest, the archive and the admin show the
    title without a link."""
    row = factories.article(session, "gammel", "Gammel sak med farlig lenke")
    row.url = BAD_LINKS[0]
    factories.subscription(session, "les@example.no", "Lese Leser")
    issue = draft_issue(session)
    session.commit()

    assert ledger.request_send(session, issue.id)
    ledger.create_deliveries(session, issue.id)
    session.commit()
    ids = ledger.queued_page(session, issue.id, 0, 10, datetime.now(UTC))
    assert sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids).sent == 1
    [mail] = smtp_sink.messages
    text, html = mail.part("text/plain"), mail.part("text/html")
    assert "Gammel sak med farlig lenke" in text and "Gammel sak med farlig lenke" in html

    archive = client.get(f"/archive/{issue.id}").get_data(as_text=True)
    admin = log_in(app.test_client(), make_editors(session)["editor"])
    listing = admin.get("/admin/articles").get_data(as_text=True)
    assert "Gammel sak med farlig lenke" in archive and "Gammel sak med farlig lenke" in listing
    for page in (text, html, archive, listing):
        assert "javascript:" not in page.lower()


# --- (b) placeholders in feed text stay text -----------------------------------------------

SPELLED = {name: f"%%{name}%%" for name in (UNSUBSCRIBE_URL, PREFERENCES_URL, GREETING_NAME)}
EVIL_LINK = f"https://evil.example/steal?u={SPELLED[UNSUBSCRIBE_URL]}&p={SPELLED[PREFERENCES_URL]}"


def _token(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_placeholders_spelled_by_a_feed_reach_the_reader_as_text(client, session, rt, smtp_sink):
    row = factories.article(session, "lure", f"Vinn en tur {SPELLED[GREETING_NAME]}!")
    row.url = EVIL_LINK
    row.summary = f"Se {SPELLED[PREFERENCES_URL]} – 100% gratis, 50%% rabatt, %%ukjent%%."
    row.image_url = f"https://bilder.example/{SPELLED[UNSUBSCRIBE_URL]}.jpg"
    row.image_alt = f"Bilde {SPELLED[PREFERENCES_URL]}"
    row.image_caption = f"Foto: {SPELLED[UNSUBSCRIBE_URL]}"
    factories.subscription(session, "kari@example.no", "Kari Nordmann")
    issue = draft_issue(session)
    session.commit()

    assert ledger.request_send(session, issue.id)
    ledger.create_deliveries(session, issue.id)
    session.commit()
    ids = ledger.queued_page(session, issue.id, 0, 10, datetime.now(UTC))
    assert sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids).sent == 1

    [mail] = smtp_sink.messages
    text, html = mail.part("text/plain"), mail.part("text/html")
    [unsubscribe] = set(links(text, "/unsubscribe/"))
    [preferences] = set(links(text, "/preferences/"))
    tokens = [_token(unsubscribe), _token(preferences)]
    # The reader's own links are where the template put them, once in each part, and only there.
    assert str(mail.message["List-Unsubscribe"]).startswith(f"<{unsubscribe}>")
    for token in tokens:
        assert text.count(token) == 1 and html.count(token) == 1
        # Both quoted-printable parts, read raw with their soft line breaks joined.
        raw = mail.data.replace(b"=\r\n", b"")
        assert raw.count(token.encode()) == 1 + 1 + (token == tokens[0])  # + the header
    # The article is exactly what the feed said.
    assert f"Les mer: {EVIL_LINK}" in text
    assert f'href="{EVIL_LINK.replace("&", "&amp;")}"' in html
    assert f"Vinn en tur {SPELLED[GREETING_NAME]}!" in text
    assert text.count("Kari Nordmann") == 1  # the greeting, not the title
    for part in (text, html):
        assert f"Se {SPELLED[PREFERENCES_URL]} – 100% gratis, 50%% rabatt, %%ukjent%%." in part
    assert f"{SPELLED[UNSUBSCRIBE_URL]}</p>" in html  # the caption
    assert f'src="https://bilder.example/{SPELLED[UNSUBSCRIBE_URL]}.jpg"' in html
    assert f'alt="Bilde {SPELLED[PREFERENCES_URL]}"' in html
    assert "evil.example/steal?u=http" not in text + html

    # The archive fills its own placeholders with the signup page, and leaves the feed's alone.
    archive = client.get(f"/archive/{issue.id}").get_data(as_text=True)
    assert f"Vinn en tur {SPELLED[GREETING_NAME]}!" in archive
    assert f'href="{EVIL_LINK.replace("&", "&amp;")}"' in archive
    # The archive's signup call only (issue 12: no personal links on the web copy).
    assert len(re.findall(r"/subscribe\b", archive)) == 1


_data = st.text(alphabet=st.sampled_from(list("%ABCDEFGHIKLNOPRSTUVZ_ æ<>&\n")), max_size=60)


@given(before=_data, middle=_data, after=_data)
def test_data_through_literal_is_never_a_placeholder(before, middle, after):
    """Whatever the data spells, around whichever real placeholders, only those are filled."""
    body = (
        f"{literal(before)}%%{GREETING_NAME}%%{literal(middle)}"
        f"%%{UNSUBSCRIBE_URL}%%{literal(after)}"
    )
    values = {GREETING_NAME: "<Kari>", UNSUBSCRIBE_URL: "U", PREFERENCES_URL: "P"}
    assert substitute(body, values, escape=False) == f"{before}<Kari>{middle}U{after}"
    assert substitute(body, values, escape=True) == f"{before}&lt;Kari&gt;{middle}U{after}"
    template = make_template(
        from_name="Nyhetsbrev",
        from_address="nyhetsbrev@example.no",
        subject="Emne",
        text=body,
        html_body=body,
    )
    out = template.personalise(to_name="", to_address="kari@example.no", values=values)
    text, _html = parts(parse(out.data))
    assert text.rstrip("\n") == f"{before}<Kari>{middle}U{after}".replace("\r\n", "\n").rstrip("\n")
