"""Per-IP request limits on the reader's POSTs (signup form, API, new links, data requests).

``MAILER_SIGNUP_LIMITS`` (default "10/minute;50/hour") counts per client IP and per
endpoint, in MAILER_REDIS_URL (all web processes together), else in memory.
Beyond it the reader gets 429 with a readable page (JSON on the API). The per-address
limit lives in the domain (subscriptions.MAX_SIGNUPS_PER_ADDRESS), since an address is
only known once the form is parsed, and it must never change the answer.

The limits are hit here, in Flask-Limiter's storage and under the keys its own decorator
uses, without its per-request bookkeeping (resolving the route's limits, exemption scopes,
the request's limit list): measured in one process (3,000 checks of a POST's limit, Redis
storage), Flask-Limiter's check cost 0.17 ms of CPU, the storage's hit alone 0.05-0.10 ms
(bench/README.md, "Signup, fourth pass").
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache, wraps
from typing import Any

from flask import abort, current_app, g, request
from limits import RateLimitItem, parse_many

from mailer.runtime import runtime
from mailer.web.limits import BROKEN, limiter
from mailer.web.request_info import client_ip

log = logging.getLogger(__name__)


@lru_cache(maxsize=16)
def _parsed(text: str) -> tuple[RateLimitItem, ...]:
    # The shortest window first, as Flask-Limiter checks them.
    return tuple(sorted(parse_many(text)))


def hit_signup_limits() -> None:
    """Count this POST against the signup limits of its endpoint; 429 at the first limit
    it breaks (the error handler says when to come back)."""
    if not limiter.enabled:
        return
    key = client_ip()
    if not key:
        return  # as Flask-Limiter: no address, no per-address limit
    strategy = limiter.limiter
    args = (current_app.config.get("RATELIMIT_KEY_PREFIX", ""), key, request.endpoint or "")
    for item in _parsed(runtime().settings.signup_limits):
        if not strategy.hit(item, *args):
            log.info("ratelimit %s (%s) exceeded at endpoint: %s", item, key, args[2])
            setattr(g, BROKEN, (item, args))
            abort(429)


def per_ip_post_limit() -> Callable[[Any], Any]:
    """A decorator: the signup limits on this view's POSTs, keyed by the client's IP."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def limited(*args: Any, **kwargs: Any) -> Any:
            if request.method == "POST":
                hit_signup_limits()
            return view(*args, **kwargs)

        return limited

    return decorate
