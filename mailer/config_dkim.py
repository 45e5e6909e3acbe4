"""DKIM signing settings: MAILER_DKIM_DOMAIN, MAILER_DKIM_SELECTOR and the private key
(MAILER_DKIM_PRIVATE_KEY or MAILER_DKIM_PRIVATE_KEY_FILE), all three or none."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn


def _refuse(message: str) -> NoReturn:
    # mailer.config imports this module: its ConfigError is imported when needed, not at
    # module level, so the two never import each other.
    from mailer.config import ConfigError

    raise ConfigError(message)


def _env(name: str) -> str:
    return os.environ.get(f"MAILER_{name}", "").strip()


DKIM_VARIABLES = (
    "MAILER_DKIM_DOMAIN",
    "MAILER_DKIM_SELECTOR",
    "MAILER_DKIM_PRIVATE_KEY (or MAILER_DKIM_PRIVATE_KEY_FILE)",
)


def load_dkim() -> tuple[str, str, bytes, str]:
    """(domain, selector, private key PEM) for DKIM signing; all empty when it is off.

    The three go together; the key is parsed here so that a bad one stops the service
    at startup rather than at the first mail.
    """
    domain, selector = _env("DKIM_DOMAIN"), _env("DKIM_SELECTOR")
    key_text, key_file = _env("DKIM_PRIVATE_KEY"), _env("DKIM_PRIVATE_KEY_FILE")
    if key_text and key_file:
        _refuse("MAILER_DKIM_PRIVATE_KEY and MAILER_DKIM_PRIVATE_KEY_FILE are both set; set one")
    given = dict(zip(DKIM_VARIABLES, (domain, selector, key_text or key_file), strict=True))
    missing = [name for name, value in given.items() if not value]
    if len(missing) == len(given):
        return "", "", b"", "MAILER_DKIM_PRIVATE_KEY"
    if missing:
        present = [name for name, value in given.items() if value]
        _refuse(
            f"{' and '.join(present)} {'is' if len(present) == 1 else 'are'} set, "
            f"but {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not: "
            "DKIM signing needs all three"
        )
    if key_file:
        variable = "MAILER_DKIM_PRIVATE_KEY_FILE"
        path = Path(key_file).expanduser()
        try:
            key = path.read_bytes()
        except OSError as exc:
            _refuse(f"{variable}: cannot read {path}: {exc.strerror or exc}")
    else:
        variable = "MAILER_DKIM_PRIVATE_KEY"
        if "\n" not in key_text:  # one line in an env file, with \n for the line breaks
            key_text = key_text.replace("\\n", "\n")
        key = key_text.encode("utf-8")
    # Whether the key is a usable RSA key is checked by mailer.mail.dkim.checked_settings,
    # which the app factory runs: configuration stays below the mail layer.
    return domain, selector, key, variable
