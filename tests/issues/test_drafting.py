"""Personalised digests on a real SMTP server: topics, languages, size, archive, preview."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from mailer.articles.models import Article
from mailer.issues.drafting import draft_issue
from mailer.issues.previews import preview_for
from mailer.sending import batch as sending
from mailer.sending import ledger
from mailer.sending import progress as send_progress
from mailer.sending.models import Delivery
from mailer.subscribers.models import Subscription
from mailer.tokens import Purpose
from tests.harness import factories
from tests.harness.pages import links
from tests.harness.reader import link_token

# Domain code, views and commands in this thread only: each test is rolled back.
pytestmark = pytest.mark.rolled_back


def _article(session, guid: str, title: str, topics: list[str], days_ago: float = 1) -> Article:
    row = factories.article(session, guid, title, days_ago=days_ago)
    row.topics = topics
    session.flush()
    return row


def _send(session, rt, issue_id: int) -> sending.BatchResult:
    assert ledger.request_send(session, issue_id)
    ledger.create_deliveries(session, issue_id)
    session.commit()
    ids = ledger.queued_page(session, issue_id, 0, 1000, datetime.now(UTC))
    return sending.send_batch(session, rt.settings, rt.tokens, issue_id, ids)


def _with_topics(session, email: str, topics: list[str], language: str = "nb") -> Subscription:
    row = factories.subscription(session, email, email.split("@")[0].title(), language=language)
    row.topics = topics
    session.flush()
    return row


def test_each_reader_gets_their_topics_and_one_with_nothing_new_is_skipped(session, rt, smtp_sink):
    _article(session, "klima", "Klimaplan for fjordbyene", ["Klima"])
    _article(session, "forsk", "Forskningsmidler til Østlandet", ["Forskning"], days_ago=2)
    _article(session, "felles", "Europakontoret flytter i Brussel", [], days_ago=3)
    _article(session, "begge", "Klimaforskning i Ørsta", ["Klima", "Forskning"], days_ago=4)
    klima = _with_topics(session, "klima@example.no", ["Klima"])
    alt = _with_topics(session, "alt@example.no", [])
    issue = draft_issue(session)
    session.commit()
    # Only untagged news would reach an "Innovasjon" reader: drop it to leave them nothing.
    issue.items = [i for i in issue.items if i.article.guid != "felles"]
    innov = _with_topics(session, "innovasjon@example.no", ["Innovasjon"])
    session.commit()

    result = _send(session, rt, issue.id)

    assert (result.sent, result.skipped) == (2, 1)
    by_reader = {m.rcpt_tos[0]: m.part("text/plain") for m in smtp_sink.messages}
    assert set(by_reader) == {"klima@example.no", "alt@example.no"}
    assert "Klimaplan" in by_reader["klima@example.no"]
    assert "Klimaforskning i Ørsta" in by_reader["klima@example.no"]
    assert "Forskningsmidler" not in by_reader["klima@example.no"]
    for title in ("Klimaplan", "Forskningsmidler", "Klimaforskning"):
        assert title in by_reader["alt@example.no"]
    statuses = {
        d.subscription_id: (d.status, d.last_error) for d in session.scalars(select(Delivery))
    }
    assert statuses[innov.id] == ("skipped", "nothing new in the reader's topics")
    assert statuses[klima.id][0] == statuses[alt.id][0] == "sent"
    progress = send_progress.progress(session, issue.id)
    assert progress.status == "sent" and progress.counts["skipped"] == 1


def test_untagged_articles_reach_readers_of_every_topic(session, rt, smtp_sink):
    """Mutant: ``selection`` drops untagged articles for readers with topics (the ``not
    topics`` alternative removed): a Klima reader lost the office's general news, and a
    reader of a topic with no article this month was skipped instead of getting it."""
    _article(session, "klima", "Klimaplan for fjordbyene", ["Klima"])
    _article(session, "forsk", "Forskningsmidler til Østlandet", ["Forskning"], days_ago=2)
    _article(session, "felles", "Europakontoret flytter i Brussel", [], days_ago=3)
    _with_topics(session, "klima@example.no", ["Klima"])
    _with_topics(session, "innovasjon@example.no", ["Innovasjon"])
    issue = draft_issue(session)
    session.commit()

    result = _send(session, rt, issue.id)

    assert (result.sent, result.skipped) == (2, 0)
    by_reader = {m.rcpt_tos[0]: m.part("text/plain") for m in smtp_sink.messages}
    klima, innovasjon = by_reader["klima@example.no"], by_reader["innovasjon@example.no"]
    assert "Europakontoret flytter i Brussel" in klima and "Klimaplan" in klima
    assert "Forskningsmidler" not in klima
    assert "Europakontoret flytter i Brussel" in innovasjon
    assert "Klimaplan" not in innovasjon and "Forskningsmidler" not in innovasjon


def test_nb_and_en_readers_get_their_language_and_date_format(session, rt, smtp_sink):
    row = _article(session, "dato", "Møte om havbruk", [])
    row.published_at = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
    _with_topics(session, "norsk@example.no", [], language="nb")
    _with_topics(session, "english@example.no", [], language="en")
    issue = draft_issue(session, now=datetime(2026, 11, 20, tzinfo=UTC))
    session.commit()

    _send(session, rt, issue.id)

    mails = {m.rcpt_tos[0]: m for m in smtp_sink.messages}
    nb, en = mails["norsk@example.no"], mails["english@example.no"]
    assert str(nb.message["Subject"]) == "Nyhetsbrev november 2026"
    assert str(en.message["Subject"]) == "Newsletter November 2026"
    assert "3. november 2026" in nb.part("text/plain") and "Les mer" in nb.part("text/html")
    assert "3 November 2026" in en.part("text/plain") and "Read more" in en.part("text/html")
    assert 'lang="en"' in en.part("text/html") and 'lang="nb"' in nb.part("text/html")
    assert "Hei Norsk," in nb.part("text/plain") and "Hello English," in en.part("text/plain")


def test_every_mail_links_preferences_unsubscribe_and_the_web_version(session, rt, smtp_sink):
    _article(session, "a", "Sak", [])
    reader = _with_topics(session, "leser@example.no", [])
    issue = draft_issue(session)
    session.commit()
    _send(session, rt, issue.id)
    [mail] = smtp_sink.messages
    for body in (mail.part("text/plain"), mail.part("text/html")):
        [prefs] = set(links(body, "/preferences/"))
        [unsub] = set(links(body, "/unsubscribe/"))
        assert f"{rt.settings.base_url}/archive/{issue.id}" in body
        # The row's own id and secret: a link that opens this reader and no later one.
        for purpose, url in ((Purpose.PREFERENCES, prefs), (Purpose.UNSUBSCRIBE, unsub)):
            link = rt.tokens.read(purpose, url.rsplit("/", 1)[1])
            assert (link.subscription_id, link.secret) == (reader.id, reader.link_secret)


def test_twenty_articles_stay_under_gmails_clipping_limit(session, rt, smtp_sink):
    for i in range(20):
        row = _article(session, f"sak-{i}", f"Sak {i}: «Bærekraft» og samarbeid i regionen", [])
        row.summary = ("Kommunene i regionen samarbeider om nye løsninger – æøå. " * 8)[:400]
        row.image_url = f"https://europakontor.example.no/bilder/{i}.jpg"
    _with_topics(session, "leser@example.no", [])
    issue = draft_issue(session)
    session.commit()
    _send(session, rt, issue.id)
    [mail] = smtp_sink.messages
    html = mail.part("text/html")
    # Every article keeps its picture: one hero image each, each its own file.
    assert html.count('class="hero"') == 20
    assert sorted(set(re.findall(r"bilder/(\d+)\.jpg", html))) == sorted(str(i) for i in range(20))
    assert len(html.encode("utf-8")) < 102 * 1024


def test_archive_page_and_feed_carry_no_personal_data(client, session, rt, smtp_sink):
    _article(session, "a", "Åpen sak for alle", [])
    _with_topics(session, "hemmelig.leser@example.no", [])
    issue = draft_issue(session)
    session.commit()
    _send(session, rt, issue.id)
    [mail] = smtp_sink.messages
    [unsub] = set(links(mail.part("text/plain"), "/unsubscribe/"))
    token = unsub.rsplit("/", 1)[1]

    page = client.get(f"/archive/{issue.id}")
    listing = client.get("/archive")
    feed = client.get("/archive.xml")
    assert page.status_code == listing.status_code == feed.status_code == 200
    body = page.get_data(as_text=True)
    assert "Åpen sak for alle" in body
    for text in (body, listing.get_data(as_text=True), feed.get_data(as_text=True)):
        assert "hemmelig" not in text and token not in text and "%%" not in text
        assert "/unsubscribe/" not in text and "/preferences/" not in text
    assert f"/archive/{issue.id}" in feed.get_data(as_text=True)
    assert client.get("/archive/999999").status_code == 404


def test_draft_issues_are_not_in_the_archive(client, session):
    _article(session, "a", "Utkast", [])
    issue = draft_issue(session)
    session.commit()
    assert client.get(f"/archive/{issue.id}").status_code == 404


def test_preview_is_exactly_what_the_reader_gets(cli, session, rt):
    _article(session, "a", "Forhåndsvisning", [])
    _with_topics(session, "kare@example.no", [])
    issue = draft_issue(session)
    session.commit()
    message = preview_for(session, rt.settings, rt.tokens, issue.id, "Kare@Example.no")
    assert message.recipient == "kare@example.no"
    result = cli.invoke(args=["digest", "preview", str(issue.id), "--as", "kare@example.no"])
    assert result.exit_code == 0
    # The message the reader would get (their personal links included), on stdout alone;
    # only what is new for each message (its id, date, MIME boundary) differs.
    # A personal link's token carries the second it was made: compared by what it opens.
    printed = email.message_from_bytes(result.stdout_bytes, policy=email.policy.default)
    expected = email.message_from_bytes(message.data, policy=email.policy.default)

    def opened(text: str) -> str:
        def read(match: re.Match[str]) -> str:
            link = rt.tokens.read(Purpose(match[1]), match[2])
            return f"/{match[1]}/<{link.subscription_id} {link.secret}>"

        return re.sub(r"/(unsubscribe|preferences)/([A-Za-z0-9_.-]+)", read, text)

    assert printed.keys() == expected.keys()
    for name in set(expected.keys()) - {"Message-ID", "Date", "Content-Type"}:
        assert opened(str(printed[name])) == opened(str(expected[name])), name
    for kind in ("plain", "html"):
        body = printed.get_body((kind,)).get_content()
        assert opened(body) == opened(expected.get_body((kind,)).get_content())
        assert "Forhåndsvisning" in body
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in result.output
    unknown = cli.invoke(args=["digest", "preview", str(issue.id), "--as", "ukjent@example.no"])
    assert unknown.exit_code == 1 and "not a subscriber" in unknown.output


def test_test_send_marks_the_subject_and_leaves_the_ledger_alone(cli, session, smtp_sink):
    _article(session, "a", "Prøvesending", [])
    issue = draft_issue(session)
    session.commit()
    result = cli.invoke(args=["digest", "test", str(issue.id), "--to", "redaktor@example.no"])
    assert result.exit_code == 0, result.output
    [mail] = smtp_sink.wait_for(1)
    assert str(mail.message["Subject"]).startswith("[TEST] Nyhetsbrev")
    assert mail.rcpt_tos == ["redaktor@example.no"]
    assert session.scalars(select(Delivery)).all() == []
    assert send_progress.progress(session, issue.id).status == "draft"


def test_bounce_domain_gives_each_mail_a_signed_verp_sender(session, rt, smtp_sink):
    _article(session, "a", "Sak", [])
    _with_topics(session, "verp@example.no", [])
    issue = draft_issue(session)
    session.commit()
    settings = dataclasses.replace(rt.settings, bounce_domain="bounce.example.no")
    assert ledger.request_send(session, issue.id)
    ledger.create_deliveries(session, issue.id)
    session.commit()
    ids = ledger.queued_page(session, issue.id, 0, 10, datetime.now(UTC))
    sending.send_batch(session, settings, rt.tokens, issue.id, ids)
    [mail] = smtp_sink.messages
    local, _, domain = mail.mail_from.partition("@")
    assert domain == "bounce.example.no" and local.startswith("bounces+")
    assert len(local) <= 64
    assert rt.tokens.read_short(Purpose.BOUNCE, local.removeprefix("bounces+")) == ids[0]


def test_preferences_page_changes_topics_language_and_name(client, session, rt):
    reader = _with_topics(session, "pref@example.no", ["Klima"])
    session.commit()
    path = f"/preferences/{link_token(rt, Purpose.PREFERENCES, reader.id)}"
    page = client.get(path)
    assert page.status_code == 200 and 'value="Klima" checked' in page.get_data(as_text=True)
    from tests.harness.pages import csrf_token

    token = csrf_token(page.get_data(as_text=True))
    saved = client.post(
        path,
        data={"csrf_token": token, "name": "Åse", "language": "en", "topics": ["Forskning"]},
    )
    assert saved.status_code == 200 and "Saved." in saved.get_data(as_text=True)
    session.expire_all()
    row = session.get(Subscription, reader.id)
    assert (row.topics, row.subscriber.language, row.subscriber.name) == (
        ["Forskning"],
        "en",
        "Åse",
    )
    bad = client.post(path, data={"csrf_token": token, "name": "x\r\ny", "topics": ["Nope"]})
    assert bad.status_code == 400
    session.expire_all()
    assert session.get(Subscription, reader.id).topics == ["Forskning"]
    forged = client.get(f"/preferences/{link_token(rt, Purpose.UNSUBSCRIBE, reader.id)}")
    assert forged.status_code == 400


def test_digests_are_dkim_signed_on_the_way_out(session, rt, smtp_sink):
    import dkim

    from mailer.mail.dkim import generate_key

    private_pem, txt = generate_key()
    _article(session, "a", "Signert sak om «Ørsta»", [])
    _with_topics(session, "signert@example.no", [])
    issue = draft_issue(session)
    session.commit()
    settings = dataclasses.replace(
        rt.settings,
        dkim_domain="europakontor.example.no",
        dkim_selector="nyhet",
        dkim_private_key=private_pem,
    )
    assert ledger.request_send(session, issue.id)
    ledger.create_deliveries(session, issue.id)
    session.commit()
    ids = ledger.queued_page(session, issue.id, 0, 10, datetime.now(UTC))
    assert sending.send_batch(session, settings, rt.tokens, issue.id, ids).sent == 1
    [mail] = smtp_sink.messages

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"nyhet._domainkey.europakontor.example.no."
        return txt.encode()

    assert mail.data.count(b"DKIM-Signature:") == 1
    assert dkim.verify(mail.data, dnsfunc=dns)
    signature = mail.message["DKIM-Signature"]
    assert "list-unsubscribe-post" in signature.replace(" ", "").lower()
    tampered = mail.data.replace(
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        b"List-Unsubscribe-Post: List-Unsubscribe=Two-Click",
    )
    assert not dkim.verify(tampered, dnsfunc=dns)


def test_header_lint_on_the_bytes_the_server_received(session, rt, smtp_sink):
    from tests.mail.test_messages import decoded, lint, list_unsubscribe, parts

    _article(session, "a", "Østlandet og Brussel: «Grønn omstilling» – nytt program", [])
    reader = _with_topics(session, "lint@example.no", [])
    reader.subscriber.name = "Åse Ødegård-Læstad"
    issue = draft_issue(session)
    issue.subject = "Nyhetsbrev: «Grønn omstilling» på Østlandet – æøå"
    session.commit()
    _send(session, rt, issue.id)

    [mail] = smtp_sink.messages
    headers = lint(mail.data)  # one From/To/Date/Message-ID/Subject, ASCII header, CRLF
    assert decoded(headers["subject"][0]) == issue.subject
    assert decoded(headers["to"][0]) == "Åse Ødegård-Læstad <lint@example.no>"
    assert decoded(headers["from"][0]).startswith(rt.settings.from_name)
    url, mailto = list_unsubscribe(headers)  # exactly one https URL and one mailto
    assert url.startswith("https://") and mailto.startswith("mailto:")
    assert headers["list-unsubscribe-post"] == ["List-Unsubscribe=One-Click"]
    assert headers["list-id"]
    text, html = parts(mail.message)  # text/plain first, then text/html, both utf-8
    assert "«Grønn omstilling»" in text and "«Grønn omstilling»" in html
