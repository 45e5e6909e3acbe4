#!/usr/bin/env python
"""Signup benchmark: a viral link against the production profile (gunicorn with the
Procfile's 4 workers, PostgreSQL, Redis), with ``GET /healthz`` as the stack's ceiling.

    .venv/bin/python bench/signup.py                          # this checkout
    .venv/bin/python bench/signup.py --compare /work/main     # and another, same run

wrk (Debian's package) drives 16 connections; a Lua script gives every signup its own
address (thread number and counter), so no request is throttled as a repeat and every
one makes a reader, a subscription and a confirmation task. Per round, for each checkout:
``GET /healthz``, ``POST /api/v1/subscribers`` (JSON), ``GET /subscribe`` (the form page);
--rounds rounds, interleaved, each phase --seconds long. MAILER_SIGNUP_LIMITS is raised
for the run (the limits would otherwise answer 429 after ten signups per IP).

After the run, nothing lost: every 202 has its subscription row and its confirmation task
(counted in the broker's Redis lists). The last line is JSON:
{signup_rps, signup_p50_ms, signup_p99_ms, form_rps, healthz_rps, ratio} for this checkout
(ratio = signup_rps / healthz_rps, medians over the rounds), with ``compare`` holding the
other checkout's figures and ``vs_compare`` this checkout's signup rate over its.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.raw_smtp import log  # noqa: E402
from tests.harness.databases import ThrowawayDatabase, flush_redis  # noqa: E402
from tests.harness.processes import free_port  # noqa: E402

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"

LUA = r"""
local counter = 0
local threads = {}
local prefix = "%(prefix)s"

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"email": "%%s-%%d-%%d@example.no", "name": "Kåre Ødegård", "consent": true, "topics": []}',
    prefix, id, counter)
  return wrk.format(nil, "/api/v1/subscribers", nil, body)
