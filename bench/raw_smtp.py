"""The raw phase of bench/send.py: plain smtplib pushing one prebuilt mail over 1 or more
connections (a process each), the yardstick mailer is measured against.

Each client sends its share, or stops at the time box, and reports how many the server
accepted (smtplib's ``sendmail`` returns after the server's 250) and its CPU time; the
rate is all accepted mails over the time from the start signal to the last client's
report. That works for any SMTP server, one that counts (the aiosmtpd sink) or not
(Postfix).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import smtplib
import sys
import time
from dataclasses import dataclass, field
from typing import Any

_ctx = mp.get_context("spawn")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


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


def _raw_client(
    port: int,
    sender: str,
    data: bytes,
    first: int,
    count: int,
    time_box: float,
    ready: Any,
    go: Any,
    report: Any,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    smtp = smtplib.SMTP("127.0.0.1", port, timeout=120)
    smtp.ehlo()
    ready.release()
    go.wait()
    start = time.process_time()
    deadline = time.monotonic() + time_box
    sent = 0
    for i in range(first, first + count):
        smtp.sendmail(sender, [f"leser{i}@example.no"], data)
        sent += 1
        if time.monotonic() >= deadline:
            break
    report.put((sent, time.process_time() - start))
    smtp.quit()


def run_raw(
    port: int,
    sender: str,
    data: bytes,
    total: int,
    connections: int,
    *,
    time_box: float = float("inf"),
    sink_cpu: Any = None,
    name: str | None = None,
) -> PhaseResult:
    """``total`` mails (or what the time box allows) over ``connections`` connections to
    127.0.0.1:``port``; ``sink_cpu`` reads the server's CPU seconds when it can."""
    ready = _ctx.Semaphore(0)
    go = _ctx.Event()
    report = _ctx.Queue()
    share, extra = divmod(total, connections)
    procs, first = [], 0
    for c in range(connections):
        count = share + (1 if c < extra else 0)
        p = _ctx.Process(
            target=_raw_client,
            args=(port, sender, data, first, count, time_box, ready, go, report),
            name=f"raw-{c}",
            daemon=True,
        )
        p.start()
        procs.append(p)
        first += count
    finished = False
    try:
        for _ in procs:
            if not ready.acquire(timeout=60):
                raise RuntimeError("a raw client did not connect")
        cpu0 = sink_cpu() if sink_cpu else 0.0
        t0 = time.perf_counter()
        go.set()
        sent = client_cpu = 0.0
        for _ in procs:
            n, cpu = report.get(timeout=time_box + 600 if time_box < 1e9 else 3600)
            sent += n
            client_cpu += cpu
        elapsed = time.perf_counter() - t0
        used = (sink_cpu() - cpu0) if sink_cpu else 0.0
        finished = True
    finally:
        for p in procs:
            p.join(30 if finished else 0)
            if p.is_alive():
                p.terminate()
                p.join(10)
    result = PhaseResult(name or f"raw_{connections}", int(sent), elapsed, float(len(data)))
    result.client_cpu_ms = 1000 * client_cpu / max(sent, 1)
    result.sink_cpu_ms = 1000 * used / max(sent, 1)
    log(
        f"{result.name}: {int(sent)} msgs of {len(data)} B over {connections} "
        f"connection(s) in {elapsed:.2f} s = {int(sent) / elapsed:.1f}/s"
    )
    return result
