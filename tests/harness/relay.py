"""A TCP relay (with latency if asked) listening on a chosen address: namespace hosts reach
a server on loopback through it from the test bridge (the machine's RabbitMQ, whose guest
user is loopback-only, in tests/harness/hosts.py; the SMTP sink some milliseconds away in
bench/hosts.py). Each direction's bytes are held for RTT/2 in order (this kernel has no
netem qdisc). Same design as the loopback relay of the sending benchmark, with the
listening address as a parameter; it runs in a process of its own (no GIL shared with the
bench) that dies with its parent."""

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


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """One direction: each chunk leaves ``delay`` seconds after it arrived, never before an
    earlier one."""
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
            if (wait := due - loop.time()) > 0:
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


async def _serve(out: Connection, listen: str, target: tuple[str, int], rtt_ms: float) -> None:
    delay = rtt_ms / 2000.0

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*target)
        except OSError:
            client_w.close()
            return
        for w in (client_w, server_w):
            if (sock := w.get_extra_info("socket")) is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(
            _pipe(client_r, server_w, delay),
            _pipe(server_r, client_w, delay),
            return_exceptions=True,
        )

    server = await asyncio.start_server(handle, listen, 0)
    out.send(server.sockets[0].getsockname()[1])
    out.close()
    async with server:
        await server.serve_forever()


def _main(out: Connection, listen: str, target: tuple[str, int], rtt_ms: float) -> None:
    with contextlib.suppress(OSError, AttributeError):  # PR_SET_PDEATHSIG: die with the bench
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(_serve(out, listen, target, rtt_ms))


class HostRelay:
    """``listen``:``port`` reaches ``target`` with ``rtt_ms`` of round trip added."""

    def __init__(self, listen: str, target: tuple[str, int], rtt_ms: float) -> None:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        self.proc = ctx.Process(target=_main, args=(child, listen, target, rtt_ms), daemon=True)
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
