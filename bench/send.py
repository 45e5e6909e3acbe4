#!/usr/bin/env python
"""Sending benchmark: mailer's end-to-end rate against the SMTP server's own limit.

    .venv/bin/python bench/send.py                       # 10 000 subscribers, SQLite
    .venv/bin/python bench/send.py --backend postgres    # PostgreSQL + Redis
    .venv/bin/python bench/send.py --n 1000000 --backend both

One run, per backend:

1. a fresh database (SQLite file + filesystem broker in a temporary var dir, or a
   new ``mailer_bench_<hex>`` database on --pg-url + Redis db --redis-url, flushed),
   migrated, with N subscribers (active) and ~10 articles, bulk-loaded;
2. one real digest mail as mailer builds it (sending.send_batch on a scratch
   SQLite database with one reader and the same articles, its SMTP connection
   swapped for one that keeps the bytes), so that the raw phase pushes messages
   of the size mailer sends;
3. raw_1 / raw_4: plain smtplib sending that message over 1 and over 4
   connections (4 processes) as fast as it can: messages / seconds until the
   sink has counted them all. At most --raw-cap messages (default 20 000) —
   it is a rate, and a million raw sends would only add minutes. Each raw rate
   is measured just before and just after its mailer phase and the two are
   averaged (--no-bracket: before only), so that a load that drifts during the
   run weighs on both sides of the ratio;
4. mailer_1 / mailer_4: a real `celery worker --pool=prefork --concurrency=C`
   (C = 1, then 4, a fresh issue to the same subscribers each time; each pool
   child holds one SMTP connection per batch, so C = connections). The clock
   starts when mailer.start_send is queued (after ledger.request_send and the
   commit) and stops when send_progress.progress shows every delivery final and the
   sink has counted N mails. The peak RSS of the worker's main process and of
   every pool child is sampled every 0.5 s (and read from VmHWM).

The SMTP sink is aiosmtpd in its own process on a free loopback port; it only
counts messages and bytes. It is the "SMTP server" both sides are compared to.
--phases runs a subset (e.g. only mailer_4 for a quicker --n 1000000 run);
a phase left out is null in the JSON, and so is a ratio missing one side.

Output: a few lines per phase on stderr, then on stdout the table and, as the
last line, one JSON object per backend (with --backend both, the last line is
the last backend's; the line before it the first's).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import signal
import smtplib
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # `python bench/send.py` puts bench/ first on the path; the harness is in tests/.
    sys.path.insert(0, str(ROOT))

from tests.harness.databases import ThrowawayDatabase, flush_redis  # noqa: E402
from tests.harness.smtp import SinkProcess  # noqa: E402
from tests.harness.workers import CeleryWorker  # noqa: E402

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
SECRET = "bench-secret-key-0123456789abcdef"
FROM = "Europakontoret – nyhetsbrev <nyhetsbrev@europakontor.example.no>"
BASE_URL = "https://nyhetsbrev.europakontor.example.no"
CHUNK = 10_000
RSS_INTERVAL = 0.5
PHASES = ("raw_1", "raw_4", "mailer_1", "mailer_4")
NAMES = ["Kari Nordmann", "Kåre Ødegård", "Ingrid Åsland", "Per Hansen", "", "Siri Bækkelund"]

_ctx = mp.get_context("spawn")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- raw phase


def _raw_client(
    port: int, sender: str, data: bytes, first: int, count: int, ready: Any, go: Any, cpu: Any
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    smtp = smtplib.SMTP("127.0.0.1", port, timeout=120)
    smtp.ehlo()
    ready.release()
    go.wait()
    start = time.process_time()
    for i in range(first, first + count):
        smtp.sendmail(sender, [f"leser{i}@example.no"], data)
    smtp.quit()
    cpu.put(time.process_time() - start)


@dataclass
class PhaseResult:
    name: str
    messages: int
    seconds: float
    avg_bytes: float
    rss_mb: dict[str, float] = field(default_factory=dict)
    # CPU seconds per mail: of the sending side (raw clients, or the whole worker tree)
    # and of the sink. Unlike the rates, these barely move with the machine's load.
    client_cpu_ms: float = 0.0
    sink_cpu_ms: float = 0.0
    load: float = field(default_factory=lambda: os.getloadavg()[0])
    # Raw phases run before and after their mailer phase; the rate is the mean of the two.
    repeats: list[PhaseResult] = field(default_factory=list)

    @property
    def rate(self) -> float:
        runs = [self, *self.repeats]
        return sum(r.messages / r.seconds for r in runs if r.seconds > 0) / len(runs)


def run_raw(
    sink: SinkProcess, sender: str, data: bytes, total: int, connections: int
) -> PhaseResult:
    sink.reset()
    ready = _ctx.Semaphore(0)
    go = _ctx.Event()
    cpu = _ctx.Queue()
    share, extra = divmod(total, connections)
    procs, first = [], 0
    for c in range(connections):
        count = share + (1 if c < extra else 0)
        p = _ctx.Process(
            target=_raw_client,
            args=(sink.port, sender, data, first, count, ready, go, cpu),
            name=f"raw-{c}",
        )
        p.start()
        procs.append(p)
        first += count
    finished = False
    try:
        for _ in procs:
            if not ready.acquire(timeout=60):
                raise RuntimeError("a raw client did not connect")
        sink_cpu = sink.cpu_seconds()
        t0 = time.perf_counter()
        go.set()
        while sink.count < total:
            if not any(p.is_alive() for p in procs) and sink.count < total:
                raise RuntimeError(f"raw clients ended with {sink.count}/{total} delivered")
            time.sleep(0.002)
        elapsed = time.perf_counter() - t0
        sink_cpu = sink.cpu_seconds() - sink_cpu
        client_cpu = sum(cpu.get(timeout=30) for _ in procs)
        finished = True
    finally:
        for p in procs:
            p.join(30 if finished else 0)
            if p.is_alive():
                p.terminate()
                p.join(10)
    result = PhaseResult(f"raw_{connections}", total, elapsed, sink.nbytes / max(sink.count, 1))
    result.client_cpu_ms = 1000 * client_cpu / total
    result.sink_cpu_ms = 1000 * sink_cpu / total
    log(
        f"{result.name}: {total} msgs of {result.avg_bytes:.0f} B over {connections} "
        f"connection(s) in {elapsed:.2f} s = {result.rate:.1f}/s"
    )
    return result


# --------------------------------------------------------------------------- the worker


def _vm_hwm_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class RssSampler(threading.Thread):
    """Peak RSS per process of a worker tree: sampled RSS, and the kernel's VmHWM."""

    def __init__(self, root_pid: int) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.root_pid = root_pid
        self.peak: dict[int, int] = {}
        self.role: dict[int, str] = {}
        self._halt = threading.Event()

    def sample(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.root_pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        for p in procs:
            try:
                rss = p.memory_info().rss
            except psutil.Error:
                continue
            rss = max(rss, _vm_hwm_bytes(p.pid))
            self.peak[p.pid] = max(self.peak.get(p.pid, 0), rss)
            self.role.setdefault(p.pid, "main" if p.pid == self.root_pid else "child")

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(RSS_INTERVAL)

    def stop(self) -> None:
        self.sample()
        self._halt.set()
        self.join(5)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the worker's main process and its pool children."""
        import psutil

        total = 0.0
        try:
            root = psutil.Process(self.root_pid)
            for p in [root, *root.children(recursive=True)]:
                t = p.cpu_times()
                total += t.user + t.system
        except psutil.Error:
            pass
        return total

    def summary_mb(self) -> dict[str, float]:
        main = [v for pid, v in self.peak.items() if self.role[pid] == "main"]
        children = [v for pid, v in self.peak.items() if self.role[pid] == "child"]
        mb = 1024 * 1024
        return {
            "main": round(max(main, default=0) / mb, 1),
            "child_max": round(max(children, default=0) / mb, 1),
            "children": len(children),
            "max": round(max(self.peak.values(), default=0) / mb, 1),
        }


# --------------------------------------------------------------------------- the database


def _name(i: int) -> str:
    base = NAMES[i % len(NAMES)]
    return f"{base} {i}" if base else ""


def load_subscribers(db: Any, n: int, newsletter_id: int) -> None:
    """N subscribers with one active subscription each: executemany (SQLite) or COPY (PG)."""
    from sqlalchemy import insert, text

    from mailer.db import utcnow
    from mailer.subscribers.models import Subscriber, Subscription
    from mailer.tokens import new_link_secret

    now = utcnow()
    if db.engine.dialect.name == "postgresql":
        naive = now.replace(tzinfo=None)
        raw = db.engine.raw_connection()
        try:
            pg = raw.driver_connection
            with pg.cursor() as cur:
                with cur.copy(
                    "COPY subscriber (id, email, name, language, created_at) FROM STDIN"
                ) as copy:
                    for i in range(1, n + 1):
                        copy.write_row((i, f"leser{i}@example.no", _name(i), "nb", naive))
                with cur.copy(
                    "COPY subscription (id, subscriber_id, newsletter_id, status, topics, "
                    "created_at, confirmed_at, link_secret) FROM STDIN"
                ) as copy:
                    for i in range(1, n + 1):
                        copy.write_row(
                            (i, i, newsletter_id, "active", "[]", naive, naive, new_link_secret())
                        )
                for table in ("subscriber", "subscription"):
                    cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {n})")
            pg.commit()
        finally:
            raw.close()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
        return
    with db.engine.begin() as conn:
        for start in range(1, n + 1, CHUNK):
            ids = range(start, min(start + CHUNK, n + 1))
            conn.execute(
                insert(Subscriber.__table__),
                [
                    {
                        "id": i,
                        "email": f"leser{i}@example.no",
                        "name": _name(i),
                        "language": "nb",
                        "created_at": now,
                    }
                    for i in ids
                ],
            )
            conn.execute(
                insert(Subscription.__table__),
                [
                    {
                        "id": i,
                        "subscriber_id": i,
                        "newsletter_id": newsletter_id,
                        "status": "active",
                        "topics": [],
                        "created_at": now,
                        "confirmed_at": now,
                    }
                    for i in ids
                ],
            )


