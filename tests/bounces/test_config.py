"""The MAILER_BOUNCE_* / MAILER_WEBHOOK_* settings: defaults, clear errors, no secret shown."""

from __future__ import annotations

import dataclasses

import pytest

from mailer.bounces.tasks import beat_schedule
from mailer.config import ConfigError
from mailer.config_bounces import load_bounces


def test_the_defaults_are_the_decisions(monkeypatch):
    for name in (
        "BOUNCE_LISTEN",
        "BOUNCE_PROTOCOL",
        "BOUNCE_IMAP_URL",
        "BOUNCE_SOFT_SCORE",
        "BOUNCE_THRESHOLD",
        "BOUNCE_WINDOW_DAYS",
        "BOUNCE_IMAP_DONE_FOLDER",
    ):
        monkeypatch.delenv(f"MAILER_{name}", raising=False)
    b = load_bounces()
    assert (b.listen_host, b.listen_port, b.protocol) == ("127.0.0.1", 8026, "smtp")
    assert (b.soft_score, b.threshold, b.window_days) == (0.5, 3.0, 30)
    assert b.imap_done_folder == "Processed" and b.max_bytes == 10 * 1024 * 1024


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BOUNCE_LISTEN", "8026"),
        ("BOUNCE_LISTEN", "127.0.0.1:99999"),
        ("BOUNCE_PROTOCOL", "pop3"),
        ("BOUNCE_IMAP_URL", "https://imap.example.no/INBOX"),
        ("BOUNCE_SOFT_SCORE", "en halv"),
        ("BOUNCE_THRESHOLD", "0"),
        ("BOUNCE_WINDOW_DAYS", "-1"),
        # Zero would have beat poll the mailbox without pause.
        ("BOUNCE_IMAP_INTERVAL_SECONDS", "0"),
    ],
)
def test_a_bad_value_names_its_variable(monkeypatch, name, value):
    monkeypatch.setenv(f"MAILER_{name}", value)
    with pytest.raises(ConfigError, match=f"MAILER_{name}"):
        load_bounces()


def test_secrets_never_show_in_a_repr(monkeypatch, rt):
    monkeypatch.setenv(
        "MAILER_BOUNCE_IMAP_URL", "imaps://bounces:imap-pass-XYZ@imap.example.no/INBOX"
    )
    monkeypatch.setenv("MAILER_WEBHOOK_MAILGUN_SIGNING_KEY", "mg-key-XYZ")
    monkeypatch.setenv("MAILER_WEBHOOK_POSTMARK_PASSWORD", "pm-pass-XYZ")
    shown = repr(dataclasses.replace(rt.settings, bounces=load_bounces()))
    assert "XYZ" not in shown and "imap.example.no" in shown


def test_beat_polls_the_mailbox_only_when_one_is_set(rt):
    assert "poll-bounce-mailbox" not in beat_schedule(rt.settings)
    with_box = dataclasses.replace(
        rt.settings,
        bounces=dataclasses.replace(rt.settings.bounces, imap_url="imaps://u:p@h/INBOX"),
    )
    entry = beat_schedule(with_box)["poll-bounce-mailbox"]
    assert entry["task"] == "mailer.poll_bounce_mailbox" and entry["schedule"] == 300.0
