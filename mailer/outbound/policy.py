"""Which addresses the service may fetch from, decided before any connection: the pure
half of the guarded fetcher (mailer/outbound/http.py is the other).

A host is resolved once; loopback, private, link-local, shared, multicast, reserved and
unspecified addresses, and IPv6 forms that embed one, are refused unless the operator
allowed them (MAILER_FEED_ALLOW_PRIVATE, MAILER_FEED_ALLOWED_NETWORKS). Errors name the
class of failure ("timeout", "connection refused"): raw socket text would make the service
a port scanner.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

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