SUMMARY = (
    "Regionene på Vestlandet og i Nord-Norge samarbeider tettere med europeiske partnere om "
    "klimatilpasning, grønn skipsfart og forskning. Prosjektet får støtte fra Horisont Europa "
    "og samler kommuner, universiteter og næringsliv – «et løft for hele landsdelen», sier "
    "prosjektlederen. Søknadsfristen for neste utlysning er i februar, og kontoret holder "
    "informasjonsmøter i Bergen, Tromsø og Brussel."
)


def draft_issue_with_articles(db: Any, tag: str, count: int) -> int:
    """``count`` new articles published just now, and a draft issue carrying them."""
    from mailer.articles.models import Article
    from mailer.db import utcnow
    from mailer.issues.drafting import draft_issue

    now = utcnow()
    with db.session() as session:
        for k in range(count):
            session.add(
                Article(
                    source="https://europakontor.example.no/feed",
                    guid=f"{tag}-{k}",
                    url=f"https://europakontor.example.no/nyheter/{tag}-sak-nummer-{k}",
                    title=f"Sak {k}: Fjordbyer i Bærum og Ålesund deler klimaløsninger ({tag})",
                    summary=SUMMARY,
                    topics=[],
                    published_at=now - timedelta(milliseconds=k + 1),
                )
            )
        session.flush()
        issue = draft_issue(session, now=utcnow())
        session.commit()
        return issue.id


