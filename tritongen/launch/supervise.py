"""Run a launch in the foreground and own it until it ends: readiness, rank-tagged logs, teardown.

The shape is TGI's launcher (aesthetics §3, practices 8-9): the child (mpirun, or tritonserver
alone) starts in a session of its own; SIGINT/SIGTERM only set a flag; one loop watches the child,
every rank and the readiness probe; any rank that dies tears the whole launch down and is reported
with the tail of its log. Teardown is SIGTERM, a grace period, then SIGKILL of every process the
launch ever had (Open MPI gives each rank its own process group, so the session and the recorded
process tree are what reach them all); afterwards nothing of it may remain.

Exit status: 0 when a user stop (Ctrl-C, SIGTERM, `tritongen stop`) ends a server that was ready;
`Interrupted` (130) when the stop came before it was ready; `LaunchError` (7) when a rank died,
readiness timed out, or a process survived the teardown.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from tritongen.errors import Interrupted, LaunchError
from tritongen.launch import procs
from tritongen.launch.command import LaunchCommand
from tritongen.launch.logs import MPIRUN, RankLog, channel_name
from tritongen.launch.plan import LaunchOptions, LaunchPlan, plan_launch
from tritongen.launch.preflight import check_ports
from tritongen.launch.state import LaunchState, new_state, remove_state, update_state, write_state

POLL_S = 0.2
PROBE_EVERY_S = 0.5
PROGRESS_EVERY_S = 10.0
CRASH_GRACE_S = 5.0  # after a rank died nothing is left to drain: a short grace keeps the exit quick
TAIL_LINES = 25
SAMPLE_PROMPT = "What is machine learning?"

Emit = Callable[[str], None]


class RankDied(LaunchError):
    """A rank (or mpirun) ended while the launch was meant to run."""

    def __init__(self, message: str, *, rank: int | None, tail: list[str]) -> None:
        super().__init__(message, hint="Its last log lines are above; fix the cause and launch again.")
        self.rank = rank
        self.tail = tail


@dataclass
class StopSignals:
    """Set by signal handlers only; the supervision loop does the work."""

    requested: threading.Event
    hurry: threading.Event  # a second signal: skip the grace period

    @classmethod
    def new(cls) -> StopSignals:
        return cls(threading.Event(), threading.Event())

    def handle(self, signum: int, frame: object) -> None:  # noqa: ARG002 (signal handler signature)
        if self.requested.is_set():
            self.hurry.set()
        self.requested.set()


def launch(options: LaunchOptions, emit: Emit, *, stop: StopSignals | None = None) -> int:
    """Start the server, wait for readiness, stream its log, and tear it down; 0 after a user stop."""
    plan = plan_launch(options)
    for warning in plan.warnings:
        emit(f"tritongen: warning: {warning}")
    for note in check_ports(options.host, options.ports):
        emit(f"tritongen: {note}")
    stop = stop or StopSignals.new()
    with _signals_set_flag(stop):
        job = Job.start(plan.command, emit)
        state = new_state(ports=options.ports.named(), host=options.host, repo=plan.facts.root,
                          world_size=plan.spec.world_size, session=job.root, command=plan.command.argv)
        stopped_by_user = False
        ready = False
        try:
            write_state(state)
            ready = _supervise(job, plan, options, stop, emit, state)
            stopped_by_user = True
        finally:
            how = "stopping" if stopped_by_user else "tearing down"
            emit(f"tritongen: {how} (grace period {options.grace_period:g} s)")
            grace = options.grace_period if stopped_by_user else min(options.grace_period, CRASH_GRACE_S)
            survivors = job.terminate(grace, drain=stopped_by_user, hurry=stop.hurry)
            remove_state(state)
            if survivors:
                raise LaunchError(
                    f"{len(survivors)} process(es) survived the teardown: "
                    + ", ".join(f"{p.pid} ({p.name})" for p in survivors),
                    hint="Kill them by PID; please report this as a tritongen bug.",
                )
    if not ready:
        raise Interrupted("stopped before the server was ready")
    emit("tritongen: stopped; no process of the launch is left")
    return 0


def _supervise(job: Job, plan: LaunchPlan, options: LaunchOptions, stop: StopSignals, emit: Emit,
               state: LaunchState) -> bool:
    """Watch until a stop is requested (returns whether the server had become ready) or a rank dies."""
    started = time.monotonic()
    next_probe = next_progress = started
    next_progress += PROGRESS_EVERY_S
    ready = False
    url = probe_base_url(options.host, options.ports.http)
    while not stop.requested.is_set():
        job.refresh()
        job.raise_if_dead()
        now = time.monotonic()
        if not ready and now >= next_probe:
            next_probe = now + PROBE_EVERY_S
            if is_ready(url, ensemble=plan.facts.has_ensemble):
                ready = True
                state = update_state(state, ready_at=time.time(), ranks=job.rank_record())
                _announce_ready(emit, now - started, options, plan.facts.has_ensemble)
        if not ready and now >= next_progress:
            next_progress = now + PROGRESS_EVERY_S
            emit(f"tritongen: waiting for the server to be ready ({now - started:.0f} s; "
                 f"{len(job.ranks)}/{plan.spec.world_size} ranks running)")
        if not ready and now - started > options.ready_timeout:
            job.show_tail(0)
            raise LaunchError(f"the server was not ready after {options.ready_timeout:g} s",
                              hint="Rank 0's last log lines are above; raise --ready-timeout for big engines.")
        stop.requested.wait(POLL_S)
    return ready


def _announce_ready(emit: Emit, seconds: float, options: LaunchOptions, has_ensemble: bool) -> None:
    host = "localhost" if options.host in ("0.0.0.0", "::", "127.0.0.1") else options.host
    emit(f"tritongen: ready in {seconds:.1f} s: http://{host}:{options.ports.http} "
         f"(gRPC {options.ports.grpc}, metrics {options.ports.metrics})")
    if has_ensemble:
        body = f'{{"text_input": "{SAMPLE_PROMPT}", "max_tokens": 64}}'
        emit(f"tritongen: try: curl -X POST {host}:{options.ports.http}/v2/models/ensemble/generate -d '{body}'")


def probe_base_url(host: str, http_port: int) -> str:
    """Where this machine reaches rank 0's HTTP endpoint."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{http_port}" if ":" in host else f"http://{host}:{http_port}"


