"""Bearer-token authentication for the editors' JSON API."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, request

from mailer.editors.api_tokens import editor_for
from mailer.runtime import runtime


def token_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """401 unless the request carries a valid 'Bearer <token>'; sets ``g.editor_id``."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        with runtime().db.session() as session:
            editor = editor_for(session, token.strip()) if scheme.lower() == "bearer" else None
            if editor is None:
                return {"errors": {"authorization": "a valid 'Bearer <token>' is required"}}, 401
            g.editor_id = editor.id
            session.commit()
        return view(*args, **kwargs)

    return wrapper
