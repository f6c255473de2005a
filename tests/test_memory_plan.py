"""`tritongen plan`: the KV-cache plan against real runtime logs, every corpus engine, every golden
repository, checkpoints, llmapi repositories, the recommendation, the preflight and the CLI's edges.

The real-log cases live in tests/data/kv_cache_logs.json with their sources: given the memory the
runtime logged as available (two decimals of GiB), the plan must predict the blocks it logged.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tritongen.errors import EngineError, UsageError
from tritongen.memory import (
    GpuMemory,
    describe,
    gpu_memory,
    kv_cache_line,
    load_target,
    parse_size,
    plan_model,
    plan_target,
    preflight,
    to_json,
)
from tritongen.memory.gpu import nvml_total_memory
from tritongen.memory.model import ModelMemory
from tritongen.memory.runtime import (
    blocks_for,
    bytes_per_token,
    float32,
    kv_heads_per_rank,
    layers_per_stage,
    max_tokens,
)
from tritongen.memory.settings import KvSettings
from tritongen.memory.units import GIB
from tritongen.render.pipeline import render_engine
from tritongen.testing.engines import (
    CORPUS_ENGINES,
    corpus_engine_dir,
    make_engine_dir,
    modern_config,
    set_key,
)
from tritongen.testing.render_cases import GOLDEN_CASES, make_checkpoint_dir, render_case, tokenizer_dir

LOGS = json.loads((Path(__file__).parent / "data" / "kv_cache_logs.json").read_text(encoding="utf-8"))
HALF_CENT_GIB = 0.005 * GIB  # the log prints GiB with two decimals


def geometry_model(case: dict[str, Any], *, max_seq_len: int = 2048) -> ModelMemory:
    """A model with exactly the geometry a log case states (or infers), for `plan_model`."""
    heads = kv_heads_per_rank(case["kv_heads"], case["tp"])
    stages = layers_per_stage(case["layers"], case.get("pp", 1))
    return ModelMemory(
        architecture=case["id"],
        dtype="float16",
        kv_dtype=case["kv_dtype"],
        tp_size=case["tp"],
        pp_size=case.get("pp", 1),
        cp_size=1,
        stage_kv_heads=tuple((heads,) * n for n in stages),
        head_size=case["head_size"],
        tokens_per_block=case.get("tokens_per_block", 64),
        max_batch_size=8,
        max_seq_len=max_seq_len,
        max_beam_width=1,
        max_num_tokens=8192,
        hidden_size=4096,
        vocab_size=32000,
        stage_weights=(0,) * len(stages),
        weights_measured=True,
        trtllm_version=case.get("trtllm_version") or "",
        num_layers=case["layers"],
        num_kv_heads=case["kv_heads"],
    )


def render(engine: Path, output: Path, *sets: str, **options: Any) -> Path:
    """`tritongen render --engine ENGINE --output OUTPUT --set ...` with the tests' small tokenizer."""
    return render_engine(
        engine, output=output, tokenizer=tokenizer_dir(output.parent), sets=sets, **options
    ).output


def blocks_at(case: dict[str, Any], available: float) -> int:
    settings = KvSettings(runtime="trtllm", fraction=case["fraction"])
    return plan_model(geometry_model(case), settings, GpuMemory("log", available=int(available))).blocks


