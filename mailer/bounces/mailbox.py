"""`mailer bounces poll`: returned mail read from an IMAP mailbox (MAILER_BOUNCE_IMAP_URL).

Each mail is stored (committed, its processing queued) before it is moved to
MAILER_BOUNCE_IMAP_DONE_FOLDER (created if missing); nothing is ever deleted that was not
stored first, and a mail over the size cap stays where it is.
"""

from __future__ import annotations

import imaplib
import re
import ssl
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from mailer.bounces.service import store_report
from mailer.config import Settings
from mailer.db import Database

SOURCE = "imap"
# One poll takes at most this many mails; the next poll takes the rest.
MAX_PER_POLL = 500
TIMEOUT_SECONDS = 60.0
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


class MailboxError(Exception):
    """The mailbox cannot be reached or read; the message says which step failed."""


@dataclass(frozen=True)
class PollResult:
    stored: int
    moved: int
    skipped: int
    folder: str


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def tls_context(ca_file: str) -> ssl.SSLContext:
    """Certificate and host name always checked (imaplib's own default checks neither):
    against ``ca_file`` (MAILER_BOUNCE_IMAP_CA) when set, else the system's trust store."""
    try:
        return ssl.create_default_context(cafile=ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise MailboxError(f"MAILER_BOUNCE_IMAP_CA: cannot read {ca_file!r}: {exc}") from exc


def _connect(url: str, ca_file: str) -> tuple[imaplib.IMAP4, str]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        if parts.scheme == "imaps":
            conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                host, parts.port or 993, ssl_context=tls_context(ca_file), timeout=TIMEOUT_SECONDS
            )
        else:
            conn = imaplib.IMAP4(host, parts.port or 143, timeout=TIMEOUT_SECONDS)
        conn.login(unquote(parts.username or ""), unquote(parts.password or ""))
    except ssl.SSLCertVerificationError as exc:
        raise MailboxError(
            f"the certificate of {host} is not trusted ({exc.verify_message}); "
            "nothing was read (MAILER_BOUNCE_IMAP_CA names a private CA)"
        ) from exc
    except (OSError, imaplib.IMAP4.error) as exc:
        raise MailboxError(f"cannot log in to {host}: {exc}") from exc
    return conn, unquote(parts.path.lstrip("/")) or "INBOX"


def poll_mailbox(db: Database, settings: Settings) -> PollResult:
    done = settings.bounces.imap_done_folder
    conn, folder = _connect(settings.bounces.imap_url, settings.bounces.imap_ca)
    stored = moved = skipped = 0
    try:
        conn.create(_quoted(done))  # "already exists" is an answer, not an error
        typ, _ = conn.select(_quoted(folder))
        if typ != "OK":
            raise MailboxError(f"cannot open the folder {folder!r}")
        typ, data = conn.uid("SEARCH", "ALL")
        found_uids = (data[0] or b"").split() if typ == "OK" and data else []
        uids = [u.decode("ascii") for u in found_uids[:MAX_PER_POLL]]
        can_move = "MOVE" in conn.capabilities
        for uid in uids:
            typ, sized = conn.uid("FETCH", uid, "(RFC822.SIZE)")
            found = _SIZE.search(b" ".join(x if isinstance(x, bytes) else b"" for x in sized))
            if not found or int(found.group(1)) > settings.bounces.max_bytes:
                skipped += 1
                continue
            typ, fetched = conn.uid("FETCH", uid, "(BODY.PEEK[])")
            raw = next((x[1] for x in fetched if isinstance(x, tuple)), None)
            if typ != "OK" or raw is None:
                skipped += 1
                continue
            with db.session() as session:
                store_report(session, settings, SOURCE, raw)
            stored += 1
            if can_move:
                typ, _ = conn.uid("MOVE", uid, _quoted(done))
            else:
                typ, _ = conn.uid("COPY", uid, _quoted(done))
                if typ == "OK":
                    conn.uid("STORE", uid, "+FLAGS.SILENT", "(\\Deleted)")
                    conn.uid("EXPUNGE", uid)
            moved += typ == "OK"
    except (OSError, imaplib.IMAP4.error) as exc:
        raise MailboxError(f"mailbox error: {exc}") from exc
    finally:
        try:
            conn.logout()
        except (OSError, imaplib.IMAP4.error):
            pass
    return PollResult(stored, moved, skipped, done)
