"""Mail bytes: headers and a multipart/alternative body, assembled directly.

The per-issue work (template rendering, header encoding) happens once in
``compile_*``; ``MessageTemplate.personalise`` then only substitutes a few
strings and quoted-printable-encodes the parts, which is C code in binascii.
"""

from __future__ import annotations

import binascii
import html
import secrets
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr, formatdate, make_msgid

CRLF = "\r\n"
# Room for "From: " on a line of at most 998 octets.
MAX_ADDRESS_LINE = 990


class HeaderInjection(ValueError):
    pass


def _check_header_value(value: str) -> str:
    if any(ch in value for ch in "\r\n\x00"):
        raise HeaderInjection("header values may not contain CR, LF or NUL")
    return value


def encode_header(name: str, value: str) -> str:
    """One folded header line, RFC 2047-encoded when it is not plain ASCII."""
    _check_header_value(value)
    if value.isascii() and len(name) + len(value) < 76:
        return f"{name}: {value}"
    encoded = Header(value, "utf-8", header_name=name).encode(linesep=CRLF)
    return f"{name}: {encoded}"


def encode_address(name: str, address: str) -> str:
    _check_header_value(name)
    _check_header_value(address)
    if not address.isascii():
        raise HeaderInjection("addresses must be ASCII (IDN domains in punycode)")
    formatted = formataddr((name, address), charset="utf-8")
    if len(formatted) > MAX_ADDRESS_LINE:
        # formataddr writes the name as one encoded word of any length: 200 characters
        # of emoji would make a line over SMTP's 998 octets. Header folds it into several.
        encoded = Header(name, "utf-8", header_name="From").encode(linesep=CRLF)
        return f"{encoded} <{address}>"
    return formatted


def _qp(text: str) -> str:
    # b2a_qp keeps LF line breaks as breaks; SMTP wants CRLF, so convert after encoding.
    body = text.replace("\r\n", "\n").encode("utf-8")
    return binascii.b2a_qp(body, istext=True).decode("ascii").replace("\n", "\r\n")


def _part(content_type: str, text: str) -> str:
    return (
        f'Content-Type: {content_type}; charset="utf-8"{CRLF}'
        f"Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}"
        f"{_qp(text)}"
    )


@dataclass(frozen=True)
class Outgoing:
    sender: str
    recipient: str
    data: bytes
    message_id: str


@dataclass(frozen=True)
class MessageTemplate:
    """A mail with its per-issue parts fixed and ``%%…%%`` placeholders for the rest."""

    from_header: str
    subject_header: str
    list_id: str | None
    text: str
    html: str
    sender: str
    msgid_domain: str

    def personalise(
        self,
        *,
        to_name: str,
        to_address: str,
        values: dict[str, str],
        list_unsubscribe: tuple[str, str] | None = None,
    ) -> Outgoing:
        text, body_html = self.text, self.html
        for key, value in values.items():
            marker = f"%%{key}%%"
            text = text.replace(marker, value)
            body_html = body_html.replace(marker, html.escape(value, quote=True))
        message_id = make_msgid(domain=self.msgid_domain)
        headers = [
            self.from_header,
            f"To: {encode_address(to_name, to_address)}",
            self.subject_header,
            f"Date: {formatdate(usegmt=True)}",
            f"Message-ID: {message_id}",
            "MIME-Version: 1.0",
        ]
        if self.list_id:
            headers.append(f"List-Id: {self.list_id}")
        if list_unsubscribe:
            url, mailto = list_unsubscribe
            headers.append(
                f"List-Unsubscribe: <{_check_header_value(url)}>,{CRLF}"
                f" <{_check_header_value(mailto)}>"
            )
            headers.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
        boundary = f"=_mailer_{secrets.token_hex(12)}"
        headers.append(f'Content-Type: multipart/alternative;{CRLF} boundary="{boundary}"')
        data = (
            CRLF.join(headers)
            + CRLF
            + CRLF
            + f"--{boundary}{CRLF}"
            + _part("text/plain", text)
            + f"{CRLF}--{boundary}{CRLF}"
            + _part("text/html", body_html)
            + f"{CRLF}--{boundary}--{CRLF}"
        )
        return Outgoing(self.sender, to_address, data.encode("ascii"), message_id)


def make_template(
    *,
    from_name: str,
    from_address: str,
    subject: str,
    text: str,
    html_body: str,
    list_id: str | None = None,
) -> MessageTemplate:
    return MessageTemplate(
        from_header=f"From: {encode_address(from_name, from_address)}",
        subject_header=encode_header("Subject", subject),
        list_id=list_id,
        text=text,
        html=html_body,
        sender=from_address,
        msgid_domain=from_address.rpartition("@")[2],
    )
