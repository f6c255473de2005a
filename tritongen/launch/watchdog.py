"""Ends the server processes of a launch whose launcher was killed outright (kill -9, OOM killer).

Nothing runs in a process killed by SIGKILL, so the launcher cannot stop its ranks itself. Two
things make them die with it:

- The child it starts (mpirun, or tritonserver at world size 1) gets a parent-death signal
  (`prctl(PR_SET_PDEATHSIG, SIGTERM)`, set between fork and exec): the kernel sends it SIGTERM
  when the launcher dies, and mpirun passes it on to its ranks.
- That covers the child only: the ranks under mpirun, the Python stubs under each tritonserver,
  and anything a SIGTERM does not stop in time are this watchdog's. It is a small process of its
  own session, started by the launcher with a pipe on its stdin and nothing else to do but read
  it. A normal end writes "done" first; end-of-file without it means the launcher died, and the
  watchdog SIGTERMs every tritonserver of the launch, waits a little, SIGKILLs whatever is left,
  removes the shared-memory regions and the state file.

The launch's processes are those whose environment carries its launch id (`LAUNCH_ID_VARIABLE`,
set by the launcher for the child and inherited by everything below it), and the members of
its session while the session leader is still the recorded process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tritongen.launch import procs, shm
from tritongen.launch.state import LAUNCH_ID_VARIABLE

DONE = b"done\n"
TERM_GRACE_S = 3.0  # after SIGTERM: a server stops in about a second when it has no request in flight
KILL_WAIT_S = 5.0


@dataclass(frozen=True)
class Watched:
    """What the watchdog needs to find the launch (sent as one JSON line on its stdin)."""

    launch_id: str
    session: int
    session_start: int
    launcher_pid: int
    state_path: str


class Watchdog:
    """The launcher's side: start the watchdog, and dismiss it when the launch ended normally."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process

    @classmethod
    def start(cls, watched: Watched) -> Watchdog:
        # The watchdog imports this very package, wherever the launcher found it (an installed copy,
        # a checkout on PYTHONPATH, or a sys.path entry a script added).
        package_root = str(Path(__file__).resolve().parents[2])
        python_path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
        process = subprocess.Popen(
            [sys.executable, "-m", "tritongen.launch.watchdog"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": python_path},
            start_new_session=True,  # a signal to the launcher's process group must not reach it
        )
        assert process.stdin is not None
        process.stdin.write(json.dumps(asdict(watched)).encode() + b"\n")
        process.stdin.flush()
        return cls(process)

    def dismiss(self) -> None:
        """The launch is over and torn down: the watchdog exits without touching anything."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(DONE)
            self.process.stdin.close()
        except OSError:  # it died: nothing to dismiss
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def members(watched: Watched) -> list[procs.Proc]:
    """The launch's processes still alive (see the module docstring)."""
    table = procs.process_table()
    leader = table.get(watched.session)
    leader_ours = leader is not None and leader.start == watched.session_start and leader.alive
    found: list[procs.Proc] = []
    for proc in table.values():
        if not proc.alive or proc.pid == os.getpid():
            continue
        if procs.environment_value(proc.pid, LAUNCH_ID_VARIABLE) == watched.launch_id or (
            leader_ours and proc.sid == watched.session
        ):
            found.append(proc)
    return found


def sweep(watched: Watched) -> int:
    """Stop every process of the launch; return how many there were."""
    found = members(watched)
    servers = [proc for proc in found if proc.name == "tritonserver"]
    procs.signal_processes(servers, signal.SIGTERM)  # an orderly stop also unlinks its shared memory
    deadline = time.monotonic() + TERM_GRACE_S
    while time.monotonic() < deadline and any(procs.is_same_process(p.pid, p.start) for p in servers):
        time.sleep(0.1)
    for _ in range(int(KILL_WAIT_S / 0.1)):
        left = members(watched)
        if not left:
            break
        procs.signal_processes(left, signal.SIGKILL)
        time.sleep(0.1)
    return len(found)


def cleanup_state(watched: Watched) -> None:
    """Remove the shared memory the state file lists, and the file if it is still this launch's."""
    path = Path(watched.state_path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if data.get("launcher_pid") != watched.launcher_pid:
        return  # a newer launch owns the port now
    mapped = shm.mapped_regions()
    shm.remove(name for name in data.get("shm", []) if name not in mapped)
    path.unlink(missing_ok=True)


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the launcher's to handle
    received = b""
    while chunk := os.read(sys.stdin.fileno(), 4096):  # until the launcher ends, one way or the other
        received += chunk
    first, _, rest = received.partition(b"\n")
    if not rest and not received.endswith(b"\n"):
        return 0  # the launcher died while starting us: the parent-death signal is all there is
    watched = Watched(**json.loads(first))
    if rest.startswith(DONE):
        return 0
    stopped = sweep(watched)
    cleanup_state(watched)
    shm.remove(shm.orphans())
    if stopped:
        print(
            f"tritongen: the launcher (pid {watched.launcher_pid}) died; stopped the {stopped} process(es) "
            "of its launch",
            file=sys.stderr,
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
