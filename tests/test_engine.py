"""tritongen.engine: every layout TensorRT-LLM has written, Hugging Face checkpoints, and every bad input."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tritongen.engine import EngineLayout, EngineSpec, decode_quant_mode, read_engine
from tritongen.errors import EngineError, UsageError
from tritongen.testing.engines import (
    CORPUS_DIR,
    CORPUS_ENGINES,
    SYNTHETIC_DIR,
    corpus_config,
    corpus_engine_dir,
    delete_key,
    legacy_config,
    make_engine_dir,
    make_hf_checkpoint,
    make_tokenizer_dir,
    modern_config,
    rank_file_names,
    set_key,
    trtllm_build_config,
    write_rank_files,
)


def engine_error(path: Path, **kwargs: Any) -> EngineError:
    """The EngineError read_engine raises (the test fails if it returns or raises something else)."""
    with pytest.raises(EngineError) as caught:
        read_engine(path, **kwargs)
    assert caught.value.exit_code == 3
    assert "\n" not in caught.value.one_line()
    assert caught.value.hint
    return caught.value


# --------------------------------------------------------------------------------------------------
# The 15 real engine configs of the corpus (facts from corpus/SOURCES.md §A)

CORPUS_FACTS: dict[str, dict[str, Any]] = {
    "llama2-7b-tp4-v0.5": {
        "layout": EngineLayout.LEGACY,
        "inferred_version": "0.5",
        "architecture": "llama",
        "dtype": "float16",
        "tp_size": 4,
        "pp_size": 1,
        "max_batch_size": 8,
        "max_input_len": 2048,
        "max_seq_len": 2560,
        "max_beam_width": 1,
        "quant_algo": None,
        "kv_cache_quant_algo": None,
        "tokens_per_block": 64,
        "context_fmha": True,
        "paged_context_fmha": False,
    },
    "llama2-70b-tp2-int8wo-int8kv-v0.5": {
        "layout": EngineLayout.LEGACY,
        "inferred_version": "0.5",
        "tp_size": 2,
        "num_heads": 64,
        "num_kv_heads": 8,
        "num_layers": 80,
        "hidden_size": 8192,
        "head_size": 128,
        "quant_algo": "W8A16",
        "kv_cache_quant_algo": "INT8",
        "tokens_per_block": 128,
        "max_batch_size": 32,
        "max_input_len": 4096,
        "max_seq_len": 4216,
        "max_beam_width": 1,
    },
    "llama2-70b-tp4-fp16-v0.5": {
        "tp_size": 4,
        "max_batch_size": 64,
        "quant_algo": None,
        "num_kv_heads": 8,
        "max_position_embeddings": 2048,
    },
    "tabnine-starfish-gpt-beam2-v0.7": {
        "layout": EngineLayout.LEGACY,
        "inferred_version": "0.7",
        "architecture": "gpt",
        "max_beam_width": 2,
        "paged_context_fmha": True,
        "context_fmha": True,
        "max_draft_len": 0,
        "speculative_decoding_mode": None,
        "lora_enabled": False,
        "tp_size": 1,
        "pp_size": 1,
        "vocab_size": 49152,
        "max_seq_len": 2048,
    },
    "tabnine-starfish-gpt-genlogits-v0.7": {
        "inferred_version": "0.7",
        "gather_generation_logits": True,
        "gather_context_logits": False,
        "max_batch_size": 1,
        "max_input_len": 400,
        "max_seq_len": 420,
    },
    "tabnine-starfish-gpt-beam2-v0.8dev": {
        "layout": EngineLayout.LEGACY,
        "inferred_version": "0.8",
        "max_beam_width": 2,
        "context_fmha": True,
        "gpt_attention_plugin": True,
        "lora_enabled": False,
    },
    "tabnine-starfish-gpt-genlogits-v0.8dev": {
        "inferred_version": "0.8",
        "gather_generation_logits": True,
        "max_input_len": 1600,
        "max_seq_len": 1620,
    },
    "starchat-15b-gpt-mqa-v0.8dev": {
        "inferred_version": "0.8",
        "num_heads": 48,
        "num_kv_heads": 1,
        "hidden_size": 6144,
        "num_layers": 40,
        "vocab_size": 49156,
        "max_num_tokens": 40960,
        "max_input_len": 7500,
        "max_seq_len": 8500,
        "max_batch_size": 10,
    },
    "mistral-7b-bf16-tp1-v0.8dev": {
        "layout": EngineLayout.TRTLLM_BUILD,
        "trtllm_version": "0.8.0.dev2024013000",
        "inferred_version": "0.8.0",
        "architecture": "MistralForCausalLM",
        "dtype": "bfloat16",
        "vocab_size": 32001,
        "num_kv_heads": 8,
        "head_size": 128,
        "max_input_len": 32256,
        "max_seq_len": 32256 + 1024,
        "max_num_tokens": 32256,
        "max_batch_size": 1,
    },
    "mistral-7b-fp16-tp1-b64-v0.8dev": {
        "layout": EngineLayout.TRTLLM_BUILD,
        "dtype": "float16",
        "max_batch_size": 64,
        "max_input_len": 15000,
        "max_seq_len": 15000 + 1024,
        "max_num_tokens": 75000,
    },
    "llama2-7b-fp16-tp1-a6000-v0.13.0": {
        "layout": EngineLayout.TRTLLM_BUILD_SEQ,
        "trtllm_version": "0.13.0",
        "architecture": "LlamaForCausalLM",
        "max_batch_size": 256,
        "max_seq_len": 4096,
        "max_input_len": 1024,
        "max_num_tokens": 8192,
        "paged_kv_cache": True,
        "tokens_per_block": 64,
        "gpt_attention_plugin": True,
        "speculative_decoding_mode": None,
        "lora_enabled": False,
        "max_lora_rank": None,
        "gpus_per_node": 8,
        "quant_algo": None,
    },
    "vicuna-7b-medusa-tp1-v0.13dev": {
        "layout": EngineLayout.TRTLLM_BUILD_SEQ,
        "inferred_version": "0.13.0",
        "architecture": "MedusaForCausalLM",
        "speculative_decoding_mode": "medusa",
        "max_draft_len": 63,
        "max_seq_len": 2111,
        "max_batch_size": 4,
        "tp_size": 1,
    },
    "qwen2.5-0.5b-sparktts-bf16-tp1-v0.17.0.post1": {
        "layout": EngineLayout.TRTLLM_BUILD_SEQ,
        "inferred_version": "0.17.0",
        "architecture": "Qwen2ForCausalLM",
        "dtype": "bfloat16",
        "vocab_size": 166000,
        "num_heads": 14,
        "num_kv_heads": 2,
        "max_seq_len": 32768,
        "max_batch_size": 16,
    },
    "smollm-135m-llama-beam5-v1.2.0rc6": {
        "layout": EngineLayout.TRTLLM_BUILD_SEQ,
        "trtllm_version": "1.2.0rc6",
        "inferred_version": "1.2.0",
        "max_beam_width": 5,
        "tokens_per_block": 32,
        "num_heads": 9,
        "num_kv_heads": 3,
        "head_size": 64,
        "max_seq_len": 138,
        "max_input_len": 128,
        "paged_kv_cache": True,
        "paged_context_fmha": True,
        "dtype": "bfloat16",
        "logits_dtype": "float32",
    },
    "smollm-135m-llama-fp16-beam5-v1.2.0rc6": {
        "dtype": "float16",
        "max_beam_width": 5,
        "tokens_per_block": 32,
    },
}

# max_position_embeddings < max_seq_len in these files (a warning, not an error)
SHORT_CONTEXT = {
    "llama2-7b-tp4-v0.5",
    "llama2-70b-tp2-int8wo-int8kv-v0.5",
    "llama2-70b-tp4-fp16-v0.5",
    "starchat-15b-gpt-mqa-v0.8dev",
    "mistral-7b-bf16-tp1-v0.8dev",
    "vicuna-7b-medusa-tp1-v0.13dev",
}


def test_corpus_list_matches_the_corpus_directory() -> None:
    assert sorted(CORPUS_ENGINES) == sorted(p.name for p in (CORPUS_DIR / "engines").iterdir())
    assert set(CORPUS_FACTS) == set(CORPUS_ENGINES)


@pytest.mark.parametrize("name", CORPUS_ENGINES)
def test_corpus_engine_reads_with_its_facts(name: str, tmp_path: Path) -> None:
    directory = corpus_engine_dir(name, tmp_path)
    spec = read_engine(directory)
    for key, expected in CORPUS_FACTS[name].items():
        assert getattr(spec, key) == expected, key
    assert spec.path == directory.resolve()
    assert spec.config_sha256 == hashlib.sha256((directory / "config.json").read_bytes()).hexdigest()
    assert len(spec.rank_files) == spec.world_size
    assert [r.rank for r in spec.rank_files] == list(range(spec.world_size))
    assert all(r.path.is_file() and r.size_bytes == r.path.stat().st_size for r in spec.rank_files)
    assert spec.inflight_batching_capable
    assert not spec.tokenizer_present
    context_warnings = [w for w in spec.warnings if "max_position_embeddings" in w]
    assert len(context_warnings) == (1 if name in SHORT_CONTEXT else 0)
    assert len(spec.warnings) == len(context_warnings)


def test_legacy_rank_files_follow_the_runtime_naming(tmp_path: Path) -> None:
    spec = read_engine(corpus_engine_dir("llama2-70b-tp2-int8wo-int8kv-v0.5", tmp_path))
    assert [r.path.name for r in spec.rank_files] == [
        "llama_float16_tp2_rank0.engine",
        "llama_float16_tp2_rank1.engine",
    ]
    spec = read_engine(corpus_engine_dir("starchat-15b-gpt-mqa-v0.8dev", tmp_path))
    assert [r.path.name for r in spec.rank_files] == ["gpt_float16_tp1_rank0.engine"]


def test_new_layout_rank_files_are_rank_n(tmp_path: Path) -> None:
    spec = read_engine(corpus_engine_dir("qwen2.5-0.5b-sparktts-bf16-tp1-v0.17.0.post1", tmp_path))
    assert [r.path.name for r in spec.rank_files] == ["rank0.engine"]
    assert spec.engine_bytes == (tmp_path / spec.path.name / "rank0.engine").stat().st_size


# --------------------------------------------------------------------------------------------------
# Synthetic layouts: parallelism, flags and versions no public file covers


@pytest.mark.parametrize(("flavor", "version"), [("0.5", "0.5"), ("0.7", "0.7"), ("0.8", "0.8")])
def test_legacy_version_is_inferred_from_the_keys(flavor: str, version: str, tmp_path: Path) -> None:
    spec = read_engine(make_engine_dir(tmp_path, legacy_config(flavor=flavor)))
    assert spec.layout is EngineLayout.LEGACY
    assert spec.trtllm_version is None
    assert spec.inferred_version == version
    assert spec.max_beam_width == 1


@pytest.mark.parametrize(
    ("tp", "pp", "names"),
    [
        (1, 1, ["llama_float16_tp1_rank0.engine"]),
        (2, 1, ["llama_float16_tp2_rank0.engine", "llama_float16_tp2_rank1.engine"]),
        (1, 2, ["llama_float16_tp1_pp2_rank0.engine", "llama_float16_tp1_pp2_rank1.engine"]),
        (2, 2, [f"llama_float16_tp2_pp2_rank{r}.engine" for r in range(4)]),
    ],
)
def test_legacy_parallelism(tp: int, pp: int, names: list[str], tmp_path: Path) -> None:
    spec = read_engine(make_engine_dir(tmp_path, legacy_config(tp=tp, pp=pp)))
    assert (spec.tp_size, spec.pp_size, spec.cp_size, spec.world_size) == (tp, pp, 1, tp * pp)
    assert [r.path.name for r in spec.rank_files] == names


def test_legacy_context_parallel_adds_cp_to_the_file_name(tmp_path: Path) -> None:
    config = set_key(legacy_config(tp=2), "builder_config.context_parallel", 2)
    spec = read_engine(make_engine_dir(tmp_path, config))
    assert spec.cp_size == 2 and spec.world_size == 4
    assert spec.rank_files[3].path.name == "llama_float16_tp2_cp2_rank3.engine"


def test_legacy_flags(tmp_path: Path) -> None:
    config = legacy_config(
        flavor="0.7",
        max_beam_width=4,
        paged_context_fmha=True,
        lora=16,
        gather_context_logits=True,
        dtype="bfloat16",
        logits_dtype="float16",
        num_heads=16,
        num_kv_heads=4,
        max_draft_len=5,
        max_prompt_embedding_table_size=128,
        context_fmha=False,
        quant_mode=2 | 128,
    )
    spec = read_engine(make_engine_dir(tmp_path, config))
    assert spec.max_beam_width == 4
    assert spec.paged_context_fmha and not spec.context_fmha
    assert spec.lora_enabled and spec.max_lora_rank == 16
    assert spec.gather_context_logits and not spec.gather_generation_logits
    assert (spec.dtype, spec.logits_dtype) == ("bfloat16", "float16")
    assert (spec.num_heads, spec.num_kv_heads, spec.head_size) == (16, 4, 32)
    assert (spec.speculative_decoding_mode, spec.max_draft_len) == ("draft_tokens_external", 5)
    assert spec.max_prompt_embedding_table_size == 128
    assert (spec.quant_algo, spec.kv_cache_quant_algo) == ("W8A16", "FP8")


def test_legacy_disabled_plugins_as_false_or_null(tmp_path: Path) -> None:
    for flavor in ("0.7", "0.8"):
        config = legacy_config(flavor=flavor, gpt_attention_plugin=False, lora=False)
        spec = read_engine(make_engine_dir(tmp_path, config, name=flavor))
        assert not spec.gpt_attention_plugin and not spec.lora_enabled and spec.max_lora_rank is None
        assert not spec.inflight_batching_capable


def test_legacy_gather_all_token_logits_means_both(tmp_path: Path) -> None:
    config = set_key(legacy_config(flavor="0.5"), "builder_config.gather_all_token_logits", True)
    spec = read_engine(make_engine_dir(tmp_path, config))
    assert spec.gather_context_logits and spec.gather_generation_logits


@pytest.mark.parametrize(
    ("quant_mode", "expected"),
    [
        (0, (None, None)),
        (66, ("W8A16", "INT8")),
        (2, ("W8A16", None)),
        (1, ("W4A16", None)),
        (1 | 32, ("W4A16_AWQ", None)),
        (1 | 4 | 32 | 128, ("W4A8_AWQ", "FP8")),
        (2 | 4 | 8 | 16, ("W8A8_SQ_PER_CHANNEL_PER_TOKEN_PLUGIN", None)),
        (2 | 4 | 8, ("W8A8_SQ_PER_CHANNEL_PER_TENSOR_PLUGIN", None)),
        (2 | 4 | 16 | 64, ("W8A8_SQ_PER_TENSOR_PER_TOKEN_PLUGIN", "INT8")),
        (2 | 4, ("W8A8_SQ_PER_TENSOR_PLUGIN", None)),
        (256 | 128, ("FP8", "FP8")),
        (64, (None, "INT8")),
    ],
)
def test_decode_quant_mode(quant_mode: int, expected: tuple[str | None, str | None]) -> None:
    assert decode_quant_mode(quant_mode) == expected


def test_unknown_quant_mode_bits_are_a_warning(tmp_path: Path) -> None:
    spec = read_engine(make_engine_dir(tmp_path, legacy_config(quant_mode=2 | 4096)))
    assert spec.quant_algo == "W8A16"
    assert any("quant_mode 4098" in w for w in spec.warnings)


@pytest.mark.parametrize(("tp", "pp"), [(1, 1), (2, 1), (1, 4), (2, 2)])
def test_trtllm_build_parallelism(tp: int, pp: int, tmp_path: Path) -> None:
    spec = read_engine(make_engine_dir(tmp_path, trtllm_build_config(tp=tp, pp=pp)))
    assert spec.layout is EngineLayout.TRTLLM_BUILD
    assert (spec.tp_size, spec.pp_size, spec.cp_size) == (tp, pp, 1)
    assert [r.path.name for r in spec.rank_files] == [f"rank{r}.engine" for r in range(tp * pp)]
    assert (spec.max_input_len, spec.max_seq_len) == (256, 256 + 128)
    assert (spec.trtllm_version, spec.inferred_version) == ("0.8.0", "0.8.0")


def test_trtllm_build_flags(tmp_path: Path) -> None:
    config = trtllm_build_config(
        lora=32,
        gather_context_logits=True,
        gather_generation_logits=True,
        logits_dtype="float16",
        num_heads=32,
        num_kv_heads=8,
        max_beam_width=3,
        quant_algo="W4A16_AWQ",
        kv_cache_quant_algo="FP8",
        max_num_tokens=None,
    )
    spec = read_engine(make_engine_dir(tmp_path, config))
    assert spec.lora_enabled and spec.max_lora_rank == 32  # 0.8 keeps max_lora_rank in pretrained_config
    assert spec.gather_context_logits and spec.gather_generation_logits
    assert spec.logits_dtype == "float16"
    assert (spec.num_heads, spec.num_kv_heads, spec.head_size) == (32, 8, 16)
    assert (spec.quant_algo, spec.kv_cache_quant_algo) == ("W4A16_AWQ", "FP8")
    assert spec.max_num_tokens is None
    assert any("max_num_tokens" in w for w in spec.warnings)


@pytest.mark.parametrize(("tp", "pp", "cp"), [(1, 1, 1), (4, 1, 1), (1, 2, 1), (2, 2, 2), (1, 1, 2)])
def test_modern_parallelism(tp: int, pp: int, cp: int, tmp_path: Path) -> None:
    spec = read_engine(make_engine_dir(tmp_path, modern_config(tp=tp, pp=pp, cp=cp, gpus_per_node=4)))
    assert spec.layout is EngineLayout.TRTLLM_BUILD_SEQ
    assert (spec.tp_size, spec.pp_size, spec.cp_size, spec.world_size) == (tp, pp, cp, tp * pp * cp)
    assert [r.path.name for r in spec.rank_files] == [f"rank{r}.engine" for r in range(tp * pp * cp)]
    assert spec.gpus_per_node == 4
    assert (spec.max_input_len, spec.max_seq_len) == (256, 384)


@pytest.mark.parametrize(
    ("version", "release"),
    [("0.11.0", "0.11.0"), ("0.19.0", "0.19.0"), ("1.0.0", "1.0.0"), ("1.2.0rc6", "1.2.0")],
)
def test_modern_versions(version: str, release: str, tmp_path: Path) -> None:
    spec = read_engine(make_engine_dir(tmp_path, modern_config(version, max_beam_width=2)))
    assert (spec.trtllm_version, spec.inferred_version) == (version, release)
    assert spec.max_beam_width == 2 and spec.paged_kv_cache and spec.paged_context_fmha
    assert spec.warnings == ()


@pytest.mark.parametrize(
    "mode", ["draft_tokens_external", "medusa", "lookahead", "explicit_draft_tokens", "eagle", None]
)
def test_modern_speculative_modes(mode: str | None, tmp_path: Path) -> None:
    spec = read_engine(make_engine_dir(tmp_path, modern_config(speculative=mode)))
    assert spec.speculative_decoding_mode == mode
    assert spec.max_draft_len == (4 if mode else 0)


def test_unknown_speculative_mode_is_a_warning(tmp_path: Path) -> None:
    config = set_key(modern_config(), "build_config.speculative_decoding_mode", 64)
    spec = read_engine(make_engine_dir(tmp_path, config))
    assert spec.speculative_decoding_mode == "mode_64"
    assert any("speculative_decoding_mode 64" in w for w in spec.warnings)


@pytest.mark.parametrize(
    ("kv_cache_type", "plugin_paged", "paged", "warns"),
    [
        ("PAGED", True, True, False),
        ("paged", True, True, False),
        ("CONTINUOUS", False, False, False),
        ("continuous", False, False, False),
        ("disabled", False, False, False),
        ("DISABLED", True, False, True),
        ("PAGED", False, True, True),
    ],
)
def test_kv_cache_type(
    kv_cache_type: str, plugin_paged: bool, paged: bool, warns: bool, tmp_path: Path
) -> None:
    config = modern_config(kv_cache_type=kv_cache_type, paged_kv_cache=plugin_paged)
    spec = read_engine(make_engine_dir(tmp_path, config))
    assert spec.paged_kv_cache is paged
    assert any("kv_cache_type" in w for w in spec.warnings) is warns


def test_missing_kv_cache_type_falls_back_to_the_plugin_flag(tmp_path: Path) -> None:
    config = delete_key(modern_config(paged_kv_cache=False), "build_config.kv_cache_type")
    spec = read_engine(make_engine_dir(tmp_path, config))
    assert not spec.paged_kv_cache and not spec.inflight_batching_capable
    assert any("kv_cache_type is missing" in w for w in spec.warnings)


def test_modern_lora_and_logits(tmp_path: Path) -> None:
    config = modern_config(
        lora=16,
        gather_generation_logits=True,
        logits_dtype="float16",
        dtype="float16",
        paged_context_fmha=False,
    )
    spec = read_engine(make_engine_dir(tmp_path, config))
    assert spec.lora_enabled and spec.max_lora_rank == 16
    assert spec.gather_generation_logits and not spec.gather_context_logits
    assert (spec.dtype, spec.logits_dtype, spec.paged_context_fmha) == ("float16", "float16", False)


def test_lora_rank_is_none_when_the_plugin_is_off(tmp_path: Path) -> None:
    spec = read_engine(make_engine_dir(tmp_path, modern_config(lora=False)))
    assert not spec.lora_enabled and spec.max_lora_rank is None  # lora_config.max_lora_rank is 64 regardless


def test_defaults_for_optional_keys(tmp_path: Path) -> None:
    config = modern_config(num_kv_heads=None)
    for key in (
        "pretrained_config.num_key_value_heads",
        "pretrained_config.head_size",
        "pretrained_config.logits_dtype",
        "pretrained_config.mapping.pp_size",
        "pretrained_config.mapping.cp_size",
        "pretrained_config.mapping.gpus_per_node",
        "pretrained_config.mapping.world_size",
        "build_config.max_beam_width",
        "build_config.max_draft_len",
        "build_config.speculative_decoding_mode",
        "build_config.lora_config",
        "build_config.plugin_config.lora_plugin",
        "build_config.plugin_config.use_paged_context_fmha",
    ):
        config = delete_key(config, key)
    spec = read_engine(make_engine_dir(tmp_path, config))
    assert (spec.num_kv_heads, spec.head_size, spec.logits_dtype) == (8, 64, "float32")
    assert (spec.pp_size, spec.cp_size, spec.gpus_per_node, spec.max_beam_width) == (1, 1, 8, 1)
    assert (spec.max_draft_len, spec.speculative_decoding_mode, spec.lora_enabled) == (0, None, False)
    assert not spec.paged_context_fmha


def test_unknown_keys_are_fine(tmp_path: Path) -> None:
    config = set_key(modern_config(), "build_config.some_future_key", {"nested": [1, 2]})
    config = set_key(config, "a_new_top_level_key", True)
    assert read_engine(make_engine_dir(tmp_path, config)).max_batch_size == 8


def test_seq_layout_without_max_seq_len_uses_max_position_embeddings(tmp_path: Path) -> None:
    config = delete_key(modern_config("0.13.0", max_position_embeddings=2048), "build_config.max_seq_len")
    spec = read_engine(make_engine_dir(tmp_path, config))
    assert spec.layout is EngineLayout.TRTLLM_BUILD_SEQ and spec.max_seq_len == 2048
    assert any("max_seq_len is missing" in w for w in spec.warnings)


def test_unparseable_version_is_a_warning(tmp_path: Path) -> None:
    spec = read_engine(make_engine_dir(tmp_path, modern_config("nightly")))
    assert (spec.trtllm_version, spec.inferred_version) == ("nightly", "0.11")
    assert any('version "nightly"' in w for w in spec.warnings)


def test_length_oddities_are_warnings(tmp_path: Path) -> None:
    config = modern_config(max_input_len=1000, max_seq_len=512, max_position_embeddings=256)
    spec = read_engine(make_engine_dir(tmp_path, config))
    assert any("max_input_len 1000 exceeds max_seq_len 512" in w for w in spec.warnings)
    assert any("max_position_embeddings 256 is smaller than max_seq_len 512" in w for w in spec.warnings)


def test_tp_pp_arguments_are_ignored_for_engines(tmp_path: Path) -> None:
    directory = make_engine_dir(tmp_path, modern_config(tp=2))
    spec = read_engine(directory, tp_size=4, pp_size=1)
    assert spec.tp_size == 2
    assert spec.warnings == ("tp_size 4 ignored: the engine was built with tp_size 2",)
    assert read_engine(directory, tp_size=2).warnings == ()


def test_tokenizer_beside_the_engine_is_noticed(tmp_path: Path) -> None:
    directory = make_engine_dir(tmp_path, modern_config())
    assert not read_engine(directory).tokenizer_present
    (directory / "tokenizer.model").write_bytes(b"sentencepiece")
    assert read_engine(directory).tokenizer_present


def test_engine_module_imports_only_the_standard_library() -> None:
    # What keeps `render` fast is what it imports; its wall time is measured by scripts/bench_render.py
    # (a timed assertion here would only measure how busy the machine is).
    code = (
        "import sys; import tritongen.engine; "
        "heavy = {'torch', 'transformers', 'numpy', 'tokenizers', 'jinja2'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[0] == "[]"


# --------------------------------------------------------------------------------------------------
# Bad input: one EngineError each, exit code 3, a message that says what and a hint that says how


def test_missing_directory(tmp_path: Path) -> None:
    error = engine_error(tmp_path / "nope")
    assert "does not exist" in error.message and str(tmp_path / "nope") in error.message


def test_path_is_a_file(tmp_path: Path) -> None:
    directory = make_engine_dir(tmp_path, modern_config())
    error = engine_error(directory / "config.json")
    assert "is a file" in error.message
    assert str(directory) in (error.hint or "")


def test_no_config_json(tmp_path: Path) -> None:
    error = engine_error(tmp_path)
    assert "has no config.json" in error.message


def test_no_config_json_points_at_a_nested_engine(tmp_path: Path) -> None:
    make_engine_dir(tmp_path, modern_config(), name="1")
    error = engine_error(tmp_path)
    assert str(tmp_path / "1") in (error.hint or "")


def test_no_config_json_beside_rank_engines(tmp_path: Path) -> None:
    directory = make_engine_dir(tmp_path, modern_config())
    (directory / "config.json").unlink()
    assert "rank engines are here" in (engine_error(directory).hint or "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"version": "0.13.0",\n "pretrained_config": {', "line 2, column"),
        ('{"builder_config": {"name": "llama",}}', "line 1, column 37"),
        ("", "is empty"),
        ("   \n", "is empty"),
        ("[1, 2]", "holds a JSON array, not an object"),
        ('"just a string"', "holds a JSON string"),
        ("null", "holds a JSON null"),
        ("[" * 100_000, "not valid JSON"),
    ],
)
def test_invalid_json(text: str, expected: str, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(text, encoding="utf-8")
    error = engine_error(tmp_path)
    assert expected in error.message
    assert "copy it again" in (error.hint or "")


def test_truncated_json_names_line_and_column(tmp_path: Path) -> None:
    text = (CORPUS_DIR / "engines" / "llama2-7b-fp16-tp1-a6000-v0.13.0" / "config.json").read_text()
    (tmp_path / "config.json").write_text(text[: len(text) // 2], encoding="utf-8")
    error = engine_error(tmp_path)
    assert "is not valid JSON" in error.message and "line " in error.message and "column " in error.message


def test_config_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_bytes(b'{"version": "\xff"}')
    assert "not UTF-8" in engine_error(tmp_path).message


@pytest.mark.parametrize(
    ("config", "keys"),
    [({}, "no keys"), ({"foo": 1}, '"foo"'), ({"model": {"layers": 2}, "a\nb": 1}, '"a\\nb"')],
)
def test_unknown_layout(config: dict[str, Any], keys: str, tmp_path: Path) -> None:
    error = engine_error(make_engine_dir(tmp_path, config, rank_files=False))
    assert "is not an engine config.json" in error.message
    assert f"(top-level keys: {keys}" in error.message
    assert "builder_config" in (error.hint or "")


def test_trtllm_checkpoint_is_not_an_engine(tmp_path: Path) -> None:
    config = json.loads((SYNTHETIC_DIR / "trtllm-checkpoint" / "config.json").read_text())
    error = engine_error(make_engine_dir(tmp_path, config, rank_files=False))
    assert "TensorRT-LLM checkpoint" in error.message
    assert "trtllm-build --checkpoint_dir" in (error.hint or "")


def test_new_layout_without_version(tmp_path: Path) -> None:
    config = delete_key(modern_config(), "version")
    error = engine_error(make_engine_dir(tmp_path, config))
    assert "no 'version'" in error.message


LEGACY_REQUIRED = [
    "builder_config",
    "plugin_config",
    "builder_config.name",
    "builder_config.precision",
    "builder_config.tensor_parallel",
    "builder_config.vocab_size",
    "builder_config.num_layers",
    "builder_config.num_heads",
    "builder_config.hidden_size",
    "builder_config.max_batch_size",
    "builder_config.max_input_len",
    "builder_config.max_output_len",
    "plugin_config.gpt_attention_plugin",
    "plugin_config.remove_input_padding",
    "plugin_config.paged_kv_cache",
    "plugin_config.tokens_per_block",
]
NEW_REQUIRED = [
    "pretrained_config",
    "build_config",
    "build_config.plugin_config",
    "pretrained_config.architecture",
    "pretrained_config.dtype",
    "pretrained_config.mapping",
    "pretrained_config.mapping.tp_size",
    "pretrained_config.vocab_size",
    "pretrained_config.num_hidden_layers",
    "pretrained_config.num_attention_heads",
    "pretrained_config.hidden_size",
    "pretrained_config.quantization",
    "build_config.max_batch_size",
    "build_config.max_input_len",
    "build_config.plugin_config.gpt_attention_plugin",
    "build_config.plugin_config.remove_input_padding",
    "build_config.plugin_config.paged_kv_cache",
    "build_config.plugin_config.tokens_per_block",
]


@pytest.mark.parametrize("key", LEGACY_REQUIRED)
def test_legacy_missing_required_key(key: str, tmp_path: Path) -> None:
    config = legacy_config()
    error = engine_error(make_engine_dir(tmp_path, delete_key(config, key), rank_files=False))
    assert f"has no '{key}'" in error.message


@pytest.mark.parametrize("key", [*NEW_REQUIRED, "build_config.max_output_len"])
def test_trtllm_build_missing_required_key(key: str, tmp_path: Path) -> None:
    config = trtllm_build_config()
    error = engine_error(make_engine_dir(tmp_path, delete_key(config, key), rank_files=False))
    assert f"has no '{key}'" in error.message


@pytest.mark.parametrize("key", NEW_REQUIRED)
def test_modern_missing_required_key(key: str, tmp_path: Path) -> None:
    config = modern_config()
    error = engine_error(make_engine_dir(tmp_path, delete_key(config, key), rank_files=False))
    assert f"has no '{key}'" in error.message


def test_modern_without_any_sequence_length(tmp_path: Path) -> None:
    config = delete_key(
        delete_key(modern_config(), "build_config.max_seq_len"), "pretrained_config.max_position_embeddings"
    )
    error = engine_error(make_engine_dir(tmp_path, config))
    assert "has no 'build_config.max_seq_len'" in error.message
    assert "tritongen sizes the Triton models" in (error.hint or "")


def test_required_key_that_is_null(tmp_path: Path) -> None:
    config = set_key(modern_config(), "pretrained_config.architecture", None)
    assert (
        "'pretrained_config.architecture' is null" in engine_error(make_engine_dir(tmp_path, config)).message
    )


@pytest.mark.parametrize(
    ("make", "key", "value", "expected"),
    [
        (
            modern_config,
            "pretrained_config.mapping.tp_size",
            "two",
            'a positive integer, found "two" (string)',
        ),
        (
            modern_config,
            "pretrained_config.mapping.tp_size",
            True,
            "a positive integer, found true (boolean)",
        ),
        (modern_config, "pretrained_config.mapping.tp_size", 0, "a positive integer, found 0 (integer)"),
        (modern_config, "build_config.max_batch_size", -4, "a positive integer, found -4 (integer)"),
        (modern_config, "build_config.max_batch_size", 8.5, "a positive integer, found 8.5 (number)"),
        (modern_config, "build_config.max_seq_len", 2**40, "an integer <= 2147483647"),
        (modern_config, "build_config.max_draft_len", -1, "an integer >= 0, found -1"),
        (modern_config, "pretrained_config.dtype", "float8", "one of float32, float16, bfloat16"),
        (modern_config, "pretrained_config.logits_dtype", "bfloat16", "one of float32, float16"),
        (
            modern_config,
            "build_config.plugin_config.remove_input_padding",
            "yes",
            'true or false, found "yes"',
        ),
        (
            modern_config,
            "build_config.plugin_config.gpt_attention_plugin",
            5,
            "a dtype string, false or null",
        ),
        (modern_config, "build_config.plugin_config", [1], "an object, found [1] (array)"),
        (modern_config, "build_config.kv_cache_type", "bogus", "PAGED, CONTINUOUS or DISABLED"),
        (modern_config, "pretrained_config.quantization.quant_algo", 3, "a string, found 3"),
        (modern_config, "version", 13, "a string, found 13 (integer)"),
        (legacy_config, "builder_config.tensor_parallel", "2", 'a positive integer, found "2" (string)'),
        (legacy_config, "builder_config.name", "a/b", "a model family name"),
        (
            legacy_config,
            "builder_config.name",
            "lla\nma",
            "a model family name such as 'llama', found \"lla\\nma\"",
        ),
        (legacy_config, "builder_config.quant_mode", -1, "an integer >= 0"),
        (legacy_config, "plugin_config.context_fmha_type", "on", "an integer >= 0"),
        (legacy_config, "plugin_config", "off", "an object"),
    ],
)
def test_wrong_value_types(make: Any, key: str, value: Any, expected: str, tmp_path: Path) -> None:
    config = set_key(make(), key, value)
    error = engine_error(make_engine_dir(tmp_path, config, rank_files=False))
    assert f"'{key}' must be" in error.message
    assert expected in error.message


def test_world_size_disagreeing_with_tp_pp(tmp_path: Path) -> None:
    config = set_key(modern_config(tp=2), "pretrained_config.mapping.world_size", 4)
    error = engine_error(make_engine_dir(tmp_path, config))
    assert "'pretrained_config.mapping.world_size' is 4 but tp×pp×cp = 2×1×1 = 2 ranks" in error.message


def test_more_rank_files_than_tp_pp(tmp_path: Path) -> None:
    directory = make_engine_dir(tmp_path, modern_config(tp=2))
    write_rank_files(directory, [f"rank{r}.engine" for r in range(4)])
    error = engine_error(directory)
    assert "engine files for 4 ranks (rank0, rank1, rank2, rank3)" in error.message
    assert "tp×pp×cp = 2×1×1 = 2 ranks" in error.message


def test_legacy_rank_files_built_for_another_tp(tmp_path: Path) -> None:
    directory = make_engine_dir(tmp_path, legacy_config(tp=2), rank_files=False)
    write_rank_files(directory, [f"llama_float16_tp4_rank{r}.engine" for r in range(4)])
    error = engine_error(directory)
    assert "engine files for 4 ranks" in error.message and "= 2 ranks" in error.message


def test_rank_files_named_for_another_model(tmp_path: Path) -> None:
    directory = make_engine_dir(tmp_path, legacy_config(name="gpt", tp=2), rank_files=False)
    write_rank_files(directory, ["llama_float16_tp2_rank0.engine", "llama_float16_tp2_rank1.engine"])
    error = engine_error(directory)
    assert "missing 2 rank engine file(s): gpt_float16_tp2_rank0.engine" in error.message
    assert "named like llama_float16_tp2_rank0.engine" in error.message


def test_missing_rank_files_are_listed(tmp_path: Path) -> None:
    directory = make_engine_dir(tmp_path, modern_config(tp=4))
    (directory / "rank1.engine").unlink()
    (directory / "rank3.engine").unlink()
    error = engine_error(directory)
    assert "missing 2 rank engine file(s): rank1.engine, rank3.engine" in error.message
    assert "tp×pp×cp = 4×1×1 = 4 ranks; 2 rank file(s) present" in error.message


def test_no_rank_files_at_all(tmp_path: Path) -> None:
    error = engine_error(make_engine_dir(tmp_path, legacy_config(tp=2), rank_files=False))
    assert (
        "missing 2 rank engine file(s): llama_float16_tp2_rank0.engine, llama_float16_tp2_rank1.engine"
        in error.message
    )
    assert "no rank files present" in error.message


def test_huge_world_size_is_reported_quickly(tmp_path: Path) -> None:
    config = set_key(modern_config(), "pretrained_config.mapping.tp_size", 2**31 - 1)
    config = delete_key(config, "pretrained_config.mapping.world_size")
    started = time.perf_counter()
    error = engine_error(make_engine_dir(tmp_path, config, rank_files=False))
    assert time.perf_counter() - started < 1
    assert (
        "rank0.engine, rank1.engine, rank2.engine, rank3.engine, rank4.engine and 2147483642 more"
        in error.message
    )


def test_rank_file_that_is_a_directory_does_not_count(tmp_path: Path) -> None:
    directory = make_engine_dir(tmp_path, modern_config(), rank_files=False)
    (directory / "rank0.engine").mkdir()
    assert "rank0.engine" in engine_error(directory).message


# --------------------------------------------------------------------------------------------------
# Hugging Face checkpoints


def smollm2_checkpoint(dest: Path) -> Path:
    """The SmolLM2-135M config.json with a stand-in weights file."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "config.json").write_bytes((SYNTHETIC_DIR / "smollm2-135m-hf" / "config.json").read_bytes())
    (dest / "model.safetensors").write_bytes(b"stand-in weights")
    return dest


