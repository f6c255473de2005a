"""The catalogue against the reference: placeholder sets, keys, headers, version ranges, file order."""

from __future__ import annotations

import pytest

from tritongen.errors import UsageError
from tritongen.render.catalogue import (
    CATALOGUE,
    GENERATION_MODELS,
    generation_for,
    params_for,
    tensor_features,
)
from tritongen.render.catalogue_types import MODELS, RUNTIMES, Param, ParamType
from tritongen.render.overrides import coerce
from tritongen.versions import Version, v

# Placeholder sets transcribed from the reference (§1.1-1.6), independently of tritongen/catalogue.py.
TRT_V08 = {
    "triton_max_batch_size",
    "decoupled_mode",
    "max_queue_delay_microseconds",
    "max_beam_width",
    "batching_strategy",
    "engine_dir",
    "max_tokens_in_paged_kv_cache",
    "max_attention_window_size",
    "batch_scheduler_policy",
    "kv_cache_free_gpu_mem_fraction",
    "enable_trt_overlap",
    "exclude_input_in_output",
    "enable_kv_cache_reuse",
    "normalize_log_probs",
    "enable_chunked_context",
    "gpu_device_ids",
}
TRT_LATEST = {
    "triton_backend",
    "triton_max_batch_size",
    "decoupled_mode",
    "max_queue_delay_microseconds",
    "max_queue_size",
    "encoder_input_features_data_type",
    "logits_datatype",
    "prompt_embedding_table_data_type",
    "max_beam_width",
    "batching_strategy",
    "engine_dir",
    "encoder_engine_dir",
    "max_tokens_in_paged_kv_cache",
    "max_attention_window_size",
    "sink_token_length",
    "batch_scheduler_policy",
    "kv_cache_free_gpu_mem_fraction",
    "cross_kv_cache_fraction",
    "kv_cache_host_memory_bytes",
    "kv_cache_onboard_blocks",
    "enable_trt_overlap",
    "exclude_input_in_output",
    "cancellation_check_period_ms",
    "stats_check_period_ms",
    "iter_stats_max_iterations",
    "request_stats_max_iterations",
    "enable_kv_cache_reuse",
    "normalize_log_probs",
    "enable_chunked_context",
    "gpu_device_ids",
    "participant_ids",
    "num_nodes",
    "lora_cache_optimal_adapter_size",
    "lora_cache_max_adapter_size",
    "lora_cache_gpu_memory_fraction",
    "lora_cache_host_memory_bytes",
    "lora_prefetch_dir",
    "decoding_mode",
    "lookahead_window_size",
    "lookahead_ngram_size",
    "lookahead_verification_set_size",
    "medusa_choices",
    "eagle_choices",
    "gpu_weights_percent",
    "enable_context_fmha_fp32_acc",
    "multi_block_mode",
    "cuda_graph_mode",
    "cuda_graph_cache_size",
    "speculative_decoding_fast_logits",
    "tokenizer_dir",
    "guided_decoding_backend",
    "xgrammar_tokenizer_info_path",
}
EXPECTED_PLACEHOLDERS = {
    ("0.5", "tensorrt_llm"): {
        "batch_scheduler_policy",
        "decoupled_mode",
        "enable_trt_overlap",
        "engine_dir",
        "kv_cache_free_gpu_mem_fraction",
        "max_num_sequences",
        "max_tokens_in_paged_kv_cache",
    },
    ("0.5", "preprocessing"): {"tokenizer_dir", "tokenizer_type"},
    ("0.5", "postprocessing"): {"tokenizer_dir", "tokenizer_type"},
    ("0.5", "ensemble"): set(),
    ("0.8", "tensorrt_llm"): TRT_V08,
    ("0.8", "preprocessing"): {
        "triton_max_batch_size",
        "tokenizer_dir",
        "tokenizer_type",
        "preprocessing_instance_count",
    },
    ("0.8", "postprocessing"): {
        "triton_max_batch_size",
        "tokenizer_dir",
        "tokenizer_type",
        "postprocessing_instance_count",
    },
    ("0.8", "ensemble"): {"triton_max_batch_size"},
    ("0.8", "tensorrt_llm_bls"): {
        "triton_max_batch_size",
        "decoupled_mode",
        "accumulate_tokens",
        "bls_instance_count",
    },
    ("0.19", "tensorrt_llm"): TRT_LATEST - {"prompt_embedding_table_data_type", "enable_trt_overlap"},
    ("1.2", "tensorrt_llm"): TRT_LATEST,
    ("0.19", "preprocessing"): {
        "triton_max_batch_size",
        "max_queue_delay_microseconds",
        "max_queue_size",
        "tokenizer_dir",
        "add_special_tokens",
        "multimodal_model_path",
        "engine_dir",
        "max_num_images",
        "preprocessing_instance_count",
    },
    ("1.2", "preprocessing"): {
        "triton_max_batch_size",
        "max_queue_delay_microseconds",
        "max_queue_size",
        "tokenizer_dir",
        "add_special_tokens",
        "multimodal_model_path",
        "engine_dir",
        "max_num_images",
        "hf_model_path",
        "preprocessing_instance_count",
    },
    ("1.2", "postprocessing"): {
        "triton_max_batch_size",
        "tokenizer_dir",
        "skip_special_tokens",
        "postprocessing_instance_count",
    },
    ("1.2", "ensemble"): {"triton_max_batch_size", "logits_datatype"},
    ("1.2", "tensorrt_llm_bls"): {
        "triton_max_batch_size",
        "decoupled_mode",
        "logits_datatype",
        "accumulate_tokens",
        "tensorrt_llm_model_name",
        "tensorrt_llm_draft_model_name",
        "multimodal_encoders_name",
        "bls_instance_count",
    },
}
ALL_VERSIONS = [v(f"0.{minor}") for minor in range(5, 20)] + [
    v("0.20"),
    v("0.21"),
    v("1.0"),
    v("1.1"),
    v("1.2"),
]


