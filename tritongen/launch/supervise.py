"""Run a launch in the foreground and own it until it ends: readiness, rank-tagged logs, teardown.

The shape is TGI's launcher (aesthetics §3, practices 8-9): the child (mpirun, or tritonserver
alone) starts in a session of its own; SIGINT/SIGTERM only set a flag; one loop watches the child,
every rank and the readiness probe; any rank that dies tears the whole launch down and is reported
with the tail of its log. Teardown is SIGTERM, a grace period, then SIGKILL of every process the
launch ever had (Open MPI gives each rank its own process group, so the session and the recorded
process tree are what reach them all); afterwards nothing of it may remain.

Ranks are not the only processes that can die: each Python model instance runs in a stub process
(`triton_python_backend_stub`) forked by its rank's tritonserver. When one dies, tritonserver does
not notice: it stays up and ready, and fails every request to that model for good ("Stub process
... is not healthy"), while streams in flight hang. The loop watches the stubs too, and a dead one
fails the launch (`StubDied`, exit 7, naming the model and rank, with the rank's log tail) instead
of restarting the model, because a restart cannot be done right from here:
- Triton's model-control `load` API needs `--model-control-mode=explicit` on rank 0, which changes
  how every model loads at start (and "ready" would no longer mean "everything loaded").
- The BLS, the ensemble and the tensorrt_llm model of ranks > 0 depend on each other: reloading the
  tensorrt_llm model on rank 0 alone leaves the worker ranks in the old MPI session, and ranks > 0
  cannot be told to reload (they never open their endpoints).
- A stub that died once (out of memory, a crash on some input) tends to die again; a silent
  restart loop would hide it, while the exit lets an orchestrator (systemd `Restart=`, Kubernetes)
  restart the whole launch with back-off and count the restarts where operators look.
The teardown that follows makes readiness fail at once (tritonserver stops reporting ready on
SIGTERM, then the endpoint goes away), so a load balancer stops sending requests.

A launcher killed outright (kill -9) cannot tear down anything: `watchdog.py` does it then.

Exit status: 0 when a user stop (Ctrl-C, SIGTERM, `tritongen stop`) ends a server that was ready;
`Interrupted` (130) when the stop came before it was ready; `LaunchError` (7) when a rank or a
Python stub died, readiness timed out, or a process survived the teardown.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tritongen.errors import Interrupted, LaunchError
from tritongen.launch import procs, shm
from tritongen.launch.command import LaunchCommand
from tritongen.launch.logs import MPIRUN, RankLog, channel_name
from tritongen.launch.plan import LaunchOptions, LaunchPlan, plan_launch
from tritongen.launch.preflight import check_ports
from tritongen.launch.state import (
    LAUNCH_ID_VARIABLE,
    LaunchState,
    new_state,
    remove_state,
    state_path,
    update_state,
    write_state,
)
from tritongen.launch.watchdog import Watchdog, Watched

if TYPE_CHECKING:
    from tritongen.openai.sidecar import RouteSidecar

POLL_S = 0.2
PROBE_EVERY_S = 0.5
PROGRESS_EVERY_S = 10.0
CRASH_GRACE_S = 5.0  # after a rank died nothing is left to drain: a short grace keeps the exit quick
# A model that fails to load ends its stub, then tritonserver exits with the reason in its log: while
# starting, a dead stub waits this long for its rank to follow, so the rank's exit is what is reported.
STARTUP_STUB_GRACE_S = 3.0
TAIL_LINES = 25
SAMPLE_PROMPT = "What is machine learning?"

Emit = Callable[[str], None]


class RankDied(LaunchError):
    """A rank (or mpirun) ended while the launch was meant to run."""

    def __init__(self, message: str, *, rank: int | None, tail: list[str]) -> None:
        super().__init__(message, hint="Its last log lines are above; fix the cause and launch again.")
        self.rank = rank
        self.tail = tail


class StubDied(RankDied):
    """A Python-backend stub (one instance of a Python model) ended while its rank kept running."""

    def __init__(self, message: str, *, rank: int, model: str, tail: list[str]) -> None:
        super().__init__(message, rank=rank, tail=tail)
        self.model = model


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
    route = None
    if options.openai_port is not None:  # the OpenAI route: one more supervised child, started once ready
        from tritongen.openai.sidecar import RouteSidecar

        server_url = probe_base_url(options.host, options.ports.http)
        route = RouteSidecar(
            emit,
            port=options.openai_port,
            host=options.host,
            server_url=server_url,
            repository=plan.facts.root,
        )
        route.preflight()
    shm.remove(shm.orphans())  # what servers that died before left in /dev/shm (no process maps it)
    stop = stop or StopSignals.new()
    with _signals_set_flag(stop):
        job = Job.start(plan.command, emit)
        state = new_state(
            ports=options.ports.named(),
            host=options.host,
            repo=plan.facts.root,
            world_size=plan.spec.world_size,
            session=job.root,
            command=plan.command.argv,
            launch_id=job.launch_id,
        )
        watchdog: Watchdog | None = None
        stopped_by_user = False
        ready = False
        try:
            watchdog = Watchdog.start(
                Watched(
                    job.launch_id,
                    job.root.pid,
                    job.root.start,
                    state.launcher_pid,
                    str(state_path(state.http_port)),
                )
            )
            write_state(state)
            ready = _supervise(job, plan, options, stop, emit, state, route)
            stopped_by_user = True
        finally:
            how = "stopping" if stopped_by_user else "tearing down"
            emit(f"tritongen: {how} (grace period {options.grace_period:g} s)")
            grace = options.grace_period if stopped_by_user else min(options.grace_period, CRASH_GRACE_S)
            if route is not None:  # first: clients see the route close before the server behind it
                route.stop(grace)
            survivors = job.terminate(grace, drain=stopped_by_user, hurry=stop.hurry)
            if not survivors:  # a crashed server never unlinks its regions; an orderly one already did
                shm.remove(job.regions)
            remove_state(state)
            if watchdog is not None:
                watchdog.dismiss()
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


def _supervise(
    job: Job,
    plan: LaunchPlan,
    options: LaunchOptions,
    stop: StopSignals,
    emit: Emit,
    state: LaunchState,
    route: RouteSidecar | None = None,
) -> bool:
    """Watch until a stop is requested (returns whether the server had become ready) or a rank dies."""
    started = time.monotonic()
    next_probe = next_progress = started
    next_progress += PROGRESS_EVERY_S
    ready = False
    url = probe_base_url(options.host, options.ports.http)
    while not stop.requested.is_set():
        job.refresh()
        job.raise_if_dead(stub_grace=POLL_S if ready else STARTUP_STUB_GRACE_S)
        if route is not None and ready:
            route.check()  # LaunchError when the route died: the launch fails as for a rank
        if len(job.regions) > len(state.shm):  # for the watchdog and the next launch, if we are killed
            state = update_state(state, shm=sorted(job.regions))
        now = time.monotonic()
        if not ready and now >= next_probe:
            next_probe = now + PROBE_EVERY_S
            if is_ready(url, ensemble=plan.facts.has_ensemble):
                ready = True
                state = update_state(state, ready_at=time.time(), ranks=job.rank_record())
                _announce_ready(emit, now - started, options, plan.facts.has_ensemble)
                if route is not None:
                    route.start()
        if not ready and now >= next_progress:
            next_progress = now + PROGRESS_EVERY_S
            emit(
                f"tritongen: waiting for the server to be ready ({now - started:.0f} s; "
                f"{len(job.ranks)}/{plan.spec.world_size} ranks running)"
            )
        if not ready and now - started > options.ready_timeout:
            job.show_tail(0)
            raise LaunchError(
                f"the server was not ready after {options.ready_timeout:g} s",
                hint="Rank 0's last log lines are above; raise --ready-timeout for big engines.",
            )
        stop.requested.wait(POLL_S)
    return ready


def _announce_ready(emit: Emit, seconds: float, options: LaunchOptions, has_ensemble: bool) -> None:
    host = "localhost" if options.host in ("0.0.0.0", "::", "127.0.0.1") else options.host
    emit(
        f"tritongen: ready in {seconds:.1f} s: http://{host}:{options.ports.http} "
        f"(gRPC {options.ports.grpc}, metrics {options.ports.metrics})"
    )
    if has_ensemble:
        body = f'{{"text_input": "{SAMPLE_PROMPT}", "max_tokens": 64}}'
        emit(
            f"tritongen: try: curl -X POST {host}:{options.ports.http}/v2/models/ensemble/generate -d '{body}'"
        )


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

    def __init__(
        self, process: subprocess.Popen[bytes], root: procs.Proc, command: LaunchCommand, emit: Emit
    ) -> None:
        uses_mpi = command.uses_mpi
        self.process = process
        self.world_size = len(command.rank_blocks)
        self.root = root  # mpirun (or tritonserver): leader of the launch's session and process group
        self.uses_mpi = uses_mpi
        self.known: dict[int, procs.Proc] = {root.pid: root}  # every process seen, to reach leavers
        self.ranks: dict[int, procs.Proc] = {} if uses_mpi else {0: root}
        self.stubs: dict[int, procs.Stub] = {}  # pid -> each Python-backend stub seen
        self.regions: set[str] = set()  # their shared-memory regions
        self.launch_id = command.env[LAUNCH_ID_VARIABLE]
        self._emit = emit
        self._emit_lock = threading.Lock()
        self.log = RankLog(self._emit_line, tagged=uses_mpi)
        self._reader = threading.Thread(target=self._read_output, name="launch-output", daemon=True)
        self._reader.start()

    @classmethod
    def start(cls, command: LaunchCommand, emit: Emit) -> Job:
        # The launch id marks every process of the launch (inherited through mpirun and the stubs):
        # it is how the watchdog and `tritongen stop` tell them from a process that reused a PID.
        env = {**command.env, LAUNCH_ID_VARIABLE: uuid.uuid4().hex}
        command = LaunchCommand(command.prefix, command.rank_blocks, env, command.added_env)
        process = subprocess.Popen(
            command.argv,
            env=command.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # our own session: the terminal's Ctrl-C reaches us, not the ranks
            preexec_fn=_die_with_parent,  # noqa: PLW1509 (one prctl call, no lock taken: safe with threads)
        )
        root = procs.read_proc(process.pid) or procs.Proc(
            process.pid, os.getpid(), process.pid, process.pid, 0, "Z", "?"
        )
        emit(
            f"tritongen: started {'mpirun' if command.uses_mpi else 'tritonserver'} (pid {process.pid}, "
            f"{len(command.rank_blocks)} rank{'s' if len(command.rank_blocks) > 1 else ''})"
        )
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
        live_ranks = {
            rank: table[proc.pid]
            for rank, proc in self.ranks.items()
            if proc.pid in table and table[proc.pid].start == proc.start
        }
        known_stubs = {(stub.proc.pid, stub.proc.start) for stub in self.stubs.values()}
        for stub in procs.python_stubs(table, live_ranks, skip=known_stubs):
            self.stubs[stub.proc.pid] = stub
            self.regions.add(stub.region)
            shm.restrict([stub.region])  # before the server is ready: no request has passed through it

    def rank_record(self) -> dict[str, list[int]]:
        return {str(rank): [proc.pid, proc.start] for rank, proc in sorted(self.ranks.items())}

    def raise_if_dead(self, *, stub_grace: float = POLL_S) -> None:
        """RankDied when a rank's process is gone or the child exited, naming the rank and how;
        StubDied when a Python stub died and its rank is still running `stub_grace` seconds later."""
        dead = [
            (rank, p) for rank, p in sorted(self.ranks.items()) if not procs.is_same_process(p.pid, p.start)
        ]
        code = self.process.poll()
        if not dead and code is None:
            self._raise_if_stub_died(stub_grace)
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

    def _raise_if_stub_died(self, grace: float) -> None:
        """StubDied when a Python-backend stub is gone while its rank still runs."""
        gone = [
            stub for stub in self.stubs.values() if not procs.is_same_process(stub.proc.pid, stub.proc.start)
        ]
        if not gone:
            return
        # A rank that is exiting ends its stubs first: then the rank's exit is the news.
        deadline = time.monotonic() + grace
        while True:
            if self.process.poll() is not None or any(
                not procs.is_same_process(p.pid, p.start) for p in self.ranks.values()
            ):
                self.raise_if_dead()
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        stub = gone[0]
        tail = self.show_tail(stub.rank)
        raise StubDied(
            f"the Python backend stub of model '{stub.model}' (rank {stub.rank}, pid {stub.proc.pid}) died: "
            "tritonserver would fail every request to it",
            rank=stub.rank,
            model=stub.model,
            tail=tail,
        )

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
            procs.is_same_process(p.pid, p.start) for p in self.ranks.values()
        )


def _wait_until(done: Callable[[], bool], deadline: float, hurry: threading.Event) -> None:
    while not done() and time.monotonic() < deadline and not hurry.is_set():
        time.sleep(0.05)


_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded before any fork: the child only makes the call


def _die_with_parent() -> None:
    """In the child, between fork and exec: SIGTERM when the launcher dies, even by SIGKILL.

    mpirun forwards the SIGTERM to its ranks; what does not stop is the watchdog's (watchdog.py).
    The signal is tied to the thread that forked, which is the one that supervises and outlives it.
    """
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


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
