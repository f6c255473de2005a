"""The process table, read from /proc: who belongs to a launch, and which MPI rank each process is.

Open MPI 4 puts every rank in its own process group, so "the launch's process group" does not
reach the ranks; the session (`start_new_session=True` makes mpirun a session leader) does, and so
does the tree of descendants recorded while the launch runs, which also catches a process that
called setsid(). Linux only, like mpirun and tritonserver themselves; no third-party dependency.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
RANK_VARIABLES = ("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK")
STUB_NAME = "triton_python_backend_stub"


@dataclass(frozen=True)
class Proc:
    """One process: enough to tell it apart from a later process that reuses its PID."""

    pid: int
    ppid: int
    pgid: int
    sid: int
    start: int  # clock ticks after boot: (pid, start) identifies a process for its whole life
    state: str  # "R", "S", "Z", ...
    name: str

    @property
    def alive(self) -> bool:
        """A zombie has exited; it only waits for its parent to reap it."""
        return self.state not in ("Z", "X")


def read_proc(pid: int) -> Proc | None:
    """The process `pid`, or None when there is none (any more)."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    name_end = raw.rfind(")")  # the name may itself contain spaces and parentheses
    name = raw[raw.find("(") + 1 : name_end]
    fields = raw[name_end + 2 :].split()
    return Proc(
        pid=pid,
        ppid=int(fields[1]),
        pgid=int(fields[2]),
        sid=int(fields[3]),
        start=int(fields[19]),
        state=fields[0],
        name=name,
    )


def own_process() -> Proc:
    """This process (its start time identifies it in state files)."""
    proc = read_proc(os.getpid())
    if proc is None:
        raise OSError(f"{PROC} is not mounted: tritongen needs Linux's /proc to supervise a launch")
    return proc


def process_table() -> dict[int, Proc]:
    """Every process visible now."""
    table: dict[int, Proc] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            proc = read_proc(int(entry.name))
            if proc is not None:
                table[proc.pid] = proc
    return table


def descendants(table: Mapping[int, Proc], root: int) -> list[Proc]:
    """All processes below `root` in the parent tree (not `root` itself)."""
    children = children_by_parent(table)
    found: list[Proc] = []
    stack = list(children.get(root, []))
    while stack:
        proc = stack.pop()
        found.append(proc)
        stack.extend(children.get(proc.pid, []))
    return found


def boot_id() -> str:
    """This boot's random id: (pid, start time) identifies a process only within one boot."""
    try:
        return (PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        return ""


def cmdline(pid: int) -> list[str] | None:
    """The argv of `pid` (empty for a kernel thread or a zombie), or None when it is gone or unreadable."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0")[:-1]] if raw else []


def is_same_process(pid: int, start: int) -> bool:
    """True while the process that had `pid` and started at `start` is alive (not a reused PID)."""
    proc = read_proc(pid)
    return proc is not None and proc.start == start and proc.alive


def environment_value(pid: int, name: str) -> str | None:
    """One variable of another process's environment (as it was at exec), or None."""
    try:
        raw = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return None
    prefix = name.encode() + b"="
    for item in raw.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix) :].decode(errors="replace")
    return None


def mpi_rank(pid: int) -> int | None:
    """The MPI rank a launcher gave this process (Open MPI, PMIx or MPICH variables), if any."""
    for variable in RANK_VARIABLES:
        value = environment_value(pid, variable)
        if value is not None and value.isdigit():
            return int(value)
    return None


def rank_leaders(table: Mapping[int, Proc], root: int) -> dict[int, Proc]:
    """rank -> the topmost process of that rank below `root` (its tritonserver, not the stubs it forks)."""
    below = {proc.pid: proc for proc in descendants(table, root)}
    leaders: dict[int, Proc] = {}
    for proc in below.values():
        if not proc.alive:
            continue
        rank = mpi_rank(proc.pid)
        if rank is None:
            continue
        parent = below.get(proc.ppid)
        if parent is not None and mpi_rank(parent.pid) == rank:
            continue  # a child of the rank (a Python-backend stub), not the rank itself
        leaders[rank] = proc
    return leaders


@dataclass(frozen=True)
class Stub:
    """A Python-backend stub: the process that runs one instance of a Python model for a rank.

    tritonserver never notices a stub that dies (it only fails each request for that model, for
    good), so the launcher watches them itself. Its argv says which model it runs and the name of
    the shared-memory region it shares with its server.
    """

    proc: Proc
    rank: int
    model: str
    region: str  # the /dev/shm name (the rank's shm prefix and a UUID)


def python_stubs(
    table: Mapping[int, Proc], leaders: Mapping[int, Proc], skip: Collection[tuple[int, int]] = ()
) -> list[Stub]:
    """The Python-backend stubs of each rank's tritonserver, but those in `skip` ((pid, start) pairs).

    Only the server's direct children: python_backend starts each stub itself (fork, then exec). A
    process a stub forks (a `subprocess` call while a model loads) carries the stub's name and argv
    until it execs; counted as a stub, its normal exit would look like a model crash.
    The name test comes first (the kernel's 15-character `comm`, set at exec): between fork and exec
    a stub still shows its server's argv, and reading argv for every process would cost much more.
    """
    below = children_by_parent(table)
    found: list[Stub] = []
    for rank, leader in leaders.items():
        for proc in below.get(leader.pid, []):
            if (proc.pid, proc.start) in skip or not (
                proc.alive and STUB_NAME.startswith(proc.name) and len(proc.name) >= 15
            ):
                continue
            argv = cmdline(proc.pid) or []
            if len(argv) < 3 or not argv[0].endswith(STUB_NAME):
                continue
            found.append(Stub(proc, rank, Path(argv[1]).parent.parent.name, argv[2]))
    return found


def children_by_parent(table: Mapping[int, Proc]) -> dict[int, list[Proc]]:
    """ppid -> the processes it parents."""
    children: dict[int, list[Proc]] = {}
    for proc in table.values():
        children.setdefault(proc.ppid, []).append(proc)
    return children


def signal_processes(procs: Iterable[Proc], signum: signal.Signals) -> None:
    """Send `signum` to each process that is still the one we recorded; ignore those already gone."""
    for proc in procs:
        send_signal(proc, signum)


def send_signal(proc: Proc, signum: signal.Signals) -> bool:
    """Signal `proc` only if it is still the process we recorded; whether a signal was sent.

    The identity check and the signal would race with PID reuse (the process may exit and its PID
    go to another between them), so the PID is pinned first with a pidfd, which always refers to
    the process it was opened for, and the check is made after that.
    """
    try:
        pidfd = os.pidfd_open(proc.pid)
    except ProcessLookupError:
        return False
    except OSError:  # no pidfd (kernel < 5.3): check, then kill (a tiny race, as before pidfds)
        if not is_same_process(proc.pid, proc.start):
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signum)
            return True
        return False
    try:
        if not is_same_process(proc.pid, proc.start):
            return False
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(pidfd, signum)
            return True
        return False
    finally:
        os.close(pidfd)


def kill_leftover_descendants(recorded: Iterable[Proc]) -> None:
    """SIGKILL what is still alive of a tree recorded before its root was stopped.

    A Python-backend stub outlives a tritonserver that died abruptly (it is reparented to init), so
    anyone who stops a server must record its tree first and sweep it after.
    """
    signal_processes(recorded, signal.SIGKILL)