def capture_message(settings: Any, tag: str, articles: int, n: int) -> tuple[str, bytes]:
    """One digest mail exactly as mailer sends it: sending.send_batch on a scratch SQLite
    database holding one reader (subscriber N) and the same articles, with an SMTP
    connection that keeps the message instead of sending it."""
    import dataclasses

    from mailer.db import Database, utcnow
    from mailer.migrate import upgrade
    from mailer.sending import batch as sending
    from mailer.sending import ledger
    from mailer.subscribers.models import Subscriber, Subscription
    from mailer.subscribers.subscriptions import default_newsletter
    from mailer.tokens import Tokens

    scratch = Path(tempfile.mkdtemp(prefix="mailer-bench-capture-"))
    captured: list[Any] = []

    class Capture:
        def __init__(self, _settings: Any) -> None:
            pass

        def __enter__(self) -> Capture:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def send(
            self,
            message: Any,
            meanwhile: Callable[[], None] | None = None,
            before_data: Callable[[], None] | None = None,
        ) -> None:
            if before_data is not None:
                before_data()
            captured.append(message)
            if meanwhile is not None:
                meanwhile()

    try:
        url = f"sqlite:///{scratch / 'capture.db'}"
        upgrade(url)
        db = Database(url)
        with db.session() as session:
            newsletter = default_newsletter(session)
            session.add(
                Subscriber(id=n, email=f"leser{n}@example.no", name=_name(n), language="nb")
            )
            session.flush()
            session.add(
                Subscription(
                    id=n,
                    subscriber_id=n,
                    newsletter_id=newsletter.id,
                    status="active",
                    topics=[],
                    confirmed_at=utcnow(),
                )
            )
            session.commit()
        issue_id = draft_issue_with_articles(db, tag, articles)
        with db.session() as session:
            assert ledger.request_send(session, issue_id)
            ledger.create_deliveries(session, issue_id)
            session.commit()
            ids = ledger.queued_page(session, issue_id, 0, 10, utcnow())
            sending.send_batch(
                session,
                dataclasses.replace(settings, database_url=url),
                Tokens(settings.secret_keys),
                issue_id,
                ids,
                connection_factory=Capture,
            )
        db.engine.dispose()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if len(captured) != 1:
        raise RuntimeError(f"expected one captured mail, got {len(captured)}")
    return captured[0].sender, captured[0].data


