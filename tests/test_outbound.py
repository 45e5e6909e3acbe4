"""The guarded outbound fetcher: no inside address on any hop, the checked address is the one
connected to, one deadline per fetch, and errors that name a class, never socket text.

The address rule is tested as a pure function (DNS answers are given as inputs); end to end
everything is on loopback: servers count their requests to prove a refused one was never
contacted. No test reaches an address off this machine.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailer.articles import registry as feed_registry
from mailer.articles.feeds import FeedError, import_feed
from mailer.articles.models import Article, Feed
from mailer.errors import ValidationFailed
from mailer.outbound import http as outbound_http
from mailer.outbound import policy as outbound_policy
from mailer.outbound.policy import (
    FetchError,
    FetchPolicy,
    Refused,
    address_allowed,
    checked_address,
    numeric_host,
)
from tests.harness.admin import log_in, make_editors, token_from
from tests.harness.feeds import default_items, rss
from tests.harness.http import FeedServer, LocalHTTPServer, QuietHandler
from tests.harness.processes import free_port
from tests.harness.reader import configure

# Domain code, views and commands in this thread only: each test is rolled back.
pytestmark = pytest.mark.rolled_back

INSIDE = FetchPolicy()  # the production default: nothing inside
PRIVATE = outbound_policy.PRIVATE


# --- the address rule, pure ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F000001", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("012.0.0.1", "10.0.0.1"),
        ("0xa9fea9fe", "169.254.169.254"),
        ("[::ffff:127.0.0.1]", "127.0.0.1"),
        ("::ffff:7f00:1", "127.0.0.1"),
        ("[::1]", "::1"),
        ("[FE80::1]", "fe80::1"),
        ("134744072", "8.8.8.8"),
    ],
)
def test_numeric_hosts_are_read_as_the_c_library_reads_them(host, address):
    assert numeric_host(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize(
    "host",
    ["feeds.example.no", "0x7g.0.0.1", "1.2.3.4.5", "256.1.1.1", "1.256.1.1", "1e2", "", "[::g]"],
)
def test_names_are_not_numbers(host):
    assert numeric_host(host) is None


REFUSED = [
    "127.0.0.1",
    "127.255.0.9",
    "0x7f000001",
    "2130706433",
    "0177.0.0.1",
    "127.1",
    "0.0.0.0",
    "10.0.0.1",
    "012.0.0.1",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata (link-local)
    "0xa9fea9fe",
    "100.64.0.1",  # shared address space (carrier-grade NAT)
    "192.0.0.8",
    "64:ff9b:1::a00:1",  # local-use NAT64
    "192.0.2.1",
    "198.18.0.1",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fec0::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "ff0e::1",
    "2001:db8::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:a9fe:a9fe",
    "::127.0.0.1",  # IPv4-compatible (deprecated)
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
]
PUBLIC = [
    "8.8.8.8",
    "134744072",
    "0x08080808",
    "1.1.1.1",
    "193.69.1.10",
    "2001:4860:4860::8888",
    "2a01:79c::1",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
]


@pytest.mark.parametrize("host", REFUSED)
def test_inside_addresses_are_refused_in_every_form(host):
    address = numeric_host(host)
    assert address is not None
    assert not outbound_policy.is_public(address)
    assert not address_allowed(address, INSIDE)
    assert address_allowed(address, FetchPolicy(allow_private=True))
    with pytest.raises(Refused, match=PRIVATE):
        checked_address(host, 80, INSIDE, _no_dns)


@pytest.mark.parametrize("host", PUBLIC)
def test_public_addresses_pass(host):
    address = numeric_host(host)
    assert address is not None
    assert address_allowed(address, INSIDE)
    assert checked_address(host, 80, INSIDE, _no_dns) == outbound_policy._plain(address)


def _no_dns(host: str, port: int) -> list[outbound_policy.IPAddress]:
    raise AssertionError(f"a number needs no DNS lookup, but {host} was looked up")


def _answers(*addresses: str):  # type: ignore[no-untyped-def]
    """A resolver that gives these answers and counts its calls."""
    calls: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[outbound_policy.IPAddress]:
        calls.append((host, port))
        return [ipaddress.ip_address(a) for a in addresses]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


def test_a_name_is_refused_when_any_of_its_answers_is_inside():
    assert checked_address("feeds.example.no", 443, INSIDE, _answers("8.8.8.8")) == (
        ipaddress.ip_address("8.8.8.8")
    )
    for inside in ("10.0.0.7", "::1", "::ffff:192.168.0.1", "fe80::1"):
        with pytest.raises(Refused, match=PRIVATE):
            checked_address("feeds.example.no", 443, INSIDE, _answers("8.8.8.8", inside))


def test_a_name_that_does_not_resolve_is_host_not_found():
    def fail(host: str, port: int) -> list[outbound_policy.IPAddress]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(FetchError) as caught:
        checked_address("ukjent.example.no", 443, INSIDE, fail)
    assert not isinstance(caught.value, Refused)
    assert str(caught.value) == outbound_policy.NOT_FOUND
    with pytest.raises(FetchError, match=outbound_policy.NOT_FOUND):
        checked_address("tom.example.no", 443, INSIDE, _answers())


def test_allowed_networks_lift_the_rule_for_those_networks_only():
    policy = FetchPolicy(allowed_networks=outbound_policy.policy_networks("127.0.0.2/32, fd00::/8"))
    assert address_allowed(ipaddress.ip_address("127.0.0.2"), policy)
    assert address_allowed(ipaddress.ip_address("::ffff:127.0.0.2"), policy)
    assert address_allowed(ipaddress.ip_address("fd00::5"), policy)
    assert not address_allowed(ipaddress.ip_address("127.0.0.1"), policy)
    assert not address_allowed(ipaddress.ip_address("10.0.0.1"), policy)
    assert not address_allowed(ipaddress.ip_address("fc00::5"), policy)
    with pytest.raises(ValueError, match="not a network"):
        outbound_policy.policy_networks("10.0.0.0/8, intranett")


def test_settings_read_the_switches(monkeypatch):
    from mailer.config import ConfigError, load_settings

    monkeypatch.setenv("MAILER_FEED_ALLOW_PRIVATE", "false")
    monkeypatch.setenv("MAILER_FEED_ALLOWED_NETWORKS", "10.20.0.0/16,fd00::/8")
    monkeypatch.setenv("MAILER_FEED_DEADLINE_SECONDS", "12.5")
    settings = load_settings()
    assert settings.feed_allow_private is False
    assert settings.feed_allowed_networks == (
        ipaddress.ip_network("10.20.0.0/16"),
        ipaddress.ip_network("fd00::/8"),
    )
    assert settings.feed_deadline_seconds == 12.5
    assert "10.20.0.0/16" in repr(settings)  # networks are no secret; the keys stay hidden
    monkeypatch.delenv("MAILER_FEED_ALLOW_PRIVATE")
    monkeypatch.delenv("MAILER_FEED_ALLOWED_NETWORKS")
    assert load_settings().feed_allow_private is False  # unset: nothing inside
    for name, bad in [
        ("MAILER_FEED_ALLOW_PRIVATE", "kanskje"),
        ("MAILER_FEED_ALLOWED_NETWORKS", "10.0.0.0/33"),
        ("MAILER_FEED_DEADLINE_SECONDS", "0"),
    ]:
        monkeypatch.setenv(name, bad)
        with pytest.raises(ConfigError, match=name):
            load_settings()
        monkeypatch.delenv(name)


# --- end to end on loopback ----------------------------------------------------------------


def _inside_refused(rt, monkeypatch, **changes):  # type: ignore[no-untyped-def]
    configure(rt, monkeypatch, feed_allow_private=False, **changes)
    return rt.settings


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "0x7f000001", "2130706433", "0177.0.0.1", "127.1", "[::ffff:127.0.0.1]"],
)
def test_a_loopback_feed_is_refused_and_never_contacted(
    session, rt, monkeypatch, feed_server, host
):
    feed_server.body = rss(default_items())
    port = feed_server.url.split(":")[2].split("/")[0]
    url = f"http://{host}:{port}/feed.xml"
    settings = _inside_refused(rt, monkeypatch)

    with pytest.raises(FeedError) as caught:
        import_feed(session, settings, url)
    session.commit()

    assert str(caught.value) == f"cannot fetch {url}: {PRIVATE}"
    assert feed_server.requests == []
    assert session.scalar(select(Feed.last_error).where(Feed.url == url)) == str(caught.value)
    assert session.scalar(select(func.count(Article.id))) == 0


def test_every_door_that_adds_a_feed_refuses_an_inside_address(
    app, session, rt, monkeypatch, cli, feed_server
):
    _inside_refused(rt, monkeypatch)
    port = feed_server.url.split(":")[2].split("/")[0]
    urls = [f"http://0x7f000001:{port}/feed.xml", f"http://[::1]:{port}/feed.xml"]

    with pytest.raises(ValidationFailed) as caught:
        feed_registry.add_feed(session, rt.settings, urls[0])
    assert caught.value.errors == {"url": feed_registry.PRIVATE_ADDRESS}
    session.rollback()

    result = cli.invoke(args=["feeds", "add", urls[1]])
    assert result.exit_code == 1, result.output
    assert f"Error: {urls[1]}: {PRIVATE}" in result.output

    imported = cli.invoke(args=["articles", "import-feed", urls[0]])
    assert imported.exit_code == 1, imported.output
    assert f"Error: cannot fetch {urls[0]}: {PRIVATE}" in imported.output

    client = log_in(app.test_client(), make_editors(session)["editor"])
    page = client.post(
        "/admin/feeds", data={"url": urls[0], "csrf_token": token_from(client, "/admin/feeds")}
    )
    assert page.status_code == 400
    assert "private network" in page.get_data(as_text=True)

    with rt.db.session() as other:
        assert other.scalars(select(Feed.url)).all() == [urls[0]]  # import-feed's error row
    assert feed_server.requests == []


class _RedirectServer(LocalHTTPServer):
    """Redirects /away to ``location``; serves a feed at /feed.xml; counts every request."""

    def __init__(self, host: str, location: str = "") -> None:
        self.location = location
        self.paths: list[str] = []
        server = self
        body = rss(default_items())

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.paths.append(self.path)
                if self.path == "/away":
                    self.send_response(302)
                    self.send_header("Location", server.location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.base = self._serve(Handler, host)
        self.start()


@pytest.fixture
def second_loopback() -> Iterator[_RedirectServer]:
    server = _RedirectServer("127.0.0.2")
    yield server
    server.stop()


def test_every_redirect_hop_is_checked(session, rt, monkeypatch, feed_server, second_loopback):
    """127.0.0.2 is allowed, 127.0.0.1 is not: a redirect from one to the other is refused
    before the second server is contacted."""
    feed_server.body = rss(default_items())
    settings = _inside_refused(
        rt, monkeypatch, feed_allowed_networks=(ipaddress.ip_network("127.0.0.2/32"),)
    )
    url = f"{second_loopback.base}/away"

    second_loopback.location = f"{second_loopback.base}/feed.xml"  # stays inside the allowed
    assert import_feed(session, settings, url).new == 3
    session.commit()

    second_loopback.location = feed_server.url
    with pytest.raises(FeedError) as caught:
        import_feed(session, settings, url)
    session.commit()

    assert str(caught.value) == f"cannot fetch {url}: {PRIVATE}"
    assert second_loopback.paths == ["/away", "/feed.xml", "/away"]
    assert feed_server.requests == []


def test_the_connection_goes_to_the_checked_address_with_the_name_kept(feed_server):
    """One DNS answer, checked, then connected to: the Host header still names the site."""
    feed_server.body = rss(default_items())
    port = int(feed_server.url.split(":")[2].split("/")[0])
    resolve = _answers("127.0.0.1")
    url = f"http://feeds.example.no:{port}/feed.xml"
    allowed = FetchPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),))

    got = outbound_http.fetch(url, allowed, max_bytes=10**6, resolve=resolve)

    assert got.status == 200 and got.body == feed_server.body
    assert resolve.calls == [("feeds.example.no", port)]  # type: ignore[attr-defined]
    assert feed_server.requests[0]["Host"] == f"feeds.example.no:{port}"

    with pytest.raises(Refused):
        outbound_http.fetch(url, INSIDE, max_bytes=10**6, resolve=_answers("127.0.0.1"))
    assert len(feed_server.requests) == 1


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_tls_checks_the_name_while_connecting_to_the_checked_address(tmp_path):
    cert_file, key_file = _certificate(tmp_path, "feeds.example.no")
    server = FeedServer()
    server.body = rss(default_items())
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served.load_cert_chain(cert_file, key_file)
    server.httpd.socket = served.wrap_socket(server.httpd.socket, server_side=True)
    server.start()
    try:
        port = server.httpd.server_address[1]
        trusted = ssl.create_default_context(cafile=str(cert_file))
        policy = FetchPolicy(allow_private=True)
        good = outbound_http.fetch(
            f"https://feeds.example.no:{port}/feed.xml",
            policy,
            max_bytes=10**6,
            resolve=_answers("127.0.0.1"),
            tls=trusted,
        )
        assert good.status == 200 and good.body == server.body
        with pytest.raises(FetchError) as caught:
            outbound_http.fetch(
                f"https://andre.example.no:{port}/feed.xml",
                policy,
                max_bytes=10**6,
                resolve=_answers("127.0.0.1"),
                tls=trusted,
            )
        assert str(caught.value) == outbound_policy.BAD_CERTIFICATE
        assert len(server.requests) == 1
    finally:
        server.stop()


# --- errors name a class -------------------------------------------------------------------


class _BannerServer:
    """A TCP service that is not HTTP: it greets with a banner, as SSH or SMTP would."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.sendall(b"SSH-2.0-OpenSSH_9.6 hemmelig-vert\r\n")
            conn.recv(4096)

    def stop(self) -> None:
        self.sock.close()


