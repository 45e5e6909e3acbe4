#!/usr/bin/env python
"""Where one signup's time goes: the JSON signup (and ``GET /healthz`` for scale) through
the Flask test client with the production settings of bench/signup.py (PostgreSQL, Redis
for request limits and the broker), under cProfile.

    .venv/bin/python bench/signup_profile.py --redis-url redis://127.0.0.1:6379/6
    .venv/bin/python bench/signup_profile.py --n 2000 --top 40 --sort tottime

Prints the CPU time per request of each (process time, so another busy process on the
machine does not count), then cProfile's table for the signups. The database is a fresh
throwaway one; the Redis db is flushed at start and end.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.harness.databases import ThrowawayDatabase, flush_redis  # noqa: E402

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="cumulative")
    args = parser.parse_args(argv)

    database = ThrowawayDatabase(args.pg_url, prefix="mailer_signup_profile")
    flush_redis(args.redis_url)
    work = Path(tempfile.mkdtemp(prefix="mailer-signup-profile-"))
    for key in [k for k in os.environ if k.startswith("MAILER_")]:
        del os.environ[key]
    os.environ.update(
        MAILER_DATABASE_URL=database.url,
        MAILER_BROKER_URL=args.redis_url,
        MAILER_REDIS_URL=args.redis_url,
        MAILER_QUEUE="bench-signup-profile",
        MAILER_SECRET_KEY="bench-secret-key-0123456789abcdef",
        MAILER_BASE_URL="https://nyhetsbrev.europakontor.example.no",
        MAILER_FROM="Europakontoret <nyhetsbrev@europakontor.example.no>",
        MAILER_SMTP_HOST="127.0.0.1",
        MAILER_SMTP_PORT="2525",
        MAILER_SIGNUP_LIMITS="1000000/minute",
        MAILER_VAR_DIR=str(work / "var"),
    )
    try:
        from mailer import metrics
        from mailer.app import create_app
        from mailer.migrate import upgrade

        upgrade(database.url)
        metrics.use_multiprocess_dir(work / "var", "web", wipe=True)
        app = create_app()
        client = app.test_client()
        prefix = f"p{secrets.token_hex(3)}"

        def signup(i: int) -> None:
            response = client.post(
                "/api/v1/subscribers",
                json={
                    "email": f"{prefix}-{i}@example.no",
                    "name": "Kåre Ødegård",
                    "consent": True,
                    "topics": [],
                },
            )
            assert response.status_code == 202, response.get_data(as_text=True)

        def healthz(_: int) -> None:
            assert client.get("/healthz").status_code == 200

        for i in range(20):  # connections, caches and first compilations out of the figures
            signup(-1 - i)
            healthz(i)
        for name, call in (("healthz", healthz), ("signup", signup)):
            t0, c0 = time.perf_counter(), time.process_time()
            for i in range(args.n):
                call(i)
            wall = (time.perf_counter() - t0) / args.n * 1000
            cpu = (time.process_time() - c0) / args.n * 1000
            print(f"{name}: {cpu:.3f} ms CPU, {wall:.3f} ms wall per request (n={args.n})")
        # CPU time, not wall: waiting on PostgreSQL and Redis costs the server no CPU here.
        profile = cProfile.Profile(time.process_time)
        profile.enable()
        for i in range(args.n):
            signup(args.n + i)
        profile.disable()
        pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)
        app.extensions["mailer"].db.engine.dispose()
    finally:
        database.drop()
        flush_redis(args.redis_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
