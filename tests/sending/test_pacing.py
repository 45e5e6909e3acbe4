"""The global send rate: one shared slot, advanced atomically by every worker."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import redis

from mailer.sending.pacing import FileRateLimiter, RedisRateLimiter, Unlimited, limiter_for
from tests.harness.servers import free_port


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
    s = dataclasses.replace(rt.settings, send_rate=5.0, broker_url="filesystem://")
    assert isinstance(limiter_for(s), FileRateLimiter)
