#!/usr/bin/env python
"""One worker host against two: the send rate of the same issue size, same run.

    .venv/bin/python bench/hosts.py                      # n 1000, RTT 20 ms, 4 connections a host
    .venv/bin/python bench/hosts.py --n 2000 --rounds 3 --rtt 20 --concurrency 4

Needs root (network namespaces). Two hosts are network namespaces (tests/harness/netns.py)
on a private bridge; a PostgreSQL cluster and a Redis (broker and shared store) listen on
the bridge address, and the SMTP sink (aiosmtpd in its own process, counting only) sits
behind a latency relay on it (bench/host_relay.py): every SMTP round trip costs --rtt ms,
as with a real mail server some distance away. Without the relay a loopback sink on this
2-core machine is CPU-bound, and a second host (on the same two cores) could not show
anything but the contention.

Each phase sends a fresh issue to the same N subscribers: "one" with Celery workers
(prefork, --concurrency each) on host A only, "two" on A and B. The clock starts at the
commit that queues mailer.start_send and stops when the sink has counted N mails and every
delivery is final. Phases are interleaved (one, two, one, two, …) --rounds times, so a
load that drifts weighs on both; the ratio is two's mean rate over one's.

Output: a line per phase on stderr, then the table and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.send import draft_issue_with_articles, load_subscribers  # noqa: E402
from tests.harness.databases import PostgresCluster, RedisServer  # noqa: E402
from tests.harness.hosts import HostWorker  # noqa: E402
from tests.harness.netns import Host, HostNetwork  # noqa: E402
from tests.harness.relay import HostRelay  # noqa: E402
from tests.harness.smtp import SinkProcess  # noqa: E402


def log(message: str) -> None:
    print(f"[hosts] {message}", file=sys.stderr, flush=True)


def run_phase(
    app: Any,
    sink: SinkProcess,
    hosts: list[Host],
    envs: dict[str, dict[str, str]],
    work: Path,
    name: str,
    n: int,
    concurrency: int,
) -> float:
    from mailer.runtime import runtime
    from mailer.sending import ledger
    from mailer.sending import progress as send_progress

    with app.app_context():
        db = runtime().db
        issue_id = draft_issue_with_articles(db, f"{name}-{time.monotonic_ns()}", 10)
    workers = [
        HostWorker(
            h,
            envs[h.name],
            work / f"{name}-{h.name}.log",
            concurrency,
            f"{name}-{h.name}",
            loglevel="WARNING",
        )
        for h in hosts
    ]
    try:
        for w in workers:
            w.start()
        for w in workers:
            w.wait_ready()
        sink.reset()
        with app.app_context():
            t0 = time.perf_counter()
            with db.session() as session:
                if not ledger.request_send(session, issue_id):
                    raise RuntimeError(f"issue {issue_id} was already sent")
                session.commit()
            last, changed = 0, t0
            while True:
                now = time.perf_counter()
                if sink.count != last:
                    last, changed = sink.count, now
                if last >= n:
                    with db.session() as session:
                        state = send_progress.progress(session, issue_id)
                    if state.deliveries_created and state.done == state.total == n:
                        t1 = now
                        break
                if now - changed > 120:
                    raise RuntimeError(f"{name}: stalled at {last}/{n}; see {work}")
                time.sleep(0.02)
            if state.counts.get("sent") != n or sink.count != n:
                raise RuntimeError(f"{name}: {state.counts}, sink {sink.count}")
    finally:
        for w in workers:
            w.stop()
    rate = n / (t1 - t0)
    log(f"{name}: {n} mails in {t1 - t0:.2f} s = {rate:.1f}/s")
    return rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--rtt", type=float, default=20.0, help="ms added to each round trip")
    parser.add_argument("--concurrency", type=int, default=4, help="worker processes a host")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="mailer-bench-hosts-"))
    stops = []
    try:
        net = HostNetwork()
        stops.append(net.close)
        hosts = [net.add_host(), net.add_host()]
        postgres = PostgresCluster(host=net.gateway, clients=str(net.subnet))
        stops.append(postgres.destroy)
        postgres.init()
        postgres.start()
        database_url = postgres.create_database("mailer")
        redis = RedisServer(work / "redis", net.gateway, "--protected-mode", "no")
        stops.append(redis.kill)
        redis.start()
        sink = SinkProcess()
        stops.append(sink.stop)
        relay = HostRelay(net.gateway, ("127.0.0.1", sink.port), args.rtt)
        stops.append(relay.stop)

        common = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MAILER_")},
            "MAILER_DATABASE_URL": database_url,
            "MAILER_BROKER_URL": redis.url,
            "MAILER_SECRET_KEY": "bench-secret-key-0123456789",
            "MAILER_BASE_URL": "https://nyhetsbrev.example.no",
            "MAILER_FROM": "Europakontoret – nyhetsbrev <nyhetsbrev@europakontor.example.no>",
            "MAILER_SMTP_HOST": net.gateway,
            "MAILER_SMTP_PORT": str(relay.port),
            "MAILER_SMTP_SECURITY": "none",
        }
        envs = {
            h.name: {
                **common,
                "MAILER_VAR_DIR": str(work / h.name / "var"),
                "MAILER_JOURNAL_DIR": str(work / h.name / "journal"),
            }
            for h in hosts
        }
        os.environ.update({**common, "MAILER_VAR_DIR": str(work / "here" / "var")})
        from mailer.app import create_app
        from mailer.config import load_settings
        from mailer.issues.models import Newsletter
        from mailer.migrate import upgrade
        from mailer.runtime import runtime

        upgrade(database_url)
        app = create_app(load_settings())
        with app.app_context():
            db = runtime().db
            with db.session() as session:
                newsletter_id = session.query(Newsletter.id).scalar()
            load_subscribers(db, args.n, newsletter_id)
        log(f"{args.n} subscribers on {database_url}; RTT {args.rtt:g} ms via {net.gateway}")

        rates: dict[str, list[float]] = {"one": [], "two": []}
        for _ in range(args.rounds):
            for name, used in (("one", hosts[:1]), ("two", hosts)):
                rates[name].append(
                    run_phase(app, sink, used, envs, work, name, args.n, args.concurrency)
                )
        one, two = (statistics.mean(rates[k]) for k in ("one", "two"))
        result = {
            "n": args.n,
            "rtt_ms": args.rtt,
            "concurrency_per_host": args.concurrency,
            "rounds": args.rounds,
            "one_host": [round(r, 1) for r in rates["one"]],
            "two_hosts": [round(r, 1) for r in rates["two"]],
            "one_host_mean": round(one, 1),
            "two_hosts_mean": round(two, 1),
            "ratio": round(two / one, 2),
        }
        print(f"{'phase':<10}{'mean mails/s':>14}  rounds")
        print(f"{'one host':<10}{one:>14.1f}  {result['one_host']}")
        print(f"{'two hosts':<10}{two:>14.1f}  {result['two_hosts']}")
        print(f"two / one = {two / one:.2f}")
        print(json.dumps(result))
        return 0
    finally:
        for stop in reversed(stops):
            try:
                stop()
            except Exception as exc:  # the rest must still be stopped
                log(f"clean-up: {exc}")


if __name__ == "__main__":
    sys.exit(main())
