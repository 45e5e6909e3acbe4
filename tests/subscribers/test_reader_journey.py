"""After the signup (issue 12 items 9 and 10): the confirmed page says what comes next, the
optional welcome mail, the unsubscribed page, the preferences page's address, and the
wording and links of the confirmation and data-export mails, in nb and en."""

from __future__ import annotations

import re

import pytest

from mailer.site.store import save
from mailer.subscribers.confirmation import send_confirmation_mail
from mailer.subscribers.export import send_export_mail
from mailer.subscribers.suppression import is_suppressed, suppress_address
from mailer.subscribers.welcome import send_welcome_mail
from mailer.tokens import Purpose
from tests.harness import factories
from tests.harness.reader import link_token, subscription_of

pytestmark = pytest.mark.rolled_back

TEXT = {
    "nb": {
        "next": "Neste utgave av Europanytt kommer i innboksen din.",
        "archive": "Les tidligere utgaver i arkivet",
        "confirm": "meldte denne adressen på nyhetsbrevet «Europanytt».",
        "export": "for nyhetsbrevet «Europanytt».",
        "erase": "Slett opplysningene mine",
        "unsubscribed": ("Du er nå meldt av.", "Du får ikke flere nyhetsbrev fra oss."),
        "back": "Meld deg på igjen",
        "for": "For",
    },
    "en": {
        "next": "The next issue of Europanytt will arrive in your inbox.",
        "archive": "Read earlier issues in the archive",
        "confirm": "signed this address up for the newsletter “Europanytt”.",
        "export": "for the newsletter “Europanytt”.",
        "erase": "Delete my data",
        "unsubscribed": ("You are now unsubscribed.", "You will get no more newsletters from us."),
        "back": "Sign up again",
        "for": "For",
    },
}


@pytest.fixture
def reader(session):  # type: ignore[no-untyped-def]
    def make(language: str, status: str = "pending"):  # type: ignore[no-untyped-def]
        row = factories.subscription(
            session, f"lesar-{language}@example.no", "Lesar", status=status, language=language
        )
        row.newsletter.name = "Europanytt"
        session.commit()
        return row

    return make


@pytest.mark.parametrize("language", ["nb", "en"])
def test_the_confirmed_page_says_what_comes_next(client, session, rt, reader, language):
    row = reader(language)
    token = link_token(rt, Purpose.CONFIRM, row.id)
    page = client.post(f"/confirm/{token}").get_data(as_text=True)
    assert TEXT[language]["next"] in page
    assert 'href="/archive"' in page and TEXT[language]["archive"] in page
    preferences = re.search(r'href="(/preferences/[^"]+)" id="preferences-link"', page)
    assert preferences is not None
    assert client.get(preferences[1]).status_code == 200


@pytest.mark.committed  # tasks leave with the real commit
@pytest.mark.parametrize("language", ["nb", "en"])
def test_the_welcome_mail_is_off_by_default_and_sent_once_when_on(
    client, session, rt, reader, smtp_sink, queued_tasks, language
):
    first = reader(language)
    client.post(f"/confirm/{link_token(rt, Purpose.CONFIRM, first.id)}")
    assert [name for name, _ in queued_tasks] == []  # off by default

    save(
        session,
        {
            "welcome_enabled": True,
            "welcome_subject": "Velkommen til Europanytt – «hei»",
            "welcome_body": "Takk for at du vil lese oss.\n\nHilsen Europakontoret",
        },
        rt.env_settings,
    )
    session.commit()
    rt.site.invalidate()
    second = factories.subscription(
        session, f"to-{language}@example.no", status="pending", language=language
    )
    session.commit()
    token = link_token(rt, Purpose.CONFIRM, second.id)
    client.post(f"/confirm/{token}")
    client.post(f"/confirm/{token}")  # a second click welcomes no one twice
    assert queued_tasks == [("mailer.send_welcome", (second.id,))]

    assert subscription_of(session, f"to-{language}@example.no").status == "active"
    assert send_welcome_mail(session, rt.settings, rt.tokens, second.id)
    [mail] = smtp_sink.messages
    assert mail.message["Subject"] == "Velkommen til Europanytt – «hei»"
    text = mail.part("text/plain")
    assert "Takk for at du vil lese oss." in text
    assert "https://nyhetsbrev.example.no/archive" in text
    assert "/unsubscribe/" in text and "/preferences/" in text
    assert "<p>Takk for at du vil lese oss.</p>" in mail.part("text/html")


