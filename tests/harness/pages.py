"""Reading what the app hands out: the CSRF token of a form, the links in a page or mail."""

from __future__ import annotations

import re


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no csrf_token in the form"
    return match.group(1)


def links(text: str, path: str) -> list[str]:
    return re.findall(rf"https?://[^\s\"<>]*{re.escape(path)}[^\s\"<>]*", text)
