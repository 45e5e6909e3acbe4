"""Provider notifications (Amazon SES through SNS, Mailgun, Postmark) read into the same
ParsedReport a returned mail gives. The payload was authenticated by the webhook before it
was stored; here it is only read, defensively (any field may be missing or of a wrong type).
"""

from __future__ import annotations

import json
from typing import Any

from mailer.bounces.parsing import (
    KIND_COMPLAINT,
    KIND_HARD,
    KIND_OTHER,
    KIND_POLICY,
    KIND_SOFT,
    ParsedReport,
    verp_tokens,
)

SES = "ses"
MAILGUN = "mailgun"
POSTMARK = "postmark"
PROVIDERS = frozenset({SES, MAILGUN, POSTMARK})


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str:
    return value.strip()[:998] if isinstance(value, str) else ""


def _message_id(value: Any) -> list[str]:
    text = _str(value)
    if not text:
        return []
    return [text if text.startswith("<") else f"<{text}>"]


def _ses(data: dict[str, Any]) -> ParsedReport:
    kind_name = _str(data.get("notificationType") or data.get("eventType"))
    mail = _dict(data.get("mail"))
    ids = _message_id(_dict(mail.get("commonHeaders")).get("messageId"))
    verp = verp_tokens(_str(mail.get("source")))
    if kind_name == "Complaint":
        complaint = _dict(data.get("complaint"))
        feedback = _str(complaint.get("complaintFeedbackType")) or "abuse"
        recipients = [
            _str(_dict(r).get("emailAddress")) for r in _list(complaint.get("complainedRecipients"))
        ]
        kind = KIND_COMPLAINT if feedback == "abuse" else KIND_OTHER
        return ParsedReport(
            kind, feedback_type=feedback, recipients=recipients, message_ids=ids, verp_tokens=verp
        )
    if kind_name == "Bounce":
        bounce = _dict(data.get("bounce"))
        bounce_type = _str(bounce.get("bounceType"))
        sub_type = _str(bounce.get("bounceSubType"))
        first = _dict((_list(bounce.get("bouncedRecipients")) or [{}])[0])
        status = _str(first.get("status"))
        diagnostic = _str(first.get("diagnosticCode"))
        recipients = [
            _str(_dict(r).get("emailAddress")) for r in _list(bounce.get("bouncedRecipients"))
        ]
        if bounce_type == "Permanent":
            kind = (
                KIND_POLICY
                if sub_type == "ContentRejected" or status.startswith("5.7.")
                else KIND_HARD
            )
        elif bounce_type in ("Transient", "Undetermined"):
            kind = KIND_POLICY if sub_type == "ContentRejected" else KIND_SOFT
        else:
            return ParsedReport(None)
        return ParsedReport(
            kind,
            status,
            "failed",
            diagnostic,
            recipients=recipients,
            message_ids=ids,
            verp_tokens=verp,
        )
    if kind_name in ("Delivery", "Send", "DeliveryDelay"):
        return ParsedReport(
            KIND_SOFT if kind_name == "DeliveryDelay" else KIND_OTHER,
            message_ids=ids,
            verp_tokens=verp,
        )
    return ParsedReport(None)


def _mailgun(data: dict[str, Any]) -> ParsedReport:
    event = _dict(data.get("event-data"))
    name = _str(event.get("event"))
    recipient = _str(event.get("recipient"))
    headers = _dict(_dict(event.get("message")).get("headers"))
    ids = _message_id(headers.get("message-id"))
    if name == "complained":
        return ParsedReport(
            KIND_COMPLAINT, feedback_type="abuse", recipients=[recipient], message_ids=ids
        )
    if name == "failed":
        status = _dict(event.get("delivery-status"))
        code = status.get("code")
        enhanced = _str(status.get("enhanced-code")) or (
            f"{code // 100}.0.0" if isinstance(code, int) and 400 <= code < 600 else ""
        )
        diagnostic = _str(status.get("message")) or _str(status.get("description"))
        severity = _str(event.get("severity"))
        if severity == "temporary" or enhanced.startswith("4."):
            kind = KIND_SOFT
        elif enhanced.startswith("5.7.") or _str(event.get("reason")) == "espblock":
            kind = KIND_POLICY
        else:
            kind = KIND_HARD
        return ParsedReport(
            kind, enhanced, "failed", diagnostic, recipients=[recipient], message_ids=ids
        )
    return ParsedReport(None) if not name else ParsedReport(KIND_OTHER, recipients=[recipient])


# Postmark's bounce types (their documentation's "Bounce types" table).
_POSTMARK_HARD = {"HardBounce", "BadEmailAddress", "ManuallyDeactivated", "AddressChange"}
_POSTMARK_SOFT = {"SoftBounce", "Transient", "DnsError", "AutoResponder", "ChallengeVerification"}
_POSTMARK_POLICY = {"Blocked", "SpamNotification", "ContentRelay"}


def _postmark(data: dict[str, Any]) -> ParsedReport:
    record = _str(data.get("RecordType"))
    kind_name = _str(data.get("Type"))
    recipient = _str(data.get("Email"))
    if record == "SpamComplaint" or kind_name == "SpamComplaint":
        return ParsedReport(KIND_COMPLAINT, feedback_type="abuse", recipients=[recipient])
    if record != "Bounce":
        return ParsedReport(None)
    details = _str(data.get("Details")) or _str(data.get("Description"))
    if kind_name in _POSTMARK_HARD:
        kind = KIND_HARD
    elif kind_name in _POSTMARK_SOFT:
        kind = KIND_SOFT
    elif kind_name in _POSTMARK_POLICY:
        kind = KIND_POLICY
    else:
        kind = KIND_OTHER
    return ParsedReport(kind, "", "failed", details, recipients=[recipient])


def parse_provider(source: str, content: str) -> ParsedReport:
    try:
        data = json.loads(content)
    except ValueError:
        return ParsedReport(None)
    if not isinstance(data, dict):
        return ParsedReport(None)
    try:
        reader = {SES: _ses, MAILGUN: _mailgun, POSTMARK: _postmark}[source]
        report = reader(data)
    except Exception:  # authenticated, but still outside input: never crash the task
        return ParsedReport(None)
    report.recipients = [r for r in report.recipients if r]
    return report
