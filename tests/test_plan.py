"""Deriving every value from the engine and tokenizer, and layering overrides with provenance."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tritongen.engine.reader import read_engine
from tritongen.engine.spec import EngineSpec
from tritongen.errors import TokenizerError, UsageError
from tritongen.render.catalogue import params_for
from tritongen.render.catalogue_types import MODELS, Source
from tritongen.render.overrides import load_config_file, parse_sets
from tritongen.render.plan import Plan, build_plan
from tritongen.testing.engines import (
    corpus_engine_dir,
    legacy_config,
    make_engine_dir,
    make_tokenizer_dir,
    modern_config,
    trtllm_build_config,
)
from tritongen.testing.render_cases import make_checkpoint_dir
from tritongen.versions import v


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tokenizer_dir(tmp_path_factory.mktemp("tokenizer"))


@pytest.fixture
def engine(tmp_path: Path) -> Callable[..., EngineSpec]:
    """An engine spec read from a synthetic config.json (modern layout unless a config is given)."""

    def make(version: str = "0.19.0", config: dict[str, Any] | None = None, **kw: Any) -> EngineSpec:
        return read_engine(make_engine_dir(tmp_path / "engines", config or modern_config(version, **kw)))

    return make


def plan_for(spec: EngineSpec, tokenizer: Path, *sets: str, **kw: Any) -> Plan:
    return build_plan(spec, tokenizer_dir=tokenizer, overrides=parse_sets(sets), **kw)


def values(plan: Plan, name: str) -> dict[str, object]:
    return {s.model: s.value for s in plan.settings if s.name == name}


@pytest.mark.parametrize("version", ["0.8.0", "0.13.0", "0.19.0", "1.2.0rc6"])
def test_every_catalogue_parameter_of_the_version_is_planned(
    engine: Callable[..., EngineSpec], tokenizer: Path, version: str
) -> None:
    plan = plan_for(engine(version), tokenizer)
    for model in plan.models:
        assert [s.name for s in plan.for_model(model)] == [
            p.name for p in params_for(model, plan.backend_version)
        ]
    assert all(s.reason for s in plan.settings)


def test_batch_size_beam_and_types_come_from_the_engine(
    engine: Callable[..., EngineSpec], tokenizer: Path
) -> None:
    plan = plan_for(
        engine("1.2.0", max_batch_size=12, max_beam_width=3, dtype="bfloat16", logits_dtype="float16"),
        tokenizer,
    )
    assert set(values(plan, "triton_max_batch_size").values()) == {12}
    assert len(values(plan, "triton_max_batch_size")) == 5
    assert plan.setting("tensorrt_llm", "triton_max_batch_size").source is Source.ENGINE
    assert plan.value("tensorrt_llm", "max_beam_width") == 3
    assert values(plan, "logits_datatype") == {
        "tensorrt_llm": "TYPE_FP16",
        "ensemble": "TYPE_FP16",
        "tensorrt_llm_bls": "TYPE_FP16",
    }
    assert plan.value("tensorrt_llm", "prompt_embedding_table_data_type") == "TYPE_BF16"
    assert plan.value("tensorrt_llm", "encoder_input_features_data_type") == "TYPE_BF16"


def test_fixed_defaults(engine: Callable[..., EngineSpec], tokenizer: Path) -> None:
    plan = plan_for(engine("0.19.0"), tokenizer)
    assert values(plan, "decoupled_mode") == {"tensorrt_llm": True, "tensorrt_llm_bls": True}
    assert plan.value("tensorrt_llm", "exclude_input_in_output") is True
    assert plan.value("tensorrt_llm", "triton_backend") == "tensorrtllm"
    assert set(values(plan, "max_queue_delay_microseconds").values()) == {0}
    assert set(values(plan, "max_queue_size").values()) == {0}
    assert plan.value("preprocessing", "add_special_tokens") is True
    assert plan.value("postprocessing", "skip_special_tokens") is True
    assert plan.value("tensorrt_llm_bls", "accumulate_tokens") is True
    for key in ("guided_decoding_backend", "xgrammar_tokenizer_info_path"):  # present, deliberately empty
        assert plan.setting("tensorrt_llm", key).value is None
    assert plan.value("tensorrt_llm", "tokenizer_dir") == str(tokenizer)


def test_tokenizer_type_for_versions_that_have_it(engine: Callable[..., EngineSpec], tokenizer: Path) -> None:
    plan = plan_for(engine(config=legacy_config(flavor="0.8")), tokenizer)
    assert plan.generation == "v0.8"
    assert values(plan, "tokenizer_type") == {"preprocessing": "auto", "postprocessing": "auto"}


def test_no_streaming_turns_decoupled_off(engine: Callable[..., EngineSpec], tokenizer: Path) -> None:
    plan = plan_for(engine(), tokenizer, streaming=False)
    for model in ("tensorrt_llm", "tensorrt_llm_bls"):
        setting = plan.setting(model, "decoupled_mode")
        assert (setting.value, setting.source) == (False, Source.FLAG)


@pytest.mark.parametrize("paged_context_fmha", [True, False])
def test_kv_cache_reuse_and_chunked_context_follow_paged_context_fmha(
    engine: Callable[..., EngineSpec], tokenizer: Path, paged_context_fmha: bool
) -> None:
    plan = plan_for(engine(paged_context_fmha=paged_context_fmha), tokenizer)
    for name in ("enable_kv_cache_reuse", "enable_chunked_context"):
        setting = plan.setting("tensorrt_llm", name)
        assert setting.value is paged_context_fmha  # False is explicit, never left empty
        assert setting.source is Source.ENGINE


def test_static_batching_when_the_engine_cannot_batch_in_flight(
    engine: Callable[..., EngineSpec], tokenizer: Path
) -> None:
    plan = plan_for(engine(paged_kv_cache=False, kv_cache_type="CONTINUOUS"), tokenizer)
    setting = plan.setting("tensorrt_llm", "batching_strategy")
    assert setting.value == "V1" and "paged KV cache" in setting.reason
    assert any("static (V1) batching" in warning for warning in plan.warnings)
    assert (
        plan_for(engine(), tokenizer).value("tensorrt_llm", "batching_strategy") == "inflight_fused_batching"
    )


def test_instance_counts(engine: Callable[..., EngineSpec], tokenizer: Path) -> None:
    # Decoupled (the default): one postprocessing (in-order streams) and one BLS (a thread per stream);
    # latest preprocessing has a dynamic batcher, so one instance tokenizes whole batches.
    plan = plan_for(engine(max_batch_size=16), tokenizer)
    assert plan.value("preprocessing", "preprocessing_instance_count") == 1
    assert plan.value("postprocessing", "postprocessing_instance_count") == 1
    assert plan.value("tensorrt_llm_bls", "bls_instance_count") == 1
    # Not decoupled: postprocessing capped at 4, the BLS one instance per request of a batch.
    plain = plan_for(engine(max_batch_size=16), tokenizer, streaming=False)
    assert plain.value("postprocessing", "postprocessing_instance_count") == 4
    assert plain.value("tensorrt_llm_bls", "bls_instance_count") == 16
    small = plan_for(engine(max_batch_size=2), tokenizer, "triton_max_batch_size=1", streaming=False)
    assert small.value("postprocessing", "postprocessing_instance_count") == 1
    assert small.value("tensorrt_llm_bls", "bls_instance_count") == 1  # follows the overridden batch size
    # v0.8 preprocessing has no dynamic batcher: one instance per request of a batch, capped.
    old = plan_for(engine("0.8.0", config=trtllm_build_config(max_batch_size=16)), tokenizer)
    assert old.value("preprocessing", "preprocessing_instance_count") == 4
    kept = plan_for(engine(), tokenizer, "bls_instance_count=3")
    assert (
        kept.value("tensorrt_llm_bls", "bls_instance_count"),
        kept.setting("tensorrt_llm_bls", "bls_instance_count").source,
    ) == (3, Source.FLAG)


def test_tokenizer_defaults_to_the_engine_directory(tmp_path: Path) -> None:
    directory = make_engine_dir(tmp_path, modern_config("0.19.0"))
    make_tokenizer_dir(directory)
    plan = build_plan(read_engine(directory))
    setting = plan.setting("preprocessing", "tokenizer_dir")
    assert (setting.value, setting.source) == (str(directory), Source.DERIVED)
    tokens = json.loads((directory / "tokenizer.json").read_text())["added_tokens"]
    assert plan.tokenizer.eos_id == next(t["id"] for t in tokens if t["content"] == "</s>")
    assert plan.tokenizer.pad_id == next(t["id"] for t in tokens if t["content"] == "<pad>")


def test_missing_tokenizer_is_a_tokenizer_error(engine: Callable[..., EngineSpec]) -> None:
    with pytest.raises(TokenizerError, match="no tokenizer in"):
        build_plan(engine())


@pytest.mark.parametrize(
    ("make", "expected", "reason"),
    [
        (lambda e: e("0.17.0.post1"), "0.17.0", "config.json says version 0.17.0.post1"),
        (lambda e: e(config=legacy_config(flavor="0.7")), "0.7.0", "legacy config.json"),
    ],
)
def test_backend_version_from_the_engine(
    engine: Callable[..., EngineSpec],
    tokenizer: Path,
    make: Callable[..., EngineSpec],
    expected: str,
    reason: str,
) -> None:
    plan = plan_for(make(engine), tokenizer)
    assert str(plan.backend_version) == expected and reason in plan.version_reason


def test_backend_version_flag_wins(engine: Callable[..., EngineSpec], tokenizer: Path) -> None:
    plan = plan_for(engine("0.19.0"), tokenizer, backend_version="1.2")
    assert plan.backend_version == v("1.2") and plan.version_reason == "--backend-version 1.2"
    assert plan.features["min_tokens"] == "min_tokens"
    with pytest.raises(UsageError, match="older than the oldest supported"):
        plan_for(engine("0.19.0"), tokenizer, backend_version="0.4")


def test_checkpoint_uses_the_torch_runtime(tmp_path: Path) -> None:
    spec = read_engine(make_checkpoint_dir(tmp_path), tp_size=2)
    plan = build_plan(spec)
    assert (plan.backend_version, plan.generation, plan.runtime) == (v("1.2"), "latest", "torch")
    assert plan.value("tensorrt_llm", "triton_backend") == "python"
    assert plan.value("tensorrt_llm", "tp_size") == 2
    assert plan.value("tensorrt_llm", "torch_dtype") == "bfloat16"
    assert plan.value("tensorrt_llm", "device") == "auto"
    assert "batching_strategy" not in {s.name for s in plan.for_model("tensorrt_llm")}
    with pytest.raises(UsageError, match=r"cannot be rendered for backend 0\.8\.0"):
        build_plan(spec, backend_version="0.8")


def test_backend_must_match_the_runtime(
    engine: Callable[..., EngineSpec], tokenizer: Path, tmp_path: Path
) -> None:
    with pytest.raises(
        UsageError, match="an engine is served by the tensorrtllm backend in tritongen, not python"
    ):
        plan_for(engine(), tokenizer, "triton_backend=python")
    with pytest.raises(UsageError, match="checkpoint is served by the python backend"):
        build_plan(
            read_engine(make_checkpoint_dir(tmp_path)), overrides=parse_sets(["triton_backend=tensorrtllm"])
        )


def test_flags_win_over_the_config_file(
    engine: Callable[..., EngineSpec], tokenizer: Path, tmp_path: Path
) -> None:
    config = tmp_path / "o.yaml"
    config.write_text("kv_cache_free_gpu_mem_fraction: 0.7\nmax_beam_width: 1\n", encoding="utf-8")
    overrides = [*parse_sets(["kv_cache_free_gpu_mem_fraction=0.5"]), *load_config_file(config)]
    plan = build_plan(engine(), tokenizer_dir=tokenizer, overrides=overrides)  # order given does not matter
    fraction = plan.setting("tensorrt_llm", "kv_cache_free_gpu_mem_fraction")
    assert (fraction.value, fraction.source) == (0.5, Source.FLAG)
    beam = plan.setting("tensorrt_llm", "max_beam_width")
    assert (beam.value, beam.source) == (1, Source.FILE) and str(config) in beam.reason


def test_an_empty_value_unsets(engine: Callable[..., EngineSpec], tokenizer: Path) -> None:
    plan = plan_for(engine(), tokenizer, "kv_cache_free_gpu_mem_fraction=")
    assert plan.value("tensorrt_llm", "kv_cache_free_gpu_mem_fraction") is None


def test_user_engine_dir_survives_placement(engine: Callable[..., EngineSpec], tokenizer: Path) -> None:
    plan = plan_for(engine(), tokenizer, "tensorrt_llm.engine_dir=/models/engine")
    placed = plan.with_engine_location(Path("/repo/tensorrt_llm/1/engine"), "placed")
    assert placed.value("tensorrt_llm", "engine_dir") == "/models/engine"
    assert placed.value("preprocessing", "engine_dir") == "/repo/tensorrt_llm/1/engine"


def test_decoding_mode_follows_speculative_decoding(tmp_path: Path, tokenizer: Path) -> None:
    spec = read_engine(corpus_engine_dir("vicuna-7b-medusa-tp1-v0.13dev", tmp_path))
    setting = plan_for(spec, tokenizer).setting("tensorrt_llm", "decoding_mode")
    assert (setting.value, setting.source) == ("medusa", Source.ENGINE)


def test_warnings_for_risky_overrides(engine: Callable[..., EngineSpec], tokenizer: Path) -> None:
    plan = plan_for(
        engine(max_batch_size=4, paged_context_fmha=False),
        tokenizer,
        "ensemble.triton_max_batch_size=8",
        "enable_kv_cache_reuse=true",
        "max_beam_width=2",
    )
    text = "\n".join(plan.warnings)
    assert "differs between models" in text and "above the engine's max_batch_size 4" in text
    assert "enable_kv_cache_reuse=true needs an engine built with paged context FMHA" in text
    assert "max_beam_width 2 exceeds the engine's 1" in text


def test_layout_notes_for_versions_without_their_own_templates(
    engine: Callable[..., EngineSpec], tokenizer: Path
) -> None:
    assert any("v0.8 tensor layout" in w for w in plan_for(engine("0.13.0"), tokenizer).warnings)
    assert not plan_for(engine("0.19.0"), tokenizer).warnings
    assert any(
        "newer than the newest" in w
        for w in plan_for(engine("0.19.0"), tokenizer, backend_version="2.1").warnings
    )


def test_plan_models_per_generation(engine: Callable[..., EngineSpec], tokenizer: Path) -> None:
    assert plan_for(engine(config=legacy_config(flavor="0.5")), tokenizer).models == MODELS[:4]
    assert plan_for(engine(), tokenizer).models == MODELS
