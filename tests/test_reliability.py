"""The reliability suite in its reduced (CI) sizes: real servers, real mpirun, real kill -9, fuzzing.

Each test runs one part of tests/reliability_support.py (see there, and docs/reliability.md, for what
is checked) and fails with the part's figures and first failures. TRITONGEN_RELIABILITY=full runs the
full sizes instead (tens of minutes); scripts/reliability.py runs the same parts and prints a table.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import reliability_support as rel
from launch_support import leftovers

pytestmark = [pytest.mark.reliability, pytest.mark.server]

SIZES = rel.sizes_for(rel.mode_from_env("quick"))
SEED = int(os.environ.get("TRITONGEN_RELIABILITY_SEED", "0"))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rel.ServingStack]:
    """The real SmolLM2 stack (`tritongen render` + `tritongen launch`), shared by load and request fuzz."""
    with rel.serving_stack(tmp_path_factory.mktemp("reliability-stack")) as serving:
        yield serving
    assert leftovers(serving.repo) == [], "the SmolLM2 launch left processes behind"


def test_load_every_request_gets_exactly_one_complete_answer(stack: rel.ServingStack) -> None:
    result = rel.run_load(stack, requests=SIZES.load_requests, concurrency=SIZES.load_concurrency, seed=SEED,
                          mode=SIZES.mode)
    figures = result.figures
    assert result.ok, result.explain()
    assert figures["errors"] == figures["lost"] == figures["duplicated"] == figures["misrouted"] == 0
    assert figures["cancelled"] + figures["cancel_completed_first"] == figures["cancel_planned"] > 0
    assert figures["memory_growth_pct"] < rel.MEMORY_GROWTH_LIMIT_PCT


@pytest.mark.mpi
@pytest.mark.skipif(shutil.which("mpirun") is None, reason="needs Open MPI's mpirun")
def test_faults_kill_9_of_a_rank_ends_the_launch_with_nothing_left(tmp_path: Path) -> None:
    result = rel.run_faults(tmp_path, trials=SIZES.fault_trials, torch_trials=SIZES.fault_torch_trials, seed=SEED,
                            mode=SIZES.mode)
    assert result.ok, result.explain()
    assert result.figures["leftover_processes"] == 0
    assert result.figures["kill_to_exit_max_s"] <= rel.EXIT_WITHIN_S


def test_engine_fuzz_render_never_crashes_and_never_writes_partially(tmp_path: Path) -> None:
    result = rel.run_engine_fuzz(tmp_path, examples=SIZES.engine_examples, seed=SEED,
                                 subprocess_every=SIZES.engine_subprocess_every, mode=SIZES.mode)
    assert result.ok, result.explain()
    assert result.figures["tracebacks"] == result.figures["partial_writes"] == 0


def test_request_fuzz_the_server_survives_and_keeps_answering(stack: rel.ServingStack) -> None:
    result = rel.run_request_fuzz(stack, examples=SIZES.request_examples, seed=SEED, mode=SIZES.mode)
    assert result.ok, result.explain()
    assert result.figures["unexpected_5xx"] == result.figures["no_response"] == 0
    assert stack.server_alive() and stack.health_ready()
