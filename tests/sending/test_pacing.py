"""The global send rate: one shared slot, advanced atomically by every worker."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from mailer.config import ConfigError, load_settings
from mailer.sending.pacing import FileRateLimiter, RedisRateLimiter, Unlimited, limiter_for
from mailer.web.limits import storage_uri
from tests.harness.processes import ROOT, free_port


def test_file_limiter_shares_one_slot_between_workers(tmp_path: Path):
    path = tmp_path / "slot"
    a, b = FileRateLimiter(path, 1000), FileRateLimiter(path, 1000)
    start = time.time()
    for _ in range(10):
        a.acquire()
        b.acquire()
    # 20 slots taken from one shared timeline: it moved on by 20 intervals, not 10.
    assert float(path.read_text()) >= start + 20 * 0.001 - 1e-6


@pytest.fixture
def private_redis():
    port = free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    # The server says when it accepts connections; read until it does (or exits).
    for line in proc.stdout:
        if "Ready to accept connections" in line:
            break
    else:
        raise AssertionError("redis-server exited before it was ready")
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.communicate()


def test_redis_limiter_shares_one_slot_between_workers(private_redis: str):
    a = RedisRateLimiter(private_redis, 1000, key="t")
    b = RedisRateLimiter(private_redis, 1000, key="t")
    before = redis.Redis.from_url(private_redis).time()
    for _ in range(10):
        a.acquire()
        b.acquire()
    slot_us = int(redis.Redis.from_url(private_redis).get("t"))
    start_us = before[0] * 1_000_000 + before[1]
    assert slot_us >= start_us + 20 * 1000


def test_limiter_choice_follows_the_settings(rt):
    import dataclasses

    assert isinstance(limiter_for(rt.settings), Unlimited)
    s = dataclasses.replace(rt.settings, send_rate=5.0, broker_url="filesystem://", redis_url="")
    assert isinstance(limiter_for(s), FileRateLimiter)
    shared = dataclasses.replace(s, redis_url="redis://127.0.0.1:6379/15")
    assert isinstance(limiter_for(shared), RedisRateLimiter)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ""),
        ({"MAILER_BROKER_URL": "redis://broker:6379/1"}, "redis://broker:6379/1"),
        (
            {"MAILER_BROKER_URL": "redis://broker:6379/1", "MAILER_REDIS_URL": "redis://r:6379/2"},
            "redis://r:6379/2",
        ),
        (
            {"MAILER_BROKER_URL": "amqp://mq//", "MAILER_RATELIMIT_STORAGE_URL": "rediss://r/2"},
            "rediss://r/2",
        ),
    ],
)
def test_the_shared_store_is_mailer_redis_url_else_a_redis_broker(
    test_env, monkeypatch, env, expected
):
    for name in ("MAILER_BROKER_URL", "MAILER_REDIS_URL", "MAILER_RATELIMIT_STORAGE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.redis_url == expected
    assert storage_uri(settings) == (expected or "memory://")
    # It may carry a password: repr never shows one.
    with_password = dataclasses.replace(settings, redis_url="redis://:hemmelig@r:6379/2")
    assert "hemmelig" not in repr(with_password)


@pytest.mark.parametrize(
    "env",
    [
        {"MAILER_REDIS_URL": "http://r:6379/2"},
        {"MAILER_REDIS_URL": "redis://a/0", "MAILER_RATELIMIT_STORAGE_URL": "redis://b/0"},
    ],
)
def test_a_bad_shared_store_url_is_a_config_error(test_env, monkeypatch, env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match="MAILER_REDIS_URL"):
        load_settings()


# --- the waits themselves (issue 14): injected sleep, several processes on one slot --------

T0 = 1_800_000_000.0


def test_file_limiter_waits_one_interval_more_for_each_slot(tmp_path: Path):
    """Mutant: the limiter does not wait (the sleep dropped, ``slot > now`` → ``slot < now``),
    or waits the wrong time (``slot - now`` → ``slot + now``, the interval not added)."""
    now = [T0]
    waits: list[float] = []
    limiter = FileRateLimiter(tmp_path / "slot", 4, clock=lambda: now[0], sleep=waits.append)

    for _ in range(5):
        limiter.acquire()

    # Five mails at 4 a second: the first at once, then 0.25 s apart.
    assert waits == [0.25, 0.5, 0.75, 1.0]
    assert sum(waits) == 2.5
    # Once the clock has passed the last slot, the next mail goes at once and the
    # timeline starts again from now (not from the old slot).
    now[0] = T0 + 10
    limiter.acquire()
    assert waits == [0.25, 0.5, 0.75, 1.0]
    assert float((tmp_path / "slot").read_text()) == T0 + 10 + 0.25


def test_redis_limiter_waits_one_interval_more_for_each_slot(private_redis: str):
    """Mutant: the Redis limiter does not wait (sleep dropped, ``wait_us > 0`` → ``< 0``) or
    the interval is wrong. The slots are 100 s apart, so the real time the calls take
    (far under 50 s) cannot change which slot each wait rounds to."""
    waits: list[float] = []
    limiter = RedisRateLimiter(private_redis, 0.01, key="w", sleep=waits.append)

    for _ in range(5):
        limiter.acquire()

    assert [round(w / 100) for w in waits] == [1, 2, 3, 4]
    assert round(sum(waits) / 100) == 10
    assert all(w <= k * 100 for k, w in enumerate(waits, start=1))


def _run_clients(args: list[list[str]]) -> list[float]:
    """Start one pacing_client per argument list, let them go at once, gather their waits."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.harness.pacing_client", *a],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for a in args
    ]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        waits: list[float] = []
        for p in procs:
            out, _ = p.communicate(timeout=120)
            assert p.returncode == 0
            waits += json.loads(out)
        return waits
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


