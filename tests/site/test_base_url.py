"""One base URL for every process (issue 12 item 6): `make run` stores the URL it serves on,
a command in another terminal (no MAILER_BASE_URL) makes links to it, and a command whose
MAILER_BASE_URL disagrees says so. Real `mailer` processes on the suite's database."""

from __future__ import annotations

import subprocess

from mailer.config import load_settings
from mailer.site.store import stored_base_url
from tests.harness import factories
from tests.harness.processes import ROOT

MAILER = str(ROOT / ".venv" / "bin" / "mailer")


def _mailer(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MAILER, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_a_command_in_another_terminal_links_to_the_port_make_run_stored(test_env, session):
    """Today: `PORT=5800 make run`, then `mailer digest preview` elsewhere links to :5000."""
    factories.subscription(session, "kari@example.no", name="Kari")
    issue = factories.drafted_issue(session)
    other_terminal = {k: v for k, v in test_env.items() if k not in ("MAILER_BASE_URL", "PORT")}
    make_run = {**other_terminal, "PORT": "5800"}

    stored = _mailer(make_run, "settings", "base-url", "http://127.0.0.1:5800")
    assert stored.returncode == 0, stored.stderr
    session.expire_all()
    assert stored_base_url(session) == "http://127.0.0.1:5800"

    preview = _mailer(other_terminal, "digest", "preview", str(issue.id), "--as", "kari@example.no")
    assert preview.returncode == 0, preview.stderr
    assert "http://127.0.0.1:5800/unsubscribe/" in preview.stdout
    assert "127.0.0.1:5000" not in preview.stdout
    assert "Warning" not in preview.stderr

    # A terminal whose MAILER_BASE_URL differs uses it, and says so.
    own = {**other_terminal, "MAILER_BASE_URL": "http://127.0.0.1:5000"}
    preview = _mailer(own, "digest", "preview", str(issue.id), "--as", "kari@example.no")
    assert preview.returncode == 0, preview.stderr
    assert "http://127.0.0.1:5000/unsubscribe/" in preview.stdout
    assert "MAILER_BASE_URL is http://127.0.0.1:5000" in preview.stderr
    assert "http://127.0.0.1:5800" in preview.stderr


def test_a_bad_base_url_is_refused_and_nothing_is_stored(test_env, session):
    env = {k: v for k, v in test_env.items() if k != "MAILER_BASE_URL"}
    result = _mailer(env, "settings", "base-url", "ftp://example.no/x?y")
    assert result.returncode == 1
    assert "https://" in result.stderr
    session.expire_all()
    assert stored_base_url(session) is None


def test_the_stored_url_is_what_every_process_reads_unless_the_environment_sets_one(
    rt, session, monkeypatch
):
    """The web, worker and CLI all read ``runtime().settings``: stored value when the
    variable is unset, the variable when it is set."""
    from mailer.site.store import store_base_url

    store_base_url(session, "https://nyhetsbrev.europakontor.example.no/")
    session.commit()
    rt.site.invalidate()
    assert rt.settings.base_url == "https://nyhetsbrev.example.no"  # MAILER_BASE_URL wins
    monkeypatch.delenv("MAILER_BASE_URL")
    monkeypatch.setattr(rt, "env_settings", load_settings())
    assert rt.settings.base_url == "https://nyhetsbrev.europakontor.example.no"