def test_a_service_that_is_not_http_is_named_so_and_its_banner_is_not_echoed(session, rt):
    banner = _BannerServer()
    url = f"http://127.0.0.1:{banner.port}/feed.xml"
    try:
        with pytest.raises(FeedError) as caught:
            import_feed(session, rt.settings, url)
    finally:
        banner.stop()
    assert str(caught.value) == f"cannot fetch {url}: {outbound_policy.NOT_HTTP}"
    assert "SSH" not in str(caught.value)


# --- one deadline for the whole fetch ------------------------------------------------------


class _TrickleServer(LocalHTTPServer):
    """Answers with a byte at a time (20 a second, for 10 s at most), in the header lines or
    in the body: each read gets a byte long before any read timeout, so only a total deadline
    ends the fetch."""

    def __init__(self, where: str) -> None:
        self.stopped = threading.Event()
        self.sent = 0
        server = self
        feed = rss(default_items())

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n")
                if where == "body":
                    self.wfile.write(f"Content-Length: {len(feed)}\r\n\r\n".encode())
                    slow, rest = feed[:200], feed[200:]
                else:
                    slow, rest = b"X-Slow: " + b"a" * 192, b"\r\n\r\n" + feed
                try:
                    for byte in slow:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        server.sent += 1
                        if server.stopped.wait(0.05):  # pacing, not synchronisation
                            return
                    self.wfile.write(rest)
                except OSError:  # the client gave up: what the test wants
                    return

        self.url = f"{self._serve(Handler)}/feed.xml"
        self.start()

    def stop(self) -> None:
        self.stopped.set()
        super().stop()