# --------------------------------------------------------------------------- mailer phase


def run_mailer(
    app: Any, sink: SinkProcess, env: dict[str, str], work_dir: Path, issue_id: int, n: int, c: int
) -> PhaseResult:
    from sqlalchemy import select

    from mailer.issues.models import Issue
    from mailer.issues.states import IssueStatus
    from mailer.runtime import runtime
    from mailer.sending import ledger
    from mailer.sending import progress as send_progress

    sink.reset()
    # At WARNING, as before the harness: no line per task in the timed phase.
    worker = CeleryWorker(env, work_dir / f"worker-{c}.log", c, pool="prefork", loglevel="WARNING")
    CLEANUP.append(worker.stop)
    worker.start()
    try:
        worker.wait_ready()
        sampler = RssSampler(worker.pid)
        sampler.start()
        with app.app_context():
            db = runtime().db
            worker_cpu, sink_cpu = sampler.cpu_seconds(), sink.cpu_seconds()
            t0 = time.perf_counter()
            with db.session() as session:
                if not ledger.request_send(session, issue_id):
                    raise RuntimeError(f"issue {issue_id} was already sent")
                session.commit()  # mailer.start_send leaves for the broker here

            last_count, last_change = 0, t0
            next_check = next_log = t0 + 5
            while True:
                now = time.perf_counter()
                count = sink.count
                if count != last_count:
                    last_count, last_change = count, now
                if count >= n:
                    with db.session() as session:
                        state = send_progress.progress(session, issue_id)
                    if state.deliveries_created and state.total == n and state.done == n:
                        t1 = now
                        break
                    time.sleep(0.02)
                    continue
                if now >= next_check:
                    next_check = now + 5
                    with db.session() as session:
                        status = session.scalar(select(Issue.status).where(Issue.id == issue_id))
                    if status not in (IssueStatus.SENDING, IssueStatus.SENT):
                        raise RuntimeError(f"issue {issue_id} is {status}; see {worker.log_path}")
                if now >= next_log:
                    next_log = now + 15
                    log(f"mailer_{c}: {count}/{n} after {now - t0:.0f} s")
                # Before the first mail the worker writes N delivery rows and queues N/200
                # batches; after that, a minute without one mail is a stall.
                if now - last_change > (600 if last_count == 0 else 60):
                    raise RuntimeError(
                        f"no progress for {now - last_change:.0f} s at {count}/{n}; "
                        f"see {worker.log_path}"
                    )
                time.sleep(0.02)
        with app.app_context(), runtime().db.session() as session:
            state = send_progress.progress(session, issue_id)
        if state.counts.get("sent") != n or sink.count != n:
            raise RuntimeError(f"expected {n} sent and {n} received: {state.counts}, {sink.count}")
        worker_cpu = sampler.cpu_seconds() - worker_cpu
        sink_cpu = sink.cpu_seconds() - sink_cpu
        sampler.stop()
    finally:
        worker.stop()
        CLEANUP.remove(worker.stop)
    result = PhaseResult(f"mailer_{c}", n, t1 - t0, sink.nbytes / max(sink.count, 1))
    result.rss_mb = sampler.summary_mb()
    result.client_cpu_ms = 1000 * worker_cpu / n
    result.sink_cpu_ms = 1000 * sink_cpu / n
    log(
        f"{result.name}: {n} msgs of {result.avg_bytes:.0f} B, concurrency {c}, in "
        f"{result.seconds:.2f} s = {result.rate:.1f}/s; peak RSS MB {result.rss_mb}"
    )
    return result


# --------------------------------------------------------------------------- one backend


CLEANUP: list[Callable[[], None]] = []


