"""CPU and RSS of the processes a run starts, of its own process tree and of the rest of the machine."""

from __future__ import annotations

import os
import platform
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.harness.processes import healthz, mosquitto_version


class Sampler:
    """Every 0.5 s: RSS and CPU time of serve and Mosquitto, machine CPU, and the health counters."""

    def __init__(self, serve_pid: int, mosquitto_pid: int, http_port: int, deadline: float) -> None:
        import psutil

        self.psutil = psutil
        self.procs = {"serve": psutil.Process(serve_pid), "mosquitto": psutil.Process(mosquitto_pid)}
        self.http_port, self.deadline = http_port, deadline
        self.samples: list[dict[str, Any]] = []
        self._last_cpu: dict[int, float] = {}
        self._ours = self._other = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def start(self) -> None:
        self.me = self.psutil.Process()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while time.time() < self.deadline:
            self.samples.append(self.sample())
            if self._stop.wait(0.5):
                break

    def sample(self) -> dict[str, Any]:
        m = self.psutil.cpu_times()
        s: dict[str, Any] = {"t": time.time(), "machine_busy_cpu_s": sum(m) - m.idle - getattr(m, "iowait", 0.0)
                             - getattr(m, "guest", 0.0) - getattr(m, "guest_nice", 0.0)}
        ours = {self.me.pid, *(c.pid for c in self.me.children(recursive=True))}
        now: dict[int, float] = {}
        for p in self.psutil.process_iter():
            try:
                cpu = p.cpu_times()
            except self.psutil.Error:
                continue
            now[p.pid] = cpu.user + cpu.system
        # CPU of every process alive at both samples, split into this benchmark's tree and the rest
        for pid, cpu in now.items():
            delta = cpu - self._last_cpu.get(pid, cpu)
            if pid in ours:
                self._ours += delta
            else:
                self._other += delta
        self._last_cpu = now
        s["ours_cpu_s"], s["other_cpu_s"] = self._ours, self._other
        for name, p in self.procs.items():
            try:
                with p.oneshot():
                    cpu = p.cpu_times()
                    s[f"{name}_rss"] = p.memory_info().rss
                    s[f"{name}_cpu_s"] = cpu.user + cpu.system
            except self.psutil.Error:
                pass
        code, body = healthz(self.http_port)
        counters = body.get("counters", {})
        s.update(healthz=code, accepted=counters.get("accepted", 0), messages=counters.get("messages", 0),
                 backlog=body.get("ingest_backlog"), outbox_pending=body.get("outbox_pending"))
        return s


def cpu_share(samples: list[dict[str, Any]], name: str, t0: float, t1: float) -> float | None:
    """Share of one core (%) used by ``name`` (serve, mosquitto, ours, other, machine_busy) between the first
    and the last of the ``samples`` taken from ``t0`` to ``t1``."""
    xs = [s for s in samples if t0 <= s["t"] <= t1 and f"{name}_cpu_s" in s]
    if len(xs) < 2 or xs[-1]["t"] <= xs[0]["t"]:
        return None
    return (xs[-1][f"{name}_cpu_s"] - xs[0][f"{name}_cpu_s"]) / (xs[-1]["t"] - xs[0]["t"]) * 100


def idle_cpu_pct(pid: int, seconds: float) -> float:
    import psutil

    p = psutil.Process(pid)
    a = p.cpu_times()
    time.sleep(seconds)
    b = p.cpu_times()
    return (b.user + b.system - a.user - a.system) / seconds * 100


class CpuWatch:
    """What the rest of the machine did meanwhile: CPU of other processes and hypervisor steal, as % of one core."""

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        self._proc = psutil.Process()
        self._t = time.perf_counter()
        self._sys = psutil.cpu_times()
        self._own = self._proc.cpu_times()

    @staticmethod
    def _busy(c: Any) -> float:
        return c.user + c.nice + c.system + getattr(c, "irq", 0.0) + getattr(c, "softirq", 0.0)

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self._t
        s, o = self._psutil.cpu_times(), self._proc.cpu_times()
        own = (o.user + o.system) - (self._own.user + self._own.system)
        others = self._busy(s) - self._busy(self._sys) - own
        steal = getattr(s, "steal", 0.0) - getattr(self._sys, "steal", 0.0)
        return {"others_cpu_pct": round(max(0.0, others) / wall * 100, 1), "steal_pct": round(steal / wall * 100, 1)}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def machine_info() -> dict[str, Any]:
    model = cpu_model()
    import sqlite3

    import paho.mqtt
    import psutil

    return {"cpu_model": model, "cores": os.cpu_count(), "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "kernel": platform.release(), "sqlite": sqlite3.sqlite_version,
            "paho_mqtt": paho.mqtt.__version__, "mosquitto": mosquitto_version()}
