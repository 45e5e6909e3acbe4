"""The worker process loads only what tasks need: its memory is a target (bench/README.md)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from typing import Any

from tests.harness.processes import ROOT

WEB_ONLY = [
    # The worker builds no Flask app (mailer/worker_app.py): ~5 MB per process.
    "flask",
    "werkzeug",
    # MAILER_SIGNUP_LIMITS is checked without the web's limits library (~1.5 MB).
    "limits",
    "flask_wtf",
    "flask_limiter",
    "wtforms",
    "argon2",
    "mailer.web.reader.public",
    "mailer.cli",
]
# Babel's .po reader: the worker reads a catalogue when a mail first needs one. Babel's
# support, date and number modules (the mails' dates are a table: mailer/i18n/formats.py).
LOADED_WHEN_USED = [
    "cryptography",
    "requests",
    "feedparser",
    "babel.messages.pofile",
    "babel.support",
    "babel.numbers",
    # An issue's compiling (CSS inlining, the intro's Markdown and sanitising): pool children.
    "css_inline",
    "markdown",
    "nh3",
    # Mails are rendered in pool children; the main process imports the task modules only.
    "jinja2",
]


def _run_probe(probe: str, env: dict[str, str]) -> Any:
    """What ``probe`` (Python run in a fresh interpreter) printed last, as JSON."""
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_worker_app_leaves_the_web_side_and_unused_libraries_out(test_env):
    """Checked by hand: with worker/app.py building the Flask app again, with config.py
    importing limits, or with a top-level import of css_inline, markdown, nh3 or (in
    mail/templates.py) jinja2, this fails."""
    probe = (
        "import json, sys\nimport worker.app\nprint(json.dumps(sorted({m for m in sys.modules})))\n"
    )
    loaded = set(_run_probe(probe, test_env))
    assert "mailer.sending.tasks" in loaded and "mailer.sending.batch" in loaded
    assert not loaded & set(WEB_ONLY + LOADED_WHEN_USED)
    # On SQLite, not the PostgreSQL dialect (~2 MB); on PostgreSQL it is the one in use.
    on_sqlite = test_env["MAILER_DATABASE_URL"].startswith("sqlite")
    assert ("sqlalchemy.dialects.postgresql" in loaded) != on_sqlite


# Celery's umbrella command (`celery -A worker.app worker`) imports every subcommand:
# `celery amqp`'s REPL (click_repl, prompt_toolkit, wcwidth, xml), ~7 MB. And the optional
# imports Celery, kombu and billiard take when installed (worker/__main__.py): pygments,
# yaml, psutil, and cffi (with it, pycparser in every pool child).
CELERY_CLI_ONLY = ["celery.bin.celery", "click_repl", "prompt_toolkit", "wcwidth"]
NOT_IMPORTED = ["pygments", "yaml", "psutil", "cffi", "pycparser"]


def test_the_worker_command_leaves_celerys_other_commands_out(test_env):
    """`python -m worker` (the Procfile's worker) parses `celery worker`'s options without
    Celery's umbrella command. Checked by hand: with worker/__main__.py importing
    ``celery.bin.celery`` again, or with any name taken out of its NOT_IMPORTED, this
    fails."""
    probe = (
        "import json, sys\n"
        "from worker.__main__ import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "# What the worker loads once it runs (celery.apps.worker: psutil when installed),\n"
        "# and what a pool child does first (billiard: cffi and pycparser when installed).\n"
        "import celery.apps.worker, celery.worker.consumer, celery.concurrency.prefork\n"
        "from celery import platforms\n"
        "platforms.set_pdeathsig('SIGKILL')\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    loaded = set(_run_probe(probe, test_env))
    assert "celery.bin.worker" in loaded and "mailer.sending.tasks" in loaded
    assert not {m.split(".")[0] for m in loaded} & set(CELERY_CLI_ONLY[1:] + NOT_IMPORTED)
    assert "celery.bin.celery" not in loaded


def test_the_workers_libraries_have_their_docstring_free_bytecode(test_env):
    """The worker runs as `python -OO` (Procfile: no docstrings, ~5.5 MB a process); a
    module without its .opt-2.pyc is compiled from source at every start (slower, and
    ~9 MB more), and pip writes only the plain .pyc: `make install` writes them. Checked by
    hand: with SQLAlchemy's .opt-2.pyc files deleted, this fails."""
    probe = (
        "import importlib.util, json, os, sys\n"
        "import worker.app\n"
        "import celery.bin.worker, celery.apps.worker, celery.concurrency.prefork\n"
        # The project's own modules: written by Python at their first import.
        f"own = tuple({str(ROOT)!r} + os.sep + d for d in ('mailer', 'worker', 'tests'))\n"
        "files = [getattr(m, '__file__', None) or '' for m in list(sys.modules.values())]\n"
        "print(json.dumps(sorted(\n"
        "    f for f in files if f.endswith('.py') and not f.startswith(own)\n"
        "    and not os.path.exists(importlib.util.cache_from_source(f, optimization=2)))))\n"
    )
    assert _run_probe(probe, test_env) == []


def test_a_pool_child_without_cffi_still_dies_with_its_parent(test_env):
    """billiard's ctypes path (taken with cffi refused) sets the parent-death signal as
    its cffi path did: a pool child whose main process is killed gets SIGKILL. Checked by
    hand: refusing cffi with ``sys.modules['cffi'] = None`` instead of the finder, this
    fails (billiard then takes its cffi path, fails, and sets no signal)."""
    probe = (
        "import json, sys\n"
        "from worker.__main__ import RefuseImports\n"
        "sys.meta_path.insert(0, RefuseImports())\n"
        "from billiard.util import get_pdeathsig\n"
        "from celery import platforms\n"
        "platforms.set_pdeathsig('SIGKILL')\n"
        "print(json.dumps(['cffi' in sys.modules, get_pdeathsig()]))\n"
    )
    assert _run_probe(probe, test_env) == [False, signal.SIGKILL]


def test_the_mails_words_and_dates_load_no_cldr_locale_data(test_env):
    """What a worker child needs for a mail in either language (the catalogues, a date, a
    month) loads none of Babel's locale data (~4 MB per process; with format_date through
    Babel again this fails), nor Babel itself: the catalogues are compiled by
    mailer/i18n/po.py (~1.7 MB; with catalogues.py on Babel's read_po again this fails)."""
    probe = (
        "import json, sys\n"
        "from datetime import UTC, datetime\n"
        "import worker.app\n"
        "from mailer.i18n import format_date, gettext, month_name, ngettext\n"
        "now = datetime.now(UTC)\n"
        "for language in ('nb', 'en'):\n"
        "    gettext('Nyhetsbrev', language)\n"
        "    ngettext('%(num)s rad', '%(num)s rader', 2, language)\n"
        "    format_date(now, language), month_name(now, language)\n"
        "data = sys.modules.get('babel.localedata')\n"
        "babel = [m for m in sys.modules if m.split('.')[0] == 'babel']\n"
        "print(json.dumps([sorted(data._cache) if data else [], babel]))\n"
    )
    assert _run_probe(probe, test_env) == [[], []]
