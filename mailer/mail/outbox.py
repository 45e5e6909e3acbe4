"""The dev SMTP outbox: an aiosmtpd server that keeps every mail in a Maildir."""

from __future__ import annotations

import email
import email.policy
import mailbox
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from mailer.paging import Page


class MaildirHandler:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        folder.parent.mkdir(parents=True, exist_ok=True)
        # Maildir only lays out new/cur/tmp when it creates the folder itself. Every mail
        # holds a reader's personal links: the folders are the service user's alone.
        folder.mkdir(mode=0o700, exist_ok=True)
        for sub in ("new", "cur", "tmp"):
            (folder / sub).mkdir(mode=0o700, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message = mailbox.MaildirMessage(envelope.original_content or envelope.content)
        with self._lock:
            key = mailbox.Maildir(self.folder, create=True).add(message)
            # Maildir writes 0666 less the umask; no one else could reach it in the 0700
            # folders in between, and now the file itself is private too.
            (self.folder / "new" / key).chmod(0o600)
        return "250 Message accepted for delivery"


def start_outbox(folder: Path, host: str, port: int) -> Controller:
    controller = Controller(MaildirHandler(folder), hostname=host, port=port)
    controller.start()
    return controller


@dataclass(frozen=True)
class OutboxMessage:
    key: str
    received_at: datetime
    subject: str
    sender: str
    recipient: str
    message: Any

    def part(self, content_type: str) -> str:
        for part in self.message.walk():
            if part.get_content_type() == content_type:
                return str(part.get_content())
        return ""


@dataclass(frozen=True)
class OutboxEntry:
    """One mail as the list shows it: its headers only."""

    key: str
    received_at: datetime
    subject: str
    recipient: str


# Headers never change once a mail is in the Maildir: each file is parsed once per process.
_HEADERS: dict[tuple[str, int], tuple[str, str]] = {}
_HEADER_CACHE_SIZE = 50_000
_HEADER_BYTES = 64 * 1024


def _mail_files(folder: Path) -> list[tuple[str, float, Path]]:
    """(key, received, path) of every mail, newest first, from a directory listing alone."""
    files: list[tuple[str, float, Path]] = []
    for sub in ("new", "cur"):
        directory = folder / sub
        if not directory.is_dir():
            continue
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_file() and not entry.name.startswith("."):
                    key = entry.name.split(":", 1)[0]
                    files.append((key, entry.stat().st_mtime, Path(entry.path)))
    files.sort(key=lambda f: (f[1], f[0]), reverse=True)
    return files


def _headers(path: Path, mtime: float) -> tuple[str, str]:
    """(subject, recipient), decoded, read from the head of the file only."""
    cache_key = (str(path), int(mtime * 1000))
    found = _HEADERS.get(cache_key)
    if found is not None:
        return found
    with path.open("rb") as handle:
        head = handle.read(_HEADER_BYTES)
    parsed = BytesHeaderParser(policy=email.policy.default).parsebytes(head)
    found = (str(parsed.get("Subject", "")), str(parsed.get("To", "")))
    if len(_HEADERS) >= _HEADER_CACHE_SIZE:
        _HEADERS.clear()
    _HEADERS[cache_key] = found
    return found


def list_outbox(
    folder: Path, query: str = "", page: int = 1, per_page: int = 50
) -> Page[OutboxEntry]:
    """The mails newest first, one page of them; ``query`` keeps those whose recipient or
    subject holds it (any case). Only the page's files are read when there is no query.

    Hand-written over ``mailbox.Maildir``: that parses every whole message to list them,
    which took seconds for 5,000 mails; a directory listing and the headers of a page do not.
    """
    files = _mail_files(folder)
    needle = query.strip().casefold()
    if needle:
        matching = []
        for key, mtime, path in files:
            subject, recipient = _headers(path, mtime)
            if needle in subject.casefold() or needle in recipient.casefold():
                matching.append((key, mtime, path))
        files = matching
    start = Page.offset(page, per_page)
    rows = []
    for key, mtime, path in files[start : start + per_page]:
        subject, recipient = _headers(path, mtime)
        rows.append(OutboxEntry(key, datetime.fromtimestamp(mtime, UTC), subject, recipient))
    return Page(rows, len(files), max(page, 1), per_page)


def read_message(folder: Path, key: str) -> OutboxMessage | None:
    """One whole mail by its key, or None (a key is a file name: nothing else is read)."""
    if not key or "/" in key or key.startswith("."):
        return None
    for _, mtime, path in _mail_files(folder):
        if path.name.split(":", 1)[0] == key:
            parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            return OutboxMessage(
                key=key,
                received_at=datetime.fromtimestamp(mtime, UTC),
                subject=str(parsed.get("Subject", "")),
                sender=str(parsed.get("From", "")),
                recipient=str(parsed.get("To", "")),
                message=parsed,
            )
    return None
