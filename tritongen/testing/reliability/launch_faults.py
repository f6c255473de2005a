"""Parts stub-death and supervisor-death: kill -9 of a Python-backend stub, and of `tritongen launch` itself.

stub-death: a `triton_python_backend_stub` that dies leaves tritonserver up and "ready" while every
request to its model fails; the launcher must notice, tear the launch down, exit 7 naming the model,
make readiness fail, and leave no process and no `/dev/shm` region behind.

supervisor-death: nothing runs in a process killed by SIGKILL, so the launcher's own teardown cannot
run; the parent-death signal and the watchdog (`tritongen/launch/watchdog.py`) must end every process
of the launch (tritonserver, stubs, mpirun/prted) and remove its shared memory.

Targets: `smollm2-ws1` (the real SmolLM2 stack at world size 1, tritonserver run directly),
`fixture-ws2` (the tiny launch fixture at world size 2 under mpirun) and `torch-tp2` (a tiny
random-weight checkpoint on the real torch runtime at tp 2 under mpirun, as in the faults part).
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tritongen.launch import procs
from tritongen.launch.shm import SHM
from tritongen.testing.launch import Launch, leftovers, make_repo
from tritongen.testing.reliability.faults import EXIT_WITHIN_S, TorchTp2Repos, launch_members
from tritongen.testing.reliability.machine import alive_of, kill_processes, reliability_ports
from tritongen.testing.reliability.report import PartResult, keep_failure
from tritongen.testing.reliability.stack import cli_env, render_smollm2

STUB_NAME = "triton_python_backend_stub"
GONE_WAIT_S = EXIT_WITHIN_S + 5  # how long supervisor-death waits for the launch to go, before it counts
READY_TIMEOUT_S = 300
START_ATTEMPTS = 3  # a launch that fails before the kill (an overloaded machine) is started again, and noted


@dataclass(frozen=True)
class StubInfo:
    """One running Python-backend stub: which model, which rank, its /dev/shm region."""

    pid: int
    model: str
    rank: int
    region: str


def launch_stubs(repo: Path) -> list[StubInfo]:
    """The Python-backend stubs of the launch serving `repo` (their model.py lies in it)."""
    found = []
    for pid in leftovers(repo):
        argv = procs.cmdline(pid) or []
        if len(argv) > 2 and argv[0].endswith(STUB_NAME):
            model = Path(argv[1]).parent.parent.name
            found.append(StubInfo(pid, model, procs.mpi_rank(pid) or 0, argv[2]))
    return sorted(found, key=lambda s: (s.rank, s.model, s.pid))


def regions_left(regions: set[str]) -> list[str]:
    return sorted(name for name in regions if (SHM / name).exists())


class Targets:
    """Makes the repository of each target once (the SmolLM2 render, the tp 2 render) and reuses it:
    trials run one after another, so "a process naming the repository" is still this trial's."""

    def __init__(self, work: Path, names: set[str], say: Callable[[str], None]) -> None:
        self.work = work
        self._repos: dict[str, Path] = {}
        if "smollm2-ws1" in names:
            say("rendering SmolLM2 (world size 1)")
            repo = work / "smollm2-ws1"
            render_smollm2(repo)
            self._repos["smollm2-ws1"] = repo
        if "torch-tp2" in names:
            say("building a tiny random-weight checkpoint and rendering it with --tp 2")
            self._repos["torch-tp2"] = TorchTp2Repos(work)(work)

    def repo(self, target: str, directory: Path) -> Path:
        if target == "fixture-ws2":
            return make_repo(directory, 2)
        return self._repos[target]


def plan_trials(rng: random.Random, counts: dict[str, int]) -> list[str]:
    """Targets in a random order (the same for a seed)."""
    plan = [target for target, count in counts.items() for _ in range(count)]
    rng.shuffle(plan)
    return plan


def _start(repo: Path, directory: Path, rng: random.Random) -> Launch:
    try:
        return Launch.start(repo, cli_env(), directory / "launch.log", ports=reliability_ports(rng))
    except BaseException:
        kill_processes(leftovers(repo))
        raise


