"""`tritongen status` and `tritongen stop`: find a launch by its port's state file, probe or stop it.

Stopping asks the launcher first (SIGTERM: it drains rank 0 and tears down like a Ctrl-C), and
only if the launcher is gone or does not finish does it signal the server processes itself. Only
processes that prove to be the launch's are signalled (same boot, start time, command line or
launch id: `LaunchState`), each through a pidfd so that its PID cannot be reused in between.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass

from tritongen import defaults
from tritongen.errors import LaunchError
from tritongen.launch import procs
from tritongen.launch.state import LaunchState, read_state, state_path
from tritongen.launch.supervise import is_ready, probe_base_url

LAUNCHER_EXTRA_S = 15.0  # beyond the grace period: the launcher's own SIGKILL and reaping


@dataclass(frozen=True)
class LaunchStatus:
    state: LaunchState
    launcher_alive: bool
    processes: int  # server processes of the launch still alive
    ready: bool

    def describe(self) -> str:
        s = self.state
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.started_at))
        health = "ready" if self.ready else ("starting (not ready)" if self.processes else "not running")
        launcher = f"pid {s.launcher_pid}" if self.launcher_alive else f"gone (was pid {s.launcher_pid})"
        return "\n".join(
            [
                f"launch on port {s.http_port}: {health}",
                f"  repository: {s.repo}",
                f"  world size: {s.world_size}; processes: {self.processes}; launcher: {launcher}",
                (
                    f"  ports: http {s.ports['http']}, grpc {s.ports['grpc']}, metrics {s.ports['metrics']} "
                    f"on {s.host}; started {since}"
                ),
            ]
        )


def launch_status(http_port: int) -> LaunchStatus:
    """The launch on `http_port`; LaunchError when there is none (a stale state file is removed)."""
    state = _state_or_error(http_port)
    running = state.processes()
    ready = bool(running) and is_ready(probe_base_url(state.host, http_port), ensemble=False)
    return LaunchStatus(state, state.launcher_alive(), len(running), ready)


def stop_launch(http_port: int, grace_period: float = defaults.GRACE_PERIOD_S) -> str:
    """Stop the launch on `http_port` and everything it started; return what was done."""
    state = _state_or_error(http_port)
    how = "stopped by signals (its launcher was gone)"
    if state.launcher_alive():
        how = "stopped by its launcher"
        procs.send_signal(state.launcher(), signal.SIGTERM)
        deadline = time.monotonic() + grace_period + LAUNCHER_EXTRA_S
        while state.launcher_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        if state.launcher_alive():
            how = "stopped by signals (its launcher did not finish in time)"
            procs.send_signal(state.launcher(), signal.SIGKILL)
    leftovers = state.processes()
    if leftovers:
        _terminate(leftovers, grace_period)
        leftovers = state.processes()
    if leftovers:
        raise LaunchError(
            f"{len(leftovers)} process(es) of the launch on port {http_port} survived: "
            + ", ".join(f"{p.pid} ({p.name})" for p in leftovers),
            hint="Kill them by PID.",
        )
    state_path(http_port).unlink(missing_ok=True)
    return f"launch on port {http_port} (pid {state.launcher_pid}) {how}; no process of it is left"


def _terminate(processes: list[procs.Proc], grace_period: float) -> None:
    """SIGTERM the leaders (tritonserver ranks, mpirun), wait, then SIGKILL whatever is left."""
    procs.signal_processes(processes, signal.SIGTERM)
    _wait_gone(processes, time.monotonic() + grace_period)
    procs.signal_processes(processes, signal.SIGKILL)
    _wait_gone(processes, time.monotonic() + 5)


def _wait_gone(processes: list[procs.Proc], deadline: float) -> None:
    while time.monotonic() < deadline and any(procs.is_same_process(p.pid, p.start) for p in processes):
        time.sleep(0.05)


def _state_or_error(http_port: int) -> LaunchState:
    state = read_state(http_port)
    if state is None:
        raise LaunchError(
            f"no tritongen launch on port {http_port}",
            hint="Start one with `tritongen launch`, or pass the port it uses (--http-port).",
        )
    if state.is_stale():
        state_path(http_port).unlink(missing_ok=True)
        raise LaunchError(
            f"no tritongen launch on port {http_port} (removed a stale state file: pid {state.launcher_pid} is gone)",
            hint="Start one with `tritongen launch`.",
        )
    return state