PROCESSES, EACH = 4, 250


def test_several_processes_on_one_file_limiter_never_share_a_slot(tmp_path: Path):
    """Four processes take 250 slots each from one file at once, their clocks standing
    still at the same instant: the 1,000 slots are all different and the shared timeline
    moved on by exactly 1,000 intervals.

    Mutant: the slot is read and written without the file lock (the flock calls dropped):
    two processes read the same slot, so waits repeat and the timeline falls behind."""
    path = tmp_path / "slot"
    rate = 100.0
    waits = _run_clients(
        [["file", str(path), str(rate), str(EACH), repr(T0)] for _ in range(PROCESSES)]
    )

    slots = sorted(round(w * rate) for w in waits)
    # Every slot but the very first (no wait) was handed out once.
    assert slots == list(range(1, PROCESSES * EACH))
    assert round((float(path.read_text()) - T0) * rate) == PROCESSES * EACH


def test_several_processes_on_one_redis_limiter_never_share_a_slot(private_redis: str):
    """As above against one Redis (the Lua script is the lock). Slots are 100 s apart, so
    the real time the calls take cannot blur which slot a wait belongs to."""
    rate = 0.01
    before_s, before_us = redis.Redis.from_url(private_redis).time()

    waits = _run_clients([["redis", private_redis, str(rate), str(EACH)] for _ in range(PROCESSES)])

    slots = sorted(round(w * rate) for w in waits)
    assert slots == list(range(1, PROCESSES * EACH))
    slot_us = int(redis.Redis.from_url(private_redis).get("mailer:send-rate:slot"))
    start_us = before_s * 1_000_000 + before_us
    assert slot_us >= start_us + PROCESSES * EACH * 100_000_000


def test_the_shared_slot_has_one_name_on_every_host(private_redis: str, tmp_path: Path, rt):
    """Every host (and every version of mailer) must read and move the same slot: the Redis
    key and the file name are part of the contract. Mutants: either name changed, a rate
    under 1 a second taken as unlimited (``<= 0`` → ``<= 1``), the intervals off."""
    shared = dataclasses.replace(
        rt.settings, send_rate=0.5, broker_url="filesystem://", redis_url=private_redis
    )
    limiter = limiter_for(shared)
    assert isinstance(limiter, RedisRateLimiter) and limiter.interval_us == 2_000_000
    limiter.acquire()
    assert redis.Redis.from_url(private_redis).exists("mailer:send-rate:slot")

    local = dataclasses.replace(shared, redis_url="", var_dir=tmp_path / "var" / "deeper")
    file_limiter = limiter_for(local)
    assert isinstance(file_limiter, FileRateLimiter) and file_limiter.interval == 2.0
    file_limiter.acquire()
    # The folder is made as needed, however deep.
    assert (tmp_path / "var" / "deeper" / "send-rate.slot").read_text()


def test_the_next_envelope_goes_ahead_only_when_pacing_waits_seconds(rt):
    """A pipelined envelope leaves the server waiting in DATA while the sender paces; at a
    rate slower than MIN_RATE_TO_ANNOUNCE the server could hang up first."""
    import dataclasses

    from mailer.sending.pacing import MIN_RATE_TO_ANNOUNCE, may_announce

    def at(rate: float) -> bool:
        return may_announce(dataclasses.replace(rt.settings, send_rate=rate))

    assert at(0) and at(MIN_RATE_TO_ANNOUNCE) and at(50)
    assert not at(MIN_RATE_TO_ANNOUNCE / 2)


def test_the_redis_limiter_fails_within_the_network_timeouts(rt):
    """Mutants of ``limiter_for`` and ``RedisRateLimiter.__init__`` (survivors of `make
    mutate`): the socket options (``settings.network.redis_options()``) not passed on. A
    pacer cut off from Redis would then wait for ever instead of failing the batch."""
    shared = dataclasses.replace(rt.settings, send_rate=5, redis_url="redis://127.0.0.1:1/5")
    limiter = limiter_for(shared)

    assert isinstance(limiter, RedisRateLimiter)
    given = limiter.client.connection_pool.connection_kwargs
    wanted = shared.network.redis_options()
    assert wanted["socket_timeout"] > 0
    assert {key: given.get(key) for key in wanted} == wanted