def test_hf_checkpoint_is_detected(tmp_path: Path) -> None:
    spec = read_engine(smollm2_checkpoint(tmp_path / "smollm2"))
    assert spec.layout is EngineLayout.HF_CHECKPOINT and spec.is_checkpoint
    assert (spec.architecture, spec.dtype, spec.logits_dtype) == ("LlamaForCausalLM", "bfloat16", "float32")
    assert (spec.num_heads, spec.num_kv_heads, spec.num_layers, spec.hidden_size) == (9, 3, 30, 576)
    assert (spec.vocab_size, spec.head_size) == (49152, 64)
    assert (spec.max_seq_len, spec.max_input_len, spec.max_position_embeddings) == (4096, 4095, 8192)
    assert (spec.max_batch_size, spec.max_num_tokens, spec.max_beam_width) == (16, None, 1)
    assert spec.paged_kv_cache and spec.remove_input_padding and spec.gpt_attention_plugin
    assert not spec.context_fmha and not spec.paged_context_fmha
    assert (spec.tp_size, spec.pp_size, spec.cp_size) == (1, 1, 1)
    assert [(r.rank, r.path.name, r.size_bytes) for r in spec.rank_files] == [(0, "model.safetensors", 16)]
    assert spec.trtllm_version is None and spec.inferred_version == ""
    assert not spec.tokenizer_present
    assert spec.warnings == ()


