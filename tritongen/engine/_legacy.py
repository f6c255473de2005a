"""The legacy layout (v0.5-0.8 `examples/<model>/build.py`): `builder_config` + `plugin_config`, no `version`.

Rank engines are named `<name>_<precision>_tp<TP>[_pp<PP>][_cp<CP>]_rank<R>.engine`, and quantization is
the `quant_mode` bitmask that later releases replaced with named algorithms.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tritongen.engine._json import Section
from tritongen.engine._reading import (
    DEFAULT_GPUS_PER_NODE,
    ENGINE_DTYPES,
    LIMIT_WHY,
    LOGITS_DTYPES,
    Parallelism,
    Reading,
    check_lengths,
    plugin_fields,
    reading_fields,
    speculative_mode,
)
from tritongen.engine.spec import EngineLayout, EngineSpec

# The legacy `quant_mode` bitmask (tensorrt_llm.quantization.QuantMode, v0.5-0.8).
_INT4_WEIGHTS = 1
_INT8_WEIGHTS = 2
_ACTIVATIONS = 4
_PER_CHANNEL = 8
_PER_TOKEN = 16
_PER_GROUP = 32
_INT8_KV_CACHE = 64
_FP8_KV_CACHE = 128
_FP8_QDQ = 256
_KNOWN_QUANT_BITS = 511


_SMOOTHQUANT_ALGOS = {  # (per_channel, per_token) -> the QuantAlgo name of later releases
    (True, True): "W8A8_SQ_PER_CHANNEL_PER_TOKEN_PLUGIN",
    (True, False): "W8A8_SQ_PER_CHANNEL_PER_TENSOR_PLUGIN",
    (False, True): "W8A8_SQ_PER_TENSOR_PER_TOKEN_PLUGIN",
    (False, False): "W8A8_SQ_PER_TENSOR_PLUGIN",
}


def decode_quant_mode(quant_mode: int) -> tuple[str | None, str | None]:
    """The legacy `quant_mode` bitmask as (quant_algo, kv_cache_quant_algo) names of later releases.

    66 = INT8_WEIGHTS | INT8_KV_CACHE = ("W8A16", "INT8"). Per-group INT4 cannot tell AWQ from GPTQ; it is
    reported as AWQ (the same plugin serves both).
    """
    kv_algo = "INT8" if quant_mode & _INT8_KV_CACHE else "FP8" if quant_mode & _FP8_KV_CACHE else None
    return _weights_algo(quant_mode), kv_algo


def _weights_algo(quant_mode: int) -> str | None:
    activations = bool(quant_mode & _ACTIVATIONS)
    if quant_mode & _FP8_QDQ:
        return "FP8"
    if quant_mode & _INT4_WEIGHTS:
        if activations:
            return "W4A8_AWQ"
        return "W4A16_AWQ" if quant_mode & _PER_GROUP else "W4A16"
    if quant_mode & _INT8_WEIGHTS:
        if not activations:
            return "W8A16"
        return _SMOOTHQUANT_ALGOS[(bool(quant_mode & _PER_CHANNEL), bool(quant_mode & _PER_TOKEN))]
    return None


def infer_legacy_version(builder_config: Mapping[str, Any], plugin_config: Mapping[str, Any]) -> str:
    """Which release wrote a legacy file, from the keys it added or removed (corpus/SOURCES.md §C.1)."""
    if "strongly_typed" in builder_config or "context_fmha" in plugin_config:
        return "0.8"
    if "max_beam_width" not in builder_config:
        return "0.5"
    if "context_fmha_type" in plugin_config or "autopp_config" in builder_config:
        return "0.7"
    return "0.6"


def legacy_rank_file_name(name: str, precision: str, *, tp: int, pp: int, cp: int, rank: int) -> str:
    """`GptJsonConfig::engineFilename` for files without `version`: llama_float16_tp2_rank0.engine."""
    pp_part = f"_pp{pp}" if pp > 1 else ""
    cp_part = f"_cp{cp}" if cp > 1 else ""
    return f"{name}_{precision}_tp{tp}{pp_part}{cp_part}_rank{rank}.engine"


def read_legacy(reading: Reading) -> EngineSpec:
    root = reading.root
    builder = root.require_section("builder_config")
    plugins = root.require_section("plugin_config")
    name = builder.get_str("name")
    if not name.isprintable() or "/" in name or not name.strip():
        builder.wrong_type("name", "a model family name such as 'llama'", name)
    dtype = builder.get_str("precision", choices=ENGINE_DTYPES)
    parallel = Parallelism(
        tp=builder.get_int("tensor_parallel"),
        pp=builder.get_int("pipeline_parallel", default=1),
        cp=builder.get_int("context_parallel", default=1),
    )
    num_heads = builder.get_int("num_heads")
    hidden_size = builder.get_int("hidden_size")
    max_input_len = builder.get_int("max_input_len", why=LIMIT_WHY)
    max_seq_len = max_input_len + builder.get_int("max_output_len", why=LIMIT_WHY)
    max_position = builder.optional_int("max_position_embeddings")
    check_lengths(reading, max_input_len=max_input_len, max_seq_len=max_seq_len, max_position=max_position)
    gather_all = builder.get_bool("gather_all_token_logits", default=False)
    quant_algo, kv_quant_algo = _legacy_quantization(builder, reading)
    max_draft_len = builder.get_int("max_draft_len", default=0, minimum=0)
    lora_enabled = plugins.plugin_enabled("lora_plugin", required=False)
    return EngineSpec(
        path=reading.directory,
        layout=EngineLayout.LEGACY,
        trtllm_version=None,
        inferred_version=infer_legacy_version(builder.data, plugins.data),
        architecture=name,
        dtype=dtype,
        logits_dtype=builder.get_str("logits_dtype", default="float32", choices=LOGITS_DTYPES),
        vocab_size=builder.get_int("vocab_size"),
        num_layers=builder.get_int("num_layers"),
        num_heads=num_heads,
        num_kv_heads=builder.get_int("num_kv_heads", default=num_heads),
        head_size=builder.get_int("head_size", default=max(hidden_size // num_heads, 1)),
        hidden_size=hidden_size,
        max_batch_size=builder.get_int("max_batch_size", why=LIMIT_WHY),
        max_input_len=max_input_len,
        max_seq_len=max_seq_len,
        max_num_tokens=builder.optional_int("max_num_tokens"),
        max_beam_width=builder.get_int("max_beam_width", default=1),
        paged_kv_cache=plugins.get_bool("paged_kv_cache"),
        remove_input_padding=plugins.get_bool("remove_input_padding"),
        **plugin_fields(plugins),
        context_fmha=_legacy_context_fmha(plugins),
        gather_context_logits=builder.get_bool("gather_context_logits", default=gather_all),
        gather_generation_logits=builder.get_bool("gather_generation_logits", default=gather_all),
        lora_enabled=lora_enabled,
        max_lora_rank=builder.optional_int("max_lora_rank") if lora_enabled else None,
        speculative_decoding_mode=speculative_mode(
            builder, reading, architecture=name, max_draft_len=max_draft_len
        ),
        max_draft_len=max_draft_len,
        quant_algo=quant_algo,
        kv_cache_quant_algo=kv_quant_algo,
        max_prompt_embedding_table_size=builder.get_int(
            "max_prompt_embedding_table_size", default=0, minimum=0
        ),
        gpus_per_node=DEFAULT_GPUS_PER_NODE,
        **reading_fields(
            reading,
            parallel,
            lambda rank: legacy_rank_file_name(
                name, dtype, tp=parallel.tp, pp=parallel.pp, cp=parallel.cp, rank=rank
            ),
            max_position,
        ),
    )


def _legacy_context_fmha(plugins: Section) -> bool:
    """0.8 writes `context_fmha` (bool); 0.5-0.7 write `context_fmha_type` (0 off, 1 on, 2 on with fp32 acc)."""
    if "context_fmha" in plugins.data:
        return plugins.get_bool("context_fmha", default=False)
    return plugins.get_int("context_fmha_type", default=0, minimum=0) > 0


def _legacy_quantization(builder: Section, reading: Reading) -> tuple[str | None, str | None]:
    quant_mode = builder.get_int("quant_mode", default=0, minimum=0)
    if quant_mode & ~_KNOWN_QUANT_BITS:
        reading.warn(f"quant_mode {quant_mode} has bits tritongen does not know; decoded only the known ones")
    return decode_quant_mode(quant_mode)
