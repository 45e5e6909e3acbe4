"""The dev SMTP outbox: an aiosmtpd server that keeps every mail in a Maildir."""

from __future__ import annotations

import email
import email.policy
import mailbox
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


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


def read_outbox(folder: Path, limit: int = 200) -> list[OutboxMessage]:
    if not (folder / "cur").is_dir():
        return []
    box = mailbox.Maildir(folder, create=False)
    found: list[OutboxMessage] = []
    for key in box.keys():
        msg = box.get_message(key)
        parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
        found.append(
            OutboxMessage(
                key=key,
                received_at=datetime.fromtimestamp(msg.get_date(), UTC),
                subject=str(parsed.get("Subject", "")),
                sender=str(parsed.get("From", "")),
                recipient=str(parsed.get("To", "")),
                message=parsed,
            )
        )
    found.sort(key=lambda m: m.received_at, reverse=True)
    return found[:limit]
