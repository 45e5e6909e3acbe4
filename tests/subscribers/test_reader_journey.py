"""After the signup (issue 12 items 9 and 10): the confirmed page says what comes next, the
optional welcome mail, the unsubscribed page, the preferences page's address, and the
wording and links of the confirmation and data-export mails, in nb and en."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from mailer.events import Event
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


WELCOME = {
    "welcome_enabled": True,
    "welcome_subject": "Velkommen til Europanytt",
    "welcome_body": "Takk for at du vil lese oss.",
    "welcome_subject_en": "Welcome to Europanytt",
    "welcome_body_en": "Thank you for reading us.",
}


@pytest.mark.committed
@pytest.mark.parametrize("language", ["nb", "en"])
def test_the_welcome_mail_comes_in_the_readers_language(
    client, session, rt, reader, celery_worker, smtp_sink, language
):
    """The admin writes the welcome mail in nb and en; the worker sends each reader theirs
    (mutant pinned: the welcome task reading the Norwegian subject and text for everyone)."""
    save(session, WELCOME, rt.env_settings)
    session.commit()
    rt.site.invalidate()
    row = reader(language)
    client.post(f"/confirm/{link_token(rt, Purpose.CONFIRM, row.id)}")
    [mail] = smtp_sink.wait_for(1)
    suffix = "_en" if language == "en" else ""
    other = "" if language == "en" else "_en"
    assert mail.message["Subject"] == WELCOME[f"welcome_subject{suffix}"]
    text = mail.part("text/plain")
    assert WELCOME[f"welcome_body{suffix}"] in text
    assert WELCOME[f"welcome_body{other}"] not in text


def test_an_english_reader_gets_the_norwegian_welcome_when_no_english_is_written(
    session, rt, smtp_sink, reader
):
    row = reader("en", status="active")
    save(
        session,
        {key: value for key, value in WELCOME.items() if not key.endswith("_en")},
        rt.env_settings,
    )
    session.commit()
    rt.site.invalidate()
    assert send_welcome_mail(session, rt.settings, rt.tokens, row.id)
    [mail] = smtp_sink.messages
    assert mail.message["Subject"] == WELCOME["welcome_subject"]
    assert WELCOME["welcome_body"] in mail.part("text/plain")


def test_confirming_takes_the_address_off_the_suppression_list(client, session, rt, reader):
    """Mutants of the confirm page (``link_pages.confirm_page``): ``secret_keys=`` not passed
    on (or None) to ``confirm``; of ``subscriptions.confirm``: the "suppression.lifted"
    event's kind or reader changed. A reader erased (or suppressed) who signed up anew and
    proved the address through the link would still never get a digest."""
    row = reader("nb")
    suppress_address(session, "lesar-nb@example.no", rt.settings.secret_keys[0], "unsubscribed")
    session.commit()

    assert client.post(f"/confirm/{link_token(rt, Purpose.CONFIRM, row.id)}").status_code == 200

    session.expire_all()  # the request's changes, on this test's one connection
    assert row.status == "active"
    assert not is_suppressed(session, "lesar-nb@example.no", rt.settings.secret_keys)
    lifted = session.scalars(select(Event).where(Event.kind == "suppression.lifted")).all()
    assert [e.subscription_id for e in lifted] == [row.id]


@pytest.mark.parametrize(
    ("path", "purpose", "status"),
    [("confirm", Purpose.CONFIRM, "pending"), ("unsubscribe", Purpose.UNSUBSCRIBE, "active")],
)
def test_the_link_pages_speak_the_readers_language_unless_another_is_asked_for(
    client, rt, reader, path, purpose, status
):
    """Mutants of ``link_pages.reader_language`` (survivors of `make mutate`): ``?lang=``
    ignored, or always taken (the reader's own language never used). The link came in a
    mail in the reader's language; the page's language switch still works."""
    row = reader("en", status=status)
    url = f"/{path}/{link_token(rt, purpose, row.id)}"

    assert '<html lang="en">' in client.get(url).get_data(as_text=True)
    assert '<html lang="nb">' in client.get(f"{url}?lang=nb").get_data(as_text=True)


def test_an_unsubscribe_is_recorded_once_with_its_reader_and_channel(client, session, rt, reader):
    """Mutants of ``subscriptions.unsubscribe`` and the unsubscribe page (survivors of `make
    mutate`): the event's kind, reader or channel changed or left out. The monthly report
    counts "unsubscribe" events, the metrics count them per channel, and the reader's admin
    page lists them."""
    by_mail_client = reader("nb", status="active")
    by_button = factories.subscription(session, "knapp@example.no", status="active")
    session.commit()

    client.post(
        f"/unsubscribe/{link_token(rt, Purpose.UNSUBSCRIBE, by_mail_client.id)}",
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    client.post(f"/unsubscribe/{link_token(rt, Purpose.UNSUBSCRIBE, by_button.id)}")

    session.expire_all()
    recorded = session.execute(
        select(Event.subscription_id, Event.data).where(Event.kind == "unsubscribe")
    ).all()
    assert sorted(recorded) == [
        (by_mail_client.id, {"channel": "one-click"}),
        (by_button.id, {"channel": "web"}),
    ]


def test_the_confirmed_page_names_the_frequency_and_the_welcome_mail_when_set(
    client, session, rt, reader
):
    """Mutants of the confirm page (``link_pages.confirm_page``, survivors of `make
    mutate`): ``frequency=`` or ``welcome=`` not given to the page (or None): the reader
    would not learn how often the newsletter comes, nor that a welcome mail is on its way."""
    save(
        session,
        {
            "welcome_enabled": True,
            "welcome_subject": "Velkommen",
            "welcome_body": "Hei!",
            "frequency": "hver fredag",
        },
        rt.env_settings,
    )
    session.commit()
    rt.site.invalidate()
    row = reader("nb")

    page = client.post(f"/confirm/{link_token(rt, Purpose.CONFIRM, row.id)}").get_data(as_text=True)

    assert "Hvor ofte det kommer: hver fredag." in page
    assert "Vi har sendt deg en velkomst-e-post." in page


def test_an_english_reader_is_told_the_frequency_in_english(client, session, rt, reader):
    """Mutant of the confirm page (``site.text("frequency", language)`` → ``None``, a
    survivor of `make mutate`): an English reader was told the Norwegian frequency even
    when the editors wrote an English one."""
    save(session, {"frequency": "hver fredag", "frequency_en": "every Friday"}, rt.env_settings)
    session.commit()
    rt.site.invalidate()
    row = reader("en")

    page = client.post(f"/confirm/{link_token(rt, Purpose.CONFIRM, row.id)}").get_data(as_text=True)

    assert "How often it comes: every Friday." in page
    assert "hver fredag" not in page


@pytest.mark.parametrize("path", ["confirm", "unsubscribe"])
def test_a_link_that_is_not_valid_is_refused_in_the_language_asked_for(client, path):
    """Mutants of the link pages (survivors of `make mutate`): the page's language not
    handed to ``open_link`` (``language = None``): the error page would ignore ?lang=."""
    page = client.get(f"/{path}/not-a-token?lang=en")

    assert page.status_code == 400
    body = page.get_data(as_text=True)
    assert '<html lang="en">' in body and "Invalid link" in body


def test_opening_the_confirm_link_confirms_nothing_until_the_button_is_pressed(
    client, session, rt, reader
):
    """Mutant of the confirm page (``request.method == "GET"`` → ``"XXGETXX"``, a survivor
    of `make mutate`): a GET would confirm, so a mail scanner following the link would
    confirm an address its owner never asked for."""
    row = reader("nb")
    url = f"/confirm/{link_token(rt, Purpose.CONFIRM, row.id)}"

    for _ in range(2):
        page = client.get(url)
        assert page.status_code == 200 and 'method="post"' in page.get_data(as_text=True)
    session.expire_all()
    assert row.status == "pending"
    assert client.post(url).status_code == 200
    session.expire_all()
    assert row.status == "active"


def test_the_unsubscribe_page_links_to_the_readers_preferences(client, rt, reader):
    """Mutants of the unsubscribe page (survivors of `make mutate`): the preferences token
    made for no id or no secret, or not given to the page: its "change settings" link
    would not open the reader's settings."""
    row = reader("nb", status="active")
    page = client.get(f"/unsubscribe/{link_token(rt, Purpose.UNSUBSCRIBE, row.id)}")

    [link] = re.findall(r'href="(/preferences/[^"]+)"', page.get_data(as_text=True))
    assert client.get(link).status_code == 200


def test_a_confirmation_is_stamped_and_recorded_once_for_its_reader(client, session, rt, reader):
    """Mutants of ``subscriptions.confirm`` (survivors of `make mutate`): ``confirmed_at``
    not stamped, the "confirm" event's kind or reader changed or left out. The monthly
    report counts "confirm" events; the admin shows when a reader confirmed."""
    row = reader("nb")
    url = f"/confirm/{link_token(rt, Purpose.CONFIRM, row.id)}"

    assert client.post(url).status_code == client.post(url).status_code == 200

    session.expire_all()
    assert row.status == "active" and row.confirmed_at is not None
    recorded = session.scalars(select(Event.subscription_id).where(Event.kind == "confirm"))
    assert list(recorded) == [row.id]