def test_a_welcome_mail_sent_after_the_reader_left_is_not_sent(session, rt, smtp_sink, reader):
    row = reader("nb", status="unsubscribed")
    save(
        session,
        {"welcome_enabled": True, "welcome_subject": "x", "welcome_body": "y"},
        rt.env_settings,
    )
    session.commit()
    rt.site.invalidate()
    assert not send_welcome_mail(session, rt.settings, rt.tokens, row.id)
    assert smtp_sink.messages == []


@pytest.mark.parametrize("language", ["nb", "en"])
def test_the_unsubscribed_page_is_one_heading_one_sentence_and_a_way_back(
    client, rt, reader, language
):
    row = reader(language, status="active")
    page = client.post(f"/unsubscribe/{link_token(rt, Purpose.UNSUBSCRIBE, row.id)}").get_data(
        as_text=True
    )
    main = page[page.index("<main>") : page.index("</main>")]
    heading, sentence = TEXT[language]["unsubscribed"]
    assert re.findall(r"<h1>(.*?)</h1>", main) == [heading]
    paragraphs = re.findall(r"<p>(.*?)</p>", main)
    assert paragraphs[0] == sentence and len(paragraphs) == 2
    assert f'href="/subscribe" id="come-back">{TEXT[language]["back"]}</a>' in paragraphs[1]


@pytest.mark.parametrize("language", ["nb", "en"])
def test_preferences_name_the_address_and_unsubscribe_suggests_no_language(
    client, rt, reader, language
):
    row = reader(language, status="active")
    page = client.get(f"/preferences/{link_token(rt, Purpose.PREFERENCES, row.id)}")
    assert f"{TEXT[language]['for']} lesar-{language}@example.no" in page.get_data(as_text=True)
    offer = client.get(f"/unsubscribe/{link_token(rt, Purpose.UNSUBSCRIBE, row.id)}")
    assert not re.search(r"språk|language", offer.get_data(as_text=True).split("<main>")[1])


@pytest.mark.parametrize("language", ["nb", "en"])
def test_confirmation_and_export_mails_name_the_newsletter_and_label_their_links(
    session, rt, reader, smtp_sink, language
):
    row = reader(language)
    send_confirmation_mail(session, rt.settings, rt.tokens, row.id)
    send_export_mail(session, rt.settings, rt.tokens, row.id)
    confirm, export = smtp_sink.messages
    for mail, sentence in (
        (confirm, TEXT[language]["confirm"]),
        (export, TEXT[language]["export"]),
    ):
        text = mail.part("text/plain")
        assert sentence in text
        erase = re.search(rf"{TEXT[language]['erase']}: (\S+)", text)
        assert erase is not None and "/erase/" in erase[1]
        html = mail.part("text/html")
        assert re.search(rf'<a href="[^"]*/erase/[^"]*"[^>]*>{TEXT[language]["erase"]}</a>', html)


@pytest.mark.committed
def test_the_worker_sends_the_welcome_mail_with_what_the_admin_saved_since_it_started(
    client, session, rt, reader, celery_worker, smtp_sink
):
    """Every process reads the stored settings: the worker (running since an earlier test)
    drops its copy before each task, so the subject saved a moment ago is the one sent."""
    for subject in ("Første velkomst", "Andre velkomst – endret"):
        save(
            session,
            {"welcome_enabled": True, "welcome_subject": subject, "welcome_body": "Hei!"},
            rt.env_settings,
        )
        session.commit()
        rt.site.invalidate()
        row = factories.subscription(
            session, f"{len(subject)}@example.no", status="pending", language="nb"
        )
        session.commit()
        smtp_sink.clear()
        client.post(f"/confirm/{link_token(rt, Purpose.CONFIRM, row.id)}")
        [mail] = smtp_sink.wait_for(1)
        assert mail.message["Subject"] == subject


def test_confirming_takes_the_address_off_the_suppression_list(client, session, rt, reader):
    """Mutant of the confirm page (``link_pages.confirm_page``): ``secret_keys=`` not passed
    on (or None) to ``confirm``. A reader erased (or suppressed) who signed up anew and
    proved the address through the link would still never get a digest."""
    row = reader("nb")
    suppress_address(session, "lesar-nb@example.no", rt.settings.secret_keys[0], "unsubscribed")
    session.commit()

    assert client.post(f"/confirm/{link_token(rt, Purpose.CONFIRM, row.id)}").status_code == 200

    session.expire_all()  # the request's changes, on this test's one connection
    assert row.status == "active"
    assert not is_suppressed(session, "lesar-nb@example.no", rt.settings.secret_keys)
