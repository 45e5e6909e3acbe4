"""`mailer bounces serve` (the SMTP/LMTP listener) and `mailer bounces poll` (the mailbox)."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click
from flask.cli import AppGroup

from mailer.bounces.listener import listener_for
from mailer.cli_output import fail
from mailer.runtime import runtime


@click.group("bounces", cls=AppGroup, help="Bounces and complaints coming back.")
def bounces_group() -> None:
    pass


@bounces_group.command("serve", help="Take returned mail over SMTP/LMTP (MAILER_BOUNCE_LISTEN).")
def serve() -> None:
    rt = runtime()
    listener = listener_for(rt.db, rt.settings)
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        listener.start()
    except Exception as exc:  # port taken, address not ours
        fail(f"cannot listen on {listener.hostname}:{listener.port}: {exc}")
    click.echo(
        f"bounce listener ({rt.settings.bounces.protocol}) on {listener.hostname}:{listener.port}",
        err=True,
    )
    try:
        stop.wait()
    finally:
        listener.stop()


@bounces_group.command("poll", help="Read returned mail from MAILER_BOUNCE_IMAP_URL once.")
def poll() -> None:
    from mailer.bounces.mailbox import MailboxError, poll_mailbox

    rt = runtime()
    if not rt.settings.bounces.imap_url:
        fail("MAILER_BOUNCE_IMAP_URL is not set")
    try:
        result = poll_mailbox(rt.db, rt.settings)
    except MailboxError as exc:
        fail(str(exc))
    click.echo(f"{result.stored} stored, {result.moved} moved to {result.folder}")
