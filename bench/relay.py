"""The sending benchmark's latency relay: tests/harness/relay.py's relay (each direction's
bytes held for RTT/2 in order, in a spawned process that dies with the bench) listening on
loopback. One relay for the tests' namespace hosts and both benches."""

from __future__ import annotations

from tests.harness.relay import HostRelay


class LatencyRelay(HostRelay):
    """``port`` on 127.0.0.1 reaches ``target`` with ``rtt_ms`` of round trip added."""

    def __init__(self, target: tuple[str, int], rtt_ms: float) -> None:
        self.rtt_ms = rtt_ms
        super().__init__("127.0.0.1", target, rtt_ms)