class ReadinessWatch:
    """Polls /v2/health/ready from the moment of the kill; the seconds until it first is not 200."""

    def __init__(self, http_port: int) -> None:
        self.url = f"http://127.0.0.1:{http_port}/v2/health/ready"
        self.started = 0.0
        self.not_ready_after_s: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.started = time.monotonic()
        self._thread.start()

    def _run(self) -> None:
        import requests

        while not self._stop.is_set():
            try:
                ready = requests.get(self.url, timeout=1).status_code == 200
            except requests.RequestException:
                ready = False
            if not ready:
                self.not_ready_after_s = time.monotonic() - self.started
                return
            self._stop.wait(0.05)

    def finish(self, timeout_s: float = 5) -> float | None:
        self._thread.join(timeout=timeout_s)
        self._stop.set()
        return self.not_ready_after_s


Kill = Callable[[Launch, Path, dict[str, Any], random.Random], None]


def _kill_trial(
    index: int, target: str, work: Path, targets: Targets, rng: random.Random, kill: Kill
) -> dict[str, Any]:
    """Launch, wait until ready, then `kill` (which measures and sets "passed" in the record).

    Both kill parts start, fail and clean up a trial the same way; only what is killed and measured differs.
    A trial that fails while still starting keeps phase "start", so `_run_trials` starts it again.
    """
    directory = work / f"trial{index}"
    directory = directory if not directory.exists() else _next_attempt(directory)
    directory.mkdir(parents=True)
    repo = targets.repo(target, directory)
    record: dict[str, Any] = {"trial": index, "target": target}
    launch = _start(repo, directory, rng)
    try:
        record["phase"] = "start"
        record["ready_s"] = round(launch.wait_ready(timeout=READY_TIMEOUT_S), 2)
        record["phase"] = "kill"
        kill(launch, repo, record, rng)
    except Exception as error:  # noqa: BLE001 (a trial that could not run is a failed trial, with its reason)
        record.update({"passed": False, "error": f"{type(error).__name__}: {error}"})
    finally:
        launch.kill()
        kill_processes(leftovers(repo))
    if not record["passed"]:
        record["log_tail"] = launch.output()[-2000:]
    return record


def _kill_a_stub(launch: Launch, repo: Path, record: dict[str, Any], rng: random.Random) -> None:
    """kill -9 a random stub; how the launch answered: exit 7 in time, the model named, nothing left."""
    stubs = launch_stubs(repo)
    victim = rng.choice(stubs)
    regions = {stub.region for stub in stubs}
    snapshot = launch_members(launch.process.pid, repo)
    watch = ReadinessWatch(launch.ports.http)
    watch.start()
    killed_at = time.monotonic()
    os.kill(victim.pid, signal.SIGKILL)
    try:
        code: int | None = launch.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        code = None
    seconds = time.monotonic() - killed_at
    not_ready = watch.finish()
    left = {str(p.pid): p.name for p in alive_of(snapshot)}
    left.update((str(pid), "names the repository") for pid in leftovers(repo))
    shm_left = regions_left(regions)
    # The error must name the model. At tp > 1 a dead tensorrt_llm stub makes its peer rank's stub
    # exit too, and the launcher may report that one: same model, other rank and pid, counted apart.
    error = next((line for line in launch.output().splitlines() if line.startswith("error: ")), "")
    named = f"the Python backend stub of model '{victim.model}' ("
    exact = f"the Python backend stub of model '{victim.model}' (rank {victim.rank}, pid {victim.pid}) died"
    record.update(
        {
            "model": victim.model,
            "rank": victim.rank,
            "stubs": len(stubs),
            "exit_code": code,
            "kill_to_exit_s": round(seconds, 3),
            "kill_to_not_ready_s": round(not_ready, 3) if not_ready is not None else None,
            "model_named": named in error,
            "victim_named_exactly": exact in error,
            "error_line": error[:300],
            "processes_before_kill": len(snapshot),
            "leftovers": left,
            "shm_regions": len(regions),
            "shm_left": shm_left,
        }
    )
    record["passed"] = (
        code == 7
        and seconds <= EXIT_WITHIN_S
        and record["model_named"]
        and not_ready is not None
        and not left
        and not shm_left
    )


