"""`python -m worker [options]`: the Celery worker, with every option of `celery worker`.

The same command as `celery -A worker.app worker [options]`, started without Celery's
umbrella command: ``celery.bin.celery`` imports all its subcommands, and `celery amqp`'s
REPL brings prompt_toolkit, wcwidth and xml (191 modules, ~7 MB of RSS) into the main
process and, through fork, every pool child (bench/README.md, "Worker memory";
tests/queue/test_worker_footprint.py pins it).

Celery's global options are environment variables here: ``CELERY_LOADER`` for
``--loader``, ``CELERY_BROKER_URL`` for ``--broker`` (MAILER_BROKER_URL is the usual way).
"""

from __future__ import annotations

import sys

# Optional imports Celery and kombu take whenever the package is installed (here each is
# a test tool's dependency, not the product's), for what the worker never does: pygments
# colours `celery inspect`'s output (a lexer and a formatter built at import, ~2.3 MB);
# yaml is kombu's YAML serializer (the worker accepts JSON only, ~0.8 MB); psutil is
# `celery worker`'s debug memory report. Refused here, the worker runs as installed
# without them.
NOT_IMPORTED = ("pygments", "yaml", "psutil")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    for name in NOT_IMPORTED:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
    from celery import maybe_patch_concurrency

    # As `celery` does first: eventlet's or gevent's patches before anything else loads.
    maybe_patch_concurrency(["worker", *args])
    from celery.bin.base import CLIContext
    from celery.bin.worker import worker

    from worker.app import celery

    context = CLIContext(app=celery, no_color=False, workdir=None, quiet=False)
    worker.main(args=args, prog_name="python -m worker", obj=context)


if __name__ == "__main__":
    main()
