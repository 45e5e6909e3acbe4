"""Mail bytes: headers and a multipart/alternative body, assembled directly.

The per-issue work (template rendering, header encoding) happens once in
``compile_*``; ``MessageTemplate.personalise`` then only substitutes a few
strings and quoted-printable-encodes the parts, which is C code in binascii.
"""

from __future__ import annotations

import binascii
import html
import re
import secrets
from dataclasses import dataclass, field
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


# Quoted-printable lines hold at most 76 characters, a soft break's "=" included.
_QP_LINE = 76


def _qp_chunk(text: str) -> str:
    """``text`` quoted-printable, ending at a line break: chunks encoded one by one and
    joined decode to the joined texts, so a template's fixed parts are encoded once."""
    if not text:
        return ""
    encoded = _qp(text)
    if text.endswith("\n"):
        return encoded
    head, newline, last = encoded.rpartition(CRLF)
    if len(last) >= _QP_LINE:
        # Room for the soft break's "=": cut the line, never inside an "=XX" escape.
        cut = _QP_LINE - 3
        escape = last.rfind("=", cut - 2, cut)
        cut = escape if escape != -1 else cut
        last = f"{last[:cut]}={CRLF}{last[cut:]}"
    return f"{head}{newline}{last}={CRLF}"


_MARKER = re.compile(r"%%([A-Z_]+)%%")
# How template data writes a "%": as a placeholder of its own that always stands for "%".
# Data then holds no "%" at all, so no run of it can ever read as a reader's placeholder,
# however it spells one; only the template's own text can place them.
PERCENT = "PERCENT"
_LITERAL_PERCENT = f"%%{PERCENT}%%"


def literal(text: str) -> str:
    """``text`` (from a feed, an editor, a reader) as data in a template: never a placeholder."""
    return text.replace("%", _LITERAL_PERCENT)


def _tokens(body: str) -> list[str]:
    """The body split at its ``%%KEY%%`` markers: text at even positions, keys at odd ones,
    with every literal "%" already put back into the text around it."""
    pieces = _MARKER.split(body.replace("\r\n", "\n"))
    tokens = [pieces[0]]
    for key, text in zip(pieces[1::2], pieces[2::2], strict=True):
        if key == PERCENT:
            tokens[-1] += "%" + text
        else:
            tokens.extend((key, text))
    return tokens


def substitute(body: str, values: dict[str, str], *, escape: bool) -> str:
    """The body with its placeholders filled (HTML-escaped when ``escape``); unknown ones stay."""
    tokens = _tokens(body)
    for i in range(1, len(tokens), 2):
        key = tokens[i]
        if key in values:
            tokens[i] = html.escape(values[key], quote=True) if escape else values[key]
        else:
            tokens[i] = f"%%{key}%%"
    return "".join(tokens)


def _segments(body: str) -> tuple[str, ...]:
    """The body split at its ``%%KEY%%`` markers: encoded fixed parts at even
    positions, marker names at odd ones."""
    return tuple(_qp_chunk(p) if i % 2 == 0 else p for i, p in enumerate(_tokens(body)))


def _fill(segments: tuple[str, ...], values: dict[str, str], escape: bool) -> str:
    out = []
    for i, piece in enumerate(segments):
        if i % 2 == 0:
            out.append(piece)
        elif piece in values:
            value = values[piece]
            out.append(_qp_chunk(html.escape(value, quote=True) if escape else value))
        else:
            out.append(_qp_chunk(f"%%{piece}%%"))
    return "".join(out)


def _part_header(content_type: str) -> str:
    return (
        f'Content-Type: {content_type}; charset="utf-8"{CRLF}'
        f"Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}"
    )


@dataclass(frozen=True)
class Outgoing:
    sender: str
    recipient: str
    data: bytes
    message_id: str


@dataclass(frozen=True)
class MessageTemplate:
    """A mail with its per-issue parts fixed and ``%%…%%`` placeholders for the rest.

    ``text`` and ``html`` are template text: whatever came from outside in them went
    through ``literal`` (email_templates does that for every value a template shows)."""

    from_header: str
    subject_header: str
    list_id: str | None
    text: str
    html: str
    sender: str
    msgid_domain: str
    # Gmail's feedback loop groups complaints by this (issue:newsletter:kind:sender).
    feedback_id: str | None = None
    # Encoded once per template; a reader's copy only encodes the values it fills in.
    _text_segments: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _html_segments: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_text_segments", _segments(self.text))
        object.__setattr__(self, "_html_segments", _segments(self.html))

    def personalise(
        self,
        *,
        to_name: str,
        to_address: str,
        values: dict[str, str],
        list_unsubscribe: tuple[str, str] | None = None,
    ) -> Outgoing:
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
        if self.feedback_id:
            headers.append(f"Feedback-ID: {_check_header_value(self.feedback_id)}")
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
            + _part_header("text/plain")
            + _fill(self._text_segments, values, escape=False)
            + f"{CRLF}--{boundary}{CRLF}"
            + _part_header("text/html")
            + _fill(self._html_segments, values, escape=True)
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
    feedback_id: str | None = None,
) -> MessageTemplate:
    return MessageTemplate(
        from_header=f"From: {encode_address(from_name, from_address)}",
        subject_header=encode_header("Subject", subject),
        list_id=list_id,
        text=text,
        html=html_body,
        sender=from_address,
        msgid_domain=from_address.rpartition("@")[2],
        feedback_id=feedback_id,
    )