def _kill_the_supervisor(launch: Launch, repo: Path, record: dict[str, Any], _rng: random.Random) -> None:
    """kill -9 `tritongen launch`; how long until none of its processes or shm regions is left."""
    regions = {stub.region for stub in launch_stubs(repo)}
    snapshot = [p for p in launch_members(launch.process.pid, repo) if p.pid != launch.process.pid]
    killed_at = time.monotonic()
    launch.process.kill()
    launch.process.wait()

    def remaining() -> tuple[list[procs.Proc], list[int], list[str]]:
        return alive_of(snapshot), leftovers(repo), regions_left(regions)

    alive, named, shm_left = remaining()
    while (alive or named or shm_left) and time.monotonic() - killed_at < GONE_WAIT_S:
        time.sleep(0.05)
        alive, named, shm_left = remaining()
    seconds = time.monotonic() - killed_at
    left = {str(p.pid): p.name for p in alive}
    left.update((str(pid), "names the repository") for pid in named)
    record.update(
        {
            "kill_to_gone_s": round(seconds, 3),
            "processes_before_kill": dict(Counter(p.name for p in snapshot)),
            "leftovers": left,
            "shm_regions": len(regions),
            "shm_left": shm_left,
        }
    )
    record["passed"] = seconds <= EXIT_WITHIN_S and not left and not shm_left


def _next_attempt(directory: Path) -> Path:
    attempt = 2
    while directory.with_name(f"{directory.name}-{attempt}").exists():
        attempt += 1
    return directory.with_name(f"{directory.name}-{attempt}")