def is_ready(base_url: str, *, ensemble: bool) -> bool:
    """Server readiness, and the ensemble's when there is one (the server is ready before requests work)."""
    paths = ["/v2/health/ready"] + (["/v2/models/ensemble/ready"] if ensemble else [])
    for path in paths:
        try:
            with urllib.request.urlopen(base_url + path, timeout=2) as response:
                if response.status != 200:
                    return False
        except (urllib.error.URLError, OSError):
            return False
    return True


class Job:
    """A started launch: the child process, its output, and every process it ever had."""

    def __init__(self, process: subprocess.Popen[bytes], root: procs.Proc, command: LaunchCommand,
                 emit: Emit) -> None:
        uses_mpi = command.uses_mpi
        self.process = process
        self.world_size = len(command.rank_blocks)
        self.root = root  # mpirun (or tritonserver): leader of the launch's session and process group
        self.uses_mpi = uses_mpi
        self.known: dict[int, procs.Proc] = {root.pid: root}  # every process seen, to reach leavers
        self.ranks: dict[int, procs.Proc] = {} if uses_mpi else {0: root}
        self._emit = emit
        self._emit_lock = threading.Lock()
        self.log = RankLog(self._emit_line, tagged=uses_mpi)
        self._reader = threading.Thread(target=self._read_output, name="launch-output", daemon=True)
        self._reader.start()

    @classmethod
    def start(cls, command: LaunchCommand, emit: Emit) -> Job:
        process = subprocess.Popen(
            command.argv,
            env=command.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # our own session: the terminal's Ctrl-C reaches us, not the ranks
        )
        root = procs.read_proc(process.pid) or procs.Proc(process.pid, os.getpid(), process.pid,
                                                          process.pid, 0, "Z", "?")
        emit(f"tritongen: started {'mpirun' if command.uses_mpi else 'tritonserver'} (pid {process.pid}, "
             f"{len(command.rank_blocks)} rank{'s' if len(command.rank_blocks) > 1 else ''})")
        return cls(process, root, command, emit)

    def _emit_line(self, channel: str, line: str) -> None:
        with self._emit_lock:
            self._emit(f"[{channel}] {line}")

    def _read_output(self) -> None:
        assert self.process.stdout is not None
        descriptor = self.process.stdout.fileno()
        while chunk := os.read(descriptor, 65536):
            self.log.feed(chunk)
        self.log.close()

    def refresh(self) -> None:
        """Record every process of the launch, and find each rank's tritonserver."""
        table = procs.process_table()
        for proc in procs.descendants(table, self.root.pid):
            self.known.setdefault(proc.pid, proc)
        for proc in table.values():
            if proc.sid == self.root.pid:
                self.known.setdefault(proc.pid, proc)
        if self.uses_mpi:
            for rank, proc in procs.rank_leaders(table, self.root.pid).items():
                self.ranks.setdefault(rank, proc)

    def rank_record(self) -> dict[str, list[int]]:
        return {str(rank): [proc.pid, proc.start] for rank, proc in sorted(self.ranks.items())}

    def raise_if_dead(self) -> None:
        """RankDied when a rank's process is gone or the child exited, naming the rank and how."""
        dead = [(rank, p) for rank, p in sorted(self.ranks.items()) if not procs.is_same_process(p.pid, p.start)]
        code = self.process.poll()
        if not dead and code is None:
            return
        time.sleep(POLL_S)  # let the reader catch the last lines, and mpirun its verdict
        verdict = self._mpirun_verdict()
        if dead:
            rank: int | None = dead[0][0]
            what = f"rank {rank} (pid {dead[0][1].pid})"
        elif verdict is not None:
            rank, what = verdict[0], f"rank {verdict[0]}"
        else:
            rank, what = None, "mpirun" if self.uses_mpi else "tritonserver"
        if not self.uses_mpi and code is not None:
            how = f"exited{_how(code)}"
        elif verdict is not None and verdict[0] == rank:
            how = verdict[1]
        else:
            how = "exited" if rank is not None or code is None else f"exited{_how(code)}"
        tail = self.show_tail(rank)
        raise RankDied(f"{what} {how}", rank=rank, tail=tail)

    def _mpirun_verdict(self) -> tuple[int, str] | None:
        """mpirun's word on a failed rank: "process rank 1 with PID 0 on node vm exited on signal 9 (Killed)"."""
        for line in reversed(self.log.tail(MPIRUN, TAIL_LINES)):
            match = re.search(r"process rank (\d+) .*?(exited .*?)\.?$", line)
            if match:
                return int(match.group(1)), match.group(2)
        return None

    def show_tail(self, rank: int | None) -> list[str]:
        """Print the last lines of a rank's log (and mpirun's own), return the rank's."""
        channel = channel_name(rank if rank is not None else 0)
        tail = self.log.tail(channel, TAIL_LINES)
        self._emit(f"tritongen: last {len(tail)} lines of {channel}:")
        for line in tail:
            self._emit(f"  {line}")
        mpirun_tail = self.log.tail(MPIRUN, 10) if self.uses_mpi else []
        if [line for line in mpirun_tail if line.strip("- ")]:
            self._emit("tritongen: mpirun said:")
            for line in mpirun_tail:
                self._emit(f"  {line}")
        return tail

    def members(self) -> list[procs.Proc]:
        """Processes of the launch still alive: its session, and every recorded process still running."""
        table = procs.process_table()
        alive = {p.pid: p for p in table.values() if p.sid == self.root.pid and p.alive}
        for pid, proc in self.known.items():
            current = table.get(pid)
            if current is not None and current.start == proc.start and current.alive:
                alive[pid] = current
        return list(alive.values())

    def terminate(self, grace: float, *, drain: bool, hurry: threading.Event) -> list[procs.Proc]:
        """Stop every process of the launch; return those still alive afterwards (none, normally).

        `drain`: SIGTERM rank 0 first and let it finish its in-flight requests, then the other ranks.
        mpirun itself is signalled only when it holds ranks we cannot see (other hosts): it ends by
        itself once its ranks are gone, and a SIGTERM during its own abort makes Open MPI 4 crash.
        """
        self.refresh()
        deadline = time.monotonic() + grace
        leader = self.ranks.get(0)
        if drain and leader is not None:
            procs.signal_processes([leader], signal.SIGTERM)
            _wait_until(lambda: not procs.is_same_process(leader.pid, leader.start), deadline, hurry)
        self.refresh()
        targets = {proc.pid: proc for proc in self.ranks.values()}
        if len(targets) < self.world_size:
            targets[self.root.pid] = self.root
        procs.signal_processes(targets.values(), signal.SIGTERM)
        _wait_until(self._leaders_gone, deadline, hurry)
        # What is left now either ignored SIGTERM past the grace period, or is a Python stub whose
        # tritonserver died (stubs are stopped by their server, and there is none left to do it).
        procs.signal_processes(self.members(), signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        _wait_until(lambda: not self.members(), time.monotonic() + 5, threading.Event())
        self._reader.join(timeout=5)
        return self.members()

    def _leaders_gone(self) -> bool:
        """mpirun (or tritonserver) has exited and so has every rank's tritonserver."""
        return self.process.poll() is not None and not any(
            procs.is_same_process(p.pid, p.start) for p in self.ranks.values())


def _wait_until(done: Callable[[], bool], deadline: float, hurry: threading.Event) -> None:
    while not done() and time.monotonic() < deadline and not hurry.is_set():
        time.sleep(0.05)


def _how(returncode: int | None) -> str:
    if returncode is None:
        return ""
    if returncode < 0:
        return f" on signal {-returncode} ({signal.Signals(-returncode).name})"
    return f" with code {returncode}"


@contextmanager
def _signals_set_flag(stop: StopSignals) -> Iterator[None]:
    """SIGINT/SIGTERM set the stop flag while the launch runs (main thread only; restored after)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, stop.handle) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
