"""The state file of a running launch, so that `tritongen status` and `stop` work from another shell.

One JSON file per HTTP port under `<cache>/run/`. It names the launcher (the supervising tritongen
process) and the session of the server processes (mpirun, or tritonserver, is its leader).

A PID alone is no identity: `tritongen stop` may run days later, after the launch died and its
PIDs went to other processes, even after a reboot. So a process counts as the launch's only when
it is the same boot (the kernel's boot id), the same start time (/proc/PID/stat), and the same
program: the launcher's own command line, and for the server processes the launch id that every
one of them carries in its environment (`LAUNCH_ID_VARIABLE`, inherited from mpirun/tritonserver
by the ranks and their Python stubs). A process that fails any check is never signalled.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from tritongen.launch import procs
from tritongen.launch.server import cache_dir

LAUNCH_ID_VARIABLE = "TRITONGEN_LAUNCH_ID"


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
    # Identity (files written by older versions lack these; see the module docstring):
    boot: str = ""  # the kernel's boot id when the launch started
    launch_id: str = ""  # the value of LAUNCH_ID_VARIABLE in every server process's environment
    launcher_cmdline: list[str] = field(default_factory=list)
    shm: list[str] = field(default_factory=list)  # the Python backend's /dev/shm regions it had

    @property
    def http_port(self) -> int:
        return self.ports["http"]

    def this_boot(self) -> bool:
        return not self.boot or self.boot == procs.boot_id()

    def launcher_alive(self) -> bool:
        if not (self.this_boot() and procs.is_same_process(self.launcher_pid, self.launcher_start)):
            return False
        return not self.launcher_cmdline or procs.cmdline(self.launcher_pid) == self.launcher_cmdline

    def launcher(self) -> procs.Proc:
        """The launcher as a Proc to signal (`procs.send_signal` checks it is still the same process)."""
        return procs.Proc(self.launcher_pid, 0, 0, 0, self.launcher_start, "S", "")

    def is_member(self, pid: int) -> bool:
        """Whether `pid` carries this launch's id (always False for a file without one)."""
        return bool(self.launch_id) and procs.environment_value(pid, LAUNCH_ID_VARIABLE) == self.launch_id

    def processes(self) -> list[procs.Proc]:
        """The launch's processes still alive: its session plus the rank processes it recorded.

        A file without a launch id (an older version's) counts the session's members only while
        the session leader is still the recorded process: after it is gone the session id may be
        reused by an unrelated session, whose processes must not be signalled.
        """
        if not self.this_boot():
            return []
        table = procs.process_table()
        leader = table.get(self.session)
        leader_ours = (
            leader is not None
            and leader.start == self.session_start
            and leader.alive
            and (self.is_member(leader.pid) or not self.launch_id)
        )
        found: dict[int, procs.Proc] = {}
        if leader is not None and leader_ours:
            found[leader.pid] = leader
        for proc in table.values():
            if (
                proc.sid == self.session
                and proc.alive
                and (self.is_member(proc.pid) if self.launch_id else leader_ours)
            ):
                found[proc.pid] = proc
        for pid, start in self.ranks.values():
            rank = table.get(pid)
            if (
                rank is not None
                and rank.start == start
                and rank.alive
                and (not self.launch_id or self.is_member(pid))
            ):
                found[pid] = rank
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
    if (
        current is not None
        and current.launcher_pid == state.launcher_pid
        and current.session == state.session
    ):
        state_path(state.http_port).unlink(missing_ok=True)


def new_state(
    *,
    ports: dict[str, int],
    host: str,
    repo: Path,
    world_size: int,
    session: procs.Proc,
    command: list[str],
    launch_id: str = "",
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
        boot=procs.boot_id(),
        launch_id=launch_id,
        launcher_cmdline=procs.cmdline(me.pid) or [],
    )


def _load(path: Path) -> LaunchState | None:
    try:
        data = json.loads(path.read_text())
        return LaunchState(**data)
    except (OSError, ValueError, TypeError):
        return None
