"""Every request the service makes to a URL someone typed or a feed named: one guarded GET.

Feeds today; SNS certificates and images use the same door. For each hop it checks the
address (mailer/outbound/policy.py), then connects to exactly the address it checked, so a
second DNS answer can never slip in between. Redirects are followed here, each hop checked
the same way. The whole fetch has one deadline, however slowly the server trickles.
"""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from email.message import Message
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from mailer.outbound.policy import (
    BAD_CERTIFICATE,
    BAD_REDIRECT,
    CONNECTION_FAILED,
    MAX_REDIRECTS,
    NOT_HTTP,
    REDIRECT_STATUSES,
    REFUSED,
    TIMEOUT,
    TLS_FAILED,
    TOO_MANY_REDIRECTS,
    USER_AGENT,
    FetchError,
    FetchPolicy,
    IPAddress,
    Resolver,
    TooLarge,
    checked_address,
    system_resolve,
    target,
)

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    status: int
    headers: Message = field(repr=False)
    body: bytes = field(repr=False)


# --- the request -------------------------------------------------------------------------


class _Deadline:
    """Ends every connection of one fetch when its time is up, whatever phase it is in.

    A per-read timeout does not bound a server that trickles a byte at a time; shutting
    the socket down from a timer does (a duplicate descriptor survives the TLS wrap)."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds
        self.expired = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(max(seconds, 0.0), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0 or self.expired:
            raise FetchError(TIMEOUT)
        return left

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            if self.expired:
                raise FetchError(TIMEOUT)
            self._sockets.append(socket.socket(fileno=os.dup(sock.fileno())))

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def __enter__(self) -> _Deadline:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()


def _connect(address: IPAddress, port: int, deadline: _Deadline, timeout: float) -> socket.socket:
    sock = socket.create_connection((str(address), port), timeout=min(timeout, deadline.left()))
    try:
        deadline.watch(sock)
    except BaseException:
        sock.close()
        raise
    return sock


class _PinnedHTTP(http.client.HTTPConnection):
    """HTTP to the checked address; the Host header keeps the name."""

    def __init__(
        self, host: str, port: int, address: IPAddress, deadline: _Deadline, timeout: float
    ) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address
        self._deadline = deadline
        self._timeout = timeout  # http.client keeps it as float | None

    def connect(self) -> None:
        self.sock = _connect(self._address, self.port, self._deadline, self._timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """TLS to the checked address; SNI and the certificate check use the name."""

    def __init__(
        self,
        host: str,
        port: int,
        address: IPAddress,
        deadline: _Deadline,
        timeout: float,
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._deadline = deadline
        self._timeout = timeout  # http.client keeps it as float | None
        self._tls = context

    def connect(self) -> None:
        sock = _connect(self._address, self.port, self._deadline, self._timeout)
        try:
            self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def _default_tls() -> ssl.SSLContext:
    try:
        import certifi  # the bundle requests used, for hosts without system certificates

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:
        return ssl.create_default_context()


def failure_class(exc: Exception) -> str:
    """What went wrong, as one of the classes above: never the exception's own text."""
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError
        return TIMEOUT
    if isinstance(exc, ConnectionRefusedError):
        return REFUSED
    if isinstance(exc, ssl.SSLCertVerificationError):
        return BAD_CERTIFICATE
    if isinstance(exc, ssl.SSLError):
        return TLS_FAILED
    if isinstance(exc, http.client.HTTPException):
        return NOT_HTTP
    return CONNECTION_FAILED


def _read(response: http.client.HTTPResponse, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = response.read1(64 * 1024)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(max_bytes)
        chunks.append(chunk)


def fetch(
    url: str,
    policy: FetchPolicy,
    *,
    headers: dict[str, str] | None = None,
    max_bytes: int,
    resolve: Resolver = system_resolve,
    tls: ssl.SSLContext | None = None,
) -> Fetched:
    """GET ``url``: redirects followed (each hop checked), the body read only for a 200.

    FetchError (Refused, TooLarge) says what went wrong in words an editor can be shown."""
    request_headers = {"User-Agent": USER_AGENT, **(headers or {})}
    context = tls or _default_tls()
    current = url
    with _Deadline(policy.deadline_seconds) as deadline:
        for _hop in range(MAX_REDIRECTS + 1):
            parts = target(current)
            address = checked_address(parts.host, parts.port, policy, resolve)
            timeout = min(policy.read_timeout_seconds, deadline.left())
            connection: http.client.HTTPConnection = (
                _PinnedHTTPS(parts.host, parts.port, address, deadline, timeout, context)
                if parts.https
                else _PinnedHTTP(parts.host, parts.port, address, deadline, timeout)
            )
            try:
                connection.request("GET", parts.path, headers=request_headers)
                response = connection.getresponse()
                location = response.getheader("Location")
                if response.status in REDIRECT_STATUSES and location:
                    current = urljoin(current, location.strip())
                    if urlsplit(current).scheme.lower() not in ("http", "https"):
                        raise FetchError(BAD_REDIRECT)
                    continue
                body = _read(response, max_bytes) if response.status == 200 else b""
                deadline.left()  # a body cut short by the deadline is a timeout, not a feed
                return Fetched(current, response.status, response.headers, body)
            except FetchError:
                if deadline.expired:
                    raise FetchError(TIMEOUT) from None
                raise
            except Exception as exc:
                # After the deadline shut the socket, any error (reset, short read) is it.
                raise FetchError(TIMEOUT if deadline.expired else failure_class(exc)) from exc
            finally:
                connection.close()
    raise FetchError(TOO_MANY_REDIRECTS)
