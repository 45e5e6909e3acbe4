"""Settings read once from ``MAILER_*`` environment variables.

Every setting has an embedded default so that ``make run`` works on a fresh
machine: a SQLite file and a filesystem broker under ``var/``. SMTP alone has
none: ``MAILER_SMTP_HOST``, or ``MAILER_DEV_OUTBOX=true`` (which ``make run``
sets) for the dev outbox on loopback.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from email.utils import parseaddr
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path

from mailer.config_bounces import BounceSettings, load_bounces
from mailer.config_dkim import load_dkim
from mailer.config_metrics import MetricsSettings, load_metrics
from mailer.config_network import NetworkSettings, load_network
from mailer.config_site import SiteSettings, load_site
from mailer.origins import normalise_origin
from mailer.outbound.policy import policy_networks
from mailer.rate_limit_strings import check_limit_string
from mailer.redaction import redacted_repr

ROOT = Path(__file__).resolve().parent.parent
SMTP_SECURITY_CHOICES = ("none", "starttls", "tls")
DEV_OUTBOX_PORT = 8025


class ConfigError(ValueError):
    """A MAILER_* variable has a value we cannot use; the message names it."""


def _env(name: str, default: str = "") -> str:
    return os.environ.get(f"MAILER_{name}", "").strip() or default


def _flag(name: str, default: str = "false") -> bool:
    value = _env(name, default).lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigError(f"MAILER_{name} must be true or false, not {value!r}")
    return value in ("true", "1", "yes")


NO_SMTP = (
    "No SMTP server is set: set MAILER_SMTP_HOST (with MAILER_SMTP_PORT, "
    "MAILER_SMTP_SECURITY, MAILER_SMTP_USERNAME and MAILER_SMTP_PASSWORD as your server "
    "needs) to send mail, or MAILER_DEV_OUTBOX=true on a developer's machine to keep every "
    "mail in the local outbox (`make run` sets it). The outbox page shows every reader's "
    "links without a login: never turn it on in production."
)


def _load_smtp_target() -> tuple[str, bool]:
    """(SMTP host, dev outbox on). The dev outbox is never a silent default: it serves
    every reader's personal links unauthenticated on /outbox."""
    smtp_host = _env("SMTP_HOST")
    dev_outbox = _flag("DEV_OUTBOX")
    if smtp_host and dev_outbox:
        raise ConfigError(
            "MAILER_SMTP_HOST and MAILER_DEV_OUTBOX=true are both set: set MAILER_SMTP_HOST "
            "to send through that server, or MAILER_DEV_OUTBOX=true for the local outbox"
        )
    if not smtp_host and not dev_outbox:
        raise ConfigError(NO_SMTP)
    return smtp_host, dev_outbox


