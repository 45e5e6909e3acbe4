"""Peak memory of a Celery worker tree while a benchmark runs: RSS sampled every half
second and the kernel's own high-water mark (VmHWM), per process, plus PSS (which
counts pages shared between the main process and its pool children fairly)."""

from __future__ import annotations

import threading

RSS_INTERVAL = 0.5


def _vm_hwm_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class RssSampler(threading.Thread):
    """Peak RSS per process of a worker tree: sampled RSS, and the kernel's VmHWM."""

    def __init__(self, root_pid: int) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.root_pid = root_pid
        self.peak: dict[int, int] = {}
        self.peak_pss: dict[int, int] = {}
        self.role: dict[int, str] = {}
        self._halt = threading.Event()

    def sample(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.root_pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        for p in procs:
            try:
                rss = p.memory_info().rss
            except psutil.Error:
                continue
            rss = max(rss, _vm_hwm_bytes(p.pid))
            self.peak[p.pid] = max(self.peak.get(p.pid, 0), rss)
            try:
                pss = int(getattr(p.memory_full_info(), "pss", 0))
            except psutil.Error:
                pss = 0
            self.peak_pss[p.pid] = max(self.peak_pss.get(p.pid, 0), pss)
            self.role.setdefault(p.pid, "main" if p.pid == self.root_pid else "child")

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(RSS_INTERVAL)

    def stop(self) -> None:
        self.sample()
        self._halt.set()
        self.join(5)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the worker's main process and its pool children."""
        import psutil

        total = 0.0
        try:
            root = psutil.Process(self.root_pid)
            for p in [root, *root.children(recursive=True)]:
                t = p.cpu_times()
                total += t.user + t.system
        except psutil.Error:
            pass
        return total

    def summary_mb(self) -> dict[str, float]:
        main = [v for pid, v in self.peak.items() if self.role[pid] == "main"]
        children = [v for pid, v in self.peak.items() if self.role[pid] == "child"]
        mb = 1024 * 1024
        return {
            "main": round(max(main, default=0) / mb, 1),
            "child_max": round(max(children, default=0) / mb, 1),
            "children": len(children),
            "max": round(max(self.peak.values(), default=0) / mb, 1),
            "pss_max": round(max(self.peak_pss.values(), default=0) / mb, 1),
        }
