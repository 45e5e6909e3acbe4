"""DKIM signatures (RFC 6376): rsa-sha256, relaxed/relaxed, RSA in C via ``cryptography``.

``DkimSigner(domain, selector, private_key_pem).sign(outgoing.data)`` returns the mail
with a folded ``DKIM-Signature:`` header in front. The key is loaded once; a signature
costs one SHA-256 over the body and one RSA-2048 private-key operation in OpenSSL.

Relaxed canonicalization (§3.4.2 header, §3.4.4 body) is done here rather than with
dkimpy, whose pure-Python RSA is several times slower than the rest of building a mail.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from mailer.config import ConfigError, Settings

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from mailer.mail.messages import Outgoing

# cryptography (~8 MB resident) is imported where a key is used, so that a worker
# without DKIM configured never loads it.

CRLF = b"\r\n"
# In the order they are listed in h=. Only the headers present in a mail are signed.
# List-Unsubscribe-Post must be signed for RFC 8058 one-click unsubscribe; dkimpy's
# default list leaves it out.
SIGNED_HEADERS = (
    "From",
    "Reply-To",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
)
KEY_BITS = 2048
MIN_KEY_BITS = 1024  # RFC 8301: verifiers must reject smaller keys
FOLD_WIDTH = 78
TXT_CHUNK = 255  # the longest character-string in a DNS TXT record

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_HEADER_NAME_RE = re.compile(rb"[!-9;-~]+")
_WSP_RUN = re.compile(rb"[ \t]+")
_WSP_BEFORE_CRLF = re.compile(rb"[ \t]+\r\n")
_WSP_TO_COMPRESS = re.compile(rb"[ \t]{2,}|\t")


class DkimError(ValueError):
    """The domain, selector, key or message cannot be signed; the message says why."""


def dns_name(value: str, what: str = "domain") -> str:
    """``value`` as an ASCII DNS name (IDN labels in punycode), lower case, no final dot."""
    name = value.strip().rstrip(".")
    try:
        ascii_name = name.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise DkimError(f"DKIM {what} {value!r} is not a valid DNS name: {exc}") from exc
    if not _DOMAIN_RE.fullmatch(ascii_name) or len(ascii_name) > 253:
        raise DkimError(f"DKIM {what} {value!r} is not a valid DNS name")
    return ascii_name


# --- canonicalization (RFC 6376 §3.4.2 and §3.4.4) ----------------------------------------


def relaxed_header(name: bytes, value: bytes) -> bytes:
    """``name:value`` of one header field, relaxed, without the final CRLF.

    ``value`` is everything after the colon, continuation lines included.
    """
    unfolded = value.replace(CRLF, b"")
    return name.rstrip(b" \t").lower() + b":" + _WSP_RUN.sub(b" ", unfolded).strip(b" ")


def relaxed_body(body: bytes) -> bytes:
    """The body, relaxed: no WSP at line ends, WSP runs as one SP, no empty lines at the end."""
    # Quoted-printable bodies have neither, so the regexes usually do not run.
    tab = b"\t" in body
    if tab or b" \r\n" in body:
        body = _WSP_BEFORE_CRLF.sub(CRLF, body)
    if tab or b"  " in body:
        body = _WSP_TO_COMPRESS.sub(b" ", body)
    end = len(body)
    while body.endswith(CRLF, 0, end):
        end -= 2
    if end == 0:
        return b""
    if end == len(body):  # no CRLF at the very end
        return body + CRLF
    return body[: end + 2]


def split_message(message: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """(name, value) for each header field in order, and the body, of a CRLF message."""
    if message.startswith(CRLF):
        head, body = b"", message[2:]
    else:
        head, separator, body = message.partition(CRLF + CRLF)
        if not separator and head.endswith(CRLF):
            head = head[:-2]
    fields: list[tuple[bytes, bytes]] = []
    for line in head.split(CRLF) if head else ():
        if line[:1] in (b" ", b"\t"):
            if not fields:
                raise DkimError("the message starts with a continuation line")
            name, value = fields[-1]
            fields[-1] = (name, value + CRLF + line)
            continue
        name, colon, value = line.partition(b":")
        if not colon or not _HEADER_NAME_RE.fullmatch(name.rstrip(b" \t")):
            raise DkimError(f"not a header line: {line[:60]!r}")
        fields.append((name, value))
    return fields, body


def normalise_line_ends(message: bytes) -> bytes:
    """Every line end as CRLF, and a CRLF at the end, as SMTP will transmit the mail."""
    # bytes.splitlines breaks at CR, LF and CRLF only; for a CRLF mail this is a copy,
    # and faster than counting to find out whether it is one.
    return CRLF.join(message.splitlines()) + CRLF


# --- the DKIM-Signature header --------------------------------------------------------------


class _Folder:
    """Builds a header field of at most FOLD_WIDTH characters a line where it can.

    Each piece is appended after ``sep`` (" " between tags, "" inside a value); a line
    is broken with CRLF SP instead, which is FWS, allowed at both kinds of place.
    """

    def __init__(self, start: str) -> None:
        self.text = start
        self.column = len(start)

    def add(self, piece: str, sep: str = " ") -> None:
        if self.column + len(sep) + len(piece) > FOLD_WIDTH and self.column > 1:
            self.text += "\r\n " + piece
            self.column = 1 + len(piece)
        else:
            self.text += sep + piece
            self.column += len(sep) + len(piece)


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class DkimSigner:
    """Signs mails for one domain and selector with one RSA key (loaded once)."""

    def __init__(
        self,
        domain: str,
        selector: str,
        private_key_pem: bytes,
        headers: tuple[str, ...] | list[str] = SIGNED_HEADERS,
    ) -> None:
        self.domain = dns_name(domain, "domain")
        self.selector = dns_name(selector, "selector")
        names = tuple(h.strip() for h in headers)
        if not all(h.isascii() and _HEADER_NAME_RE.fullmatch(h.encode()) for h in names):
            raise DkimError(f"not a header name in {names!r}")
        if "from" not in {h.lower() for h in names}:
            raise DkimError("RFC 6376 §5.4: the From header must be signed")
        self.headers = names
        self._wanted = list(dict.fromkeys(h.lower().encode("ascii") for h in names))
        # Worker memory: cryptography (OpenSSL) is loaded only where a DKIM key is used.
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        self._padding, self._hash = padding.PKCS1v15(), hashes.SHA256()
        try:
            key = serialization.load_pem_private_key(private_key_pem, password=None)
        except (ValueError, TypeError) as exc:
            raise DkimError(f"not an unencrypted PEM private key: {exc}") from exc
        if not isinstance(key, rsa.RSAPrivateKey):
            raise DkimError(f"the DKIM key must be RSA, not {type(key).__name__}")
        if key.key_size < MIN_KEY_BITS:
            raise DkimError(f"the DKIM key has {key.key_size} bits; at least 1024 are needed")
        self._key = key
        self.public_key = key.public_key()

    def dns_record(self) -> str:
        return dns_record(self.selector, self.domain, self.public_key)

    def sign(self, message: bytes, *, timestamp: int | None = None) -> bytes:
        """The message with a DKIM-Signature header in front (line ends made CRLF)."""
        message = normalise_line_ends(message)
        fields, body = split_message(message)
        body_hash = base64.b64encode(hashlib.sha256(relaxed_body(body)).digest()).decode()

        # Each name once per occurrence, occurrences from the bottom up (§5.4.2).
        by_name: dict[bytes, list[tuple[bytes, bytes]]] = {}
        for name, value in fields:
            by_name.setdefault(name.rstrip(b" \t").lower(), []).append((name, value))
        signed: list[bytes] = []
        names: list[str] = []
        for wanted in self._wanted:
            for name, value in reversed(by_name.get(wanted, ())):
                signed.append(relaxed_header(name, value))
                names.append(wanted.decode("ascii"))
        if "from" not in names:
            raise DkimError("the message has no From header")

        t = int(time.time()) if timestamp is None else timestamp
        header = _Folder("DKIM-Signature:")
        for tag in (
            "v=1;",
            "a=rsa-sha256;",
            "c=relaxed/relaxed;",
            f"d={self.domain};",
            f"s={self.selector};",
            f"t={t};",
        ):
            header.add(tag)
        header.add(f"h={names[0]}" + (";" if len(names) == 1 else ""))
        for i, signed_name in enumerate(names[1:], 2):
            header.add(f":{signed_name}" + (";" if i == len(names) else ""), "")
        header.add(f"bh={body_hash};")
        header.add("b=")
        unsigned = header.text.encode("ascii")
        name, _, value = unsigned.partition(b":")
        data = CRLF.join([*signed, relaxed_header(name, value)])
        signature = self._key.sign(data, self._padding, self._hash)
        for piece in _chunks(base64.b64encode(signature).decode("ascii"), 64):
            header.add(piece, "")
        return header.text.encode("ascii") + CRLF + message


# --- keys and DNS ---------------------------------------------------------------------------


def _public_key(public_key: rsa.RSAPublicKey | rsa.RSAPrivateKey | bytes) -> rsa.RSAPublicKey:
    # Worker memory, as above.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key: object = public_key
    if isinstance(public_key, bytes):
        if b"PRIVATE KEY" in public_key:
            key = serialization.load_pem_private_key(public_key, password=None)
        else:
            key = serialization.load_pem_public_key(public_key)
    if isinstance(key, rsa.RSAPrivateKey):
        key = key.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise DkimError(f"the DKIM key must be RSA, not {type(key).__name__}")
    return key


def txt_value(public_key: rsa.RSAPublicKey | rsa.RSAPrivateKey | bytes) -> str:
    """The TXT record text: ``v=DKIM1; k=rsa; p=<base64 DER SubjectPublicKeyInfo>``."""
    from cryptography.hazmat.primitives import serialization  # worker memory, as above

    der = _public_key(public_key).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode('ascii')}"


def dns_record(
    selector: str, domain: str, public_key: rsa.RSAPublicKey | rsa.RSAPrivateKey | bytes
) -> str:
    """A zone-file line: ``<selector>._domainkey.<domain>. IN TXT "…" "…"``.

    ``public_key`` is a key object or PEM bytes; the text is split into 255-character
    strings, which DNS joins back together.
    """
    name = f"{dns_name(selector, 'selector')}._domainkey.{dns_name(domain)}."
    quoted = " ".join(f'"{chunk}"' for chunk in _chunks(txt_value(public_key), TXT_CHUNK))
    return f"{name} IN TXT {quoted}"


def generate_key(bits: int = KEY_BITS) -> tuple[bytes, str]:
    """A new RSA key: (private key PEM, TXT record text for it).

    The PEM is PKCS#1 ("BEGIN RSA PRIVATE KEY"), which OpenDKIM, dkimpy and others read.
    """
    # Worker memory, as above.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return pem, txt_value(key.public_key())


def write_private_key(path: Path, pem: bytes) -> None:
    """Write a new file with mode 0600; FileExistsError if ``path`` exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            fd = -1
            f.write(pem)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        path.unlink(missing_ok=True)
        raise


