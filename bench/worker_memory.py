#!/usr/bin/env python
"""What an idle worker weighs, and where it comes from: the probe behind bench/README.md's
"Worker memory" figures (each change measured with it before and after).

    .venv/bin/python bench/worker_memory.py                          # SQLite + filesystem
    .venv/bin/python bench/worker_memory.py --backend postgres --redis-url redis://…/6
    .venv/bin/python bench/worker_memory.py --imports                # tracemalloc by package

Default: a real ``python -m worker --pool=prefork --concurrency=C`` (the
harness's launcher, as bench/send.py starts it) on a fresh migrated database; once it takes
tasks and its start-up reconcile has run, RSS, PSS and USS of the main process and each
pool child from /proc/<pid>/smaps_rollup, --rounds times (a fresh worker each), medians.
``--imports``: in a fresh interpreter, ``import worker.app`` and the worker modules Celery
loads, traced by tracemalloc, the allocations summed by top-level package.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.harness.databases import ThrowawayDatabase, flush_redis  # noqa: E402
from tests.harness.workers import CeleryWorker  # noqa: E402

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
# After worker_ready: the start-up reconcile and the pool's first idle loop.
SETTLE_SECONDS = 3.0

IMPORTS_PROBE = r"""
import sys, tracemalloc, json
tracemalloc.start(40)
# As `python -OO -m worker` starts (this probe runs with -OO): its refused imports first,
# then what `celery worker` itself loads before it forks the pool.
from worker.__main__ import RefuseImports
sys.meta_path.insert(0, RefuseImports())
import worker.app
import celery.bin.worker, celery.worker.consumer, celery.concurrency.prefork, celery.apps.worker
snapshot = tracemalloc.take_snapshot()
tracemalloc.stop()

def package(filename):
    for marker in ("site-packages/", "/lib/python3"):
        if marker in filename:
            rest = filename.split(marker, 1)[1]
            if marker != "site-packages/":
                rest = rest.split("/", 1)[1] if "/" in rest else rest
            return rest.split("/", 1)[0].removesuffix(".py")
    if "/mailer/" in filename:
        return "mailer." + filename.split("/mailer/", 1)[1].split("/", 1)[0].removesuffix(".py")
    return "other"

by_package = {}
for trace in snapshot.traces:
    # The module being imported: the newest frame that is not the import machinery.
    key = "other"
    for frame in reversed(trace.traceback):
        if not frame.filename.startswith("<"):
            key = package(frame.filename)
            break
    by_package[key] = by_package.get(key, 0) + trace.size
print(json.dumps({"traced_mb": round(sum(by_package.values()) / 2**20, 2),
                  "modules": len(sys.modules),
                  "by_package_mb": {k: round(v / 2**20, 2) for k, v in
                                    sorted(by_package.items(), key=lambda kv: -kv[1])[:45]}}))
"""


def rollup_mb(pid: int) -> dict[str, float]:
    """RSS, PSS and USS (private clean + dirty) of one process, in MB."""
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[1].isdigit():
                fields[parts[0].rstrip(":")] = int(parts[1])
    uss = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return {
        "rss": round(fields.get("Rss", 0) / 1024, 1),
        "pss": round(fields.get("Pss", 0) / 1024, 1),
        "uss": round(uss / 1024, 1),
    }


def mappings_mb(pid: int, top: int = 25) -> dict[str, float]:
    """RSS by mapping of one process, in MB, the largest first: shared objects by file name,
    ``[heap]`` (malloc's main arena), ``[anon]`` (pymalloc arenas, thread arenas and stacks,
    mmap'd blocks)."""
    by_name: dict[str, int] = {}
    name = "[anon]"
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split()
            if head and "-" in head[0] and not head[0].endswith(":"):
                name = os.path.basename(head[5]) if len(head) > 5 else "[anon]"
            elif head and head[0] == "Rss:":
                by_name[name] = by_name.get(name, 0) + int(head[1])
    ranked = sorted(by_name.items(), key=lambda kv: -kv[1])
    return {k: round(v / 1024, 2) for k, v in ranked[:top] if v}


def environment(args: argparse.Namespace, var_dir: Path) -> tuple[dict[str, str], Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    database = None
    if args.backend == "postgres":
        database = ThrowawayDatabase(args.pg_url, prefix="mailer_memprobe")
        flush_redis(args.redis_url)
        database_url, broker_url = database.url, args.redis_url
    else:
        database_url, broker_url = f"sqlite:///{var_dir / 'mailer.db'}", "filesystem://"
    env.update(
        MAILER_VAR_DIR=str(var_dir),
        MAILER_DATABASE_URL=database_url,
        MAILER_BROKER_URL=broker_url,
        MAILER_SECRET_KEY="bench-secret-key-0123456789abcdef",
        MAILER_BASE_URL="https://nyhetsbrev.europakontor.example.no",
        MAILER_FROM="Europakontoret <nyhetsbrev@europakontor.example.no>",
        MAILER_SMTP_HOST="127.0.0.1",
        MAILER_SMTP_PORT="25",
    )
    return env, database


def one_worker(
    env: dict[str, str], work: Path, concurrency: int, n: int, smaps: bool = False
) -> dict[str, Any]:
    import psutil

    worker = CeleryWorker(
        env, work / f"worker-{n}.log", concurrency, pool="prefork", loglevel="WARNING"
    )
    worker.start()
    try:
        worker.wait_ready()
        time.sleep(SETTLE_SECONDS)  # a settling time, not synchronisation: we only read /proc
        main = rollup_mb(worker.pid)
        pids = [p.pid for p in psutil.Process(worker.pid).children()]
        children = [rollup_mb(pid) for pid in pids]
        if smaps:
            main["mappings"] = mappings_mb(worker.pid)  # type: ignore[assignment]
            for child, pid in zip(children, pids, strict=True):
                child["mappings"] = mappings_mb(pid)  # type: ignore[assignment]
    finally:
        worker.stop()
    return {"main": main, "children": children}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="mailer-memprobe-"))
    var_dir = work / "var"
    var_dir.mkdir()
    env, database = environment(args, var_dir)
    try:
        subprocess.run(
            [sys.executable, "-m", "mailer", "db", "upgrade"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        runs = [one_worker(env, work, args.concurrency, n, args.smaps) for n in range(args.rounds)]
    finally:
        if database is not None:
            database.drop()
            flush_redis(args.redis_url)
        shutil.rmtree(work, ignore_errors=True)

    def median(pick: Any) -> float:
        return round(statistics.median(pick(r) for r in runs), 1)

    return {
        "backend": args.backend,
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        **{f"main_{k}": median(lambda r, k=k: r["main"][k]) for k in ("rss", "pss", "uss")},
        **{
            f"child_{k}": median(lambda r, k=k: max(c[k] for c in r["children"]))
            for k in ("rss", "pss", "uss")
        },
        "runs": runs,
    }


def imports(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="mailer-memprobe-"))
    env, database = environment(args, work)
    try:
        out = subprocess.run(
            [sys.executable, "-OO", "-c", IMPORTS_PROBE],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        if database is not None:
            database.drop()
        shutil.rmtree(work, ignore_errors=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return {"backend": args.backend, **result}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="flushed at start/end")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--imports", action="store_true", help="tracemalloc of the imports")
    parser.add_argument("--smaps", action="store_true", help="RSS by mapping, in each run")
    args = parser.parse_args(argv)
    result = imports(args) if args.imports else measure(args)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
