"""The `mailer` command (`.venv/bin/mailer …`, also `python -m mailer …`): Flask's CLI over
the app, with every domain's commands (mailer/cli.py assembles them in the app factory)."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup

from mailer.app import create_app
from mailer.config import ConfigError


def _create_app() -> Flask:
    try:
        return create_app()
    except ConfigError as exc:
        # `mailer run` and every command: "Error: <what to set>", exit status 1.
        raise click.ClickException(str(exc)) from None


def main() -> None:
    FlaskGroup(create_app=_create_app, add_version_option=False, help="mailer newsletter service")(
        prog_name="mailer"
    )


if __name__ == "__main__":
    main()