# --- from settings --------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _cached_signer(domain: str, selector: str, key: bytes) -> DkimSigner:
    return DkimSigner(domain, selector, key)


def dkim_signer_for(settings: Settings) -> DkimSigner | None:
    """The signer the settings ask for, or None when DKIM is not configured.

    Cheap to call per batch: signers are cached by (domain, selector, key).
    """
    domain, selector, key = settings.dkim_domain, settings.dkim_selector, settings.dkim_private_key
    if not (domain or selector or key):
        return None
    return checked_signer(domain, selector, key)


def checked_signer(
    domain: str, selector: str, key: bytes, key_variable: str = "MAILER_DKIM_PRIVATE_KEY"
) -> DkimSigner:
    """The (cached) signer, or a ConfigError naming the MAILER_DKIM_* variable at fault."""
    for variable, value in (("MAILER_DKIM_DOMAIN", domain), ("MAILER_DKIM_SELECTOR", selector)):
        if not value:
            raise ConfigError(
                f"{variable} is not set: DKIM signing needs MAILER_DKIM_DOMAIN, "
                "MAILER_DKIM_SELECTOR and MAILER_DKIM_PRIVATE_KEY (or _FILE)"
            )
        try:
            dns_name(value, variable.rpartition("_")[2].lower())
        except DkimError as exc:
            raise ConfigError(f"{variable}: {exc}") from exc
    if not key:
        raise ConfigError(
            "MAILER_DKIM_PRIVATE_KEY is not set: DKIM signing needs MAILER_DKIM_DOMAIN, "
            "MAILER_DKIM_SELECTOR and MAILER_DKIM_PRIVATE_KEY (or _FILE)"
        )
    try:
        return _cached_signer(domain, selector, key)
    except DkimError as exc:
        raise ConfigError(f"{key_variable}: {exc}") from exc


def checked_settings(settings: Settings) -> Settings:
    """The settings with the DKIM domain and selector as ASCII DNS names, or a ConfigError
    naming the MAILER_DKIM_* variable at fault (a key that is not a usable RSA key)."""
    if not settings.dkim_private_key:
        return settings
    signer = checked_signer(
        settings.dkim_domain,
        settings.dkim_selector,
        settings.dkim_private_key,
        settings.dkim_key_variable,
    )
    return dataclasses.replace(settings, dkim_domain=signer.domain, dkim_selector=signer.selector)


def signed(settings: Settings, outgoing: Outgoing) -> Outgoing:
    """The mail as it goes on the wire: DKIM-signed when configured (once, never twice)."""
    signer = dkim_signer_for(settings)
    if signer is None or outgoing.data.startswith(b"DKIM-Signature:"):
        return outgoing
    return dataclasses.replace(outgoing, data=signer.sign(outgoing.data))