def _median_max(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return round(statistics.median(values), 3), round(max(values), 3)


def _run_trials(
    part: str,
    work: Path,
    counts: dict[str, int],
    seed: int,
    say: Callable[[str], None],
    kill: Kill,
    describe: Callable[[dict[str, Any]], str],
) -> tuple[list[dict[str, Any]], list[str], list[str], float]:
    started = time.monotonic()
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    plan = plan_trials(rng, counts)
    targets = Targets(work, set(plan), lambda text: say(f"{part}: {text}"))
    records: list[dict[str, Any]] = []
    failures: list[str] = []
    notes: list[str] = []
    for index, target in enumerate(plan):
        for _ in range(START_ATTEMPTS):
            record = _kill_trial(index, target, work, targets, rng, kill)
            if record["passed"] or record.get("phase") != "start":
                break
            # The launch failed before anything was killed: not what this part measures, but reported.
            tail = record.get("log_tail", "")[-300:].replace("\n", " | ")
            notes.append(
                f"trial {index} ({target}): the launch failed before the kill, started again: {tail}"
            )
            say(f"{part}: trial {index + 1} ({target}): the launch failed before the kill; starting it again")
        record["start_failures"] = sum(note.startswith(f"trial {index} (") for note in notes)
        records.append(record)
        verdict = "ok" if record["passed"] else "FAIL"
        say(f"{part}: trial {index + 1}/{len(plan)} ({target}): {describe(record)} -> {verdict}")
        if not record["passed"]:
            tail = record.get("log_tail", "")[-600:].replace("\n", " | ")
            error = f", {record['error']}" if "error" in record else ""
            keep_failure(failures, f"trial {index} ({target}): {describe(record)}{error}; log: {tail}")
    return records, failures, notes, time.monotonic() - started


Records = list[dict[str, Any]]


def _kill_part(
    part: str,
    work: Path,
    counts: dict[str, int],
    seed: int,
    mode: str,
    progress: Callable[[str], None] | None,
    kill: Kill,
    describe: Callable[[dict[str, Any]], str],
    figures_of: Callable[[Records], dict[str, Any]],
) -> PartResult:
    """A kill-trials part: its trials, then its own figures (`figures_of`) framed by the ones both report.

    Both kill parts count passes, leftovers and start failures the same way; one place keeps their
    reports comparable (same keys, same order) when a figure is added.
    """
    say = progress or (lambda _: None)
    records, failures, notes, seconds = _run_trials(part, work, counts, seed, say, kill, describe)
    passed = sum(r["passed"] for r in records)
    figures = {
        "trials": len(records),
        "targets": dict(Counter(r["target"] for r in records)),
        **figures_of(records),
        "leftover_processes": sum(len(r.get("leftovers", {})) for r in records),
        "shm_regions_left": sum(len(r.get("shm_left", [])) for r in records),
        "launches_failed_before_kill": len(notes),
        "trials_detail": [{k: v for k, v in r.items() if k != "log_tail"} for r in records],
    }
    return PartResult(
        part,
        mode,
        "trials",
        len(records),
        passed,
        len(records) - passed,
        ok=passed == len(records),
        duration_s=seconds,
        figures=figures,
        failures=failures,
        notes=notes,
    )


def _describe_stub_death(r: dict[str, Any]) -> str:
    return (
        f"stub {r.get('model')} of rank {r.get('rank')} killed: exit {r.get('exit_code')} in "
        f"{r.get('kill_to_exit_s')} s, not ready after {r.get('kill_to_not_ready_s')} s, "
        f"model named {r.get('model_named')}, {len(r.get('leftovers', {}))} left, "
        f"{len(r.get('shm_left', []))} shm left"
    )


def _stub_death_figures(records: Records) -> dict[str, Any]:
    exits = [r["kill_to_exit_s"] for r in records if "kill_to_exit_s" in r]
    not_ready = [r["kill_to_not_ready_s"] for r in records if r.get("kill_to_not_ready_s") is not None]
    exit_median, exit_max = _median_max(exits)
    ready_median, ready_max = _median_max(not_ready)
    return {
        "models_killed": dict(Counter(str(r.get("model")) for r in records)),
        "exit_codes": dict(Counter(str(r.get("exit_code")) for r in records)),
        "kill_to_exit_median_s": exit_median,
        "kill_to_exit_max_s": exit_max,
        "exit_within_s": EXIT_WITHIN_S,
        "kill_to_not_ready_median_s": ready_median,
        "kill_to_not_ready_max_s": ready_max,
        "model_named_in_error": sum(bool(r.get("model_named")) for r in records),
        "victim_named_exactly": sum(bool(r.get("victim_named_exactly")) for r in records),
    }


def run_stub_death(
    work: Path,
    *,
    counts: dict[str, int],
    seed: int = 0,
    mode: str = "quick",
    progress: Callable[[str], None] | None = None,
) -> PartResult:
    """kill -9 of a random Python-backend stub; `counts`: trials per target."""
    return _kill_part(
        "stub-death",
        work,
        counts,
        seed,
        mode,
        progress,
        _kill_a_stub,
        _describe_stub_death,
        _stub_death_figures,
    )


def _describe_supervisor_death(r: dict[str, Any]) -> str:
    return (
        f"launcher killed: its launch gone after {r.get('kill_to_gone_s')} s, "
        f"{len(r.get('leftovers', {}))} left, {len(r.get('shm_left', []))} shm left"
    )


def _supervisor_death_figures(records: Records) -> dict[str, Any]:
    gone_median, gone_max = _median_max([r["kill_to_gone_s"] for r in records if "kill_to_gone_s" in r])
    kinds: Counter[str] = Counter()
    for r in records:
        kinds.update(r.get("processes_before_kill", {}))
    return {
        "kill_to_gone_median_s": gone_median,
        "kill_to_gone_max_s": gone_max,
        "gone_within_s": EXIT_WITHIN_S,
        "processes_killed_with_it": dict(kinds),
    }


def run_supervisor_death(
    work: Path,
    *,
    counts: dict[str, int],
    seed: int = 0,
    mode: str = "quick",
    progress: Callable[[str], None] | None = None,
) -> PartResult:
    """kill -9 of `tritongen launch` itself; `counts`: trials per target."""
    return _kill_part(
        "supervisor-death",
        work,
        counts,
        seed,
        mode,
        progress,
        _kill_the_supervisor,
        _describe_supervisor_death,
        _supervisor_death_figures,
    )
