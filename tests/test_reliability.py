"""The reliability suite in its reduced (CI) sizes: real servers, real mpirun, real kill -9, fuzzing.

Each test runs one part of `tritongen.testing.reliability` (see there, and docs/reliability.md, for what
is checked) and fails with the part's figures and first failures; the standalone parts run through
`run_standalone`, with the very arguments the suite gives them. TRITONGEN_RELIABILITY=full runs the
full sizes instead (tens of minutes); scripts/reliability.py runs the same parts and prints a table.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tritongen.testing import reliability as rel
from tritongen.testing.launch import leftovers

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
    result = rel.run_load(
        stack, requests=SIZES.load_requests, concurrency=SIZES.load_concurrency, seed=SEED, mode=SIZES.mode
    )
    figures = result.figures
    assert result.ok, result.explain()
    assert figures["errors"] == figures["lost"] == figures["duplicated"] == figures["misrouted"] == 0
    assert figures["cancelled"] + figures["cancel_completed_first"] == figures["cancel_planned"] > 0
    assert figures["memory_growth_pct"] < rel.MEMORY_GROWTH_LIMIT_PCT


@pytest.mark.mpi
@pytest.mark.skipif(shutil.which("mpirun") is None, reason="needs Open MPI's mpirun")
def test_faults_kill_9_of_a_rank_ends_the_launch_with_nothing_left(tmp_path: Path) -> None:
    result = rel.run_standalone("faults", SIZES, tmp_path, seed=SEED)
    assert result.ok, result.explain()
    assert result.figures["leftover_processes"] == 0
    assert result.figures["kill_to_exit_max_s"] <= rel.EXIT_WITHIN_S


def test_engine_fuzz_render_never_crashes_and_never_writes_partially(tmp_path: Path) -> None:
    result = rel.run_standalone("engine-fuzz", SIZES, tmp_path, seed=SEED)
    assert result.ok, result.explain()
    assert result.figures["tracebacks"] == result.figures["partial_writes"] == 0


def test_request_fuzz_the_server_survives_and_keeps_answering(stack: rel.ServingStack) -> None:
    result = rel.run_request_fuzz(stack, examples=SIZES.request_examples, seed=SEED, mode=SIZES.mode)
    assert result.ok, result.explain()
    assert result.figures["unexpected_5xx"] == result.figures["no_response"] == 0
    assert stack.server_alive() and stack.health_ready()


def test_stub_death_exits_7_naming_the_model_and_leaves_nothing(tmp_path: Path) -> None:
    result = rel.run_standalone("stub-death", SIZES, tmp_path, seed=SEED)
    figures = result.figures
    assert result.ok, result.explain()
    assert figures["exit_codes"] == {"7": result.trials} and figures["model_named_in_error"] == result.trials
    assert figures["victim_named_exactly"] >= SIZES.stub_trials  # at world size 1 no other stub dies with it
    assert figures["kill_to_exit_max_s"] <= rel.EXIT_WITHIN_S
    assert figures["kill_to_not_ready_max_s"] is not None  # readiness failed in every trial
    assert figures["leftover_processes"] == figures["shm_regions_left"] == 0


@pytest.mark.mpi
@pytest.mark.skipif(shutil.which("mpirun") is None, reason="needs Open MPI's mpirun")
def test_supervisor_death_takes_every_process_and_region_of_the_launch(tmp_path: Path) -> None:
    result = rel.run_standalone("supervisor-death", SIZES, tmp_path, seed=SEED)
    figures = result.figures
    assert result.ok, result.explain()
    assert figures["kill_to_gone_max_s"] <= rel.EXIT_WITHIN_S
    assert figures["leftover_processes"] == figures["shm_regions_left"] == 0
    assert figures["processes_killed_with_it"].get("mpirun", 0) >= SIZES.supervisor_mpi_trials


def test_hostile_paths_stay_data_in_the_slurm_script_and_the_lws_manifest(tmp_path: Path) -> None:
    result = rel.run_standalone("hostile-paths", SIZES, tmp_path, seed=SEED)
    figures = result.figures
    assert result.ok, result.explain()
    assert figures["injections"] == figures["wrong_argv"] == figures["syntax_errors"] == 0
    assert set(figures["world_sizes"]) == {"1", "2"} and figures["subprocess_runs"] > 0


def test_hostile_paths_catches_a_script_that_stops_quoting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The part can fail: with the cluster files' quoting switched off, the payload runs and is caught."""
    import types

    from tritongen.launch import cluster
    from tritongen.testing.engines import make_engine_dir, make_tokenizer_dir, modern_config
    from tritongen.testing.reliability import hostile_paths

    tokenizer = make_tokenizer_dir(tmp_path / "tokenizer")
    engines = {1: make_engine_dir(tmp_path / "engines", modern_config("0.19.0", tp=1), name="tp1")}
    case = {"components": ["repo $(tritongen_injected)"], "image": "img", "world_size": 1, "gpus_per_node": 1}
    assert hostile_paths.check_case(case, tmp_path / "quoted", engines, tokenizer, as_subprocess=False) == []

    naive = types.SimpleNamespace(join=" ".join, quote=lambda text: text)
    monkeypatch.setattr(cluster, "shlex", naive)
    problems = hostile_paths.check_case(case, tmp_path / "naive", engines, tokenizer, as_subprocess=False)
    assert any("ran an injected command" in problem for problem in problems), problems
    assert any("not the exact path" in problem for problem in problems), problems