# -- real logs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", LOGS["cases"], ids=[c["id"] for c in LOGS["cases"]])
def test_real_log_blocks(case: dict[str, Any]) -> None:
    """Given the logged 'available', the predicted blocks are the logged ones (within the log's rounding)."""
    log = case["log"]
    logged = log["blocks"] if log["blocks"] is not None else log["tokens"] // case["tokens_per_block"]
    assert log["tokens"] is None or log["tokens"] == logged * case["tokens_per_block"]
    available = log["available_gib"] * GIB
    low, high = blocks_at(case, available - HALF_CENT_GIB), blocks_at(case, available + HALF_CENT_GIB)
    assert low <= logged <= high, f"{case['id']}: predicted {low}..{high} blocks, the log says {logged}"
    assert high - low <= max(3, logged // 1000)  # the rounding alone, not a loose formula, makes the range


@pytest.mark.parametrize(
    "case", [c for c in LOGS["cases"] if c["log"]["allocated_gib"] is not None], ids=lambda c: c["id"]
)
def test_real_log_bytes_per_token(case: dict[str, Any]) -> None:
    """'Allocated G GiB ... (N)': G / N is the planned bytes per token (G to two decimals)."""
    log = case["log"]
    tokens = log["tokens"] or log["blocks"] * case["tokens_per_block"]
    plan = plan_model(
        geometry_model(case),
        KvSettings(runtime="trtllm", fraction=case["fraction"]),
        GpuMemory("log", available=int(log["available_gib"] * GIB)),
    )
    low, high = ((log["allocated_gib"] + d) * GIB / tokens for d in (-0.005, 0.005))
    assert low <= plan.bytes_per_token <= high


@pytest.mark.parametrize("case", LOGS["bytes_per_token_cases"], ids=lambda c: c["id"])
def test_real_log_allocated_bytes(case: dict[str, Any]) -> None:
    """Older logs print the exact bytes: they equal tokens x the planned bytes per token."""
    per_token = bytes_per_token(
        case["layers"], kv_heads_per_rank(case["kv_heads"], case["tp"]), case["head_size"], 2
    )
    for line in case["log"]:
        assert line["allocated_bytes"] == line["tokens"] * per_token, line["line"]


def test_real_log_sources_are_listed() -> None:
    cases = LOGS["cases"] + LOGS["bytes_per_token_cases"]
    assert len(LOGS["cases"]) >= 5
    for case in cases:
        assert case["source"] and case["model"], case["id"]


def test_real_log_through_a_corpus_engine(tmp_path: Path) -> None:
    """The Qwen2.5-0.5B log, planned from the corpus engine of the same model (24 x 2 KV heads x 64, bf16)."""
    case = next(c for c in LOGS["cases"] if c["id"] == "qwen2.5-0.5b-l4")
    target = load_target(corpus_engine_dir("qwen2.5-0.5b-sparktts-bf16-tp1-v0.17.0.post1", tmp_path))
    plan = plan_target(
        target,
        gpu_memory(
            free_memory=parse_size(f"{case['log']['available_gib']}GiB"), gpu_memory=None, world_size=1
        ),
        fraction=case["fraction"],
    )
    assert plan.bytes_per_token == 12288
    assert abs(plan.capacity - case["log"]["tokens"]) <= 3 * plan.tokens_per_block


def test_grps_log_is_a_case_that_does_not_fit() -> None:
    """The small-GPU log: 82 blocks; the runtime shrank the window to 5,185 tokens, so 8,192 did not fit."""
    case = next(c for c in LOGS["cases"] if c["id"].startswith("grps"))
    model = geometry_model(case, max_seq_len=8192)
    plan = plan_model(
        model, KvSettings(runtime="trtllm", fraction=0.9), GpuMemory("log", available=int(1.42 * GIB))
    )
    assert (plan.blocks, plan.full_sequences, plan.fits) == (82, 0, False)
    assert plan.recommendation is not None
    # the runtime shrank the window to 5,185 (81 blocks of 64, plus one token): the plan suggests as much
    assert "lower max_seq_len to 5,100" in plan.recommendation.text


# -- the runtime's arithmetic -----------------------------------------------------------------------


def test_fraction_is_a_cpp_float() -> None:
    assert float32(0.9) == 0.8999999761581421  # what the runtime logs as "0.8999999761581421"
    available = 80 * GIB
    assert max_tokens(available, 1, fraction=0.9).max_tokens == int(
        float32(float32(available) * float32(0.9))
    )


def test_kv_heads_clamp_and_pipeline_split() -> None:
    assert kv_heads_per_rank(8, 4) == 2
    assert kv_heads_per_rank(1, 8) == 1  # MQA at tp 8: every rank keeps the one KV head
    assert kv_heads_per_rank(8, 2, 2) == 2  # cp divides the heads too
    assert layers_per_stage(33, 4) == (9, 8, 8, 8)  # the first num_layers % pp stages get one more


def test_cap_lowers_the_memory_figure_and_older_runtimes_let_it_replace_it() -> None:
    modern = max_tokens(10 * GIB, 1024, fraction=0.5, cap=1000)
    assert (modern.max_tokens, modern.limited_by) == (1000, "max_tokens_in_paged_kv_cache")
    assert max_tokens(GIB, 1024, fraction=0.5, cap=10**9).limited_by == "memory"
    # 0.7-0.16: a cap without a fraction replaces the memory figure, even when it is larger
    legacy = max_tokens(GIB, 1024, fraction=0.9, cap=10**7, legacy=True, fraction_set=False)
    assert legacy.max_tokens == 10**7
    assert max_tokens(GIB, 1024, fraction=0.9, cap=10**7, legacy=True).limited_by == "memory"


def test_pipeline_stages_take_the_minimum(tmp_path: Path) -> None:
    """5 layers over pp 2: stage 0 holds 3, stage 1 holds 2; every rank gets stage 0's (smaller) count."""
    config = modern_config(
        "0.19.0", tp=2, pp=2, num_layers=5, num_heads=8, num_kv_heads=4, hidden_size=512, tokens_per_block=32
    )
    target = load_target(make_engine_dir(tmp_path, config))
    plan = plan_target(target, GpuMemory("--free-memory", available=GIB))
    stage0, stage1 = plan.ranks
    assert (stage0.layers, stage1.layers) == (3, 2)
    assert stage0.ranks == (0, 1) and stage1.ranks == (2, 3)
    assert stage0.bytes_per_token == 3 * 2 * 2 * 64 * 2  # 2 KV heads per rank (4 / tp 2), head size 64, bf16
    assert plan.blocks == stage0.blocks < stage1.blocks
    assert plan.blocks == blocks_for(int(float32(float32(GIB) * float32(0.9))) // stage0.bytes_per_token, 32)


# -- every corpus engine ------------------------------------------------------------------------------

# (bytes per token per rank, tokens per block, blocks, tokens per sequence, full-length sequences)
# with 40 GiB available on every GPU, the repository-less default fraction (0.85 before backend 0.8).
CORPUS_AT_40_GIB = {
    "llama2-7b-tp4-v0.5": (131072, 64, 4352, 2560, 108),
    "llama2-70b-tp2-int8wo-int8kv-v0.5": (81920, 128, 3482, 4216, 105),
    "llama2-70b-tp4-fp16-v0.5": (81920, 128, 3482, 4216, 105),
    "tabnine-starfish-gpt-beam2-v0.7": (327680, 128, 871, 2048, 27),
    "tabnine-starfish-gpt-genlogits-v0.7": (327680, 128, 871, 420, 217),
    "tabnine-starfish-gpt-beam2-v0.8dev": (327680, 128, 922, 2048, 28),
    "tabnine-starfish-gpt-genlogits-v0.8dev": (327680, 128, 922, 1620, 70),
    "starchat-15b-gpt-mqa-v0.8dev": (20480, 128, 14746, 8500, 220),
    "mistral-7b-bf16-tp1-v0.8dev": (131072, 128, 2304, 33280, 8),
    "mistral-7b-fp16-tp1-b64-v0.8dev": (131072, 128, 2304, 16024, 18),
    "llama2-7b-fp16-tp1-a6000-v0.13.0": (524288, 64, 1152, 4096, 18),
    "vicuna-7b-medusa-tp1-v0.13dev": (524288, 64, 1152, 2111, 34),
    "qwen2.5-0.5b-sparktts-bf16-tp1-v0.17.0.post1": (12288, 64, 49152, 32768, 96),
    "smollm-135m-llama-beam5-v1.2.0rc6": (23040, 32, 52429, 138, 2097),
    "smollm-135m-llama-fp16-beam5-v1.2.0rc6": (23040, 32, 52429, 138, 2097),
}


def test_every_corpus_engine_has_golden_figures() -> None:
    assert sorted(CORPUS_AT_40_GIB) == sorted(CORPUS_ENGINES)


@pytest.mark.parametrize("name", CORPUS_ENGINES)
def test_corpus_engine_plan(name: str, tmp_path: Path) -> None:
    target = load_target(corpus_engine_dir(name, tmp_path))
    plan = plan_target(target, GpuMemory("--free-memory", available=40 * GIB))
    figures = (
        plan.bytes_per_token,
        plan.tokens_per_block,
        plan.blocks,
        plan.sequence_tokens,
        plan.full_sequences,
    )
    assert figures == CORPUS_AT_40_GIB[name]
    assert plan.fits and plan.recommendation is None and plan.exact
    kv = to_json(plan)["kv_cache"]
    assert (kv["bytes_per_token"], kv["tokens_per_block"], kv["blocks"]) == figures[:3]
    assert kv["max_tokens"] == plan.blocks * plan.tokens_per_block


def test_int8_kv_cache_is_one_byte_whatever_the_weights(tmp_path: Path) -> None:
    """llama2-70b W8A16 + INT8 KV at tp 2: 80 layers x 2 x 4 KV heads x 128 x 1 byte."""
    target = load_target(corpus_engine_dir("llama2-70b-tp2-int8wo-int8kv-v0.5", tmp_path))
    assert target.model.kv_dtype == "int8"
    assert target.model.stage_kv_heads[0][0] * 80 * 2 * 128 == 81920


def test_total_memory_is_an_estimate_that_subtracts_the_weights(tmp_path: Path) -> None:
    target = load_target(corpus_engine_dir("mistral-7b-bf16-tp1-v0.8dev", tmp_path))
    plan = plan_target(target, GpuMemory("--gpu-memory", total=80 * GIB))
    rank = plan.ranks[0]
    assert not plan.exact and not target.model.weights_measured  # stand-in rank files: estimated weights
    assert 13 * GIB < rank.weights < 15 * GIB  # Mistral-7B in bf16 is about 14.5 GB
    assert rank.available == 80 * GIB - rank.weights - rank.reserve
    assert any(note.startswith("estimate") for note in plan.notes)
    assert "estimate" in describe(plan, "mistral")


def test_real_rank_files_are_the_weights(tmp_path: Path) -> None:
    """Rank engine files of engine size count as the weights per GPU (measured, not estimated)."""
    config = modern_config("0.19.0", tp=2, num_layers=4)
    engine = make_engine_dir(tmp_path, config, rank_files=False)
    for rank, size in enumerate((40 << 20, 48 << 20)):
        with open(engine / f"rank{rank}.engine", "wb") as handle:
            handle.truncate(size)
    plan = plan_target(load_target(engine), GpuMemory("--gpu-memory", total=GIB))
    assert load_target(engine).model.weights_measured
    assert plan.ranks[0].weights == 48 << 20  # one stage: its largest rank


# -- golden repositories (their own parameters) ---------------------------------------------------------

# (runtime, effective fraction, bytes per token, tokens per block, blocks, full-length sequences) at 40 GiB
GOLDEN_AT_40_GIB = {
    "v0.5-llama2-7b-tp4": ("trtllm", 0.85, 131072, 64, 4352, 108),
    "v0.8-starfish-gpt-beam2": ("trtllm", 0.9, 327680, 128, 922, 28),
    "v0.8-vicuna-medusa-0.13": ("trtllm", 0.9, 524288, 64, 1152, 34),
    "latest-0.19-llama-tp2-pp2": ("trtllm", 0.9, 2048, 32, 589824, 49152),
    "latest-1.2-smollm-beam5": ("trtllm", 0.9, 23040, 32, 52429, 2097),
    "latest-1.0-qwen-overrides": (
        "trtllm",
        0.5,
        12288,
        64,
        27307,
        53,
    ),  # --set fraction 0.5 in the repository
    "torch-checkpoint-tp2": ("torch", 0.9, 256, 64, 128, 16),  # CPU: the torch runtime's 1 GiB budget
}


def test_every_golden_repository_has_golden_figures() -> None:
    assert sorted(GOLDEN_AT_40_GIB) == sorted(GOLDEN_CASES)


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_golden_repository_plan(case: str, tmp_path: Path) -> None:
    repo = render_case(case, tmp_path).output
    target = load_target(repo)
    memory = None if target.settings.runtime == "torch" else GpuMemory("--free-memory", available=40 * GIB)
    plan = plan_target(target, memory)
    runtime, fraction, *figures = GOLDEN_AT_40_GIB[case]
    assert (plan.runtime, plan.settings.effective_fraction) == (runtime, fraction)
    assert [plan.bytes_per_token, plan.tokens_per_block, plan.blocks, plan.full_sequences] == figures
    if runtime == "trtllm":  # tritongen writes the fraction out, so the repository is its source
        assert (
            plan.settings.source_of("fraction") == "tensorrt_llm/config.pbtxt kv_cache_free_gpu_mem_fraction"
        )


def test_repository_parameters_and_flags(tmp_path: Path) -> None:
    """A repository's max_tokens_in_paged_kv_cache caps the pool; --fraction overrides its fraction."""
    engine = corpus_engine_dir("llama2-7b-fp16-tp1-a6000-v0.13.0", tmp_path / "engines")
    repo = render(
        engine, tmp_path / "repo", "max_tokens_in_paged_kv_cache=8192", "kv_cache_free_gpu_mem_fraction=0.5"
    )
    target = load_target(repo)
    assert (target.settings.fraction, target.settings.max_tokens) == (0.5, 8192)
    plan = plan_target(target, GpuMemory("--free-memory", available=40 * GIB))
    assert (plan.blocks, plan.limiting.limited_by) == (128, "max_tokens_in_paged_kv_cache")
    wider = plan_target(
        target, GpuMemory("--free-memory", available=4 * GIB), fraction=0.25, max_tokens=10**6
    )
    assert wider.settings.source_of("fraction") == "--fraction"
    assert wider.blocks == math.ceil(int(float32(float32(4 * GIB) * float32(0.25))) // 524288 / 64)


def test_repository_with_the_engine_elsewhere(tmp_path: Path) -> None:
    """gpt_model_path names a container path: a one-line EngineError, and --engine-path fixes it."""
    engine = corpus_engine_dir("mistral-7b-bf16-tp1-v0.8dev", tmp_path / "engines")
    repo = render(engine, tmp_path / "repo", placement="reference")
    moved = tmp_path / "moved"
    engine.rename(moved)
    with pytest.raises(EngineError, match="is not here") as error:
        load_target(repo)
    assert "--engine-path" in (error.value.hint or "")
    assert load_target(repo, engine_path=moved).model.num_layers == 32


# -- checkpoints, the torch runtime and llmapi -----------------------------------------------------------


def test_checkpoint_plans_the_torch_runtime(tmp_path: Path) -> None:
    checkpoint = make_checkpoint_dir(tmp_path)  # 2 layers, 2 KV heads of 16, bf16, max_position 512
    target = load_target(checkpoint, tp_size=2)
    cpu = plan_target(target, None)
    assert (cpu.runtime, cpu.memory, cpu.bytes_per_token, cpu.tokens_per_block) == ("torch", None, 256, 64)
    gpu = plan_target(target, GpuMemory("--free-memory", available=GIB))
    budget = int(GIB * 0.9)
    assert gpu.ranks[0].max_tokens == max(512, min(16 * 512, budget // 256))


def test_torch_plan_matches_the_runtime(smollm2_checkpoint_dir: Path, tmp_path: Path) -> None:
    """The SmolLM2 example: the plan's KV pages are what the torch runtime itself computes on CPU."""
    pytest.importorskip("torch")
    from tritongen.memory import plan as plan_module
    from tritongen.runtime.torch_runtime import engine as runtime
    from tritongen.runtime.torch_runtime.settings import read_settings
    from tritongen.testing.smollm2 import render_repository

    assert (runtime.PAGE_SIZE, runtime.CPU_KV_CACHE_BYTES, runtime.GPU_KV_CACHE_FREE_FRACTION) == (
        plan_module.TORCH_PAGE_SIZE,
        plan_module.TORCH_CPU_BUDGET,
        plan_module.TORCH_GPU_FRACTION,
    )
    repo = render_repository(smollm2_checkpoint_dir, tmp_path / "repo", settings=["device=cpu"])
    plan = plan_target(load_target(repo), None)
    config = (repo / "tensorrt_llm" / "config.pbtxt").read_text(encoding="utf-8")
    from tritongen.check import parse_model_config

    message = parse_model_config(config)
    settings = read_settings(
        {k: v.string_value for k, v in message.parameters.items()},
        decoupled=True,
        config_max_batch_size=message.max_batch_size,
        model_max_positions=None,
    )
    model = runtime.load_model(settings)
    tokens = runtime.default_kv_cache_tokens(model, settings)
    assert plan.ranks[0].max_tokens == tokens
    assert plan.blocks == max(math.ceil(tokens / runtime.PAGE_SIZE), settings.max_batch_size)


def test_llmapi_repository(tmp_path: Path) -> None:
    """An llmapi repository: kv_cache_config and max_seq_len come from tensorrt_llm/1/model.yaml."""
    checkpoint = make_checkpoint_dir(tmp_path)
    model_dir = tmp_path / "repo" / "tensorrt_llm"
    (model_dir / "1").mkdir(parents=True)
    (model_dir / "config.pbtxt").write_text('backend: "python"\n', encoding="utf-8")
    (model_dir / "1" / "model.yaml").write_text(
        f"model: {checkpoint}\nbackend: pytorch\ntensor_parallel_size: 1\nmax_seq_len: 256\nmax_batch_size: 4\n"
        "kv_cache_config:\n  free_gpu_memory_fraction: 0.5\n  dtype: fp8\n"
        "triton_config:\n  max_batch_size: 0\n  decoupled: true\n",
        encoding="utf-8",
    )
    target = load_target(tmp_path / "repo")
    assert (target.settings.runtime, target.settings.fraction, target.settings.max_seq_len) == (
        "llmapi",
        0.5,
        256,
    )
    plan = plan_target(target, GpuMemory("--free-memory", available=GIB))
    assert (plan.tokens_per_block, plan.bytes_per_token, plan.sequence_tokens) == (
        32,
        2 * 2 * 2 * 16 * 1,
        256,
    )
    assert plan.blocks == blocks_for(int(float32(float32(GIB) * float32(0.5))) // 128, 32)
    assert any("dry run" in note for note in plan.notes)


# -- when it does not fit -----------------------------------------------------------------------------


def test_recommendation_in_plain_words(tmp_path: Path) -> None:
    """The issue's example: an 8,192-token sequence needs 4.0 GiB, 0.9 of the free memory is 2.6 GiB."""
    config = modern_config(
        "0.19.0",
        num_layers=32,
        num_heads=32,
        num_kv_heads=32,
        hidden_size=4096,
        max_seq_len=8192,
        max_input_len=4096,
        dtype="float16",
        tokens_per_block=64,
    )
    target = load_target(make_engine_dir(tmp_path, config))
    plan = plan_target(target, GpuMemory("--free-memory", available=int(2.6 / 0.9 * GIB) + 1))
    assert not plan.fits and plan.recommendation is not None
    assert plan.recommendation.text.startswith(
        "one 8,192-token sequence needs 4.0 GiB of KV cache; at fraction 0.9 you have 2.6 GiB: lower max_seq_len "
        "to 5,300, use an FP8 KV cache, or add GPUs (tp 2)"
    )
    assert plan.recommendation.set_line == "--set max_attention_window_size=5300"
    fixed = plan_target(target, GpuMemory("--free-memory", available=int(2.6 / 0.9 * GIB) + 1))
    assert fixed.blocks * 64 >= 5300  # the suggested length fits in what is there


def test_recommendation_raises_the_fraction_when_that_is_enough(tmp_path: Path) -> None:
    config = modern_config(
        "0.19.0",
        num_layers=32,
        num_heads=32,
        num_kv_heads=32,
        hidden_size=4096,
        max_seq_len=4096,
        max_input_len=2048,
        dtype="float16",
        tokens_per_block=64,
    )
    target = load_target(make_engine_dir(tmp_path, config))
    plan = plan_target(target, GpuMemory("--free-memory", available=int(2.2 * GIB)), fraction=0.8)
    assert plan.recommendation is not None
    assert plan.recommendation.set_line == "--set kv_cache_free_gpu_mem_fraction=0.91"
    assert plan_target(target, GpuMemory("--free-memory", available=int(2.2 * GIB)), fraction=0.91).fits


def test_weights_that_do_not_fit(tmp_path: Path) -> None:
    target = load_target(corpus_engine_dir("llama2-70b-tp4-fp16-v0.5", tmp_path))
    plan = plan_target(target, GpuMemory("--gpu-memory", total=24 * GIB))
    assert not plan.fits and plan.recommendation is not None
    assert "leave no memory for the KV cache" in plan.recommendation.text


# -- preflight and explain ------------------------------------------------------------------------------


def test_preflight(tmp_path: Path) -> None:
    engine = corpus_engine_dir("llama2-7b-fp16-tp1-a6000-v0.13.0", tmp_path / "engines")
    repo = render(engine, tmp_path / "repo")
    assert preflight(repo, use_nvml=False) is None  # nothing is known without the memory
    assert preflight(repo, free_memory=40 * GIB, use_nvml=False) is None
    problem = preflight(repo, free_memory=GIB, use_nvml=False)
    assert problem is not None
    assert "cannot hold one full-length sequence" in problem.message
    assert "--set max_attention_window_size=" in problem.hint
    # render refuses such a cap itself; a hand-edited repository can still have one
    problem = preflight(capped_repository(tmp_path / "capped"), use_nvml=False)  # certain without any memory
    assert problem is not None and "--set max_tokens_in_paged_kv_cache=4096" in problem.hint
    assert preflight(tmp_path / "not-a-repository", use_nvml=False) is None


def test_kv_cache_line(tmp_path: Path) -> None:
    repo = render_case("v0.8-vicuna-medusa-0.13", tmp_path).output
    line = kv_cache_line(repo)
    assert line is not None
    assert line.startswith(
        "KV cache: 524,288 bytes per token per GPU (32 layers x 2 x 32 KV heads x 128 x 2 bytes)"
    )
    assert "one 2,111-token sequence needs 1.0 GiB" in line


# -- refusals ----------------------------------------------------------------------------------------------


def test_encoder_decoder_is_refused(tmp_path: Path) -> None:
    config = modern_config("0.19.0", architecture="DecoderModel")
    with pytest.raises(EngineError, match="encoder-decoder"):
        load_target(make_engine_dir(tmp_path, config))


def test_several_attention_windows_are_refused(tmp_path: Path) -> None:
    engine = corpus_engine_dir("smollm-135m-llama-beam5-v1.2.0rc6", tmp_path / "engines")
    repo = render(engine, tmp_path / "repo", "max_attention_window_size=64,138")
    with pytest.raises(UsageError, match="several attention windows"):
        load_target(repo)
    single = render(engine, tmp_path / "single", "max_attention_window_size=64")
    plan = plan_target(load_target(single), GpuMemory("--free-memory", available=GIB))
    assert plan.sequence_tokens == 64  # a sliding window caps each sequence's KV cache


def test_nvml_absent_here() -> None:
    """No nvidia-ml-py (or no GPU) here: the memory is unknown rather than guessed."""
    assert nvml_total_memory(1) is None
    assert gpu_memory(free_memory=None, gpu_memory=None, world_size=1) is None


# -- the command line ------------------------------------------------------------------------------------


def tritongen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tritongen", *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("size", ["80XB", "GiB", "-1GiB", "0GiB", "eighty"])
def test_cli_bad_sizes(size: str, tmp_path: Path) -> None:
    engine = corpus_engine_dir("smollm-135m-llama-beam5-v1.2.0rc6", tmp_path)
    result = tritongen("plan", "--engine", str(engine), "--gpu-memory", size)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "--gpu-memory" in result.stderr and "Traceback" not in result.stderr


def test_library_fraction_check() -> None:
    """Callers that do not come through the CLI get the same bounds as a one-line UsageError."""
    from tritongen.memory.target import check_fraction

    for fraction in (0.0, 1.0, 1.5):
        with pytest.raises(UsageError, match="outside"):
            check_fraction(fraction)
    check_fraction(0.95)


def test_parse_size_units() -> None:
    assert parse_size("80GiB") == 80 * GIB
    assert parse_size("62.05 GiB") == int(62.05 * GIB)
    assert parse_size("80GB") == 80 * 10**9
    assert parse_size("512mib") == 512 << 20
    assert parse_size("1024") == 1024


@pytest.mark.parametrize("fraction", ["0", "1", "1.5", "-0.1"])
def test_cli_fraction_outside_zero_one(fraction: str, tmp_path: Path) -> None:
    engine = corpus_engine_dir("smollm-135m-llama-beam5-v1.2.0rc6", tmp_path)
    result = tritongen("plan", "--engine", str(engine), "--gpu-memory", "80GiB", "--fraction", fraction)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: invalid value for '--fraction': {fraction}")
    assert "0<x<1" in result.stderr and result.stderr.count("\n") == 1


def test_cli_fits_json_and_exit_codes(tmp_path: Path) -> None:
    engine = corpus_engine_dir("llama2-7b-fp16-tp1-a6000-v0.13.0", tmp_path)
    fits = tritongen("plan", "--engine", str(engine), "--free-memory", "40GiB", "--json")
    assert fits.returncode == 0, fits.stderr
    data = json.loads(fits.stdout)
    assert data["kv_cache"] == {
        "bytes_per_token": 524288,
        "tokens_per_block": 64,
        "max_tokens": 1152 * 64,
        "blocks": 1152,
        "bytes": 1152 * 64 * 524288,
        "limited_by": "memory",
    }
    assert data["sequences"]["full_length"] == 18 and not data["sequences"]["max_batch_size_reachable"]
    assert data["fits"] and data["recommendation"] is None
    assert set(data) >= {"ranks", "headroom_bytes", "memory", "settings"}
    assert data["ranks"][0]["weights_bytes"] > 0
    table = tritongen("plan", str(engine), "--free-memory", "40GiB")
    assert table.returncode == 0 and "1,152 blocks of 64 tokens" in table.stdout
    tight = tritongen("plan", "--engine", str(engine), "--free-memory", "1GiB")
    assert tight.returncode == 6
    assert "fix: tritongen render ... --set max_attention_window_size=" in tight.stdout
    assert tight.stderr.count("\n") == 1 and "--set max_attention_window_size=" in tight.stderr


def test_cli_usage_errors(tmp_path: Path) -> None:
    engine = corpus_engine_dir("smollm-135m-llama-beam5-v1.2.0rc6", tmp_path)
    unknown = tritongen("plan", "--engine", str(engine))  # no GPU here, no flag: the memory is unknown
    assert unknown.returncode == 2 and "--gpu-memory 80GiB" in unknown.stderr
    both = tritongen("plan", "--engine", str(engine), "--gpu-memory", "80GiB", "--free-memory", "60GiB")
    assert both.returncode == 2 and "not both" in both.stderr
    twice = tritongen("plan", str(engine), "--engine", str(engine), "--gpu-memory", "80GiB")
    assert twice.returncode == 2
    missing = tritongen("plan", "--engine", str(tmp_path / "nowhere"), "--gpu-memory", "80GiB")
    assert missing.returncode == 3 and missing.stderr.count("\n") == 1


def test_describe_torch_on_cpu_and_a_plan_that_does_not_fit(tmp_path: Path) -> None:
    target = load_target(make_checkpoint_dir(tmp_path))
    text = describe(plan_target(target, None), "checkpoint")
    assert "memory: CPU (torch runtime)" in text and "per rank" in text and "headroom" not in text
    tight = plan_target(target, GpuMemory("--free-memory", available=100_000))
    data = to_json(tight)
    assert not data["fits"] and data["recommendation"]["set"] == "--set max_seq_len=300"
    assert "allocates one full sequence anyway" in data["recommendation"]["text"]


@pytest.mark.parametrize(
    ("case_id", "config", "tolerance_gib"),
    [
        # the calibration point of the runtime-buffer estimate: batch 2,048 x vocabulary 128,256
        (
            "llama-3.1-8b-fp8kv-rtx5090",
            {
                "num_layers": 32,
                "num_heads": 32,
                "num_kv_heads": 8,
                "hidden_size": 4096,
                "vocab_size": 128256,
                "dtype": "bfloat16",
                "quant_algo": "FP8",
                "kv_cache_quant_algo": "FP8",
                "tokens_per_block": 32,
                "max_seq_len": 2048,
                "max_input_len": 1024,
                "max_num_tokens": 1024,
                "max_batch_size": 2048,
                "intermediate_size": 14336,
            },
            0.5,
        ),
        # an independent check at batch 8: llava-1.5-7b (Llama-2-7B) at tp 2, fp16
        (
            "llava-1.5-7b-tp2-multimodal-doc",
            {
                "tp": 2,
                "num_layers": 32,
                "num_heads": 32,
                "num_kv_heads": 32,
                "hidden_size": 4096,
                "vocab_size": 32064,
                "dtype": "float16",
                "tokens_per_block": 32,
                "max_seq_len": 2560,
                "max_input_len": 2048,
                "max_num_tokens": 8192,
                "max_batch_size": 8,
                "intermediate_size": 11008,
            },
            0.5,
        ),
    ],
)
def test_estimate_from_the_total_memory(
    case_id: str, config: dict[str, Any], tolerance_gib: float, tmp_path: Path
) -> None:
    """--gpu-memory with the log's total: the estimated 'available' is near what the runtime logged."""
    log = next(c for c in LOGS["cases"] if c["id"] == case_id)["log"]
    intermediate = config.pop("intermediate_size")
    engine_config = set_key(
        modern_config("0.19.0", architecture="LlamaForCausalLM", **config),
        "pretrained_config.intermediate_size",
        intermediate,
    )
    engine_config = set_key(engine_config, "pretrained_config.hidden_act", "silu")
    target = load_target(make_engine_dir(tmp_path, engine_config))
    plan = plan_target(target, GpuMemory("--gpu-memory", total=int(log["total_gib"] * GIB)))
    assert abs(plan.limiting.available / GIB - log["available_gib"]) < tolerance_gib


def test_nvml_follows_cuda_visible_devices() -> None:
    from tritongen.memory.gpu import visible_indices

    assert visible_indices(2, {"CUDA_VISIBLE_DEVICES": "3,1,0"}) == [3, 1]
    assert visible_indices(2, {"CUDA_VISIBLE_DEVICES": "GPU-1a2b,GPU-3c4d"}) == [0, 1]
    assert visible_indices(2, {}) == [0, 1]


def test_torch_runtime_on_cuda_needs_the_gpu_memory(tmp_path: Path) -> None:
    repo = render(make_checkpoint_dir(tmp_path), tmp_path / "repo", "device=cuda")
    with pytest.raises(UsageError, match="GPU memory is not known"):
        plan_target(load_target(repo), None)
    assert plan_target(load_target(repo), GpuMemory("--gpu-memory", total=8 * GIB)).memory is not None


# -- the preflight where it runs: launch refuses, explain shows the KV-cache line ---------------------------


def capped_repository(tmp_path: Path, tokens: int = 1000) -> Path:
    """A rendered repository whose max_tokens_in_paged_kv_cache was then edited below one sequence."""
    engine = corpus_engine_dir("llama2-7b-fp16-tp1-a6000-v0.13.0", tmp_path / "engines")
    repo = render(engine, tmp_path / "repo")
    config = repo / "tensorrt_llm" / "config.pbtxt"
    text = config.read_text(encoding="utf-8")
    start = text.index('key: "max_tokens_in_paged_kv_cache"')
    edited = text[start:].replace('string_value: ""', f'string_value: "{tokens}"', 1)
    config.write_text(text[:start] + edited, encoding="utf-8")
    return repo


def test_launch_refuses_a_kv_cache_that_cannot_hold_one_sequence(tmp_path: Path) -> None:
    repo = capped_repository(tmp_path)
    refused = tritongen("launch", str(repo))
    assert refused.returncode == 7, refused.stderr
    assert refused.stderr.count("\n") == 1
    assert "max_tokens_in_paged_kv_cache is 1,000" in refused.stderr
    assert "--set max_tokens_in_paged_kv_cache=4096" in refused.stderr
    dry = tritongen("launch", str(repo), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "# warning: max_tokens_in_paged_kv_cache is 1,000" in dry.stdout


def test_explain_shows_the_kv_cache_line(tmp_path: Path) -> None:
    repo = render_case("v0.8-vicuna-medusa-0.13", tmp_path).output
    shown = tritongen("explain", str(repo))
    assert shown.returncode == 0, shown.stderr
    assert "KV cache: 524,288 bytes per token per GPU" in shown.stdout


def test_rendered_llmapi_repository(tmp_path: Path) -> None:
    """`render --target llmapi` writes model.yaml; plan reads its kv_cache_config like the runtime would."""
    from tritongen.render.llmapi import render_llmapi

    checkpoint = make_checkpoint_dir(tmp_path)
    repo = render_llmapi(
        checkpoint,
        output=tmp_path / "repo",
        sets=("kv_cache_config.free_gpu_memory_fraction=0.6", "max_seq_len=256"),
    ).output
    target = load_target(repo)
    assert (target.settings.runtime, target.settings.fraction, target.settings.max_seq_len) == (
        "llmapi",
        0.6,
        256,
    )
    plan = plan_target(target, GpuMemory("--free-memory", available=GIB))
    assert (plan.tokens_per_block, plan.bytes_per_token, plan.sequence_tokens) == (
        32,
        2 * 2 * 2 * 16 * 2,
        256,
    )
    assert plan.blocks == blocks_for(int(float32(float32(GIB) * float32(0.6))) // 256, 32)
