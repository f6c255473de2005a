"""All parts in one run: one serving stack shared by load and request-fuzz; every other part on its own.

A part that needs no shared stack is one entry of `STANDALONE`: its name (also in `report.PARTS`) and
a function of (sizes, its work directory, seed, progress) returning its `PartResult`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tritongen.testing.launch import leftovers
from tritongen.testing.reliability.engine_fuzz import run_engine_fuzz
from tritongen.testing.reliability.faults import run_faults
from tritongen.testing.reliability.hostile_paths import run_hostile_paths
from tritongen.testing.reliability.launch_faults import run_stub_death, run_supervisor_death
from tritongen.testing.reliability.load import run_load
from tritongen.testing.reliability.report import PARTS, PartResult, Sizes
from tritongen.testing.reliability.request_fuzz import run_request_fuzz
from tritongen.testing.reliability.serving_faults import Endpoints, prompt_ids, run_serving_faults
from tritongen.testing.reliability.stack import serving_stack

Progress = Callable[[str], None]
Runner = Callable[[Sizes, Path, int, Progress], PartResult]

STANDALONE: dict[str, Runner] = {
    "engine-fuzz": lambda sizes, work, seed, say: run_engine_fuzz(
        work,
        examples=sizes.engine_examples,
        seed=seed,
        subprocess_every=sizes.engine_subprocess_every,
        mode=sizes.mode,
        progress=say,
    ),
    "faults": lambda sizes, work, seed, say: run_faults(
        work,
        trials=sizes.fault_trials,
        torch_trials=sizes.fault_torch_trials,
        seed=seed,
        mode=sizes.mode,
        progress=say,
    ),
    "stub-death": lambda sizes, work, seed, say: run_stub_death(
        work,
        counts={"smollm2-ws1": sizes.stub_trials, "torch-tp2": sizes.stub_torch_trials},
        seed=seed,
        mode=sizes.mode,
        progress=say,
    ),
    "supervisor-death": lambda sizes, work, seed, say: run_supervisor_death(
        work,
        counts={
            "smollm2-ws1": sizes.supervisor_trials,
            "fixture-ws2": sizes.supervisor_mpi_trials,
            "torch-tp2": sizes.supervisor_torch_trials,
        },
        seed=seed,
        mode=sizes.mode,
        progress=say,
    ),
    "hostile-paths": lambda sizes, work, seed, say: run_hostile_paths(
        work,
        cases=sizes.hostile_cases,
        seed=seed,
        subprocess_every=sizes.hostile_subprocess_every,
        mode=sizes.mode,
        progress=say,
    ),
}


def run_standalone(
    part: str, sizes: Sizes, work: Path, *, seed: int = 0, progress: Progress | None = None
) -> PartResult:
    """One part of `STANDALONE` at `sizes`: the same arguments `run_parts` gives it, so a test of one part
    measures exactly what the suite's table reports."""
    return STANDALONE[part](sizes, work, seed, progress or (lambda _: None))


def run_parts(
    parts: Sequence[str],
    sizes: Sizes,
    work: Path,
    *,
    seed: int = 0,
    probe_known_crash: bool = False,
    progress: Progress | None = None,
    on_result: Callable[[PartResult], None] | None = None,
) -> tuple[list[PartResult], dict[str, Any]]:
    """Run the chosen parts (one serving stack shared by load and request-fuzz); (results, run facts)."""
    say = progress or (lambda _: None)
    results: list[PartResult] = []
    facts: dict[str, Any] = {}

    def done(result: PartResult) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    for name, runner in STANDALONE.items():
        if name in parts:
            done(runner(sizes, work / name, seed, say))
    if "load" in parts or "request-fuzz" in parts or "serving-faults" in parts:
        say("starting the SmolLM2 stack (tritongen render + tritongen launch)")
        with serving_stack(work / "stack", rng=random.Random(seed)) as stack:
            facts["stack"] = {
                "render": stack.render_command,
                "launch": stack.launch_command,
                "ready_s": round(stack.ready_s, 1),
                "http_port": stack.ports.http,
            }
            say(f"stack ready in {stack.ready_s:.1f} s on port {stack.ports.http}")
            if "load" in parts:
                done(
                    run_load(
                        stack,
                        requests=sizes.load_requests,
                        concurrency=sizes.load_concurrency,
                        seed=seed,
                        mode=sizes.mode,
                        progress=say,
                    )
                )
            if "request-fuzz" in parts:
                done(
                    run_request_fuzz(
                        stack,
                        examples=sizes.request_examples,
                        seed=seed,
                        mode=sizes.mode,
                        probe_known_crash=probe_known_crash,
                        progress=say,
                    )
                )
            if "serving-faults" in parts:
                done(
                    run_serving_faults(
                        Endpoints.on_ports(stack.ports.http, stack.ports.grpc, stack.ports.metrics),
                        prompt_ids(),
                        disconnect_clients=sizes.disconnect_clients,
                        hostile_seeds=sizes.hostile_seeds,
                        oversized_mb=sizes.oversized_mb,
                        mode=sizes.mode,
                        progress=say,
                    )
                )
        facts["stack"]["left_after_stop"] = leftovers(stack.repo)
    order = {name: i for i, name in enumerate(PARTS)}
    results.sort(key=lambda r: order.get(r.part, 99))
    return results, facts
