"""Facts about this machine and its processes: ports, the server tree, memory, cores and load."""

from __future__ import annotations

import contextlib
import os
import platform
import random
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tritongen.launch import procs
from tritongen.launch.command import Ports
from tritongen.testing.ports import RELIABILITY_PORTS, free_launch_ports

SERVER_PROCESS_NAMES = ("tritonserver", "triton_python_b")  # /proc comm is cut at 15 characters


def reliability_ports(rng: random.Random | None = None) -> Ports:
    """Three consecutive free ports in the reliability range (random start: parallel runs coexist)."""
    return free_launch_ports(RELIABILITY_PORTS, rng)


def rss_bytes(pid: int) -> int:
    """Resident set size of one process, from /proc/<pid>/status (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def server_processes(root_pid: int) -> list[procs.Proc]:
    """tritonserver and Python-backend stub processes below `root_pid` (a launcher), alive."""
    table = procs.process_table()
    return [p for p in procs.descendants(table, root_pid) if p.alive and p.name in SERVER_PROCESS_NAMES]


def server_memory(root_pid: int) -> dict[str, Any]:
    """RSS of the server tree below `root_pid`: total and per process."""
    members = server_processes(root_pid)
    per = {f"{p.name}:{p.pid}": rss_bytes(p.pid) for p in members}
    return {"rss_bytes": sum(per.values()), "processes": len(per), "per_process": per}


def alive_of(snapshot: Sequence[procs.Proc]) -> list[procs.Proc]:
    """Those processes of `snapshot` still alive (same pid and start time, not a zombie)."""
    return [p for p in snapshot if procs.is_same_process(p.pid, p.start)]


def kill_processes(pids: Sequence[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def machine_facts() -> dict[str, Any]:
    """Cores, memory and CPU model (from /proc), Python and the load at the start.

    The context of a run's figures: timings on a shared 2-core machine read differently from a quiet one.
    """
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return {
        "cpu_model": model,
        "cpu_cores": os.cpu_count(),
        "cpu_cores_usable": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
