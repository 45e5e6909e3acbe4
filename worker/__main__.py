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

from celery import maybe_patch_concurrency


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    # As `celery` does first: eventlet's or gevent's patches before anything else loads.
    maybe_patch_concurrency(["worker", *args])
    # Celery's command-line module colours `celery inspect`'s output with pygments when it
    # is installed (here a test tool's dependency, not the product's), building a lexer
    # and a formatter at import: ~2.3 MB in every worker process for output it never prints.
    sys.modules.setdefault("pygments", None)  # type: ignore[arg-type]
    from celery.bin.base import CLIContext
    from celery.bin.worker import worker

    from worker.app import celery

    context = CLIContext(app=celery, no_color=False, workdir=None, quiet=False)
    worker.main(args=args, prog_name="python -m worker", obj=context)


if __name__ == "__main__":
    main()
