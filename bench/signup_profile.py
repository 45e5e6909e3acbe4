#!/usr/bin/env python
"""Where one signup's time goes: the JSON signup (and ``GET /healthz`` for scale) through
the Flask test client with the production settings of bench/signup.py (PostgreSQL, Redis
for request limits and the broker), under cProfile.

    .venv/bin/python bench/signup_profile.py --redis-url redis://127.0.0.1:6379/6
    .venv/bin/python bench/signup_profile.py --n 2000 --top 40 --sort tottime

Prints the CPU time per request of each (process time, so another busy process on the
machine does not count), then cProfile's table for the signups. The database is a fresh
throwaway one; the Redis db is flushed at start and end.

Also the servers' CPU per request, which a load test on the same machine pays too: the
PostgreSQL backends of the throwaway database (their utime + stime from /proc, so the
bench must run as root or as the postgres user) and, with ``--own-redis``, a private
redis-server started for the run (the shared one counts every other client too).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
# MAILER_PROFILE_CHECKOUT=/path/to/another/checkout: profile that checkout's mailer with
# this script (same venv), for a before/after of code that has no such script.
if os.environ.get("MAILER_PROFILE_CHECKOUT"):
    sys.path.insert(0, os.environ["MAILER_PROFILE_CHECKOUT"])

from tests.harness.databases import ThrowawayDatabase, flush_redis  # noqa: E402

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--blocks", type=int, default=10, help="interleaved blocks")
    parser.add_argument("--own-redis", action="store_true", help="a private redis-server")
    args = parser.parse_args(argv)

    database = ThrowawayDatabase(args.pg_url, prefix="mailer_signup_profile")
    work = Path(tempfile.mkdtemp(prefix="mailer-signup-profile-"))
    own_redis = None
    if args.own_redis:
        from tests.harness.databases import RedisServer

        own_redis = RedisServer(work / "redis")
        own_redis.start()
        args.redis_url = own_redis.url.rsplit("/", 1)[0] + "/1"
    flush_redis(args.redis_url)
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
        servers = ServerClocks(app.extensions["mailer"].db.engine, args.redis_url, own_redis)
        # Interleaved blocks, so that a change in the machine's load weighs on both alike;
        # the medians over the blocks are printed (the servers': the mean), and the median
        # of the blocks' ratios.
        size = max(1, args.n // args.blocks)
        taken: dict[str, list[tuple[float, float, float, float]]] = {"healthz": [], "signup": []}
        for block in range(args.blocks):
            for name, call in (("healthz", healthz), ("signup", signup)):
                s0 = servers.read()
                t0, c0 = time.perf_counter(), time.process_time()
                for i in range(size):
                    call(block * size + i)
                wall = (time.perf_counter() - t0) / size * 1000
                cpu = (time.process_time() - c0) / size * 1000
                pg, redis_cpu = (
                    (b - a) / size * 1000 for a, b in zip(s0, servers.read(), strict=True)
                )
                taken[name].append((cpu, wall, pg, redis_cpu))
        for name, rows in taken.items():
            cpu, wall = (statistics.median(r[k] for r in rows) for k in (0, 1))
            least = min(r[0] for r in rows)
            # The servers' clocks tick in 10 ms: their mean over all blocks.
            pg, redis_cpu = (statistics.mean(r[k] for r in rows) for k in (2, 3))
            print(
                f"{name}: {cpu:.3f} ms CPU (least {least:.3f}), {wall:.3f} ms wall per request "
                f"(n={size * args.blocks}, median of {args.blocks} blocks); "
                f"PostgreSQL backend {pg:.3f} ms CPU"
                + (f", redis-server {redis_cpu:.3f} ms CPU" if own_redis else "")
            )
        ratios = [s[0] / h[0] for h, s in zip(taken["healthz"], taken["signup"], strict=True)]
        least_ratio = min(r[0] for r in taken["signup"]) / min(r[0] for r in taken["healthz"])
        print(
            f"signup CPU / healthz CPU: {statistics.median(ratios):.2f} (median of the blocks' "
            f"ratios), {least_ratio:.2f} (least over least)"
        )
        # CPU time, not wall: waiting on PostgreSQL and Redis costs the server no CPU here.
        profile = cProfile.Profile(time.process_time)
        profile.enable()
        for i in range(args.n):
            signup(2 * args.n + i)
        profile.disable()
        pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)
        app.extensions["mailer"].db.engine.dispose()
    finally:
        database.drop()
        flush_redis(args.redis_url)
        if own_redis is not None:
            own_redis.kill()
    return 0


class ServerClocks:
    """CPU seconds used so far by this database's PostgreSQL backends and the Redis server."""

    def __init__(self, engine: Any, redis_url: str, own_redis: Any) -> None:
        import redis
        from sqlalchemy import text

        with engine.connect() as conn:
            self.database = conn.execute(text("SELECT current_database()")).scalar()
        self.engine = engine
        self.redis = redis.Redis.from_url(redis_url) if own_redis is not None else None

    def _backends(self) -> list[int]:
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        # A connection of its own, on the admin database: not one the app's pool holds.
        other = create_engine(self.engine.url.set(database="postgres"), poolclass=NullPool)
        with other.connect() as conn:
            pids = conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = :d"), {"d": self.database}
            ).scalars()
            found = list(pids)
        other.dispose()
        return found

    def read(self) -> tuple[float, float]:
        ticks = os.sysconf("SC_CLK_TCK")
        pg = 0.0
        for pid in self._backends():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            pg += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        redis_cpu = 0.0
        if self.redis is not None:
            info = self.redis.info("cpu")
            redis_cpu = float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
        return pg, redis_cpu


if __name__ == "__main__":
    sys.exit(main())
