"""``GET /metrics`` (Prometheus text format) behind ``MAILER_METRICS_TOKEN``, and the
request counters and latency every page and API call adds to.

Without a token set the route answers 404 like any unknown path: the numbers say how big
the list is and how sending goes, which is nobody's business but the operator's.
"""

from __future__ import annotations

import hmac
from time import perf_counter
from typing import Any

from flask import Blueprint, Flask, Response, abort, g, has_request_context, request

from mailer.db import utcnow
from mailer.logs import add_context_source
from mailer.metrics import instruments
from mailer.reports.metrics import exposition
from mailer.runtime import runtime

bp = Blueprint("metrics", __name__)


def _authorised(token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8"), token.encode("utf-8")
    )


@bp.get("/metrics")
def metrics() -> Response:
    rt = runtime()
    token = rt.settings.metrics.token
    if not token:
        abort(404)
    if not _authorised(token):
        return Response(
            "a valid 'Authorization: Bearer <MAILER_METRICS_TOKEN>' is required\n",
            401,
            {"WWW-Authenticate": 'Bearer realm="metrics"', "Content-Type": "text/plain"},
        )
    with rt.db.session() as session:
        body, content_type = exposition(session, utcnow(), rt.settings.var_dir)
    return Response(body, 200, {"Content-Type": content_type, "Cache-Control": "no-store"})


def _started() -> None:
    g.metrics_started = perf_counter()


def _answered(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is not None:
        # The rule's endpoint, never the path: a path holds tokens and ids without bound.
        endpoint = request.endpoint or "unmatched"
        found = instruments()
        found.request_seconds.labels(request.method, endpoint).observe(perf_counter() - started)
        found.requests.labels(request.method, endpoint, str(response.status_code)).inc()
    return response


# The ids a URL may name, as log fields (never a token: those are not ids).
LOGGED_IDS = ("issue_id", "delivery_id", "subscriber_id", "article_id", "feed_id")


def _request_ids() -> dict[str, Any]:
    if not has_request_context() or not request.view_args:
        return {}
    return {k: v for k, v in request.view_args.items() if k in LOGGED_IDS}


def init_metrics(app: Flask) -> None:
    add_context_source(_request_ids)
    app.before_request(_started)
    app.after_request(_answered)
    app.register_blueprint(bp)
