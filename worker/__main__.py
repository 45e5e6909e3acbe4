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

# Refused imports: what Celery, kombu and billiard take whenever the package is installed,
# for nothing the worker needs. pygments colours `celery inspect`'s output (a lexer and a
# formatter built at import, ~2.3 MB); yaml is kombu's YAML serializer (the worker
# accepts JSON only, ~0.8 MB); psutil is `celery worker`'s debug memory report (those
# three are test tools' dependencies here, not the product's). cffi (cryptography's
# dependency; its compiled bindings use _cffi_backend, never this package): with it
# importable, billiard sets each pool child's parent-death signal through
# ``cffi.FFI().cdef()``, which builds pycparser's C parser in every child (~3 MB each);
# without it billiard calls the same prctl through ctypes.
NOT_IMPORTED = ("pygments", "yaml", "psutil", "cffi")


class RefuseImports:
    """A finder first on ``sys.meta_path``: importing one of ``NOT_IMPORTED`` raises
    ImportError, as if it were not installed. (Not ``sys.modules[name] = None``, which
    raises too but leaves the name in ``sys.modules``: billiard checks ``'cffi' in
    sys.modules`` and would then take its cffi path, fail, and set no parent-death
    signal at all.)"""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.partition(".")[0] in NOT_IMPORTED:
            raise ModuleNotFoundError(f"not imported in the worker: {name}", name=name)
        return None


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    sys.meta_path.insert(0, RefuseImports())
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
