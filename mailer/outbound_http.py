"""Every request the service makes to a URL someone typed or a feed named: one guarded GET.

Feeds today; SNS certificates and images use the same door. For each hop it
resolves the host once, refuses addresses inside (loopback, private, link-local,
shared, multicast, reserved, unspecified, and IPv6 forms that embed one), then
connects to exactly the address it checked, so a second DNS answer can never
slip in between. Redirects are followed here, each hop checked the same way.
The whole fetch has one deadline, however slowly the server trickles.

Errors name the class of failure ("timeout", "connection refused"); raw socket
text would make this a port scanner.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

if TYPE_CHECKING:
    from mailer.config import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[IPAddress]]

MAX_REDIRECTS = 5
# One read or connect may wait this long; the deadline bounds the fetch as a whole.
READ_TIMEOUT_SECONDS = 20.0
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "mailer-feed-reader/0.1 (+newsletter digest)"

PRIVATE = "this address is on a private network"
TIMEOUT = "timeout"
REFUSED = "connection refused"
NOT_FOUND = "host not found"
CONNECTION_FAILED = "connection failed"
BAD_CERTIFICATE = "the site's TLS certificate is not valid"
TLS_FAILED = "TLS handshake failed"
NOT_HTTP = "the answer is not HTTP"
BAD_REDIRECT = "redirected to an address that is not http:// or https://"
TOO_MANY_REDIRECTS = f"too many redirects (more than {MAX_REDIRECTS})"
NOT_A_URL = "not an http:// or https:// URL"

# NAT64 (RFC 6052) carries an IPv4 address in its last 32 bits.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Not globally reachable (IANA special-purpose registries), but not known as such to every
# Python version's ipaddress: listed here so the rule does not depend on the interpreter.
_NOT_PUBLIC = tuple(
    ipaddress.ip_network(n)
    for n in ("0.0.0.0/8", "192.0.0.0/24", "64:ff9b:1::/48", "100::/64", "5f00::/16")
)


class FetchError(Exception):
    """The fetch failed; the message is one of the classes above, safe to show an editor."""


class Refused(FetchError):
    """The address is on a network this service may not reach."""


class TooLarge(FetchError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"larger than {limit // (1024 * 1024)} MB")
        self.limit = limit


@dataclass(frozen=True)
class FetchPolicy:
    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()
    deadline_seconds: float = 30.0
    read_timeout_seconds: float = READ_TIMEOUT_SECONDS


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    status: int
    headers: Message = field(repr=False)
    body: bytes = field(repr=False)


# --- the address policy (pure) ------------------------------------------------------------


def _inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address the C library would read in ``host`` (``0x7f000001``, ``2130706433``,
    ``0177.0.0.1``, ``127.1``), or None when it is not a number in any of those forms."""
    parts = host.removesuffix(".").split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values: list[int] = []
    for part in parts:
        if part[:2].lower() == "0x":
            digits, base = part[2:], 16
        elif len(part) > 1 and part.startswith("0"):
            digits, base = part[1:], 8
        else:
            digits, base = part, 10
        if not digits or not digits.isascii() or not digits.isalnum():
            return None
        try:
            values.append(int(digits, base))
        except ValueError:
            return None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    number = last
    for i, value in enumerate(head):
        number += value << (8 * (3 - i))
    return ipaddress.IPv4Address(number)


def numeric_host(host: str) -> IPAddress | None:
    """``host`` (as in a URL, brackets optional) as an address when it is one, in any form."""
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        try:
            return _plain(ipaddress.IPv6Address(host))
        except ValueError:
            return None
    return _inet_aton(host)


def _plain(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address (``::ffff:127.0.0.1``) is the IPv4 address it maps."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found = [a for a in (address.sixtofour,) if a is not None]
    if address.teredo is not None:
        found.extend(address.teredo)
    return found


def is_public(address: IPAddress) -> bool:
    """True only for an address on the public internet, also for what an IPv6 form embeds."""
    address = _plain(address)
    if isinstance(address, ipaddress.IPv6Address) and address in _NAT64:
        # On an IPv6-only network DNS64 gives every IPv4 site this form: judge what it carries.
        return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global  # also 100.64.0.0/10, shared by carriers
    ):
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return False
    if any(address.version == n.version and address in n for n in _NOT_PUBLIC):
        return False
    return all(is_public(inner) for inner in _embedded_ipv4(address))


def address_allowed(address: IPAddress, policy: FetchPolicy) -> bool:
    address = _plain(address)
    if policy.allow_private or is_public(address):
        return True
    return any(
        address.version == network.version and address in network
        for network in policy.allowed_networks
    )


def system_resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the system resolver gives for ``host``, in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for info in infos:
        address = _plain(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
        if address not in found:
            found.append(address)
    return found


def checked_address(host: str, port: int, policy: FetchPolicy, resolve: Resolver) -> IPAddress:
    """The address to connect to for ``host``; Refused when it (or any other answer) is inside.

    Every answer must pass, not just the first: a name that also resolves inside is refused."""
    numeric = numeric_host(host)
    if numeric is not None:
        addresses: list[IPAddress] = [numeric]
    else:
        try:
            addresses = [_plain(a) for a in resolve(host, port)]
        except (OSError, UnicodeError) as exc:
            raise FetchError(NOT_FOUND) from exc
        if not addresses:
            raise FetchError(NOT_FOUND)
    if not all(address_allowed(a, policy) for a in addresses):
        raise Refused(PRIVATE)
    return addresses[0]


@dataclass(frozen=True)
class Target:
    url: str
    https: bool
    host: str  # ASCII (IDNA), no brackets
    port: int
    path: str


def target(url: str) -> Target:
    """The parts of an http(s) URL a request needs; FetchError when it is not one."""
    try:
        parts = urlsplit(url)
        port = parts.port
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except (ValueError, UnicodeError) as exc:
        raise FetchError(NOT_A_URL) from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host or any(c.isspace() for c in url):
        raise FetchError(NOT_A_URL)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    https = scheme == "https"
    return Target(url, https, host, port or (443 if https else 80), path)


def check_url(url: str, policy: FetchPolicy, resolve: Resolver = system_resolve) -> None:
    """What adding a feed checks before anything is stored: Refused for an inside address.

    A name that does not resolve now is let through; the fetch reports it."""
    if policy.allow_private:
        return
    parts = target(url)
    try:
        checked_address(parts.host, parts.port, policy, resolve)
    except Refused:
        raise
    except FetchError:
        pass


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

    def connect(self) -> None:
        self.sock = _connect(self._address, self.port, self._deadline, self.timeout)


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
        self._tls = context

    def connect(self) -> None:
        sock = _connect(self._address, self.port, self._deadline, self.timeout)
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


def policy_networks(raw: str) -> tuple[IPNetwork, ...]:
    """``MAILER_FEED_ALLOWED_NETWORKS``: comma-separated CIDR blocks; ValueError names a bad one."""
    networks: list[IPNetwork] = []
    for item in raw.split(","):
        if item.strip():
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError as exc:
                raise ValueError(f"{item.strip()!r} is not a network like 10.1.0.0/16") from exc
    return tuple(dict.fromkeys(networks))


def policy_for(settings: Settings) -> FetchPolicy:
    return FetchPolicy(
        allow_private=settings.feed_allow_private,
        allowed_networks=settings.feed_allowed_networks,
        deadline_seconds=settings.feed_deadline_seconds,
    )
