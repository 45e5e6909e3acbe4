"""A TCP latency relay for the benchmarks: what a relay some milliseconds away costs.

This machine's kernel has no ``netem`` qdisc, so latency is made in user space: a small
asyncio relay in a process of its own (no GIL shared with the bench) listens on a free
loopback port and forwards every connection to the target, holding each direction's
bytes for RTT/2 and keeping their order. At RTT 0 it forwards at once; its own cost is
measured by the bench (raw smtplib direct vs through the relay at RTT 0).

The process dies with its parent (PR_SET_PDEATHSIG), so even a killed bench leaves no
relay behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing as mp
import signal
import socket
from collections import deque
from multiprocessing.connection import Connection

CHUNK = 256 * 1024
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Linux: SIGTERM to this process when the process that started it dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Forward one direction: each chunk leaves ``delay`` seconds after it arrived, in the
    order it arrived (a queue and one sender task; the sender sleeps until the head's
    time, so a chunk never overtakes an earlier one)."""
    loop = asyncio.get_running_loop()
    if delay <= 0:
        try:
            while chunk := await reader.read(CHUNK):
                writer.write(chunk)
                await writer.drain()
        finally:
            with contextlib.suppress(OSError):
                writer.close()
        return
    queue: deque[tuple[float, bytes]] = deque()
    more = asyncio.Event()
    closed = False

    async def send() -> None:
        while True:
            while not queue:
                if closed:
                    return
                more.clear()
                await more.wait()
            due, chunk = queue[0]
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            queue.popleft()
            writer.write(chunk)
            await writer.drain()

    sender = asyncio.create_task(send())
    try:
        while chunk := await reader.read(CHUNK):
            queue.append((loop.time() + delay, chunk))
            more.set()
        closed = True
        more.set()
        await sender
    finally:
        sender.cancel()
        with contextlib.suppress(OSError):
            writer.close()


async def _serve(port_out: Connection, target: tuple[str, int], rtt_ms: float) -> None:
    delay = rtt_ms / 2000.0

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*target)
        except OSError:
            client_w.close()
            return
        for w in (client_w, server_w):
            sock = w.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(
            _pipe(client_r, server_w, delay),
            _pipe(server_r, client_w, delay),
            return_exceptions=True,
        )

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port_out.send(server.sockets[0].getsockname()[1])
    port_out.close()
    async with server:
        await server.serve_forever()


def _main(port_out: Connection, target: tuple[str, int], rtt_ms: float) -> None:
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    asyncio.run(_serve(port_out, target, rtt_ms))


class LatencyRelay:
    """The relay in a spawned process: ``port`` on 127.0.0.1 reaches ``target`` with
    ``rtt_ms`` of round trip added."""

    def __init__(self, target: tuple[str, int], rtt_ms: float) -> None:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        self.rtt_ms = rtt_ms
        self.proc = ctx.Process(
            target=_main, args=(child, target, rtt_ms), name=f"relay-{rtt_ms:g}ms", daemon=True
        )
        self.proc.start()
        if not parent.poll(30):
            self.stop()
            raise RuntimeError("the latency relay did not start")
        self.port: int = parent.recv()

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(10)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join()
