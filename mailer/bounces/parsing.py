"""What a returned mail says: RFC 3464 delivery-status reports and RFC 5965 feedback reports
read with the stdlib ``email`` package, the common non-standard bounce formats with
flufl.bounce 6 (Mailman's detectors); and what of it we keep (``storable``).

Nothing here trusts the mail: every header may be missing, repeated, over-long or not
decodable, and the answer is then "unrecognised", never an exception.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import logging
import re
from dataclasses import dataclass, field
from email.message import Message

KIND_HARD = "hard"
KIND_SOFT = "soft"
KIND_POLICY = "policy"
KIND_COMPLAINT = "complaint"
KIND_OTHER = "other"  # a report we understood that changes nothing (delivered, not-spam…)

# The VERP local part mailer/sending/batch.py writes: bounces+<delivery id>.<signature>.
VERP = re.compile(r"bounces\+([0-9]{1,18}\.[A-Za-z0-9_-]{10,100})@", re.IGNORECASE)
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
# Refusals that are about the sender, not the reader (RFC 3463 5.7.x says "policy"; many
# servers say it in words with another code).
_POLICY_WORDS = re.compile(
    r"\b(spam|blocked|block ?list|blacklist|reputation|policy|rejected for policy|"
    r"dmarc|spf|dkim)\b",
    re.IGNORECASE,
)
# Where a non-standard bounce starts quoting the returned mail: nothing after it is kept.
_QUOTE_START = re.compile(
    r"^(-+ ?(original message|below this line|this is a copy|the original message).*|"
    r".*(original message follows|returned mail follows|message headers follow).*|"
    r"(received|return-path|message-id): .*)$",
    re.IGNORECASE | re.MULTILINE,
)
# Headers of the returned mail never kept: they carry the reader's personal links.
_PERSONAL_HEADERS = ("list-unsubscribe", "list-unsubscribe-post")
REPORT_PARTS = frozenset(
    {
        "message/delivery-status",
        "message/global-delivery-status",
        "message/feedback-report",
        "text/rfc822-headers",
        "message/global-headers",
    }
)
MAX_TEXT = 8 * 1024
MAX_STORED = 64 * 1024
MAX_HEADER = 998


@dataclass
class ParsedReport:
    kind: str | None  # None: not a bounce or complaint we recognise
    status: str = ""
    action: str = ""
    diagnostic: str = ""
    feedback_type: str = ""
    recipients: list[str] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)
    verp_tokens: list[str] = field(default_factory=list)

    def detail(self) -> dict[str, str]:
        return {
            k: v.replace("\x00", "\ufffd")
            for k, v in {
                "status": self.status,
                "action": self.action,
                "diagnostic": self.diagnostic[:500],
                "feedback_type": self.feedback_type,
            }.items()
        }


def read_message(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def _text(value: object, limit: int = MAX_HEADER) -> str:
    # No NUL: PostgreSQL text cannot hold it.
    return str(value or "").replace("\x00", "\ufffd").strip()[:limit]


def _header_fields(part: Message) -> list[Message]:
    """The field groups of a delivery-status or feedback-report part (stdlib parses a
    message/delivery-status part into one Message per group; others are plain text)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    if isinstance(payload, str):
        raw = part.get_payload(decode=True)
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else payload
        blocks = re.split(r"\r?\n\s*\r?\n", text.strip())
        return [email.message_from_string(b + "\n", policy=email.policy.compat32) for b in blocks]
    return []


def _address(value: str) -> str:
    # "rfc822; someone@example.no" → someone@example.no
    return value.partition(";")[2].strip().strip("<>") if ";" in value else value.strip("<> ")


def _classify_failure(action: str, status: str, diagnostic: str) -> str:
    if action == "delayed":
        return KIND_SOFT
    if action != "failed":
        return KIND_OTHER  # delivered, relayed, expanded
    if status.startswith("4."):
        return KIND_SOFT
    if status.startswith("5.7.") or _POLICY_WORDS.search(diagnostic):
        return KIND_POLICY
    return KIND_HARD


