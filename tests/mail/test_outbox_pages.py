"""The dev outbox lists newest first with a count, pages, searches by recipient or subject,
shows Oslo time and reads only what a page needs (5,000 mails stay quick)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailer.app import create_app
from mailer.config import load_settings
from mailer.mail import outbox
from mailer.mail.outbox import list_outbox, read_message

T0 = datetime(2026, 11, 2, 22, 30, tzinfo=UTC)  # 23:30 in Oslo


def fill(folder: Path, n: int) -> None:
    """n mails, mail i received i minutes after T0; every tenth to an æøå address."""
    for sub in ("new", "cur", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        msg = EmailMessage()
        msg["From"] = "Europakontoret <nyhetsbrev@example.no>"
        msg["To"] = f"Åse Ødegård <ase{i}@blåbær.no>" if i % 10 == 0 else f"leser{i}@example.no"
        msg["Subject"] = f"Bekreft påmeldingen nr. {i}" if i % 2 else f"Nyhetsbrev nr. {i}"
        msg.set_content(f"Hei nummer {i}")
        # A file as Maildir names and writes one, without its fsync per mail.
        path = folder / "new" / f"{1795000000 + i}.M{i}P1Q{i}.test"
        path.write_bytes(msg.as_bytes())
        when = (T0 + timedelta(minutes=i)).timestamp()
        os.utime(path, (when, when))


def test_newest_first_counted_paged_and_searched(tmp_path):
    folder = tmp_path / "outbox"
    fill(folder, 120)
    outbox._HEADERS.clear()

    first = list_outbox(folder, page=1, per_page=50)
    assert (first.total, first.pages) == (120, 3)
    assert [e.subject for e in first.rows[:2]] == [
        "Bekreft påmeldingen nr. 119",
        "Nyhetsbrev nr. 118",
    ]
    assert first.rows[0].received_at == T0 + timedelta(minutes=119)
    # Only the page's 50 files were read, not all 120.
    assert len(outbox._HEADERS) == 50
    last = list_outbox(folder, page=3, per_page=50)
    assert [e.subject for e in last.rows][-1] == "Nyhetsbrev nr. 0"

    found = list_outbox(folder, "BLÅBÆR")
    assert found.total == 12 and all("blåbær" in e.recipient for e in found.rows)
    assert list_outbox(folder, "påmeldingen nr. 11").total == 6  # 11, 111, 113, 115, 117, 119
    assert list_outbox(folder, "ingen slik").total == 0

    whole = read_message(folder, first.rows[0].key)
    assert whole is not None and whole.part("text/plain").strip() == "Hei nummer 119"
    assert read_message(folder, "../../etc/passwd") is None
    assert read_message(folder, "finnes-ikke") is None


def test_five_thousand_mails_list_from_the_directory_alone(tmp_path):
    folder = tmp_path / "outbox"
    fill(folder, 5000)
    outbox._HEADERS.clear()
    page = list_outbox(folder, page=2, per_page=50)
    assert page.total == 5000
    assert page.rows[0].subject == "Bekreft påmeldingen nr. 4949"
    assert len(outbox._HEADERS) == 50


@pytest.fixture
def outbox_server(tmp_path, monkeypatch, app) -> Iterator[tuple[str, Path]]:
    """The app as `make run` starts it (dev outbox on), on a real HTTP server."""
    from werkzeug.serving import make_server

    monkeypatch.delenv("MAILER_SMTP_HOST", raising=False)
    monkeypatch.delenv("MAILER_SMTP_PORT", raising=False)
    monkeypatch.setenv("MAILER_DEV_OUTBOX", "true")
    monkeypatch.setenv("MAILER_VAR_DIR", str(tmp_path / "var"))
    settings = load_settings()
    dev = create_app(settings, RATELIMIT_STORAGE_URI=app.config["RATELIMIT_STORAGE_URI"])
    server = make_server("127.0.0.1", 0, dev, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", settings.outbox_dir
    server.shutdown()


WORDS = {
    "nb": {"count": "120 e-poster", "found": "12 e-poster", "older": "Eldre", "search": "Søk"},
    "en": {"count": "120 emails", "found": "12 emails", "older": "Older", "search": "Search"},
}


@pytest.mark.parametrize("language", ["nb", "en"])
def test_the_outbox_page_on_a_phone(browser, outbox_server, language):
    from tests.conftest import screenshot_path

    base, folder = outbox_server
    fill(folder, 120)
    words = WORDS[language]
    context = browser.new_context(
        base_url=base,
        viewport={"width": 375, "height": 800},
        locale="nb-NO" if language == "nb" else "en-GB",
    )
    try:
        page = context.new_page()
        page.goto(f"/outbox/?lang={language}")
        assert page.locator("#outbox-count").inner_text() == words["count"]
        rows = page.locator("#outbox-table tbody tr")
        assert rows.count() == 50
        # Newest first, in Oslo time (T0 + 119 min = 01:29 on 3 November in Oslo).
        assert "2026-11-03 01:29:00" in rows.first.inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        page.screenshot(path=str(screenshot_path(f"outbox-375-{language}")), full_page=True)

        page.fill("#outbox-q", "blåbær")
        with page.expect_navigation():
            page.get_by_role("button", name=words["search"]).click()
        assert page.locator("#outbox-count").inner_text().startswith(words["found"])
        assert rows.count() == 12

        page.goto(f"/outbox/?lang={language}")
        with page.expect_navigation():
            page.get_by_role("link", name=words["older"]).click()
        assert "2026-11-02 23:30:00" not in rows.first.inner_text()
        assert "page=2" in page.url

        # One mail's page (its text in a scrollable block), through the axe check too.
        with page.expect_navigation():
            rows.first.locator("a").click()
        assert "Hei nummer" in page.locator("pre").first.inner_text()
    finally:
        context.close()
