"""What every started server needs: the repository root, a free loopback port, and a
bounded wait for another process."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60.0

T = TypeVar("T")


def die_with_parent() -> None:
    """``preexec_fn`` of a server a test starts: killed when the test process dies
    (PR_SET_PDEATHSIG), so a session that is killed — mutmut ends a mutant's session that
    way when it runs out of time — leaves no orphaned worker behind."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    condition: Callable[[], T], what: str, timeout: float = TIMEOUT, interval: float = 0.05
) -> T:
    """Check ``condition`` until it is truthy; fail once ``timeout`` has passed.

    Synchronisation with another process, not a timing assertion: the deadline only
    turns a hang into a clear failure.
    """
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f}s waiting for {what}")
        pause.wait(interval)


def pid_alive(pid: int) -> bool:
    """Whether a process of this id still exists (a server we started, after its stop)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True
