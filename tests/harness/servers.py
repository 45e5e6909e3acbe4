"""Real servers for tests: an SMTP sink (aiosmtpd), a feed server (http.server), a Celery worker."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]

    def part(self, content_type: str) -> str:
        for part in self.message.walk():
            if part.get_content_type() == content_type:
                return str(part.get_content())
        raise AssertionError(f"no {content_type} part")


class SinkHandler:
    """Accepts everything unless told otherwise; wakes waiters on each accepted mail."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.cond = threading.Condition()
        self.reject: dict[str, str] = {}  # recipient → SMTP reply for RCPT
        # Cleared by a test that needs a send to stay in flight: RCPT waits until it is set.
        self.gate = threading.Event()
        self.gate.set()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if not self.gate.is_set():
            await asyncio.get_running_loop().run_in_executor(None, self.gate.wait)
        if address in self.reject:
            return self.reject[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.cond:
            self.messages.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
            )
            self.cond.notify_all()
        return "250 Message accepted"


class SMTPSink:
    def __init__(self) -> None:
        self.port = free_port()
        self.handler = SinkHandler()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.release()
        self.controller.stop()

    @property
    def messages(self) -> list[Received]:
        with self.handler.cond:
            return list(self.handler.messages)

    def clear(self) -> None:
        with self.handler.cond:
            self.handler.messages.clear()
            self.handler.reject.clear()
        self.handler.gate.set()

    def hold(self) -> None:
        """Hold every SMTP transaction at RCPT until release(): a send stays in flight."""
        self.handler.gate.clear()

    def release(self) -> None:
        self.handler.gate.set()

    def wait_for(self, count: int, timeout: float = 60) -> list[Received]:
        """Block until at least ``count`` mails have arrived (woken by each arrival)."""
        with self.handler.cond:
            ok = self.handler.cond.wait_for(lambda: len(self.handler.messages) >= count, timeout)
            got = list(self.handler.messages)
        if not ok:
            raise AssertionError(f"expected {count} mails within {timeout}s, got {len(got)}")
        return got

    def to(self, address: str) -> list[Received]:
        return [m for m in self.messages if address in m.rcpt_tos]


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


def celery_worker_command(concurrency: int, *options: str) -> list[str]:
    """`celery -A worker.app worker`, as Procfile runs it, at INFO for the test's log."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.app",
        "worker",
        "--loglevel=INFO",
        f"--concurrency={concurrency}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        *options,
    ]


class CeleryWorker:
    """A real `celery worker` process with the test environment."""

    def __init__(self, env: dict[str, str], log_path: Path, concurrency: int = 2) -> None:
        self.env = env
        self.log_path = log_path
        self.concurrency = concurrency
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            celery_worker_command(self.concurrency),
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no csrf_token in the form"
    return match.group(1)


def links(text: str, path: str) -> list[str]:
    return re.findall(rf"https?://[^\s\"<>]*{re.escape(path)}[^\s\"<>]*", text)
