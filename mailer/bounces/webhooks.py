"""Provider webhooks authenticated: Amazon SNS (SES notifications) by its signature, Mailgun
by HMAC-SHA256 of timestamp + token within a replay window, Postmark by basic auth. Each
returns what to store, or raises WebhookRefused; the views only translate.

SNS signing certificates and subscription confirmations are fetched only through the
guarded fetcher (mailer/outbound), from an https URL whose host is Amazon's SNS host
(``MAILER_WEBHOOK_SES_CERT_HOST`` for tests only).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from mailer.bounces.providers import MAILGUN, POSTMARK, SES
from mailer.config import Settings
from mailer.outbound.http import fetch
from mailer.outbound.policy import FetchError, policy_for

MAX_CERT_BYTES = 64 * 1024
# An SNS message older than this is a replay (SNS retries for far less by default).
SNS_MAX_AGE = timedelta(hours=24)
_SIGNED_NOTIFICATION = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_SIGNED_SUBSCRIPTION = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
SUBSCRIPTION_TYPES = ("SubscriptionConfirmation", "UnsubscribeConfirmation")


class WebhookRefused(Exception):
    """Not authenticated (forged, replayed, unsigned, from an unknown topic)."""


@dataclass(frozen=True)
class ToStore:
    source: str
    payload: bytes  # what is kept: the provider's event, without the mail's own headers
    key: str  # the provider's event id: the same event twice is stored once


@dataclass(frozen=True)
class SubscribeConfirmation:
    url: str


# --- SNS -----------------------------------------------------------------------------------

CertFetcher = Callable[[str], bytes]
_cert_cache: dict[str, bytes] = {}
_cert_lock = threading.Lock()


def _tls(settings: Settings) -> ssl.SSLContext | None:
    if settings.bounces.sns_cert_ca:
        return ssl.create_default_context(cafile=settings.bounces.sns_cert_ca)
    return None


def _check_sns_url(settings: Settings, url: str, what: str) -> None:
    parts = urlsplit(url)
    try:
        port = parts.port or 443
    except ValueError as exc:
        raise WebhookRefused(f"{what} is not a valid URL") from exc
    if (
        parts.scheme != "https"
        or not parts.hostname
        or not re.fullmatch(settings.bounces.sns_cert_host, parts.hostname)
        or port != settings.bounces.sns_cert_port
        or parts.username
    ):
        raise WebhookRefused(f"{what} is not on the SNS host")


def guarded_get(settings: Settings, url: str) -> bytes:
    try:
        fetched = fetch(url, policy_for(settings), max_bytes=MAX_CERT_BYTES, tls=_tls(settings))
    except FetchError as exc:
        raise WebhookRefused(f"cannot fetch {urlsplit(url).hostname}: {exc}") from exc
    if fetched.status != 200:
        raise WebhookRefused(f"fetching {urlsplit(url).hostname} gave HTTP {fetched.status}")
    return fetched.body


def signing_certificate(settings: Settings, url: str) -> bytes:
    _check_sns_url(settings, url, "SigningCertURL")
    if not urlsplit(url).path.endswith(".pem"):
        raise WebhookRefused("SigningCertURL is not a .pem certificate")
    with _cert_lock:
        cached = _cert_cache.get(url)
    if cached is not None:
        return cached
    pem = guarded_get(settings, url)
    with _cert_lock:
        if len(_cert_cache) > 100:
            _cert_cache.clear()
        _cert_cache[url] = pem
    return pem


def _string_to_sign(message: dict[str, Any]) -> bytes:
    names = (
        _SIGNED_SUBSCRIPTION
        if message.get("Type") in SUBSCRIPTION_TYPES
        else (_SIGNED_NOTIFICATION)
    )
    out = []
    for name in names:
        value = message.get(name)
        if value is None:
            if name == "Subject":
                continue
            raise WebhookRefused(f"SNS field {name} is missing")
        if not isinstance(value, str):
            raise WebhookRefused(f"SNS field {name} is not text")
        out.append(f"{name}\n{value}\n")
    return "".join(out).encode("utf-8")


def verify_sns(
    settings: Settings, message: dict[str, Any], now: datetime, get_cert: CertFetcher
) -> None:
    if message.get("TopicArn") not in settings.bounces.ses_topic_arns:
        raise WebhookRefused("unknown TopicArn")
    version = message.get("SignatureVersion")
    algorithm: hashes.HashAlgorithm
    if version == "1":
        algorithm = hashes.SHA1()  # noqa: S303  (SNS signature version 1 is SHA1withRSA)
    elif version == "2":
        algorithm = hashes.SHA256()
    else:
        raise WebhookRefused("unsigned or unknown SignatureVersion")
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WebhookRefused("Signature is not base64") from exc
    try:
        sent = datetime.fromisoformat(str(message.get("Timestamp", "")).replace("Z", "+00:00"))
    except ValueError as exc:
        raise WebhookRefused("Timestamp is not a time") from exc
    if sent.tzinfo is None or abs(now - sent) > SNS_MAX_AGE:
        raise WebhookRefused("Timestamp too old (a replay)")
    data = _string_to_sign(message)
    pem = get_cert(str(message.get("SigningCertURL", "")))
    try:
        key = x509.load_pem_x509_certificate(pem).public_key()
    except ValueError as exc:
        raise WebhookRefused("the signing certificate cannot be read") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise WebhookRefused("the signing certificate has no RSA key")
    try:
        key.verify(signature, data, padding.PKCS1v15(), algorithm)
    except InvalidSignature as exc:
        raise WebhookRefused("the SNS signature does not hold") from exc


def _without_mail_headers(notification: dict[str, Any]) -> dict[str, Any]:
    # The mail's full headers carry the reader's personal unsubscribe link.
    mail = notification.get("mail")
    if isinstance(mail, dict):
        notification = {**notification, "mail": {k: v for k, v in mail.items() if k != "headers"}}
    return notification


def read_ses(
    settings: Settings, body: bytes, now: datetime, get_cert: CertFetcher | None = None
) -> ToStore | SubscribeConfirmation | None:
    """An SNS POST: what to store, a subscription to confirm, or None (nothing to do)."""
    try:
        message = json.loads(body)
    except ValueError as exc:
        raise WebhookRefused("the body is not JSON") from exc
    if not isinstance(message, dict):
        raise WebhookRefused("the body is not a JSON object")
    verify_sns(settings, message, now, get_cert or (lambda u: signing_certificate(settings, u)))
    kind = message.get("Type")
    if kind == "SubscriptionConfirmation":
        url = str(message.get("SubscribeURL", ""))
        _check_sns_url(settings, url, "SubscribeURL")
        return SubscribeConfirmation(url)
    if kind != "Notification":
        return None
    try:
        notification = json.loads(str(message["Message"]))
    except ValueError:
        notification = None
    if not isinstance(notification, dict):
        return None  # a test message from the console, or another service's
    payload = json.dumps(_without_mail_headers(notification), ensure_ascii=False)
    return ToStore(SES, payload.encode("utf-8"), f"ses:{message.get('MessageId')}")


def confirm_subscription(settings: Settings, confirmation: SubscribeConfirmation) -> None:
    guarded_get(settings, confirmation.url)


# --- Mailgun -------------------------------------------------------------------------------


def read_mailgun(settings: Settings, body: bytes, now: datetime) -> ToStore:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise WebhookRefused("the body is not JSON") from exc
    signature = data.get("signature") if isinstance(data, dict) else None
    if not isinstance(signature, dict):
        raise WebhookRefused("unsigned")
    timestamp, token, given = (signature.get(k) for k in ("timestamp", "token", "signature"))
    if not all(isinstance(v, str) and v for v in (timestamp, token, given)):
        raise WebhookRefused("unsigned")
    assert isinstance(timestamp, str) and isinstance(token, str) and isinstance(given, str)
    expected = hmac.new(
        settings.bounces.mailgun_signing_key.encode("utf-8"),
        (timestamp + token).encode("utf-8"),
        hashlib.sha256,
    ).hexdigest()
    if not hmac.compare_digest(expected, given.lower()):
        raise WebhookRefused("the signature does not hold")
    try:
        sent = float(timestamp)
    except ValueError as exc:
        raise WebhookRefused("timestamp is not a number") from exc
    if abs(now.timestamp() - sent) > settings.bounces.mailgun_replay_seconds:
        raise WebhookRefused("timestamp outside the replay window")
    event = data.get("event-data")
    if not isinstance(event, dict):
        raise WebhookRefused("no event-data")
    event = {**event, "message": {"headers": _dict(_dict(event.get("message")).get("headers"))}}
    payload = json.dumps({"event-data": event}, ensure_ascii=False).encode("utf-8")
    return ToStore(MAILGUN, payload, f"mailgun:{event.get('id') or token}")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# --- Postmark ------------------------------------------------------------------------------


def check_postmark_auth(settings: Settings, authorization: str) -> None:
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise WebhookRefused("no basic auth")
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, ValueError) as exc:
        raise WebhookRefused("bad basic auth") from exc
    good_user = hmac.compare_digest(user.encode(), settings.bounces.postmark_user.encode())
    good_password = hmac.compare_digest(
        password.encode(), settings.bounces.postmark_password.encode()
    )
    if not (good_user and good_password):
        raise WebhookRefused("wrong user or password")


def read_postmark(settings: Settings, authorization: str, body: bytes) -> ToStore:
    check_postmark_auth(settings, authorization)
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise WebhookRefused("the body is not JSON") from exc
    if not isinstance(data, dict):
        raise WebhookRefused("the body is not a JSON object")
    data.pop("Content", None)  # a bounce's "Content" is the returned mail itself
    key = hashlib.sha256(body).hexdigest()
    return ToStore(
        POSTMARK, json.dumps(data, ensure_ascii=False).encode("utf-8"), f"postmark:{key}"
    )
