"""A worker host's own ``/metrics`` (``MAILER_METRICS_LISTEN``), for hosts that run Celery
workers and no web process: the same answer as the web app's, behind the same token.

Served by the standard library's WSGI server on a daemon thread of the worker's main
process: one scrape every few seconds needs nothing more.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from sqlalchemy import pool

from mailer.config import Settings
from mailer.db import make_engine, utcnow
from mailer.reports.metrics import exposition

log = logging.getLogger(__name__)
StartResponse = Callable[..., Any]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)


def metrics_app(settings: Settings) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    # No pool: this thread lives in the process that forks the pool's children later.
    engine = make_engine(settings.database_url, poolclass=pool.NullPool)
    token = settings.metrics.token.encode("utf-8")

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        scheme, _, given = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if environ.get("PATH_INFO") != "/metrics" or not token:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token):
            start_response(
                "401 Unauthorized",
                [("Content-Type", "text/plain"), ("WWW-Authenticate", 'Bearer realm="metrics"')],
            )
            return [b"a valid 'Authorization: Bearer <MAILER_METRICS_TOKEN>' is required\n"]
        from sqlalchemy.orm import Session

        with Session(engine) as session:
            body, content_type = exposition(session, utcnow(), settings.var_dir)
        start_response("200 OK", [("Content-Type", content_type)])
        return [body]

    return app


def serve_metrics(settings: Settings) -> WSGIServer:
    listen = settings.metrics.worker_listen
    if listen is None:
        raise ValueError("MAILER_METRICS_LISTEN is not set")
    server = make_server(listen[0], listen[1], metrics_app(settings), handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("metrics on http://%s:%s/metrics", *listen)
    return server
