"""Worker "hosts" as network namespaces, for the multi-host fault test and bench/.

One bridge in the machine's namespace carries a private /24 the harness picks (unused on
this machine) and the address every test server listens on (``gateway``); each host is a
namespace with one veth link to that bridge, its own address and its own hostname (a UTS
namespace per process started in it: the crash-recovery owners tell hosts apart by name).
Cutting a host's link downs the bridge side of its veth: the host keeps its address and
routes and simply hears nothing more, as when a cable is pulled. Every name carries a
random suffix, so that parallel runs never clash; ``close()`` removes it all.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import subprocess
from dataclasses import dataclass


def _ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False, timeout=30)
    if done.returncode:
        raise AssertionError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def _used_networks() -> list[ipaddress.IPv4Network]:
    found = []
    for link in json.loads(_ip("-j", "addr", "show")):
        for info in link.get("addr_info", []):
            if info.get("family") == "inet":
                found.append(ipaddress.ip_network(f"{info['local']}/{info['prefixlen']}", False))
    for route in json.loads(_ip("-j", "route", "show")):
        dst = route.get("dst", "")
        if dst and dst != "default":
            found.append(ipaddress.ip_network(dst if "/" in dst else f"{dst}/32", False))
    return found


def _free_subnet() -> ipaddress.IPv4Network:
    used = _used_networks()
    for _ in range(200):
        candidate = ipaddress.ip_network(
            f"10.{secrets.randbelow(200) + 50}.{secrets.randbelow(250) + 1}.0/24"
        )
        if not any(candidate.overlaps(net) for net in used):
            return candidate
    raise AssertionError("no free private /24 for the test network")


@dataclass(frozen=True)
class Host:
    name: str  # namespace and hostname
    address: str
    outer: str  # the bridge side of its veth: down = link cut

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the host: its network namespace and a hostname of its own.
        Each step execs the next, so the process started is ``argv`` itself (its pid and
        process group are the ones the caller sees)."""
        return [
            "ip",
            "netns",
            "exec",
            self.name,
            "unshare",
            "--uts",
            "sh",
            "-c",
            'hostname "$0" && exec "$@"',
            self.name,
            *argv,
        ]


class HostNetwork:
    def __init__(self) -> None:
        self.tag = secrets.token_hex(3)
        self.subnet = _free_subnet()
        addresses = list(self.subnet.hosts())
        self.gateway = str(addresses[0])
        self.bridge = f"mbr{self.tag}"
        self.hosts: list[Host] = []
        self._next = 10
        _ip("link", "add", self.bridge, "type", "bridge")
        try:
            _ip("addr", "add", f"{self.gateway}/{self.subnet.prefixlen}", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
        except BaseException:
            self.close()
            raise

    def add_host(self) -> Host:
        index = len(self.hosts)
        name = f"mh{self.tag}{index}"
        outer, inner = f"mvo{self.tag}{index}", f"mvi{self.tag}{index}"
        address = str(self.subnet.network_address + self._next + index)
        _ip("netns", "add", name)
        host = Host(name, address, outer)
        self.hosts.append(host)
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        _ip("link", "set", inner, "netns", name)
        _ip("link", "set", outer, "master", self.bridge, "up")
        _ip("-n", name, "addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", inner)
        _ip("-n", name, "link", "set", inner, "up")
        _ip("-n", name, "link", "set", "lo", "up")
        return host

    def cut(self, host: Host) -> None:
        _ip("link", "set", host.outer, "down")

    def restore(self, host: Host) -> None:
        _ip("link", "set", host.outer, "up")

    def close(self) -> None:
        """Remove every namespace (its veth goes with it) and the bridge."""
        errors = []
        for host in self.hosts:
            try:
                _ip("netns", "del", host.name)
            except AssertionError as exc:
                errors.append(exc)
        try:
            _ip("link", "del", self.bridge)
        except AssertionError as exc:
            errors.append(exc)
        if errors:
            raise errors[0]