def _returned_headers(msg: Message) -> list[Message]:
    found: list[Message] = []
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                found.append(payload[0])
        elif ctype in ("text/rfc822-headers", "message/global-headers"):
            raw = part.get_payload(decode=True)
            if isinstance(raw, bytes):
                found.append(email.message_from_bytes(raw, policy=email.policy.compat32))
    return found


def _message_ids(msg: Message) -> list[str]:
    ids: list[str] = []
    for headers in _returned_headers(msg):
        for value in headers.get_all("Message-ID", []) or []:
            text = _text(value, 300)
            if text.startswith("<") and text.endswith(">"):
                ids.append(text)
    return ids


def verp_tokens(*addresses: str) -> list[str]:
    return [m.group(1) for a in addresses if a for m in VERP.finditer(a)]


def _outer_addresses(msg: Message) -> list[str]:
    """Where the mail was sent: a mailbox keeps the envelope recipient in these headers."""
    names = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")
    return [_text(v) for name in names for v in (msg.get_all(name, []) or [])]


def _from_dsn(msg: Message, part: Message) -> ParsedReport:
    groups = _header_fields(part)
    worst: tuple[int, ParsedReport] | None = None
    rank = {KIND_HARD: 4, KIND_POLICY: 3, KIND_SOFT: 2, KIND_OTHER: 1}
    for group in groups[1:] or groups:
        action = _text(group.get("Action")).lower()
        status_match = _STATUS.search(_text(group.get("Status")))
        status = status_match.group(0) if status_match else ""
        diagnostic = _text(group.get("Diagnostic-Code"), 2000)
        if not action:
            continue
        if not status:
            found = _STATUS.search(diagnostic)
            status = found.group(0) if found else ""
        kind = _classify_failure(action, status, diagnostic)
        recipient = _address(_text(group.get("Final-Recipient") or group.get("Original-Recipient")))
        report = ParsedReport(kind, status, action, diagnostic, recipients=[recipient])
        if worst is None or rank[kind] > worst[0]:
            worst = (rank[kind], report)
    return worst[1] if worst else ParsedReport(None)


def _from_feedback(msg: Message, part: Message) -> ParsedReport:
    groups = _header_fields(part)
    fields = groups[0] if groups else Message()
    feedback_type = _text(fields.get("Feedback-Type")).lower()
    recipients = [_text(v) for v in (fields.get_all("Original-Rcpt-To", []) or [])]
    # "abuse" is the complaint (RFC 5965); Microsoft's JMRP and older loops omit the field.
    kind = KIND_COMPLAINT if feedback_type in ("abuse", "") else KIND_OTHER
    report = ParsedReport(kind, feedback_type=feedback_type or "abuse", recipients=recipients)
    report.verp_tokens = verp_tokens(*(_text(v) for v in fields.get_all("Original-Mail-From", [])))
    return report


def _from_heuristics(msg: Message) -> ParsedReport:
    """Non-standard bounces (Exim, qmail, Yahoo, Microsoft's older formats…): flufl.bounce
    knows dozens; it tells permanent from temporary failures, not the reason."""
    from flufl.bounce import all_failures  # imported here: the worker loads it when needed

    # Its detectors log a traceback for each mail one of them cannot read; ours is hostile
    # input by nature, and a failed detector only means "not this format".
    logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # its detectors are heuristics over hostile text
        return ParsedReport(None)
    if not permanent and not temporary:
        return ParsedReport(None)
    text = _plain_text(msg)
    found = _STATUS.search(text)
    status = found.group(0) if found else ""
    addresses = [
        a.decode("utf-8", "replace") if isinstance(a, bytes) else str(a)
        for a in (permanent or temporary)
    ]
    if permanent:
        kind = _classify_failure("failed", status if status.startswith("5") else "5.0.0", text)
    else:
        kind = KIND_SOFT
    return ParsedReport(kind, status, "failed", text[:500], recipients=addresses)


