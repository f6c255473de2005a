"""Sizes of a run, what each part found (`PartResult`), and the table that shows it."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MODE_ENV = "TRITONGEN_RELIABILITY"
# The order of the table and of a run. A new part: a name here, its sizes in `Sizes`, a runner in
# suite.py's registry, and (optionally) its one-line summary in `key_figures`.
PARTS = (
    "load", "faults", "engine-fuzz", "request-fuzz", "serving-faults", "stub-death", "supervisor-death",
    "hostile-paths",
)  # fmt: skip
FAILURES_KEPT = 20


@dataclass(frozen=True)
class Sizes:
    """How much each part does."""

    mode: str
    load_requests: int
    load_concurrency: int
    fault_trials: int  # on the tiny launch fixture
    fault_torch_trials: int  # on a tiny random-weight checkpoint served by the real torch runtime at tp 2
    engine_examples: int
    request_examples: int
    engine_subprocess_every: int  # every Nth engine example runs `tritongen` as a subprocess
    stub_trials: int = 0  # kill -9 of a Python-backend stub, SmolLM2 at world size 1
    stub_torch_trials: int = 0  # the same on the torch runtime at tp 2 (mpirun)
    supervisor_trials: int = 0  # kill -9 of `tritongen launch`, SmolLM2 at world size 1
    supervisor_mpi_trials: int = 0  # the same on the tiny launch fixture at world size 2 (mpirun)
    supervisor_torch_trials: int = 0  # the same on the torch runtime at tp 2 (mpirun)
    hostile_cases: int = 0  # fuzzed repository paths through render --slurm --k8s
    hostile_subprocess_every: int = 10  # every Nth hostile case runs `tritongen` as a subprocess
    disconnect_clients: int = 2  # serving-faults: clients leaving at once, on each path
    hostile_seeds: int = 2  # serving-faults: seeded requests sharing the batch with the hostile ones
    oversized_mb: int = 4  # serving-faults: the over-long prompt


QUICK = Sizes(
    "quick",
    load_requests=200,
    load_concurrency=16,
    fault_trials=3,
    fault_torch_trials=1,
    engine_examples=100,
    request_examples=100,
    engine_subprocess_every=25,
    stub_trials=2,
    stub_torch_trials=0,
    supervisor_trials=1,
    supervisor_mpi_trials=1,
    supervisor_torch_trials=0,
    hostile_cases=50,
)
FULL = Sizes(
    "full",
    load_requests=2000,
    load_concurrency=32,
    fault_trials=20,
    fault_torch_trials=10,
    engine_examples=500,
    request_examples=500,
    engine_subprocess_every=25,
    stub_trials=10,
    stub_torch_trials=4,
    supervisor_trials=6,
    supervisor_mpi_trials=4,
    supervisor_torch_trials=4,
    hostile_cases=500,
    disconnect_clients=12,
    hostile_seeds=6,
    oversized_mb=20,
)


def sizes_for(mode: str) -> Sizes:
    if mode not in ("quick", "full"):
        raise ValueError(f"mode must be quick or full, not {mode!r}")
    return QUICK if mode == "quick" else FULL


def mode_from_env(default: str) -> str:
    """TRITONGEN_RELIABILITY=quick|full, else `default`."""
    value = os.environ.get(MODE_ENV, "").strip().lower()
    return value if value in ("quick", "full") else default


@dataclass
class PartResult:
    """What one part did and found."""

    part: str
    mode: str
    unit: str  # "requests", "trials", "examples"
    trials: int
    passed: int
    failed: int
    ok: bool
    duration_s: float
    figures: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # the first FAILURES_KEPT, each reproducible
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def explain(self) -> str:
        """The figures and the first failures, for an assertion message."""
        lines = [
            f"{self.part}: {self.passed}/{self.trials} {self.unit} passed, ok={self.ok}",
            f"figures: {json.dumps(self.figures, default=str)}",
        ]
        lines += [f"failure: {failure}" for failure in self.failures]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def start_part(work: Path, progress: Callable[[str], None] | None) -> tuple[Callable[[str], None], float]:
    """A standalone part's start: its progress line (silent when none), its start time, its work directory.

    The parts that build their own cases share this, so their durations are measured from the same point.
    """
    work.mkdir(parents=True, exist_ok=True)
    return progress or (lambda _: None), time.monotonic()


def keep_failure(failures: list[str], text: str) -> None:
    if len(failures) < FAILURES_KEPT:
        failures.append(text)


def key_figures(result: PartResult) -> str:
    """The one-line summary of a part's figures, as the table shows it."""
    f = result.figures
    if result.part == "load":
        return (
            f"errors {f.get('errors')}, lost {f.get('lost')}, duplicated {f.get('duplicated')}, "
            f"misrouted {f.get('misrouted')}, incomplete {f.get('incomplete')}, "
            f"cancelled {f.get('cancelled')}/{f.get('cancel_planned')}, "
            f"crossed {f.get('crossed')}, diverged {f.get('text_diverged')}, "
            f"memory growth {_pct(f.get('memory_growth_pct'))}, "
            f"{_num(f.get('requests_per_s'))} req/s"
        )
    if result.part == "faults":
        return (
            f"targets {f.get('targets')}, kill->exit median {_num(f.get('kill_to_exit_median_s'))} s, "
            f"max {_num(f.get('kill_to_exit_max_s'))} s, exit codes {f.get('exit_codes')}, "
            f"leftover processes {f.get('leftover_processes')}, "
            f"requests served during trials {f.get('requests_served')}"
        )
    if result.part == "engine-fuzz":
        return (
            f"exit codes {f.get('exit_codes')}, tracebacks {f.get('tracebacks')}, "
            f"undocumented codes {f.get('undocumented_codes')}, partial writes {f.get('partial_writes')}, "
            f"temp dirs left {f.get('temporary_dirs_left')}, subprocess runs {f.get('subprocess_runs')}"
        )
    if result.part == "request-fuzz":
        return (
            f"HTTP {f.get('status_codes')}, 5xx known front-end parse {f.get('known_5xx_total')} "
            f"{f.get('known_5xx_by_kind')}, 5xx other {f.get('unexpected_5xx')}, "
            f"no response {f.get('no_response')}, health checks {f.get('health_checks_passed')}/"
            f"{f.get('health_checks')}, server alive {f.get('server_alive_at_end')}"
        )
    if result.part == "serving-faults":
        after = {
            k.removeprefix("after_disconnect_"): round(v) for k, v in f.items() if k.startswith("after_d")
        }
        return f"tokens generated after clients left: {after}"
    if result.part == "stub-death":
        return (
            f"targets {f.get('targets')}, models {f.get('models_killed')}, exit codes {f.get('exit_codes')}, "
            f"kill->exit median {_num(f.get('kill_to_exit_median_s'))} s, "
            f"max {_num(f.get('kill_to_exit_max_s'))} s, "
            f"kill->not ready median {_num(f.get('kill_to_not_ready_median_s'))} s, "
            f"max {_num(f.get('kill_to_not_ready_max_s'))} s, model named {f.get('model_named_in_error')} "
            f"(exact stub {f.get('victim_named_exactly')}), "
            f"leftover processes {f.get('leftover_processes')}, shm regions left {f.get('shm_regions_left')}"
        )
    if result.part == "supervisor-death":
        return (
            f"targets {f.get('targets')}, kill->all gone median {_num(f.get('kill_to_gone_median_s'))} s, "
            f"max {_num(f.get('kill_to_gone_max_s'))} s, leftover processes {f.get('leftover_processes')}, "
            f"shm regions left {f.get('shm_regions_left')}"
        )
    if result.part == "hostile-paths":
        return (
            f"world sizes {f.get('world_sizes')}, injections {f.get('injections')}, "
            f"wrong argv {f.get('wrong_argv')}, bash -n errors {f.get('syntax_errors')}, "
            f"YAML errors {f.get('yaml_errors')}, render failures {f.get('render_failures')}, "
            f"subprocess runs {f.get('subprocess_runs')}"
        )
    return json.dumps(f, default=str)


def _num(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, (int, float)) else "-"


def _pct(value: object) -> str:
    return f"{value:+.1f}%" if isinstance(value, (int, float)) else "-"


def format_table(results: Sequence[PartResult]) -> str:
    """One row per part: part, mode, trials, passed, failed, verdict, key figures (wrapped)."""
    header = ("part", "mode", "trials", "passed", "failed", "verdict", "time", "key figures")
    rows = [
        (
            r.part,
            r.mode,
            f"{r.trials} {r.unit}",
            str(r.passed),
            str(r.failed),
            "PASS" if r.ok else "FAIL",
            f"{r.duration_s:.0f} s",
            key_figures(r),
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header) - 1)]
    lines = []
    for row in (header, *rows):
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)
