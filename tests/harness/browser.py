"""Playwright helpers for the reader-side browser tests: pages that collect script and
CSP errors, screenshots at phone and desktop width, a contrast check, form submits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from tests.conftest import screenshot_path
from tests.harness.reader import link_in, local

WIDTHS = (375, 1200)
TEXT = {
    "nb": {
        "title": "Meld deg på vårt nyhetsbrev",
        "done": "Sjekk e-posten din",
        "subject": "Bekreft påmeldingen til",
        "confirm": "Bekreft",
        "confirmed": "Takk! Du er nå påmeldt.",
        "save": "Lagre",
        "saved": "Lagret.",
        "unsubscribe": "Meld deg av",
        "unsubscribed": "Du er nå meldt av.",
        "email_error": "E-postadressen er ikke gyldig",
        "consent_error": "Du må krysse av for samtykke.",
    },
    "en": {
        "title": "Subscribe to our newsletter",
        "done": "Check your email",
        "subject": "Confirm your subscription to",
        "confirm": "Confirm",
        "confirmed": "Thank you! You are now subscribed.",
        "save": "Save",
        "saved": "Saved.",
        "unsubscribe": "Unsubscribe",
        "unsubscribed": "You are now unsubscribed.",
        "email_error": "The email address is not valid",
        "consent_error": "You must tick the consent box.",
    },
}


class PageWatch:
    """A page with its CSP violations and page errors collected."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(str(exc)))

    def _console(self, message: Any) -> None:
        # A 400 for a form with errors is logged as a failed resource: that one is expected.
        if message.type == "error" and "status of 400" not in message.text:
            self.problems.append(message.text)


def page_opener(browser: Any) -> Iterator[Callable[..., PageWatch]]:
    """For a fixture: yields open_page(locale) and closes every context afterwards."""
    contexts = []

    def open_page(locale: str = "nb-NO") -> PageWatch:
        # The CSP enforced (not bypassed as elsewhere): PageWatch reports its violations.
        # axe-core checks these pages all the same (tests/harness/axe.py).
        context = browser.new_context(
            locale=locale, viewport={"width": 1200, "height": 900}, bypass_csp=False
        )
        contexts.append(context)
        return PageWatch(context.new_page())

    yield open_page
    # Every context closed even when one reports axe violations; then the first report.
    failures = []
    for context in contexts:
        try:
            context.close()
        except AssertionError as exc:
            failures.append(exc)
    if failures:
        raise failures[0]


def shoot(page: Any, name: str) -> None:
    """A screenshot at each width; the page must never scroll sideways."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width, f"{name}: horizontal scroll at {width}px ({scroll})"
        page.screenshot(path=str(screenshot_path(f"reader-{name}-{width}")), full_page=True)
    page.set_viewport_size({"width": 1200, "height": 900})


CONTRAST_JS = """
(selectors) => {
  const lum = (rgb) => {
    const [r, g, b] = rgb.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number).map((c) => {
      c = c / 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const bg = getComputedStyle(el).backgroundColor;
      if (bg && !bg.endsWith(", 0)") && bg !== "transparent") return bg;
    }
    return "rgb(255, 255, 255)";
  };
  return selectors.map((sel) => {
    const el = document.querySelector(sel);
    if (!el) return [sel, 0];
    const [a, b] = [lum(getComputedStyle(el).color), lum(background(el))];
    return [sel, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)];
  });
}
"""


def assert_good_contrast(page: Any, selectors: list[str]) -> None:
    for selector, ratio in page.evaluate(CONTRAST_JS, selectors):
        assert ratio >= 4.5, f"{selector}: contrast {ratio:.2f} < 4.5 (WCAG AA)"


def submit(page: Any, action: Any) -> None:
    """Do what submits a form, and wait for the page it leads to."""
    with page.expect_navigation():
        action()


def confirm_from_mail(page: Any, mail: Any, server: str, text: dict[str, str]) -> None:
    page.goto(local(link_in(mail, "/confirm/"), server))
    submit(page, page.get_by_role("button", name=text["confirm"]).click)