def private_dir(path: Path) -> Path:
    """var/ holds the secret key, the SQLite database, the dev outbox and uploaded CSVs:
    only the service's own user may enter it. A var/ made by an older version (0755) is
    tightened too."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_mode & 0o077 and info.st_uid == os.geteuid():
        path.chmod(0o700)
    return path


def create_private_file(path: Path, text: str) -> None:
    """A new file that is 0600 from its first byte (never written, then chmod'ed).

    Written under a temporary name and linked into place, so that a process starting at
    the same moment reads either nothing or the whole key; if it won, its key stays.
    """
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(temp, path)
        except FileExistsError:
            pass
    finally:
        temp.unlink(missing_ok=True)


def _load_secret_keys(var_dir: Path) -> tuple[str, ...]:
    """Comma-separated keys; the first signs, all verify (key rotation).

    Without MAILER_SECRET_KEY a key is generated once and kept in var/ so
    that links in mails already sent survive a restart.
    """
    raw = _env("SECRET_KEY")
    if raw:
        return tuple(k.strip() for k in raw.split(",") if k.strip())
    key_file = var_dir / "secret_key"
    if not key_file.exists():
        create_private_file(key_file, secrets.token_urlsafe(48))
    return (key_file.read_text().strip(),)


SECRET = {"secret": True}


def _idna_address(address: str, variable: str) -> str:
    local, _, domain = address.rpartition("@")
    if not local or not domain:
        raise ConfigError(f"MAILER_{variable}: {address!r} is not an email address")
    return f"{local}@{domain.encode('idna').decode('ascii')}"


@dataclass(frozen=True, repr=False)
class Settings:
    var_dir: Path
    database_url: str
    broker_url: str
    secret_keys: tuple[str, ...] = field(metadata=SECRET)
    base_url: str
    from_name: str
    from_address: str
    smtp_host: str
    smtp_port: int
    smtp_username: str
    smtp_password: str = field(metadata=SECRET)
    smtp_security: str
    send_rate: float
    dev_outbox: bool
    port: int
    newsletter_topics: tuple[str, ...] = field(default=())
    digest_cron: str = "0 9 1 * *"
    digest_autosend: bool = False
    organisation: str = ""
    postal_address: str = ""
    bounce_domain: str = ""
    dkim_domain: str = ""
    dkim_selector: str = ""
    dkim_private_key: bytes = field(default=b"", metadata=SECRET)
    # Which variable gave the key, so that a key found unusable is reported by its name.
    dkim_key_variable: str = "MAILER_DKIM_PRIVATE_KEY"
    # Reader side: sites allowed to embed the signup form and call the API from a
    # browser (origins, "https://www.example.no"), clean-up and abuse protection.
    allowed_origins: tuple[str, ...] = ()
    pending_days: int = 30
    min_fill_seconds: float = 3.0
    signup_limits: str = "10/minute;50/hour"
    trusted_proxies: int = 0
    # The broker queue: several installations (or test runs) can share one Redis.
    queue: str = "mailer"
    bounces: BounceSettings = field(default_factory=BounceSettings)
    # Outbound fetches (feeds): inside addresses are refused unless allowed here, and each
    # fetch ends after the deadline however slowly the server answers.
    feed_allow_private: bool = False
    feed_allowed_networks: tuple[IPv4Network | IPv6Network, ...] = ()
    feed_deadline_seconds: float = 30.0

    # The store several processes share (web request limits, the send pacer); "" = none,
    # each process (limits) or machine (pacer) keeps its own (repr hides its password).
    redis_url: str = ""
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    # Crash recovery (README "What happens when a worker dies"): a sender's lease, the
    # reconciler's beat, and where each send batch keeps its journal (per host).
    claim_lease_seconds: float = 60.0
    reconcile_interval_seconds: float = 60.0
    journal_dir: Path = ROOT / "var" / "journal"
    site: SiteSettings = field(default_factory=SiteSettings)
    network: NetworkSettings = field(default_factory=NetworkSettings)

    def __repr__(self) -> str:
        return redacted_repr(self)  # no key, password or token in a log or traceback

    @property
    def outbox_dir(self) -> Path:
        return self.var_dir / "outbox"

    @property
    def broker_dir(self) -> Path:
        return self.var_dir / "broker"


def _load_allowed_origins() -> tuple[str, ...]:
    origins: list[str] = []
    for raw in _env("ALLOWED_ORIGINS").split(","):
        if not raw.strip():
            continue
        origin = normalise_origin(raw)
        if origin is None:
            raise ConfigError(
                f"MAILER_ALLOWED_ORIGINS: {raw.strip()!r} is not an origin "
                "(scheme://host[:port], no path), e.g. https://www.example.no"
            )
        if origin not in origins:
            origins.append(origin)
    return tuple(origins)


def _load_reader_protection() -> tuple[int, float, str, int]:
    """(pending days, minimum fill seconds, signup limits, trusted proxies)."""
    try:
        pending_days = int(_env("PENDING_DAYS", "30"))
        min_fill = float(_env("MIN_FILL_SECONDS", "3"))
        proxies = int(_env("TRUSTED_PROXIES", "0"))
    except ValueError as exc:
        raise ConfigError(
            "MAILER_PENDING_DAYS, MAILER_MIN_FILL_SECONDS and MAILER_TRUSTED_PROXIES "
            f"must be numbers: {exc}"
        ) from exc
    if pending_days < 1:
        raise ConfigError(f"MAILER_PENDING_DAYS must be at least 1, not {pending_days}")
    if min_fill < 0 or proxies < 0:
        raise ConfigError("MAILER_MIN_FILL_SECONDS and MAILER_TRUSTED_PROXIES cannot be negative")
    signup_limits = _env("SIGNUP_LIMITS", "10/minute;50/hour")
    try:
        check_limit_string(signup_limits)
    except ValueError as exc:
        raise ConfigError(
            f"MAILER_SIGNUP_LIMITS must look like '10/minute;50/hour', not {signup_limits!r}"
        ) from exc
    return pending_days, min_fill, signup_limits, proxies


def _load_outbound_fetch() -> tuple[bool, tuple[IPv4Network | IPv6Network, ...], float]:
    """(allow private addresses, networks allowed anyway, deadline of one fetch)."""
    allow = _env("FEED_ALLOW_PRIVATE", "false").lower()
    if allow not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigError(f"MAILER_FEED_ALLOW_PRIVATE must be true or false, not {allow!r}")
    try:
        networks = policy_networks(_env("FEED_ALLOWED_NETWORKS"))
    except ValueError as exc:
        raise ConfigError(f"MAILER_FEED_ALLOWED_NETWORKS: {exc}") from exc
    try:
        deadline = float(_env("FEED_DEADLINE_SECONDS", "30"))
    except ValueError as exc:
        raise ConfigError(f"MAILER_FEED_DEADLINE_SECONDS must be a number: {exc}") from exc
    if not 0 < deadline <= 3600:
        raise ConfigError(
            f"MAILER_FEED_DEADLINE_SECONDS must be above 0 and at most 3600, not {deadline}"
        )
    return allow in ("true", "1", "yes"), networks, deadline


def _load_recovery(var_dir: Path) -> tuple[float, float, Path]:
    """MAILER_CLAIM_LEASE_SECONDS, MAILER_RECONCILE_INTERVAL_SECONDS (60 s each) and
    MAILER_JOURNAL_DIR (var/journal): README "What happens when a worker dies"."""
    names = ("CLAIM_LEASE_SECONDS", "RECONCILE_INTERVAL_SECONDS")
    raw = [_env(name, "60") for name in names]
    if not all(re.fullmatch(r"\d+(\.\d*)?", v) and 0 < float(v) <= 86400 for v in raw):
        raise ConfigError(f"MAILER_{' and MAILER_'.join(names)} are seconds, from 0 to 86400")
    journal = Path(_env("JOURNAL_DIR", str(var_dir / "journal"))).expanduser().resolve()
    return float(raw[0]), float(raw[1]), journal


REDIS_SCHEMES = ("redis://", "rediss://")


def _load_redis_url(broker_url: str) -> str:
    """MAILER_REDIS_URL; MAILER_RATELIMIT_STORAGE_URL is the security issue's name for
    it. Unset, the broker when that is Redis, so a Redis setup shares state as it is."""
    url, alias = _env("REDIS_URL"), _env("RATELIMIT_STORAGE_URL")
    if url and alias and url != alias:
        raise ConfigError(
            "MAILER_REDIS_URL and MAILER_RATELIMIT_STORAGE_URL are both set and differ; "
            "set MAILER_REDIS_URL alone"
        )
    url = url or alias
    if url and not url.startswith(REDIS_SCHEMES):
        name = "MAILER_REDIS_URL" if _env("REDIS_URL") else "MAILER_RATELIMIT_STORAGE_URL"
        raise ConfigError(f"{name} must be a redis:// or rediss:// URL")
    if not url and broker_url.startswith(REDIS_SCHEMES):
        return broker_url
    return url


def load_settings() -> Settings:
    var_dir = private_dir(Path(_env("VAR_DIR", str(ROOT / "var"))).resolve())
    port = int(os.environ.get("PORT", "5000") or 5000)
    smtp_host, dev_outbox = _load_smtp_target()
    security = _env("SMTP_SECURITY", "none").lower()
    if security not in SMTP_SECURITY_CHOICES:
        raise ConfigError(
            f"MAILER_SMTP_SECURITY must be one of {', '.join(SMTP_SECURITY_CHOICES)}, "
            f"not {security!r}"
        )
    default_smtp_port = {"none": 25, "starttls": 587, "tls": 465}[security]
    if dev_outbox:
        default_smtp_port = DEV_OUTBOX_PORT
    from_name, from_address = parseaddr(_env("FROM", "Nyhetsbrev <nyhetsbrev@localhost>"))
    try:
        send_rate = float(_env("SEND_RATE", "0"))
        smtp_port = int(_env("SMTP_PORT", str(default_smtp_port)))
    except ValueError as exc:
        raise ConfigError(f"MAILER_SEND_RATE / MAILER_SMTP_PORT must be numbers: {exc}") from exc
    topics = tuple(t.strip() for t in _env("TOPICS", "").split(",") if t.strip())
    digest_cron = _env("DIGEST_CRON", "0 9 1 * *")
    if len(digest_cron.split()) != 5:
        raise ConfigError(
            f"MAILER_DIGEST_CRON must have five fields (minute hour day month weekday), "
            f"not {digest_cron!r}"
        )
    dkim_domain, dkim_selector, dkim_key, dkim_key_variable = load_dkim()
    pending_days, min_fill, signup_limits, proxies = _load_reader_protection()
    allow_private, allowed_networks, feed_deadline = _load_outbound_fetch()
    broker_url = _env("BROKER_URL", "filesystem://")
    lease, interval, journal_dir = _load_recovery(var_dir)
    return Settings(
        var_dir=var_dir,
        database_url=_env("DATABASE_URL", f"sqlite:///{var_dir / 'mailer.db'}"),
        broker_url=broker_url,
        secret_keys=_load_secret_keys(var_dir),
        base_url=_env("BASE_URL", f"http://127.0.0.1:{port}").rstrip("/"),
        from_name=from_name,
        from_address=_idna_address(from_address, "FROM"),
        smtp_host=smtp_host or "127.0.0.1",
        smtp_port=smtp_port,
        smtp_username=_env("SMTP_USERNAME"),
        smtp_password=_env("SMTP_PASSWORD"),
        smtp_security=security,
        send_rate=send_rate,
        dev_outbox=dev_outbox,
        port=port,
        newsletter_topics=topics,
        digest_cron=digest_cron,
        digest_autosend=_flag("DIGEST_AUTOSEND"),
        organisation=_env("ORGANISATION"),
        postal_address=_env("POSTAL_ADDRESS"),
        bounce_domain=_env("BOUNCE_DOMAIN").encode("idna").decode("ascii"),
        dkim_domain=dkim_domain,
        dkim_selector=dkim_selector,
        dkim_private_key=dkim_key,
        dkim_key_variable=dkim_key_variable,
        allowed_origins=_load_allowed_origins(),
        pending_days=pending_days,
        min_fill_seconds=min_fill,
        signup_limits=signup_limits,
        trusted_proxies=proxies,
        queue=_env("QUEUE", "mailer"),
        feed_allow_private=allow_private,
        feed_allowed_networks=allowed_networks,
        feed_deadline_seconds=feed_deadline,
        redis_url=_load_redis_url(broker_url),
        metrics=load_metrics(),
        claim_lease_seconds=lease,
        reconcile_interval_seconds=interval,
        journal_dir=journal_dir,
        bounces=load_bounces(),
        site=load_site(),
        network=load_network(),
    )
