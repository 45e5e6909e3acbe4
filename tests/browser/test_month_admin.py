"""The first month in a real office, in the admin (issue 12, part A), in Debian's Chromium
against the app on a real HTTP server: each test runs in nb and in en."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from mailer.articles.models import Article, Feed
from mailer.editors.models import Editor
from mailer.issues.models import Issue
from mailer.sending.models import Delivery
from mailer.subscribers.models import Subscription
from mailer.web.limits import limiter
from tests.conftest import screenshot_path
from tests.harness import factories
from tests.harness.admin import ADMIN, PASSWORD, make_editors
from tests.harness.feeds import default_items, rss

WAIT_MS = 20_000
LANGS = ["nb", "en"]
WORDS = {
    "nb": {
        "edit": "Rediger",
        "save": "Lagre",
        "saved": "Artikkelen er lagret.",
        "edited": "Endret",
        "from_feed": "Fra strømmen:",
        "title": "Tittel",
        "url": "Adresse",
        "not_url": "Skriv en fullstendig adresse",
        "add": "Legg til",
        "not_a_feed": "Adressen svarer, men det er ikke en RSS- eller Atom-strøm.",
        "added": "Strømmen er lagt til og hentet: 3 artikler",
        "remove": "Fjern",
        "removed": "Strømmen er fjernet.",
        "preparing": "Gjør klar utsendelsen …",
        "sent": "Sendt",
        "seconds": "2 sekunder",
        "average": "127,5",
    },
    "en": {
        "edit": "Edit",
        "save": "Save",
        "saved": "The article is saved.",
        "edited": "Edited",
        "from_feed": "From the feed:",
        "title": "Title",
        "url": "Address",
        "not_url": "Enter a full address",
        "add": "Add",
        "not_a_feed": "The address answers, but it is not an RSS or Atom feed.",
        "added": "The feed is added and fetched: 3 articles",
        "remove": "Remove",
        "removed": "The feed has been removed.",
        "preparing": "Preparing the send …",
        "sent": "Sent",
        "seconds": "2 seconds",
        "average": "127.5",
    },
}


@pytest.fixture(autouse=True)
def _fresh_limits(app):
    with app.app_context():
        limiter.reset()


@pytest.fixture
def open_admin(browser, live_server, session) -> Iterator[Callable[[str], Any]]:
    """open_admin(language) → a logged-in tab whose editor reads that language."""
    contexts = []

    def open_tab(language: str, width: int = 1280) -> Any:
        make_editors(session)
        session.execute(update(Editor).where(Editor.email == ADMIN).values(language=language))
        session.commit()
        context = browser.new_context(
            base_url=live_server,
            viewport={"width": width, "height": 900},
            locale="nb-NO" if language == "nb" else "en-GB",
        )
        contexts.append(context)
        tab = context.new_page()
        tab.set_default_timeout(WAIT_MS)
        tab.goto("/admin/login")
        tab.fill("#email", ADMIN)
        tab.fill("#password", PASSWORD)
        with tab.expect_navigation():
            tab.click("button[type=submit]")
        return tab

    yield open_tab
    for context in contexts:
        context.close()


@pytest.mark.parametrize("language", LANGS)
def test_an_editor_corrects_an_article_and_sees_what_the_feed_says(open_admin, session, language):
    words = WORDS[language]
    article = factories.article(session, "klima", "Fjordbyer deler klimaløsninger")
    session.commit()
    page = open_admin(language)

    page.goto("/admin/articles")
    row = page.locator(f"tr[data-article='{article.id}']")
    row.get_by_role("link", name=words["edit"]).click()
    page.wait_for_url(f"**/admin/articles/{article.id}/edit")
    page.get_by_label(words["title"], exact=True).fill("Fjordbyene deler klimaløsninger")
    with page.expect_navigation():
        page.get_by_role("button", name=words["save"]).click()

    assert words["saved"] in page.locator(".flash").first.inner_text()
    title_field = page.locator(".field[data-field='title']")
    assert words["edited"] in title_field.locator("label").inner_text()
    assert title_field.locator(".feed-value").inner_text() == (
        f"{words['from_feed']} «Fjordbyer deler klimaløsninger»"
    )
    assert page.locator(".field.edited").count() == 1
    session.refresh(article)
    assert article.title == "Fjordbyene deler klimaløsninger"

    # A link that is not http(s) is refused, with the field named, and nothing changes.
    page.get_by_label(words["url"], exact=True).fill("javascript:alert(1)")
    # The edited field's label now carries its "edited" mark as well.
    page.get_by_label(f"{words['title']} {words['edited']}", exact=True).fill("Skal ikke lagres")
    page.evaluate("document.getElementById('article-form').noValidate = true")
    with page.expect_navigation():
        page.get_by_role("button", name=words["save"]).click()
    errors = page.locator("#errors").inner_text()
    assert words["url"] in errors and words["not_url"] in errors
    session.refresh(article)
    assert article.title == "Fjordbyene deler klimaløsninger"
    assert article.url.startswith("https://")

    page.goto("/admin/articles")
    assert words["edited"] in page.locator(f"tr[data-article='{article.id}']").inner_text()
    page.screenshot(path=str(screenshot_path(f"admin-articles-edited-{language}")))


def _count(session, model) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize("language", LANGS)
def test_adding_a_feed_fetches_it_refuses_a_web_page_and_removing_asks_first(
    open_admin, session, feed_server, language
):
    words = WORDS[language]
    page = open_admin(language)
    page.goto("/admin/feeds")

    # A web page, not a feed: refused at once, in the editor's words, nothing added.
    feed_server.content_type = "text/html; charset=utf-8"
    feed_server.body = b"<!doctype html><html><body><h1>Nyheter</h1></body></html>"
    page.fill("#url", feed_server.url)
    with page.expect_navigation():
        page.get_by_role("button", name=words["add"], exact=True).click()
    errors = page.locator("#errors").inner_text()
    assert words["not_a_feed"] in errors
    for internal in ("feedparser", "bozo", "SAX", "Traceback", f"{feed_server.url} is"):
        assert internal not in errors
    assert page.locator("#url").input_value() == feed_server.url
    assert _count(session, Feed) == 0

    # The real feed: added and fetched in one step.
    feed_server.content_type = "application/rss+xml; charset=utf-8"
    feed_server.body = rss(default_items())
    with page.expect_navigation():
        page.get_by_role("button", name=words["add"], exact=True).click()
    assert words["added"] in page.locator(".flash").first.inner_text()
    assert (_count(session, Feed), _count(session, Article)) == (1, 3)

    # «Fjern» asks first: dismissing keeps the feed, accepting removes it.
    remove = page.locator("#feed-table").get_by_role("button", name=words["remove"])
    page.once("dialog", lambda dialog: dialog.dismiss())
    remove.click()
    page.wait_for_load_state()
    assert _count(session, Feed) == 1
    asked: list[str] = []

    def accept(dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    with page.expect_navigation():
        remove.click()
    assert words["removed"] in page.locator(".flash").first.inner_text()
    assert asked and asked[0]
    assert (_count(session, Feed), _count(session, Article)) == (0, 3)


@pytest.mark.parametrize("language", LANGS)
def test_idn_addresses_show_and_search_in_unicode(open_admin, session, language):
    factories.subscription(session, "ola@xn--blbr-roah.no", "Ola Nordmann")
    factories.subscription(session, "kari@example.no", "Kari Nes")
    session.commit()
    page = open_admin(language)

    page.goto("/admin/subscribers")
    table = page.locator("table").first.inner_text()
    assert "ola@blåbær.no" in table and "xn--" not in table

    page.goto("/admin/subscribers?q=bl%C3%A5b%C3%A6r")
    rows = page.locator("tbody tr")
    assert rows.count() == 1
    assert "ola@blåbær.no" in rows.first.inner_text()
    with page.expect_navigation():
        rows.first.get_by_role("link", name="ola@blåbær.no").click()
    assert page.locator("#subscriber-email").inner_text() == "ola@blåbær.no"

    # The search box takes the whole address too, typed as people write it.
    page.goto("/admin/subscribers?q=OLA%40BL%C3%85B%C3%86R.NO")
    assert page.locator("tbody tr").count() == 1


@pytest.mark.parametrize("language", LANGS)
def test_live_progress_from_preparing_to_finished_without_a_reload(open_admin, session, language):
    words = WORDS[language]
    for i in range(255):
        factories.subscription(session, f"leser{i}@example.no", f"Leser {i}")
    issue = factories.drafted_issue(session, articles=1)
    requested = datetime.now(UTC) - timedelta(minutes=5)
    session.execute(
        update(Issue)
        .where(Issue.id == issue.id)
        .values(status="sending", send_requested_at=requested)
    )
    session.commit()
    page = open_admin(language)
    page.goto(f"/admin/issues/{issue.id}")

    # Before the rows exist: "preparing", never «0 av 0 … Ferdig om 0 sekunder».
    assert page.locator("#progress-preparing").inner_text() == words["preparing"]
    assert page.locator("#progress-text").is_hidden()
    assert page.locator("#progress-eta").inner_text() == "–"
    assert page.locator("#pause").is_visible()

    # The send finishes while the page is open: 255 mails in two seconds.
    ids = session.scalars(select(Subscription.id)).all()
    done = requested + timedelta(seconds=2)
    session.add_all(
        Delivery(issue_id=issue.id, subscription_id=sid, status="sent", sent_at=done) for sid in ids
    )
    session.execute(
        update(Issue)
        .where(Issue.id == issue.id)
        .values(status="sent", sent_at=done, deliveries_created_at=requested)
    )
    session.commit()

    page.wait_for_function(
        "(label) => document.getElementById('issue-status').textContent === label",
        arg=words["sent"],
    )
    assert page.locator("#pause").count() == 0 or page.locator("#pause").is_hidden()
    assert page.locator("#cancel").is_hidden()
    assert page.locator("#progress-eta").is_hidden()
    assert page.locator("#progress-duration").inner_text() == words["seconds"]
    assert page.locator("#progress-average").inner_text() == words["average"]
    assert page.locator("#count-sent").inner_text() == "255"
    page.set_viewport_size({"width": 375, "height": 900})
    page.screenshot(path=str(screenshot_path(f"admin-issue-375-{language}")), full_page=True)

    # A reload shows the same: duration and average, no ETA.
    page.reload()
    assert page.locator("#progress-average").inner_text() == words["average"]
    assert page.locator("#progress-eta").is_hidden()


TOPIC_WORDS = {
    "nb": {"added": "Temaet er lagt til: Helse og omsorg", "readers": "Lesere per tema"},
    "en": {"added": "Topic added: Helse og omsorg", "readers": "Readers per topic"},
}


@pytest.mark.parametrize("language", LANGS)
def test_feed_categories_become_topics_with_one_click_and_readers_are_counted(
    open_admin, session, rt, language
):
    from mailer.issues.newsletter import update_settings

    update_settings(session, "Europanytt", "nb", ["Klima", "Forskning"], rt.settings)
    for i, (status, topics) in enumerate(
        [("active", ["Klima"]), ("active", ["Klima", "Forskning"]), ("pending", ["Klima"])]
    ):
        row = factories.subscription(session, f"leser{i}@example.no", status=status)
        row.topics = topics
    for i, categories in enumerate([["Helse og omsorg", "Klima"], ["Helse og omsorg"], ["EU"]]):
        article = factories.article(session, f"sak-{i}", f"Sak {i}")
        article.topics = categories
    session.commit()
    page = open_admin(language)
    page.goto("/admin/settings")

    readers = {
        row.get_attribute("data-topic"): row.locator("td").nth(1).inner_text()
        for row in page.locator("#topic-readers tbody tr").all()
    }
    assert readers == {"Klima": "2", "Forskning": "1"}  # active readers only
    buttons = page.locator("#topic-suggestions button")
    assert [b.get_attribute("data-topic") for b in buttons.all()] == ["Helse og omsorg", "EU"]

    with page.expect_navigation():
        page.locator("#topic-suggestions button[data-topic='Helse og omsorg']").click()
    assert TOPIC_WORDS[language]["added"] in page.locator(".flash").first.inner_text()
    assert "Helse og omsorg" in page.locator("#settings-topics").input_value().splitlines()
    assert (
        page.locator("#topic-readers tr[data-topic='Helse og omsorg'] td").nth(1).inner_text()
        == "0"
    )
    assert [b.get_attribute("data-topic") for b in buttons.all()] == ["EU"]
    # The signup form offers the new topic at once.
    page.goto("/subscribe")
    assert page.get_by_label("Helse og omsorg").count() == 1


PHONE_WORDS = {
    "nb": {
        "login": "Logget inn",
        "unsub": "Meld av",
        "left": "Meldte seg av",
        "feed": "La til en strøm",
    },
    "en": {
        "login": "Logged in",
        "unsub": "Unsubscribe",
        "left": "Unsubscribed",
        "feed": "Added a feed",
    },
}


def _no_sideways_scroll(page, width: int) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url}: horizontal scroll at {width}px ({scroll})"


@pytest.mark.parametrize("language", LANGS)
def test_tables_on_a_phone_the_log_in_words_no_unsubscribe_for_a_reader_who_left(
    open_admin, session, feed_server, language
):
    words = PHONE_WORDS[language]
    for i in range(5):
        factories.subscription(
            session,
            f"en.lang.adresse.nummer{i}@xn--blbr-roah.example.no",
            f"Åse Ødegård-Kristiansen {i}",
        ).topics = ["Klima", "Forskning og innovasjon"]
    gone = factories.subscription(session, "borte@example.no", "Gikk i fjor", status="unsubscribed")
    factories.article(session, "lang", "En svært lang tittel om klimatilpasning i fjordbyene " * 3)
    session.commit()
    feed_server.body = rss(default_items())
    page = open_admin(language, width=375)

    page.goto("/admin/feeds")
    page.fill("#url", feed_server.url)
    with page.expect_navigation():
        page.locator("#add-feed").click()
    for path in ("/admin/subscribers", "/admin/articles", "/admin/feeds"):
        page.goto(path)
        _no_sideways_scroll(page, 375)
    page.goto("/admin/subscribers")
    page.screenshot(path=str(screenshot_path(f"admin-subscribers-375-{language}")), full_page=True)

    # The audit log says what happened in words, never the codes.
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto("/admin/audit")
    log = page.locator("#audit-table").inner_text()
    assert words["login"] in log and words["feed"] in log
    for code in ("admin.", "feed_add", "editor_id", "={", "changes="):
        assert code not in log

    # A reader who left: their events in words, and no «Meld av» to press again.
    page.goto(f"/admin/subscribers/{gone.id}")
    assert page.get_by_role("button", name=words["unsub"], exact=True).count() == 0
    # The icon the pages name is there (no 404 on every page).
    icon = page.locator("link[rel=icon]").get_attribute("href")
    assert page.request.get(icon).status == 200