def _plain_text(msg: Message) -> str:
    chunks: list[str] = []
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            raw = part.get_payload(decode=True)
            if isinstance(raw, bytes):
                chunks.append(raw[:MAX_TEXT].decode("utf-8", "replace"))
    return "\n".join(chunks)


def parse_report(raw: bytes, envelope_to: str = "") -> ParsedReport:
    try:
        msg = read_message(raw)
        report = _parse(msg)
        report.message_ids = report.message_ids or _message_ids(msg)
        report.verp_tokens = (
            verp_tokens(envelope_to) or report.verp_tokens or verp_tokens(*_outer_addresses(msg))
        )
        return report
    except Exception:  # hostile input: whatever it does, it is "unrecognised"
        return ParsedReport(None)


def _parse(msg: Message) -> ParsedReport:
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            return _from_dsn(msg, part)
        if ctype == "message/feedback-report":
            return _from_feedback(msg, part)
    return _from_heuristics(msg)


# --- what is kept -------------------------------------------------------------------------


def _cut_quote(text: str) -> str:
    # The marker line itself stays: some detectors (qmail's) look for it.
    found = _QUOTE_START.search(text)
    return (text[: found.end()] if found else text)[:MAX_TEXT]


def _headers_only(inner: Message) -> Message:
    kept = email.message.Message()
    for name, value in inner.items():
        if name.lower() not in _PERSONAL_HEADERS:
            kept[name] = _text(value)
    out = email.message.Message()
    out["Content-Type"] = "text/rfc822-headers"
    out.set_payload(kept.as_string(policy=email.policy.compat32))
    return out


def _text_part(text: str, subtype: str = "plain") -> Message:
    out = email.message.Message()
    # 8bit, not base64: an editor reads the stored report as it is.
    out["Content-Type"] = f'text/{subtype}; charset="utf-8"'
    out["Content-Transfer-Encoding"] = "8bit"
    out.set_payload(text)
    return out


def _prune(part: Message, top: bool) -> Message | None:
    ctype = part.get_content_type()
    if part.is_multipart() and ctype.startswith("multipart/"):
        out = email.message.Message()
        out["Content-Type"] = ctype
        report_type = part.get_param("report-type")
        if isinstance(report_type, str):
            out.set_param("report-type", report_type)
        payload = part.get_payload()
        children: list[Message | str] = []
        for child in payload if isinstance(payload, list) else []:
            kept = _prune(child, False) if isinstance(child, Message) else None
            if kept is not None:
                children.append(kept)
        out.set_payload(children)
        return out
    if ctype in ("message/rfc822", "message/global"):
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            return _headers_only(payload[0])
        return None
    if ctype == "text/rfc822-headers":
        raw = part.get_payload(decode=True)
        inner = email.message_from_bytes(raw if isinstance(raw, bytes) else b"")
        return _headers_only(inner)
    if ctype in REPORT_PARTS:
        # Kept as parsed (the generator writes a delivery-status part from its field groups).
        return part if len(part.as_string(policy=email.policy.compat32)) <= MAX_TEXT else None
    if ctype == "text/plain":
        raw = part.get_payload(decode=True)
        text = (
            raw.decode(part.get_content_charset() or "utf-8", "replace")
            if isinstance(raw, bytes)
            else ""
        )
        return _text_part(_cut_quote(text))
    return None  # HTML (it is the returned mail's), images, attachments


def storable(raw: bytes) -> str:
    """Headers and the delivery-status / feedback part of a report, never the returned
    body: a returned digest carries the reader's personal unsubscribe links."""
    try:
        msg = read_message(raw)
        kept = _prune(msg, True) or _text_part("")
        for name, value in msg.items():
            if name.lower() not in ("content-type", "content-transfer-encoding"):
                if name.lower() not in _PERSONAL_HEADERS:
                    kept[name] = _text(value)
        if kept.get("MIME-Version") is None:
            kept["MIME-Version"] = "1.0"
        text = kept.as_string(policy=email.policy.compat32)
    except Exception:  # hostile input: keep what can be shown, never fail to store
        text = raw[:MAX_TEXT].decode("utf-8", "replace")
    return text[:MAX_STORED]
