"""Per-IP request limits on the reader's POSTs (signup form, API, new links, data requests).

``MAILER_SIGNUP_LIMITS`` (default "10/minute;50/hour") counts per client IP and per
endpoint, in MAILER_REDIS_URL (all web processes together), else in memory.
Beyond it the reader gets 429 with a readable page (JSON on the API). The per-address
limit lives in the domain (subscriptions.MAX_SIGNUPS_PER_ADDRESS), since an address is
only known once the form is parsed, and it must never change the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mailer.runtime import runtime
from mailer.web.limits import limiter
from mailer.web.request_info import client_ip


def _signup_limits() -> str:
    return runtime().settings.signup_limits


def per_ip_post_limit() -> Callable[[Any], Any]:
    """A decorator: the signup limits on this view's POSTs, keyed by the client's IP."""
    return limiter.limit(_signup_limits, key_func=client_ip, methods=["POST"])