def run_backend(backend: str, args: argparse.Namespace, sink: SinkProcess) -> dict[str, Any]:
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
    env = {
        "MAILER_VAR_DIR": str(var_dir),
        "MAILER_DATABASE_URL": database_url,
        "MAILER_BROKER_URL": broker_url,
        "MAILER_SECRET_KEY": SECRET,
        "MAILER_BASE_URL": BASE_URL,
        "MAILER_FROM": FROM,
        "MAILER_SMTP_HOST": "127.0.0.1",
        "MAILER_SMTP_PORT": str(sink.port),
        "MAILER_SMTP_SECURITY": "none",
        "MAILER_SEND_RATE": "0",
    }
    for key in [k for k in os.environ if k.startswith("MAILER_")]:
        del os.environ[key]
    os.environ.update(env)
    worker_env = dict(os.environ)
    log(f"{backend}: var dir {var_dir}")

    upgrade(database_url)
    app = create_app(load_settings())
    db = app.extensions["mailer"].db
    CLEANUP.append(db.engine.dispose)
    t = time.perf_counter()
    with app.app_context(), db.session() as session:
        newsletter_id = default_newsletter(session).id
        session.commit()
    load_subscribers(db, n, newsletter_id)
    log(f"{backend}: {n} subscribers loaded in {time.perf_counter() - t:.1f} s")
    with app.app_context():
        first_issue = draft_issue_with_articles(runtime().db, "a", args.articles)
    sender, data = capture_message(app.extensions["mailer"].settings, "a", args.articles, n)
    log(f"{backend}: one digest mail is {len(data)} bytes")

    raw_total = min(n, args.raw_cap)
    phases = args.phases
    done: dict[str, PhaseResult] = {}
    issue_id: int | None = first_issue
    # raw_C, mailer_C, raw_C again: the machine's load drifts, and a raw rate measured on
    # both sides of the mailer phase is a fairer yardstick than one taken minutes before.
    for c in (1, 4):
        raw, mailer = f"raw_{c}", f"mailer_{c}"
        if raw in phases:
            done[raw] = run_raw(sink, sender, data, raw_total, c)
        if mailer in phases:
            if issue_id is None:  # a fresh issue to the same readers
                with app.app_context():
                    issue_id = draft_issue_with_articles(runtime().db, "b", args.articles)
            done[mailer] = run_mailer(app, sink, worker_env, work_dir, issue_id, n, c)
            issue_id = None
            if raw in phases and not args.no_bracket:
                done[raw].repeats.append(run_raw(sink, sender, data, raw_total, c))

    def rate(name: str) -> float | None:
        return round(done[name].rate, 1) if name in done else None

    def ratio(c: int) -> float | None:
        if f"raw_{c}" in done and f"mailer_{c}" in done:
            return round(done[f"mailer_{c}"].rate / done[f"raw_{c}"].rate, 3)
        return None

    rss = [p.rss_mb["max"] for p in done.values() if p.rss_mb]
    return {
        "raw_1": rate("raw_1"),
        "raw_4": rate("raw_4"),
        "mailer_1": rate("mailer_1"),
        "mailer_4": rate("mailer_4"),
        "ratio_1": ratio(1),
        "ratio_4": ratio(4),
        "rss_mb_max": max(rss) if rss else None,
        "n": n,
        "backend": "sqlite+filesystem" if backend == "sqlite" else "postgres+redis",
        "_detail": list(done.values()),
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
                        f"{r['child_max']} MB"
                    )
                label = p.name if i == 0 else f"{p.name} again"
                print(
                    f"  {label:<13} {p.messages:>8} msgs {p.seconds:8.2f} s "
                    f"{p.messages / p.seconds:8.1f}/s  {p.avg_bytes:6.0f} B/msg  "
                    f"load {p.load:4.1f}  CPU ms/mail: sender {p.client_cpu_ms:.2f}, "
                    f"sink {p.sink_cpu_ms:.2f}{extra}"
                )
            if phase.repeats:
                print(f"  {phase.name:<13} mean {phase.rate:.1f}/s")
    print()
    cols = [
        "backend",
        "n",
        "raw_1",
        "raw_4",
        "mailer_1",
        "mailer_4",
        "ratio_1",
        "ratio_4",
        "rss_mb_max",
    ]
    widths = [18, 9, 9, 9, 10, 10, 9, 9, 12]
    print(
        "".join(
            f"{c:>{w}}" if i else f"{c:<{w}}"
            for i, (c, w) in enumerate(zip(cols, widths, strict=True))
        )
    )
    for row in rows:
        cells = []
        for i, (c, w) in enumerate(zip(cols, widths, strict=True)):
            v = row[c]
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="subscribers (default 10 000)")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="server to create a db on")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="flushed at start")
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

    signal.signal(signal.SIGTERM, _terminate)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    rows = []
    sink: SinkProcess | None = None
    try:
        sink = SinkProcess()
        log(f"SMTP sink (aiosmtpd, pid {sink.proc.pid}) on 127.0.0.1:{sink.port}")
        for backend in backends:
            rows.append(run_backend(backend, args, sink))
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        return 130
    finally:
        for action in reversed(CLEANUP):
            try:
                action()
            except Exception as exc:  # noqa: BLE001 - cleanup goes on
                log(f"cleanup: {exc}")
        CLEANUP.clear()
        if sink:
            sink.stop()
    print_report(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
