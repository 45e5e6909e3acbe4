"""The global send rate: one shared slot, advanced atomically by every worker."""

from __future__ import annotations

import dataclasses
import subprocess
import time
from pathlib import Path

import pytest
import redis

from mailer.config import ConfigError, load_settings
from mailer.sending.pacing import FileRateLimiter, RedisRateLimiter, Unlimited, limiter_for
from mailer.web.limits import storage_uri
from tests.harness.processes import free_port


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


def test_the_next_envelope_goes_ahead_only_when_pacing_waits_seconds(rt):
    """A pipelined envelope leaves the server waiting in DATA while the sender paces; at a
    rate slower than MIN_RATE_TO_ANNOUNCE the server could hang up first."""
    import dataclasses

    from mailer.sending.pacing import MIN_RATE_TO_ANNOUNCE, may_announce

    def at(rate: float) -> bool:
        return may_announce(dataclasses.replace(rt.settings, send_rate=rate))

    assert at(0) and at(MIN_RATE_TO_ANNOUNCE) and at(50)
    assert not at(MIN_RATE_TO_ANNOUNCE / 2)