@pytest.mark.parametrize(("version", "model"), sorted(EXPECTED_PLACEHOLDERS))
def test_placeholders_match_the_reference(version: str, model: str) -> None:
    found = {p.name for p in params_for(model, v(version)) if p.placeholder}
    assert found == EXPECTED_PLACEHOLDERS[(version, model)]


@pytest.mark.parametrize("version", ALL_VERSIONS, ids=str)
@pytest.mark.parametrize("runtime", ["trtllm", "torch"])
def test_one_entry_per_name_and_key_at_every_version(version: Version, runtime: str) -> None:
    for model in MODELS:
        entries = params_for(model, version, runtime)
        assert len({p.name for p in entries}) == len(entries), model
        block = [p.parameter_key for p in entries if not p.header]
        assert len(set(block)) == len(block), model


@pytest.mark.parametrize(
    ("name", "model", "present", "absent"),
    [
        ("max_num_sequences", "tensorrt_llm", ["0.5", "0.7.1"], ["0.8", "0.19"]),
        ("enable_trt_overlap", "tensorrt_llm", ["0.5", "0.9", "1.1", "1.2"], ["0.10", "0.19", "1.0"]),
        ("max_kv_cache_length", "tensorrt_llm", ["0.6"], ["0.5", "0.7"]),
        ("tokenizer_type", "preprocessing", ["0.5", "0.8"], ["0.9", "1.2"]),
        ("tokenizer_type", "postprocessing", ["0.5", "0.8"], ["0.9", "1.2"]),
        ("visual_model_path", "preprocessing", ["0.12", "0.18"], ["0.11", "0.19"]),
        ("logits_datatype", "ensemble", ["0.17", "1.2"], ["0.16"]),
        ("triton_backend", "tensorrt_llm", ["0.5", "0.10"], []),
        ("worker_path", "tensorrt_llm", ["0.9"], ["0.8", "0.10"]),
        ("executor_worker_path", "tensorrt_llm", ["0.10", "1.2"], ["0.9"]),
        ("prompt_embedding_table_data_type", "tensorrt_llm", ["1.1"], ["0.19", "1.0"]),
    ],
)
def test_version_ranges(name: str, model: str, present: list[str], absent: list[str]) -> None:
    for version in present:
        assert name in {p.name for p in params_for(model, v(version))}, version
    for version in absent:
        assert name not in {p.name for p in params_for(model, v(version))}, version


def test_tensor_renames_are_not_parameters() -> None:
    assert not {"min_length", "min_tokens", "random_seed", "seed"} & {p.name for p in CATALOGUE}


def test_keys_that_differ_from_names() -> None:
    renamed = {(p.model, p.name): p.key for p in CATALOGUE if p.key}
    assert renamed == {
        ("tensorrt_llm", "batching_strategy"): "gpt_model_type",
        ("tensorrt_llm", "engine_dir"): "gpt_model_path",
        ("tensorrt_llm", "encoder_engine_dir"): "encoder_model_path",
        ("preprocessing", "engine_dir"): "gpt_model_path",
    }


def test_header_positions() -> None:
    headers = {p.name for p in CATALOGUE if p.header}
    assert headers == {
        "triton_backend",
        "triton_max_batch_size",
        "decoupled_mode",
        "max_queue_delay_microseconds",
        "max_queue_size",
        "preprocessing_instance_count",
        "postprocessing_instance_count",
        "bls_instance_count",
        "encoder_input_features_data_type",
        "logits_datatype",
        "prompt_embedding_table_data_type",
    }
    assert all(p.type is ParamType.DATATYPE for p in CATALOGUE if p.name.endswith(("_data_type", "datatype")))


