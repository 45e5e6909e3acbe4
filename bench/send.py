#!/usr/bin/env python
"""Sending benchmark: mailer's end-to-end rate against plain smtplib to the same server.

    .venv/bin/python bench/send.py                       # 10 000 subscribers, SQLite
    .venv/bin/python bench/send.py --backend postgres    # PostgreSQL + Redis
    .venv/bin/python bench/send.py --n 2000 --sink aiosmtpd,postfix --rtt 0,5,20

One run, per backend:

1. a fresh database (SQLite file + filesystem broker in a temporary var dir, or a
   new ``mailer_bench_<hex>`` database on --pg-url + Redis db --redis-url, flushed),
   migrated, with N subscribers (active), bulk-loaded;
2. one real digest mail as mailer builds it (bench/send_data.py), so that the raw
   phase pushes messages of the size mailer sends;
3. per SMTP server (--sink: the counting aiosmtpd sink offering PIPELINING, and/or a
   private Postfix, bench/postfix_sink.py) and per round-trip time (--rtt, added by
   the latency relay bench/relay.py; 0 = direct), for C = 1 then 4 connections:
   raw_C (bench/raw_smtp.py: plain smtplib, at most --raw-cap mails, or --time-box
   seconds behind the relay: it is a rate), mailer_C (bench/mailer_phase.py: a real
   `celery worker --pool=prefork --concurrency=C` sends a fresh issue to all N; the
   clock runs from queueing mailer.start_send to every delivery final), raw_C again
   (--no-bracket: not), the raw rate being the mean of the two;
4. with RTT 0 in the list, --relay-rounds interleaved rounds of raw_1 direct and
   through the relay at RTT 0: the relay's own cost.

Output: a few lines per phase on stderr, then on stdout the phases, the table (one
row per server and RTT) and, as the last line, one JSON object per backend (with
--backend both, the last line is the last backend's; the line before it the first's).
Every relay, Postfix and worker the run started is stopped when it ends, fails or
is interrupted (Ctrl-C, TERM, HUP); a relay dies with the bench even on SIGKILL, and
a Postfix left by a killed bench is stopped by the next run that uses Postfix.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # `python bench/send.py` puts bench/ first on the path; the harness is in tests/.
    sys.path.insert(0, str(ROOT))

from bench.mailer_phase import CLEANUP, Sink, run_mailer  # noqa: E402
from bench.postfix_sink import sweep_stale  # noqa: E402
from bench.raw_smtp import PhaseResult, log, run_raw  # noqa: E402
from bench.relay import LatencyRelay  # noqa: E402
from bench.send_data import capture_message, draft_issue_with_articles, load_subscribers  # noqa: E402
from tests.harness.databases import ThrowawayDatabase, flush_redis  # noqa: E402

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
SECRET = "bench-secret-key-0123456789abcdef"
FROM = "Europakontoret – nyhetsbrev <nyhetsbrev@europakontor.example.no>"
BASE_URL = "https://nyhetsbrev.europakontor.example.no"
PHASES = ("raw_1", "raw_4", "mailer_1", "mailer_4")
SINKS = ("aiosmtpd", "aiosmtpd-plain", "postfix")


# --------------------------------------------------------------------------- one backend


def _environment(backend: str, args: argparse.Namespace, var_dir: Path) -> dict[str, str]:
    if backend == "postgres":
        database = ThrowawayDatabase(args.pg_url, prefix="mailer_bench")
        CLEANUP.append(database.drop)
        database_url = database.url
        broker_url = args.redis_url
        try:
            flush_redis(broker_url)
        except ValueError as exc:
            raise SystemExit(f"--redis-url: {exc}") from None
        CLEANUP.append(lambda: flush_redis(broker_url))
        log(f"postgres: database {database.name}, broker {broker_url}")
    else:
        database_url = f"sqlite:///{var_dir / 'mailer.db'}"
        broker_url = "filesystem://"
    return {
        "MAILER_VAR_DIR": str(var_dir),
        "MAILER_DATABASE_URL": database_url,
        "MAILER_BROKER_URL": broker_url,
        "MAILER_SECRET_KEY": SECRET,
        "MAILER_BASE_URL": BASE_URL,
        "MAILER_FROM": FROM,
        "MAILER_SMTP_HOST": "127.0.0.1",
        "MAILER_SMTP_PORT": "25",  # each phase sets its server's port
        "MAILER_SMTP_SECURITY": "none",
        "MAILER_SEND_RATE": "0",
    }


def relay_overhead(sink: Sink, sender: str, data: bytes, total: int, rounds: int) -> float:
    """raw_1 direct and through the relay at RTT 0, interleaved: the relay's own cost."""
    relay = LatencyRelay(("127.0.0.1", sink.port), 0)
    CLEANUP.append(relay.stop)
    try:
        direct, relayed = [], []
        for _ in range(rounds):
            direct.append(run_raw(sink.port, sender, data, total, 1, name="raw_1 direct"))
            relayed.append(run_raw(relay.port, sender, data, total, 1, name="raw_1 relay 0 ms"))
    finally:
        relay.stop()
        CLEANUP.remove(relay.stop)
    mean = sum(r.rate for r in relayed) / sum(d.rate for d in direct)
    log(f"relay at RTT 0: {mean:.3f} of the direct rate over {rounds} interleaved rounds")
    return round(mean, 3)


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    from mailer.app import create_app
    from mailer.config import load_settings
    from mailer.migrate import upgrade
    from mailer.runtime import runtime
    from mailer.subscribers.subscriptions import default_newsletter

    n = args.n
    work_dir = Path(tempfile.mkdtemp(prefix=f"mailer-bench-{backend}-"))
    if not args.keep:
        CLEANUP.append(lambda: shutil.rmtree(work_dir, ignore_errors=True))
    var_dir = work_dir / "var"
    var_dir.mkdir()
    env = _environment(backend, args, var_dir)
    for key in [k for k in os.environ if k.startswith("MAILER_")]:
        del os.environ[key]
    os.environ.update(env)
    worker_env = dict(os.environ)
    log(f"{backend}: var dir {var_dir}")

    upgrade(env["MAILER_DATABASE_URL"])
    app = create_app(load_settings())
    db = app.extensions["mailer"].db
    CLEANUP.append(db.engine.dispose)
    t = time.perf_counter()
    with app.app_context(), db.session() as session:
        newsletter_id = default_newsletter(session).id
        session.commit()
    load_subscribers(db, n, newsletter_id)
    log(f"{backend}: {n} subscribers loaded in {time.perf_counter() - t:.1f} s")
    sender, data = capture_message(app.extensions["mailer"].settings, "a", args.articles, n)
    log(f"{backend}: one digest mail is {len(data)} bytes")

    raw_total = min(n, args.raw_cap)
    phases = args.phases
    cells: list[dict[str, Any]] = []
    details: list[PhaseResult] = []
    overhead: dict[str, float] = {}
    issues = 0
    for kind in args.sink:
        sink = Sink(kind)
        CLEANUP.append(sink.stop)
        try:
            if 0 in args.rtt and args.relay_rounds:
                overhead[kind] = relay_overhead(sink, sender, data, raw_total, args.relay_rounds)
            for rtt in args.rtt:
                relay = LatencyRelay(("127.0.0.1", sink.port), rtt) if rtt else None
                if relay:
                    CLEANUP.append(relay.stop)
                port = relay.port if relay else sink.port
                label = f"{kind} {rtt:g} ms"
                done: dict[str, PhaseResult] = {}
                try:
                    # raw_C, mailer_C, raw_C again: a load that drifts during the run
                    # weighs on both sides of the ratio.
                    for c in (1, 4):
                        raw, mailer = f"raw_{c}", f"mailer_{c}"

                        measure_raw = partial(
                            run_raw,
                            port,
                            sender,
                            data,
                            raw_total,
                            c,
                            time_box=args.time_box if rtt else float("inf"),
                            sink_cpu=sink.cpu_seconds(),
                            name=f"{raw} ({label})",
                        )
                        if raw in phases:
                            done[raw] = measure_raw()
                        if mailer in phases:
                            issues += 1
                            with app.app_context():
                                issue_id = draft_issue_with_articles(
                                    runtime().db, f"i{issues}", args.articles
                                )
                            done[mailer] = run_mailer(
                                app, sink, port, worker_env, work_dir, issue_id, n, c
                            )
                            done[mailer].name = f"{mailer} ({label})"
                            if raw in phases and not args.no_bracket:
                                done[raw].repeats.append(measure_raw())
                finally:
                    if relay:
                        relay.stop()
                        CLEANUP.remove(relay.stop)
                cells.append(_cell(kind, rtt, done))
                details.extend(done.values())
        finally:
            sink.stop()
            CLEANUP.remove(sink.stop)

    rss = [p.rss_mb for p in details if p.rss_mb]
    first = cells[0] if cells else {}
    return {
        **{k: first.get(k) for k in ("raw_1", "raw_4", "mailer_1", "mailer_4")},
        **{k: first.get(k) for k in ("ratio_1", "ratio_4")},
        "rss_mb_max": max((r["max"] for r in rss), default=None),
        "pss_mb_max": max((r["pss_max"] for r in rss), default=None),
        "relay_overhead_rtt0": overhead or None,
        "cells": cells,
        "n": n,
        "backend": "sqlite+filesystem" if backend == "sqlite" else "postgres+redis",
        "load": round(os.getloadavg()[0], 1),
        "_detail": details,
    }


