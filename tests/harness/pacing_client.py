"""One process taking send-rate slots, for the tests that run several against one limiter.

    python -m tests.harness.pacing_client file PATH RATE COUNT CLOCK
    python -m tests.harness.pacing_client redis URL RATE COUNT

It says "ready" once its limiter is built, takes COUNT slots when a line arrives on its
stdin (so that every process starts at once, without sleeping), and prints the waits its
limiter asked for as JSON. Nothing sleeps: the wait is recorded, not spent; the file
limiter's clock stands still at CLOCK, so every process reads the same "now".
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mailer.sending.pacing import FileRateLimiter, RateLimiter, RedisRateLimiter


def main(argv: list[str]) -> None:
    kind, where, rate, count = argv[0], argv[1], float(argv[2]), int(argv[3])
    waits: list[float] = []
    limiter: RateLimiter
    if kind == "file":
        frozen = float(argv[4])
        limiter = FileRateLimiter(Path(where), rate, clock=lambda: frozen, sleep=waits.append)
    else:
        limiter = RedisRateLimiter(where, rate, sleep=waits.append)
    print("ready", flush=True)
    sys.stdin.readline()
    for _ in range(count):
        limiter.acquire()
    print(json.dumps(waits), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