def test_torch_runtime_reads_exactly_its_keys() -> None:
    keys = {p.parameter_key for p in params_for("tensorrt_llm", v("1.2"), "torch") if not p.header}
    assert keys == {
        "gpt_model_path",
        "max_batch_size",
        "max_input_len",
        "max_seq_len",
        "torch_dtype",
        "device",
        "tp_size",
        "exclude_input_in_output",
        "max_beam_width",
        "tokenizer_dir",
        "max_tokens_in_paged_kv_cache",
        "cancellation_check_period_ms",
    }
    # ... and every key the runtime's code reads is rendered (read from its source, not a copy of the list)
    import re
    from pathlib import Path

    runtime = Path(__file__).resolve().parents[1] / "tritongen" / "runtime" / "torch_runtime"
    source = "\n".join(p.read_text() for p in runtime.rglob("*.py"))
    read = set(re.findall(r'text\("([a-z_]+)"\)', source)) | set(
        re.findall(r'parameters\.get\("([a-z_]+)"', source)
    )
    assert read and read <= keys, read - keys
    assert not any(p.runtime == "torch" for p in params_for("tensorrt_llm", v("1.2"), "trtllm"))


def test_parameters_block_follows_the_reference_file_order() -> None:
    v08 = [p.parameter_key for p in params_for("tensorrt_llm", v("0.8")) if not p.header]
    assert v08 == [
        "max_beam_width",
        "FORCE_CPU_ONLY_INPUT_TENSORS",
        "gpt_model_type",
        "gpt_model_path",
        "max_tokens_in_paged_kv_cache",
        "max_attention_window_size",
        "batch_scheduler_policy",
        "kv_cache_free_gpu_mem_fraction",
        "enable_trt_overlap",
        "exclude_input_in_output",
        "enable_kv_cache_reuse",
        "normalize_log_probs",
        "enable_chunked_context",
        "gpu_device_ids",
    ]
    v05 = [p.parameter_key for p in params_for("tensorrt_llm", v("0.5")) if not p.header]
    assert v05 == [
        "max_beam_width",
        "FORCE_CPU_ONLY_INPUT_TENSORS",
        "gpt_model_type",
        "gpt_model_path",
        "max_tokens_in_paged_kv_cache",
        "batch_scheduler_policy",
        "kv_cache_free_gpu_mem_fraction",
        "max_num_sequences",
        "enable_trt_overlap",
    ]
    latest = [p.parameter_key for p in params_for("tensorrt_llm", v("1.2")) if not p.header]
    assert latest[:5] == [
        "max_beam_width",
        "FORCE_CPU_ONLY_INPUT_TENSORS",
        "gpt_model_type",
        "gpt_model_path",
        "encoder_model_path",
    ]
    assert latest[-3:] == ["tokenizer_dir", "guided_decoding_backend", "xgrammar_tokenizer_info_path"]
    assert latest.index("executor_worker_path") == latest.index("decoding_mode") + 1
    pre = [p.parameter_key for p in params_for("preprocessing", v("1.2")) if not p.header]
    assert pre[:6] == [
        "tokenizer_dir",
        "add_special_tokens",
        "multimodal_model_path",
        "gpt_model_path",
        "max_num_images",
        "hf_model_path",
    ]
    # then the keys only tritongen's own preprocessing model reads
    assert pre[6:] == ["apply_chat_template", "max_input_len", "max_seq_len"]


@pytest.mark.parametrize(
    ("version", "generation"),
    [
        ("0.5", "v0.5"),
        ("0.7.1", "v0.5"),
        ("0.8", "v0.8"),
        ("0.8.0.dev2024013000", "v0.8"),
        ("0.18.2", "v0.8"),
        ("0.19", "latest"),
        ("1.0", "latest"),
        ("1.2.0rc6", "latest"),
        ("2.0", "latest"),
    ],
)
def test_generation_for(version: str, generation: str) -> None:
    assert generation_for(v(version)) == generation


def test_too_old_a_version_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="older than the oldest supported"):
        generation_for(v("0.4"))


def test_bls_only_from_the_v08_generation() -> None:
    assert "tensorrt_llm_bls" not in GENERATION_MODELS["v0.5"]
    assert GENERATION_MODELS["latest"] == MODELS


@pytest.mark.parametrize(
    ("version", "min_name", "seed_name", "counts"),
    [
        ("0.19", "min_length", "random_seed", False),
        ("1.0", "min_length", "random_seed", False),
        ("1.1", "min_tokens", "seed", True),
        ("1.2", "min_tokens", "seed", True),
    ],
)
def test_tensor_features(version: str, min_name: str, seed_name: str, counts: bool) -> None:
    features = tensor_features(v(version))
    assert (features["min_tokens"], features["seed"], features["token_counts"]) == (
        min_name,
        seed_name,
        counts,
    )


@pytest.mark.parametrize("param", CATALOGUE, ids=lambda p: f"{p.model}.{p.name}@{p.since}")
def test_entries_are_well_formed(param: Param) -> None:
    assert param.model in MODELS and param.runtime in RUNTIMES and param.doc
    assert param.until is None or param.since < param.until
    if param.default is not None:
        assert coerce(param, param.default, "catalogue") == param.default
    if param.choices and param.default is not None:
        assert param.default in param.choices