def _cell(kind: str, rtt: float, done: dict[str, PhaseResult]) -> dict[str, Any]:
    def rate(name: str) -> float | None:
        return round(done[name].rate, 1) if name in done else None

    def ratio(c: int) -> float | None:
        if f"raw_{c}" in done and f"mailer_{c}" in done:
            return round(done[f"mailer_{c}"].rate / done[f"raw_{c}"].rate, 3)
        return None

    return {
        "sink": kind,
        "rtt_ms": rtt,
        "raw_1": rate("raw_1"),
        "mailer_1": rate("mailer_1"),
        "ratio_1": ratio(1),
        "raw_4": rate("raw_4"),
        "mailer_4": rate("mailer_4"),
        "ratio_4": ratio(4),
    }


def print_report(rows: list[dict[str, Any]]) -> None:
    print()
    for row in rows:
        print(f"{row['backend']}, n={row['n']}:")
        for phase in row["_detail"]:
            for i, p in enumerate([phase, *phase.repeats]):
                extra = ""
                if p.rss_mb:
                    r = p.rss_mb
                    extra = (
                        f"  peak RSS: main {r['main']} MB, {r['children']} children max "
                        f"{r['child_max']} MB, PSS max {r['pss_max']} MB"
                    )
                label = p.name if i == 0 else f"{p.name} again"
                print(
                    f"  {label:<28} {p.messages:>8} msgs {p.seconds:8.2f} s "
                    f"{p.messages / p.seconds:8.1f}/s  load {p.load:4.1f}  CPU ms/mail: "
                    f"sender {p.client_cpu_ms:.2f}, sink {p.sink_cpu_ms:.2f}{extra}"
                )
            if phase.repeats:
                print(f"  {phase.name:<28} mean {phase.rate:.1f}/s")
        if row["relay_overhead_rtt0"]:
            print(f"  relay at RTT 0 (rate through it / direct): {row['relay_overhead_rtt0']}")
    print()
    cols = ["backend", "sink", "rtt_ms", "raw_1", "mailer_1", "ratio_1"]
    cols += ["raw_4", "mailer_4", "ratio_4"]
    widths = [18, 9, 7, 9, 10, 9, 9, 10, 9]
    print(
        "".join(
            f"{c:>{w}}" if i else f"{c:<{w}}"
            for i, (c, w) in enumerate(zip(cols, widths, strict=True))
        )
    )
    for row in rows:
        for cell in row["cells"]:
            cells = []
            for i, (c, w) in enumerate(zip(cols, widths, strict=True)):
                v = row[c] if c == "backend" else cell[c]
                if v is None:
                    text = "-"
                elif c.startswith("ratio"):
                    text = f"{v:.3f}"
                else:
                    text = f"{v:.1f}" if isinstance(v, float) else str(v)
                cells.append(f"{text:>{w}}" if i else f"{text:<{w}}")
            print("".join(cells))
    print()
    for row in rows:
        print(json.dumps({k: v for k, v in row.items() if not k.startswith("_")}))
    sys.stdout.flush()


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _numbers(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="subscribers (default 10 000)")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="server to create a db on")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="flushed at start")
    parser.add_argument(
        "--sink",
        default="aiosmtpd",
        help=(
            "comma-separated SMTP servers to send to: aiosmtpd, aiosmtpd-plain (the same sink "
            "not offering PIPELINING), postfix (default aiosmtpd)"
        ),
    )
    parser.add_argument(
        "--rtt",
        default="0",
        help="comma-separated round-trip times in ms added by the latency relay (default 0)",
    )
    parser.add_argument(
        "--time-box",
        type=float,
        default=30.0,
        help="seconds a raw phase may run behind the relay (RTT > 0; default 30): a rate",
    )
    parser.add_argument(
        "--relay-rounds",
        type=int,
        default=3,
        help="interleaved rounds of raw_1 direct vs through the relay at RTT 0 (0: none)",
    )
    parser.add_argument(
        "--raw-cap",
        type=int,
        default=20_000,
        help="at most this many messages per raw phase (default 20 000)",
    )
    parser.add_argument("--articles", type=int, default=10, help="articles per issue")
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help="comma-separated subset of %(default)s (a skipped phase is null in the JSON)",
    )
    parser.add_argument(
        "--no-bracket",
        action="store_true",
        help="measure each raw rate once, before its mailer phase (default: before and after)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary var dir")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    args.phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if not args.phases or set(args.phases) - set(PHASES):
        parser.error(f"--phases: choose from {', '.join(PHASES)}")
    args.sink = [s.strip() for s in args.sink.split(",") if s.strip()]
    if not args.sink or set(args.sink) - set(SINKS):
        parser.error(f"--sink: choose from {', '.join(SINKS)}")
    try:
        args.rtt = _numbers(args.rtt)
    except ValueError:
        parser.error("--rtt: comma-separated milliseconds, e.g. 0,5,20")
    if not args.rtt or min(args.rtt) < 0:
        parser.error("--rtt: comma-separated milliseconds ≥ 0, e.g. 0,5,20")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminate)
    if "postfix" in args.sink and sweep_stale():
        log("stopped a Postfix left by a bench that was killed")
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    rows = []
    try:
        for backend in backends:
            rows.append(run_backend(backend, args))
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        return 130
    finally:
        # Cleaning up is not interrupted by a second Ctrl-C or TERM.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        for action in reversed(CLEANUP):
            try:
                action()
            except Exception as exc:  # noqa: BLE001 - cleanup goes on
                log(f"cleanup: {exc}")
        CLEANUP.clear()
    print_report(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
