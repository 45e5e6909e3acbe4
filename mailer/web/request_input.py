"""Input no view has to think about: request bodies and parameters that can never be
stored or parsed are refused once, here, with a 400 that names the field.

- JSON nested deeper than any of our bodies (``[`` × 1000 made the parser raise
  RecursionError: a 500 with a traceback on every JSON endpoint) → the body is refused.
- NUL characters: PostgreSQL cannot store them in text, and no name, address or subject
  needs one. A NUL in a query parameter, a form field or a JSON string (or key) → that
  field is refused before any view sees it, on every backend alike.

``CheckedRequest`` is the app's request class, so every ``get_json`` and every read of
``request.form`` is checked; query parameters are checked before each request.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Flask, Request, request
from werkzeug.exceptions import BadRequest, NotFound

from mailer.db import LARGEST_ID
from mailer.i18n import N_

# Our bodies are two levels deep (an object holding lists); this leaves ample room.
MAX_JSON_DEPTH = 20
TOO_DEEP = N_("Forespørselen er nestet for dypt (JSON).")
HAS_NUL = N_("Feltet kan ikke inneholde NUL-tegn (\\u0000).")


class RefusedInput(BadRequest):
    """A field that no view can use; ``field`` names it, ``message`` is Norwegian
    (errors.py translates it for the page or the API)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _nul_field(pairs: Iterable[tuple[str, str]]) -> str | None:
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "\\u0000")
    return None


def _json_problem(data: Any) -> RefusedInput | None:
    """Walks the parsed body without recursion: too deep, or the first NUL (by path)."""
    stack: list[tuple[str, Any, int]] = [("", data, 0)]
    while stack:
        path, value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return RefusedInput("body", TOO_DEEP)
        if isinstance(value, str):
            if "\x00" in value:
                return RefusedInput(path or "body", HAS_NUL)
        elif isinstance(value, dict):
            for key, item in value.items():
                name = f"{path}.{key}" if path else key
                if "\x00" in key:
                    return RefusedInput(name.replace("\x00", "\\u0000"), HAS_NUL)
                stack.append((name, item, depth + 1))
        elif isinstance(value, list):
            name = path or "body"
            stack.extend((f"{name}[{i}]", item, depth + 1) for i, item in enumerate(value))
    return None


class CheckedRequest(Request):
    _refused_form: RefusedInput | None = None

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        try:
            data = super().get_json(force=force, silent=silent, cache=cache)
        except RecursionError:
            # Not a ValueError, so even silent=True let it through as a 500.
            raise RefusedInput("body", TOO_DEEP) from None
        problem = _json_problem(data)
        if problem is not None:
            raise problem
        return data

    def _load_form_data(self) -> None:
        if self._refused_form is not None:
            raise self._refused_form
        super()._load_form_data()
        field = _nul_field(self.form.items(multi=True))
        if field is not None:
            self._refused_form = RefusedInput(field, HAS_NUL)
            # Every later read of the form refuses too, also after a caller (the error
            # page's language lookup) swallowed the first refusal.
            for name in ("form", "files"):
                self.__dict__.pop(name, None)
            raise self._refused_form


def _check_query() -> None:
    field = _nul_field(request.args.items(multi=True))
    if field is not None:
        raise RefusedInput(field, HAS_NUL)


# Every id in a URL names a row of an INTEGER column (mailer.db.LARGEST_ID): a larger one
# is no such row, 404, before any query.


def _check_ids() -> None:
    for value in (request.view_args or {}).values():
        if isinstance(value, int) and value > LARGEST_ID:
            raise NotFound("no such id")


def init_request_input(app: Flask) -> None:
    app.request_class = CheckedRequest
    # First of all hooks: nothing (limits, CSRF, a view) reads a parameter before this.
    app.before_request_funcs.setdefault(None, []).insert(0, _check_query)
    app.before_request_funcs[None].insert(1, _check_ids)
