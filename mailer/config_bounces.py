"""Settings for bounces and complaints: the listener, the mailbox, the provider webhooks and
the scoring policy (DECISIONS.md, "Bounces and complaints")."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from mailer.redaction import redacted_repr

SECRET = {"secret": True}
BOUNCE_PROTOCOLS = ("smtp", "lmtp")


@dataclass(frozen=True, repr=False)
class BounceSettings:
    listen_host: str = "127.0.0.1"
    listen_port: int = 8026
    protocol: str = "smtp"
    # Shown with its password hidden (redact_url), like the database and broker URLs.
    imap_url: str = ""
    imap_done_folder: str = "Processed"
    imap_interval_seconds: int = 300
    # A CA file (PEM) the imaps:// server's certificate is checked against instead of the
    # system's trust store: a private CA (the tests' own). Checked always, never skipped.
    imap_ca: str = ""
    ses_topic_arns: tuple[str, ...] = ()
    mailgun_signing_key: str = field(default="", metadata=SECRET)
    postmark_user: str = ""
    postmark_password: str = field(default="", metadata=SECRET)
    soft_score: float = 0.5
    threshold: float = 3.0
    window_days: int = 30
    # Outside input: a report or a webhook body larger than this is refused (10 MB).
    max_bytes: int = 10 * 1024 * 1024
    # Unrecognised mail kept for editors this long.
    keep_unrecognised_days: int = 30
    # Mailgun: a signature older (or newer) than this is a replay.
    mailgun_replay_seconds: int = 300
    # Test-only: the host SNS signing certificates may come from (a regular expression);
    # production keeps Amazon's sns.<region>.amazonaws.com.
    sns_cert_host: str = r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?"
    sns_cert_port: int = 443
    # Test-only: a CA file the certificate fetch trusts (the test's own CA).
    sns_cert_ca: str = ""

    def __repr__(self) -> str:
        return redacted_repr(self)


def _env(name: str, default: str = "") -> str:
    return os.environ.get(f"MAILER_{name}", "").strip() or default


def _number(name: str, default: str, kind: type[float] | type[int]) -> float:
    # Imported here: mailer.config imports this module to build its Settings.
    from mailer.config import ConfigError

    raw = _env(name, default)
    try:
        value = kind(raw)
    except ValueError as exc:
        raise ConfigError(f"MAILER_{name} must be a number, not {raw!r}") from exc
    if value < 0:
        raise ConfigError(f"MAILER_{name} must not be negative, not {raw!r}")
    return value


def load_bounces() -> BounceSettings:
    from mailer.config import ConfigError

    listen = _env("BOUNCE_LISTEN", "127.0.0.1:8026")
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"MAILER_BOUNCE_LISTEN must be HOST:PORT, not {listen!r}")
    protocol = _env("BOUNCE_PROTOCOL", "smtp").lower()
    if protocol not in BOUNCE_PROTOCOLS:
        raise ConfigError(f"MAILER_BOUNCE_PROTOCOL must be smtp or lmtp, not {protocol!r}")
    imap_url = _env("BOUNCE_IMAP_URL")
    if imap_url:
        parts = urlsplit(imap_url)
        if parts.scheme not in ("imap", "imaps") or not parts.hostname or not parts.username:
            raise ConfigError(
                "MAILER_BOUNCE_IMAP_URL must look like imaps://user:password@host/INBOX"
            )
    interval = int(_number("BOUNCE_IMAP_INTERVAL_SECONDS", "300", int))
    if interval < 1:
        raise ConfigError("MAILER_BOUNCE_IMAP_INTERVAL_SECONDS must be at least 1")
    threshold = _number("BOUNCE_THRESHOLD", "3", float)
    if threshold <= 0:
        raise ConfigError("MAILER_BOUNCE_THRESHOLD must be above 0")
    return BounceSettings(
        listen_host=host.strip("[]"),
        listen_port=int(port),
        protocol=protocol,
        imap_url=imap_url,
        imap_done_folder=_env("BOUNCE_IMAP_DONE_FOLDER", "Processed"),
        imap_interval_seconds=interval,
        imap_ca=_env("BOUNCE_IMAP_CA"),
        ses_topic_arns=tuple(
            a.strip() for a in _env("WEBHOOK_SES_TOPIC_ARNS").split(",") if a.strip()
        ),
        mailgun_signing_key=_env("WEBHOOK_MAILGUN_SIGNING_KEY"),
        postmark_user=_env("WEBHOOK_POSTMARK_USER"),
        postmark_password=_env("WEBHOOK_POSTMARK_PASSWORD"),
        soft_score=_number("BOUNCE_SOFT_SCORE", "0.5", float),
        threshold=threshold,
        window_days=int(_number("BOUNCE_WINDOW_DAYS", "30", int)),
        sns_cert_host=_env("WEBHOOK_SES_CERT_HOST", BounceSettings.sns_cert_host),
        sns_cert_port=int(_number("WEBHOOK_SES_CERT_PORT", "443", int)),
        sns_cert_ca=_env("WEBHOOK_SES_CERT_CA"),
        max_bytes=int(_number("BOUNCE_MAX_BYTES", str(10 * 1024 * 1024), int)),
    )
