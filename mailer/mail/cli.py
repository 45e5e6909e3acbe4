"""`mailer dkim keygen` and `mailer outbox` (the dev SMTP sink)."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import click
from flask.cli import AppGroup, with_appcontext

from mailer.cli_output import fail as _fail
from mailer.mail.dkim import DkimError, dns_name, dns_record, generate_key, write_private_key
from mailer.mail.outbox import start_outbox
from mailer.runtime import runtime


@click.group("dkim", cls=AppGroup, help="DKIM signing keys.")
def dkim_group() -> None:
    pass


@dkim_group.command(
    "keygen", help="Write a new RSA-2048 DKIM key and print the DNS TXT record to publish."
)
@click.option("--selector", help="DKIM selector [default: mailer<YYYYMM>].")
@click.option("--domain", help="Signing domain (d=) [default: the domain of MAILER_FROM].")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Private key file, written with mode 0600 [default: var/dkim_private.pem].",
)
def dkim_keygen(selector: str | None, domain: str | None, out: Path | None) -> None:

    settings = runtime().settings
    try:
        domain = dns_name(domain or settings.from_address.rpartition("@")[2], "domain")
        selector = dns_name(selector or f"mailer{date.today():%Y%m}", "selector")
    except DkimError as exc:
        _fail(str(exc))
    out = (out or settings.var_dir / "dkim_private.pem").absolute()
    if out.exists():
        _fail(f"{out} exists; not overwriting a key. Move it away or choose another --out.")
    private_pem, _ = generate_key()
    try:
        write_private_key(out, private_pem)
    except FileExistsError:
        _fail(f"{out} exists; not overwriting a key. Move it away or choose another --out.")
    except OSError as exc:
        _fail(f"cannot write {out}: {exc.strerror or exc}")
    click.echo(f"Private key written to {out} (mode 0600).")
    click.echo("")
    click.echo("1. Publish this TXT record in DNS:")
    click.echo("")
    click.echo(dns_record(selector, domain, private_pem))
    click.echo("")
    click.echo("2. Once it resolves, set these and restart the web app and the workers:")
    click.echo("")
    click.echo(f"MAILER_DKIM_DOMAIN={domain}")
    click.echo(f"MAILER_DKIM_SELECTOR={selector}")
    click.echo(f"MAILER_DKIM_PRIVATE_KEY_FILE={out}")


@click.command("outbox", help="Run the dev SMTP outbox (stores mails in var/outbox).")
@with_appcontext
def outbox_command() -> None:
    settings = runtime().settings
    controller = start_outbox(settings.outbox_dir, settings.smtp_host, settings.smtp_port)
    click.echo(
        f"dev SMTP outbox on {settings.smtp_host}:{settings.smtp_port} → {settings.outbox_dir}"
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