end
"""

# Printed by every script: the figures as JSON on one line wrk ends with.
DONE = r"""
function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  io.write(string.format(
    'WRK {"requests": %d, "seconds": %.3f, "rps": %.1f, "p50_ms": %.2f, "p99_ms": %.2f, '
    .. '"non_2xx": %d, "socket_errors": %d}\n',
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout))
end
"""


class Server:
    """gunicorn as the Procfile starts it, from one checkout, on its own database."""

    def __init__(self, checkout: Path, args: argparse.Namespace, work: Path, label: str) -> None:
        self.checkout = checkout
        self.label = label
        self.port = free_port()
        self.database = ThrowawayDatabase(args.pg_url, prefix="mailer_signup")
        self.log_path = work / f"gunicorn-{label}.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MAILER_")},
            "MAILER_DATABASE_URL": self.database.url,
            "MAILER_BROKER_URL": args.redis_url,
            "MAILER_REDIS_URL": args.redis_url,
            "MAILER_QUEUE": f"bench-signup-{label}",
            "MAILER_SECRET_KEY": "bench-secret-key-0123456789abcdef",
            "MAILER_BASE_URL": "https://nyhetsbrev.europakontor.example.no",
            "MAILER_FROM": "Europakontoret <nyhetsbrev@europakontor.example.no>",
            "MAILER_SMTP_HOST": "127.0.0.1",
            "MAILER_SMTP_PORT": "2525",  # no mail leaves: no worker runs
            "MAILER_SIGNUP_LIMITS": "1000000/minute",
            "MAILER_VAR_DIR": str(work / f"var-{label}"),
            "PORT": str(self.port),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        bin_dir = self.checkout / ".venv" / "bin"
        subprocess.run(
            [str(bin_dir / "mailer"), "db", "upgrade"],
            cwd=self.checkout,
            env=self.env,
            check=True,
            capture_output=True,
        )
        command = web_command(self.checkout, self.port)
        self.proc = subprocess.Popen(
            command,
            cwd=self.checkout,
            env=self.env,
            stdout=open(self.log_path, "wb"),  # noqa: SIM115 - the child owns it
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn ({self.label}) did not start; see {self.log_path}")
            time.sleep(0.2)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        self.database.drop()


def web_command(checkout: Path, port: int) -> list[str]:
    """The checkout's Procfile ``web:`` line, with its own venv's programs and the port: an
    older checkout runs as it was deployed (a09ad8e had no gunicorn_conf, for one)."""
    import shlex

    for line in (checkout / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            words = shlex.split(line.removeprefix("web:"))
            bin_dir = checkout / ".venv" / "bin"
            words[0] = str(bin_dir / words[0])
            return [w.replace("$PORT", str(port)) for w in words]
    raise RuntimeError(f"{checkout}/Procfile has no web: line")


def wrk(url: str, script: Path, args: argparse.Namespace) -> dict[str, Any]:
    result = subprocess.run(
        [
            "wrk",
            f"-t{args.threads}",
            f"-c{args.connections}",
            f"-d{args.seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        timeout=args.seconds + 60,
    )
    line = next((x for x in result.stdout.splitlines() if x.startswith("WRK ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no figures: {result.stdout}{result.stderr}")
    figures: dict[str, Any] = json.loads(line[4:])
    return figures


def lost(server: Server, accepted: int) -> dict[str, int]:
    """Rows and confirmation tasks against the 202s wrk counted."""
    import redis
    from sqlalchemy import create_engine, text

    engine = create_engine(server.database.url)
    with engine.connect() as conn:
        rows = int(conn.execute(text("SELECT count(*) FROM subscription")).scalar() or 0)
    engine.dispose()
    client = redis.Redis.from_url(server.env["MAILER_REDIS_URL"])
    queue = server.env["MAILER_QUEUE"]
    tasks = 0
    for raw in client.lrange(queue, 0, -1):
        message = json.loads(raw)
        if message.get("headers", {}).get("task") == "mailer.send_confirmation":
            tasks += 1
    client.close()
    return {"accepted": accepted, "rows": rows, "confirmation_tasks": tasks}


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="mailer-bench-signup-"))
    cleanup: list[Any] = [lambda: shutil.rmtree(work, ignore_errors=True)]
    flush_redis(args.redis_url)
    cleanup.append(lambda: flush_redis(args.redis_url))
    servers = [Server(ROOT, args, work, "this")]
    if args.compare:
        servers.append(Server(Path(args.compare).resolve(), args, work, "compare"))
    figures: dict[str, dict[str, list[dict[str, Any]]]] = {
        s.label: {"healthz": [], "signup": [], "form": []} for s in servers
    }
    try:
        for server in servers:
            cleanup.append(server.stop)
            server.start()
            log(f"{server.label}: gunicorn on {server.url} ({server.checkout})")
        plain = work / "plain.lua"
        plain.write_text(DONE)
        for r in range(args.rounds):
            for server in servers:
                # Addresses new to this run: wrk's counters start again at each run.
                signup = work / f"signup-{server.label}-{r}.lua"
                signup.write_text(LUA % {"prefix": f"w{secrets.token_hex(4)}"} + DONE)
                for phase, path, script in (
                    ("healthz", "/healthz", plain),
                    ("signup", "", signup),
                    ("form", "/subscribe", plain),
                ):
                    got = wrk(server.url + path, script, args)
                    figures[server.label][phase].append(got)
                    log(
                        f"round {r + 1} {server.label} {phase}: {got['rps']:.1f}/s, "
                        f"p50 {got['p50_ms']:.1f} ms, p99 {got['p99_ms']:.1f} ms, "
                        f"non-2xx {got['non_2xx']}, socket errors {got['socket_errors']}"
                    )
        checks = {}
        for server in servers:
            signups = figures[server.label]["signup"]
            accepted = sum(f["requests"] - f["non_2xx"] for f in signups)
            checks[server.label] = lost(server, accepted)
            log(f"{server.label}: {checks[server.label]}")
    finally:
        for action in reversed(cleanup):
            try:
                action()
            except Exception as exc:  # noqa: BLE001 - cleanup goes on
                log(f"cleanup: {exc}")

    def summary(label: str) -> dict[str, Any]:
        f = figures[label]

        def median(phase: str, key: str) -> float:
            return round(statistics.median(x[key] for x in f[phase]), 2)

        signup_rps, healthz_rps = median("signup", "rps"), median("healthz", "rps")
        return {
            "signup_rps": signup_rps,
            "signup_p50_ms": median("signup", "p50_ms"),
            "signup_p99_ms": median("signup", "p99_ms"),
            "form_rps": median("form", "rps"),
            "healthz_rps": healthz_rps,
            "ratio": round(signup_rps / healthz_rps, 3),
            "rounds": {
                phase: [round(x["rps"], 1) for x in f[phase]] for phase in ("healthz", "signup")
            },
            "signup_non_2xx": sum(x["non_2xx"] for x in f["signup"]),
            "nothing_lost": checks[label]["rows"] == checks[label]["confirmation_tasks"]
            and checks[label]["rows"] >= checks[label]["accepted"],
            "counts": checks[label],
        }

    result = summary("this")
    if args.compare:
        other = summary("compare")
        result["compare"] = other
        # Per round (interleaved), then the median: a drifting load weighs on both.
        per_round = [
            a["rps"] / b["rps"]
            for a, b in zip(figures["this"]["signup"], figures["compare"]["signup"], strict=True)
        ]
        result["vs_compare"] = round(statistics.median(per_round), 3)
    result["load"] = round(os.getloadavg()[0], 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="server to create dbs on")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="flushed at start/end")
    parser.add_argument("--compare", help="another checkout (with its .venv) measured alike")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--seconds", type=int, default=10, help="per phase (default 10)")
    parser.add_argument("--connections", type=int, default=16, help="wrk -c (default 16)")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t (default 2)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install wrk)")

    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupted)
    try:
        result = run(args)
    except KeyboardInterrupt:
        log("interrupted; cleaned up")
        return 130
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
