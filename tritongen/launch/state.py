"""The state file of a running launch, so that `tritongen status` and `stop` work from another shell.

One JSON file per HTTP port under `<cache>/run/`. It names the launcher (the supervising tritongen
process) and the session of the server processes (mpirun, or tritonserver, is its leader), each
with its start time so a reused PID is never mistaken for ours.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from tritongen.launch import procs
from tritongen.launch.server import cache_dir


@dataclass(frozen=True)
class LaunchState:
    """What another process needs to find, probe and stop a launch."""

    ports: dict[str, int]  # {"http": 8000, "grpc": 8001, "metrics": 8002}
    host: str
    repo: str
    world_size: int
    launcher_pid: int
    launcher_start: int
    session: int  # the session id = PID of mpirun (or of tritonserver without MPI)
    session_start: int
    started_at: float  # time.time()
    ready_at: float | None = None
    ranks: dict[str, list[int]] = field(default_factory=dict)  # rank -> [pid, start]
    command: list[str] = field(default_factory=list)

    @property
    def http_port(self) -> int:
        return self.ports["http"]

    def launcher_alive(self) -> bool:
        return procs.is_same_process(self.launcher_pid, self.launcher_start)

    def processes(self) -> list[procs.Proc]:
        """The launch's processes still alive: its session plus the rank processes it recorded."""
        table = procs.process_table()
        found = {p.pid: p for p in table.values() if p.sid == self.session and p.alive}
        if procs.is_same_process(self.session, self.session_start):
            found[self.session] = table[self.session]
        for pid, start in self.ranks.values():
            proc = table.get(pid)
            if proc is not None and proc.start == start and proc.alive:
                found[pid] = proc
                found.update((p.pid, p) for p in procs.descendants(table, pid) if p.alive)
        return list(found.values())

    def is_stale(self) -> bool:
        """Neither the launcher nor any server process is left: the file outlived a killed launch."""
        return not self.launcher_alive() and not self.processes()


def run_dir() -> Path:
    return cache_dir() / "run"


def state_path(http_port: int) -> Path:
    return run_dir() / f"launch-{http_port}.json"


def write_state(state: LaunchState) -> None:
    """Write atomically: a reader never sees half a file."""
    path = state_path(state.http_port)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    staging.write_text(json.dumps(asdict(state), indent=2) + "\n")
    staging.replace(path)


def update_state(state: LaunchState, **changes: object) -> LaunchState:
    updated = replace(state, **changes)  # type: ignore[arg-type]
    write_state(updated)
    return updated


def read_state(http_port: int) -> LaunchState | None:
    """The state of the launch on `http_port`, or None (also for an unreadable file)."""
    return _load(state_path(http_port))


def all_states() -> list[LaunchState]:
    """Every launch that left a state file (stale ones included)."""
    directory = run_dir()
    if not directory.is_dir():
        return []
    return [s for s in (_load(p) for p in sorted(directory.glob("launch-*.json"))) if s is not None]


def remove_state(state: LaunchState) -> None:
    """Remove the file if it still describes this launch (a newer launch may own the port now)."""
    current = read_state(state.http_port)
    if current is not None and current.launcher_pid == state.launcher_pid and current.session == state.session:
        state_path(state.http_port).unlink(missing_ok=True)


def new_state(
    *, ports: dict[str, int], host: str, repo: Path, world_size: int, session: procs.Proc, command: list[str]
) -> LaunchState:
    me = procs.own_process()
    return LaunchState(
        ports=ports,
        host=host,
        repo=str(repo),
        world_size=world_size,
        launcher_pid=me.pid,
        launcher_start=me.start,
        session=session.pid,
        session_start=session.start,
        started_at=time.time(),
        command=command,
    )


def _load(path: Path) -> LaunchState | None:
    try:
        data = json.loads(path.read_text())
        return LaunchState(**data)
    except (OSError, ValueError, TypeError):
        return None