@pytest.mark.parametrize("where", ["headers", "body"])
def test_a_trickling_server_ends_in_a_timeout_at_the_deadline(session, rt, monkeypatch, where):
    server = _TrickleServer(where)
    configure(rt, monkeypatch, feed_deadline_seconds=0.5)
    try:
        with pytest.raises(FeedError) as caught:
            import_feed(session, rt.settings, server.url)
        session.commit()
    finally:
        server.stop()
    assert str(caught.value) == f"cannot fetch {server.url}: {outbound_policy.TIMEOUT}"
    assert 0 < server.sent < 200  # it was answering, just never finishing
    assert session.scalar(select(Feed.last_error)) == str(caught.value)
    assert session.scalar(select(func.count(Article.id))) == 0


def test_the_deadline_comes_from_the_settings(rt):
    assert (
        outbound_policy.policy_for(rt.settings).deadline_seconds
        == rt.settings.feed_deadline_seconds
    )
    changed = dataclasses.replace(rt.settings, feed_deadline_seconds=7.0)
    assert outbound_policy.policy_for(changed).deadline_seconds == 7.0
    assert (
        outbound_policy.policy_for(changed).read_timeout_seconds
        == outbound_policy.READ_TIMEOUT_SECONDS
    )


def test_a_port_nobody_listens_on_is_connection_refused(session, rt):
    url = f"http://127.0.0.1:{free_port()}/feed.xml"
    with pytest.raises(FeedError) as caught:
        import_feed(session, rt.settings, url)
    assert str(caught.value) == f"cannot fetch {url}: {outbound_policy.REFUSED}"
