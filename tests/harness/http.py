"""HTTP servers on loopback for the app to fetch from: a base class and a feed server."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


class LocalHTTPServer:
    """A threaded HTTP server on a free loopback port; a subclass brings the handler."""

    def _serve(self, handler: type[BaseHTTPRequestHandler], host: str = "127.0.0.1") -> str:
        """Bind (not yet serving) and return the server's base URL (any 127.x address works)."""
        self.httpd = ThreadingHTTPServer((host, 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        return f"http://{host}:{self.httpd.server_address[1]}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class FeedServer(LocalHTTPServer):
    """Serves one document at /feed.xml with an ETag; records the request headers it saw."""

    def __init__(self) -> None:
        self.body = b""
        self.content_type = "application/rss+xml; charset=utf-8"
        self.status = 200
        self.requests: list[dict[str, str]] = []
        server = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.requests.append(dict(self.headers))
                etag = f'"{abs(hash(server.body))}"'
                if server.status == 200 and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(server.status)
                self.send_header("Content-Type", server.content_type)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

        self.url = f"{self._serve(Handler)}/feed.xml"