@pytest.mark.parametrize("tp", [1, 3])
def test_hf_checkpoint_tp_that_divides_the_heads(tp: int, tmp_path: Path) -> None:
    spec = read_engine(smollm2_checkpoint(tmp_path), tp_size=tp)
    assert spec.tp_size == tp and spec.world_size == tp


def test_hf_checkpoint_tp_that_does_not_divide_the_heads(tmp_path: Path) -> None:
    error = engine_error(smollm2_checkpoint(tmp_path), tp_size=2)
    assert "9 attention heads are not divisible by tp_size 2" in error.message
    assert "1, 3" in (error.hint or "")


def test_hf_checkpoint_tp_that_does_not_divide_the_kv_heads(tmp_path: Path) -> None:
    assert (
        "3 KV heads are not divisible by tp_size 9"
        in engine_error(smollm2_checkpoint(tmp_path), tp_size=9).message
    )


def test_hf_checkpoint_pp(tmp_path: Path) -> None:
    assert read_engine(smollm2_checkpoint(tmp_path), pp_size=2).pp_size == 2
    assert "pp_size 31 is larger than the 30 layers" in engine_error(tmp_path, pp_size=31).message


@pytest.mark.parametrize("tp", [0, -1])
def test_hf_checkpoint_bad_tp_argument_is_a_usage_error(tp: int, tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        read_engine(smollm2_checkpoint(tmp_path), tp_size=tp)


def test_hf_checkpoint_without_weights(tmp_path: Path) -> None:
    directory = smollm2_checkpoint(tmp_path)
    (directory / "model.safetensors").unlink()
    assert "no weights" in engine_error(directory).message


def test_hf_checkpoint_with_bin_weights_and_tokenizer(tmp_path: Path) -> None:
    directory = smollm2_checkpoint(tmp_path)
    (directory / "model.safetensors").unlink()
    for name in ("pytorch_model-00002-of-00002.bin", "pytorch_model-00001-of-00002.bin"):
        (directory / name).write_bytes(b"w")
    (directory / "tokenizer.json").write_text("{}")
    spec = read_engine(directory)
    assert [r.path.name for r in spec.rank_files] == [
        "pytorch_model-00001-of-00002.bin",
        "pytorch_model-00002-of-00002.bin",
    ]
    assert spec.tokenizer_present


def test_hf_checkpoint_missing_shard(tmp_path: Path) -> None:
    directory = smollm2_checkpoint(tmp_path)
    (directory / "model.safetensors").rename(directory / "model-00001-of-00002.safetensors")
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (directory / "model.safetensors.index.json").write_text(json.dumps(index))
    error = engine_error(directory)
    assert (
        "missing 1 weight shard(s)" in error.message and "model-00002-of-00002.safetensors" in error.message
    )


def test_hf_checkpoint_dtype_variants(tmp_path: Path) -> None:
    base = json.loads((SYNTHETIC_DIR / "smollm2-135m-hf" / "config.json").read_text())
    cases: list[tuple[dict[str, Any], str]] = [
        ({k: v for k, v in base.items() if k != "torch_dtype"}, "float32"),
        ({**{k: v for k, v in base.items() if k != "torch_dtype"}, "dtype": "float16"}, "float16"),
        ({**base, "torch_dtype": "torch.float16"}, "float16"),
    ]
    for index, (config, dtype) in enumerate(cases):
        directory = smollm2_checkpoint(tmp_path / str(index))
        (directory / "config.json").write_text(json.dumps(config))
        assert read_engine(directory).dtype == dtype
    directory = smollm2_checkpoint(tmp_path / "odd")
    (directory / "config.json").write_text(json.dumps({**base, "torch_dtype": "float64"}))
    spec = read_engine(directory)
    assert spec.dtype == "float32" and any("float64" in w for w in spec.warnings)


def test_hf_checkpoint_nested_text_config_and_gpt2_names(tmp_path: Path) -> None:
    nested = {
        "architectures": ["Gemma3ForConditionalGeneration"],
        "text_config": {
            "num_attention_heads": 4,
            "num_key_value_heads": 1,
            "hidden_size": 1152,
            "head_dim": 256,
            "num_hidden_layers": 26,
            "vocab_size": 262144,
            "max_position_embeddings": 32768,
        },
    }
    directory = smollm2_checkpoint(tmp_path / "gemma")
    (directory / "config.json").write_text(json.dumps(nested))
    spec = read_engine(directory)
    assert (spec.num_heads, spec.num_kv_heads, spec.head_size, spec.max_seq_len) == (4, 1, 256, 4096)
    gpt2 = {
        "architectures": ["GPT2LMHeadModel"],
        "n_head": 12,
        "n_embd": 768,
        "n_layer": 12,
        "n_positions": 1024,
        "vocab_size": 50257,
    }
    directory = smollm2_checkpoint(tmp_path / "gpt2")
    (directory / "config.json").write_text(json.dumps(gpt2))
    spec = read_engine(directory)
    assert (spec.num_heads, spec.num_kv_heads, spec.num_layers, spec.hidden_size) == (12, 12, 12, 768)
    assert (spec.max_seq_len, spec.max_input_len) == (1024, 1023)


def test_hf_checkpoint_missing_heads(tmp_path: Path) -> None:
    directory = smollm2_checkpoint(tmp_path)
    config = json.loads((directory / "config.json").read_text())
    del config["num_attention_heads"]
    (directory / "config.json").write_text(json.dumps(config))
    assert "has no 'num_attention_heads'" in engine_error(directory).message


def test_hf_checkpoint_without_context_length_assumes_4096(tmp_path: Path) -> None:
    directory = smollm2_checkpoint(tmp_path)
    config = json.loads((directory / "config.json").read_text())
    del config["max_position_embeddings"]
    (directory / "config.json").write_text(json.dumps(config))
    spec = read_engine(directory)
    assert spec.max_seq_len == 4096 and spec.max_position_embeddings is None
    assert any("assuming 4096" in w for w in spec.warnings)


def test_real_tiny_checkpoint_and_tokenizer(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer_dir = make_tokenizer_dir(tmp_path / "tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    assert tokenizer.eos_token == "</s>" and tokenizer.bos_token == "<s>" and tokenizer.pad_token == "<pad>"
    text = "Hello world, what is the capital of France?"
    assert tokenizer.decode(tokenizer.encode(text)) == text

    directory = make_hf_checkpoint(tmp_path / "ckpt", tokenizer_from=tokenizer_dir)
    spec = read_engine(directory)
    assert spec.is_checkpoint and spec.tokenizer_present
    assert (spec.num_heads, spec.num_kv_heads, spec.hidden_size, spec.num_layers) == (4, 2, 64, 2)
    assert spec.vocab_size == len(tokenizer)
    assert spec.rank_files[0].path.name == "model.safetensors" and spec.rank_files[0].size_bytes > 10_000
    assert engine_error(directory, tp_size=4).message.endswith("2 KV heads are not divisible by tp_size 4")
    model = AutoModelForCausalLM.from_pretrained(directory)
    logits = model(**tokenizer(text, return_tensors="pt")).logits
    assert logits.shape[-1] == spec.vocab_size


# --------------------------------------------------------------------------------------------------
# Property: whatever is done to a valid config.json, read_engine returns a spec or raises EngineError

BASE_CONFIGS: list[dict[str, Any]] = [
    corpus_config("llama2-70b-tp2-int8wo-int8kv-v0.5"),
    corpus_config("tabnine-starfish-gpt-beam2-v0.7"),
    corpus_config("starchat-15b-gpt-mqa-v0.8dev"),
    corpus_config("mistral-7b-bf16-tp1-v0.8dev"),
    corpus_config("vicuna-7b-medusa-tp1-v0.13dev"),
    corpus_config("smollm-135m-llama-beam5-v1.2.0rc6"),
    legacy_config(flavor="0.5", tp=2, pp=2),
    trtllm_build_config(tp=2),
    modern_config(tp=2, cp=2, lora=8, speculative="eagle"),
    json.loads((SYNTHETIC_DIR / "smollm2-135m-hf" / "config.json").read_text()),
]

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**40), max_value=2**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["float16", "bfloat16", "auto", "PAGED", "paged", "0.13.0", "rank0.engine", "llama"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)


FUZZ_EXAMPLES = int(os.environ.get("TRITONGEN_FUZZ_EXAMPLES", "300"))


def key_paths(node: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key path of the nested dicts."""
    paths: list[tuple[str, ...]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            paths.append((*prefix, key))
            paths.extend(key_paths(value, (*prefix, key)))
    return paths


def original_rank_files(config: dict[str, Any]) -> list[str]:
    """The rank file names of an unmutated base config ([] for the checkpoint)."""
    return [] if "architectures" in config else rank_file_names(config)


def write_checkpoint_weights(directory: Path) -> None:
    (directory / "model.safetensors").write_bytes(b"w")


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_configs_raise_only_engine_error(data: st.DataObject) -> None:
    base_index = data.draw(st.integers(0, len(BASE_CONFIGS) - 1), label="base")
    config = json.loads(json.dumps(BASE_CONFIGS[base_index]))
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        paths = key_paths(config)
        if not paths:
            break
        path = data.draw(st.sampled_from(paths), label="path")
        parent = config
        for part in path[:-1]:
            parent = parent[part]
        action = data.draw(st.sampled_from(["delete", "replace", "insert"]), label="action")
        if action == "delete":
            del parent[path[-1]]
        elif action == "replace":
            parent[path[-1]] = data.draw(JSON_VALUES, label="value")
        else:
            parent[data.draw(st.text(max_size=8), label="new key")] = data.draw(JSON_VALUES, label="value")
    tp_size = data.draw(st.sampled_from([None, 1, 2, 3]), label="tp_size")
    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp)
        (directory / "config.json").write_text(json.dumps(config), encoding="utf-8")
        names = original_rank_files(BASE_CONFIGS[base_index])
        kept = data.draw(st.lists(st.sampled_from(names), unique=True), label="kept") if names else []
        extra = data.draw(st.lists(st.integers(0, 8), max_size=2), label="extra ranks")
        write_rank_files(directory, sorted({*kept, *(f"rank{rank}.engine" for rank in extra)}))
        if data.draw(st.booleans(), label="weights"):
            write_checkpoint_weights(directory)
        try:
            spec = read_engine(directory, tp_size=tp_size)
        except EngineError as error:
            assert error.exit_code == 3 and error.message and "\n" not in error.one_line()
        else:
            assert isinstance(spec, EngineSpec)
            assert spec.world_size >= 1 and spec.max_seq_len >= 1


@settings(max_examples=150, deadline=None)
@given(base_index=st.integers(0, len(BASE_CONFIGS) - 1), cut=st.floats(0, 1), junk=st.text(max_size=4))
def test_truncated_or_garbled_files_raise_only_engine_error(base_index: int, cut: float, junk: str) -> None:
    text = json.dumps(BASE_CONFIGS[base_index], indent=2)
    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp)
        (directory / "config.json").write_text(text[: int(len(text) * cut)] + junk, encoding="utf-8")
        try:
            read_engine(directory)
        except EngineError as error:
            assert error.exit_code == 3
