"""axe-core on every page the browser tests visit (DECISIONS.md: WCAG 2.1 AA is a legal duty).

The `browser` fixture hands out an `AxeBrowser`: every context it makes bypasses the CSP,
carries axe-core as an init script (in every document and frame), and has its pages'
methods wrapped so that after each call (and before one that leaves or closes the page) a
fully loaded document not yet checked is run through axe with the WCAG 2.0/2.1 A and AA
rules. A check from the pages' own calls, not from a `load` event handler: a handler runs
axe concurrently with the test, which may already be navigating away (a lost or flaky
check). Violations fail the test: at `context.close()` and, for contexts a fixture closes,
at the end of the test (tests/conftest.py).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

AXE_JS = Path(__file__).resolve().parent.parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

# Every document checked, in order (the checker's own test reads it).
CHECKED_URLS: list[str] = []

# Claims the document (one check each), then runs axe; null when not loaded or done already.
RUN_JS = """
async (tags) => {
  if (document.readyState !== "complete" || window.__mailerAxeChecked) return null;
  // A new page's empty document (set_content fills it later and is checked then).
  if (location.href === "about:blank" && !document.body?.childElementCount) return null;
  window.__mailerAxeChecked = true;
  if (!window.axe) {
    return [{id: "axe-missing", impact: "critical", help: "axe-core not injected", targets: []}];
  }
  const result = await window.axe.run(document, {runOnly: {type: "tag", values: tags}});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.map((n) => n.target.map(String).join(" ")),
  }));
}
"""
# Methods that leave or close the document: check it first (it is about to go).
LEAVING = {"goto", "reload", "go_back", "go_forward", "set_content", "close"}
# Calls that neither act on nor navigate the page: no check around them.
QUIET = {"on", "once", "remove_listener", "is_closed", "evaluate", "wait_for_timeout"}


def describe(url: str, violations: list[dict[str, Any]]) -> list[str]:
    return [
        f"{url}: {v['id']} ({v['impact']}) {v['help']} -> {', '.join(v['targets'][:5])}"
        for v in violations
    ]


class PageCheck:
    """The axe check of one page, with its own (unwrapped) evaluate."""

    def __init__(self, page: Any, found: list[str]) -> None:
        self.page = page
        self.found = found
        self.evaluate = page.evaluate
        self.wait_for_load_state = page.wait_for_load_state
        self.busy = False

    def run(self, *, wait: bool = False) -> None:
        from playwright.sync_api import Error

        if self.busy or self.page.is_closed():
            return
        self.busy = True
        try:
            if wait:
                self.wait_for_load_state("load")
            violations = self.evaluate(RUN_JS, TAGS)
            if violations is not None:
                CHECKED_URLS.append(self.page.url)
                self.found.extend(describe(self.page.url, violations))
        except Error as exc:
            # The document went while axe ran (a navigation the test started): the next one
            # is checked; any other failure is a real one.
            text = str(exc)
            gone = ("context was destroyed", "navigation", "closed", "detached", "Cannot find")
            if not any(s in text for s in gone):
                raise
        finally:
            self.busy = False


def _wrap_result(result: Any, check: PageCheck) -> Any:
    from playwright.sync_api import ElementHandle, FrameLocator, Locator

    if isinstance(result, Locator | FrameLocator | ElementHandle):
        _wrap_methods(result, check)
    elif hasattr(result, "__exit__") and hasattr(result, "__enter__"):
        return _CheckedManager(result, check)
    return result


class _CheckedManager:
    """expect_navigation() and kin: the page they wait for is checked on leaving the block."""

    def __init__(self, manager: Any, check: PageCheck) -> None:
        self.manager = manager
        self.check = check

    def __enter__(self) -> Any:
        return self.manager.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        outcome = self.manager.__exit__(*exc)
        if exc[0] is None:
            self.check.run()
        return outcome


def _wrap_methods(obj: Any, check: PageCheck) -> None:
    if getattr(obj, "_mailer_axe", False):
        return
    for name in dir(type(obj)):
        if name.startswith("_") or name in QUIET:
            continue
        attr = getattr(type(obj), name)
        if isinstance(attr, property) or not callable(attr):
            continue
        original = getattr(obj, name)

        @functools.wraps(original)
        def wrapper(*args: Any, __original: Any = original, __name: str = name, **kw: Any) -> Any:
            if __name in LEAVING:
                check.run(wait=True)
            result = _wrap_result(__original(*args, **kw), check)
            if __name != "close":
                check.run()
            return result

        setattr(obj, name, wrapper)
    obj._mailer_axe = True


class AxeContext:
    """Records a context's pages; close() checks what is open, then fails on violations."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.found: list[str] = []
        self.checks: list[PageCheck] = []
        context.add_init_script(path=str(AXE_JS))
        context.on("page", self.watch)
        original_new_page = context.new_page
        original_close = context.close

        def new_page(*args: Any, **kw: Any) -> Any:
            page = original_new_page(*args, **kw)
            self.watch(page)
            return page

        def close(*args: Any, **kw: Any) -> None:
            for check in self.checks:
                check.run(wait=True)
            original_close(*args, **kw)
            found, self.found[:] = list(self.found), []
            assert not found, "axe-core found WCAG 2.1 A/AA violations:\n" + "\n".join(found)

        context.new_page = new_page
        context.close = close
        context._mailer_axe_context = self

    def watch(self, page: Any) -> None:
        if getattr(page, "_mailer_axe", False):
            return
        check = PageCheck(page, self.found)
        self.checks.append(check)
        _wrap_methods(page, check)


CONTEXTS: list[AxeContext] = []


class AxeBrowser:
    """The session's Chromium, handing out axe-checked contexts and pages."""

    def __init__(self, browser: Any) -> None:
        self.browser = browser

    def new_context(self, **kw: Any) -> Any:
        """bypass_csp=True unless the caller says otherwise: a test that watches for CSP
        violations (PageWatch) needs the CSP enforced, and axe runs there all the same
        (an init script is outside the page's CSP; tests/browser/test_axe_check.py)."""
        assert AXE_JS.exists(), f"{AXE_JS} is missing: `make axe` (part of `make test`)"
        context = self.browser.new_context(**{"bypass_csp": True, **kw})
        CONTEXTS.append(AxeContext(context))
        return context

    def new_page(self, **kw: Any) -> Any:
        """Like Browser.new_page: a page in its own context, which the page's close ends."""
        context = self.new_context(**kw)
        page = context.new_page()
        page_close = page.close

        def close(*args: Any, **kwargs: Any) -> None:
            page_close(*args, **kwargs)
            context.close()

        page.close = close
        return page

    def __getattr__(self, name: str) -> Any:
        return getattr(self.browser, name)


def unreported() -> list[str]:
    """At the end of a test: violations no context's close reported (closed or not)."""
    found: list[str] = []
    for axe_context in CONTEXTS:
        for check in axe_context.checks:
            if not check.page.is_closed():
                check.run(wait=True)
        found.extend(axe_context.found)
        axe_context.found.clear()
    CONTEXTS.clear()
    return found
