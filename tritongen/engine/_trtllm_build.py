"""The `trtllm-build` layouts: `version` + `pretrained_config` + `build_config`, with `max_output_len`
(0.8-0.10) or `max_seq_len` (0.11+ and 1.x); rank engines are `rank<R>.engine`.
"""

from __future__ import annotations

from tritongen.engine._json import MISSING, Section, show
from tritongen.engine._reading import (
    DEFAULT_GPUS_PER_NODE,
    ENGINE_DTYPES,
    LIMIT_WHY,
    LOGITS_DTYPES,
    Parallelism,
    Reading,
    check_declared_world_size,
    check_lengths,
    plugin_fields,
    reading_fields,
    speculative_mode,
)
from tritongen.engine.spec import EngineLayout, EngineSpec
from tritongen.errors import EngineError, UsageError
from tritongen.versions import Version


def _parsed_version(reading: Reading) -> tuple[str, Version | None]:
    """The `version` string and its release number (None when it is not a version number)."""
    text = reading.root.get_str("version")
    try:
        return text, Version.parse(text)
    except UsageError:
        reading.warn(
            f"version {show(text)} is not a TensorRT-LLM version number; guessed from the keys instead"
        )
        return text, None


def read_trtllm_build(reading: Reading) -> EngineSpec:
    root = reading.root
    if "version" not in root.data:
        raise EngineError(
            f"{reading.config_path} has pretrained_config/build_config but no 'version'",
            hint="Without 'version' the runtime reads it as the legacy format and fails; rebuild the engine "
            "with trtllm-build (do not hand-edit config.json).",
        )
    version_text, version = _parsed_version(reading)
    pretrained = root.require_section("pretrained_config")
    build = root.require_section("build_config")
    plugins = build.require_section("plugin_config")
    mapping = pretrained.require_section("mapping")
    architecture = pretrained.get_str("architecture")
    parallel = Parallelism(
        tp=mapping.get_int("tp_size"),
        pp=mapping.get_int("pp_size", default=1),
        cp=mapping.get_int("cp_size", default=1),
    )
    check_declared_world_size(mapping, parallel)
    num_heads = pretrained.get_int("num_attention_heads")
    hidden_size = pretrained.get_int("hidden_size")
    quantization = pretrained.require_section("quantization")
    max_position = pretrained.optional_int("max_position_embeddings")
    layout, max_input_len, max_seq_len = _build_lengths(reading, build, version, max_position)
    max_num_tokens = build.optional_int("max_num_tokens")
    remove_input_padding = plugins.get_bool("remove_input_padding")
    if remove_input_padding and max_num_tokens is None:
        reading.warn("remove_input_padding is on but max_num_tokens is not set; newer runtimes refuse this")
    max_draft_len = build.get_int(
        "max_draft_len", default=pretrained.get_int("max_draft_len", default=0, minimum=0), minimum=0
    )
    lora_enabled = plugins.plugin_enabled("lora_plugin", required=False)
    return EngineSpec(
        path=reading.directory,
        layout=layout,
        trtllm_version=version_text,
        inferred_version=str(version) if version is not None else _guess_version(layout),
        architecture=architecture,
        dtype=pretrained.get_str("dtype", choices=ENGINE_DTYPES),
        logits_dtype=pretrained.get_str("logits_dtype", default="float32", choices=LOGITS_DTYPES),
        vocab_size=pretrained.get_int("vocab_size"),
        num_layers=pretrained.get_int("num_hidden_layers"),
        num_heads=num_heads,
        num_kv_heads=pretrained.get_int("num_key_value_heads", default=num_heads),
        head_size=pretrained.get_int("head_size", default=max(hidden_size // num_heads, 1)),
        hidden_size=hidden_size,
        max_batch_size=build.get_int("max_batch_size", why=LIMIT_WHY),
        max_input_len=max_input_len,
        max_seq_len=max_seq_len,
        max_num_tokens=max_num_tokens,
        max_beam_width=build.get_int("max_beam_width", default=1),
        paged_kv_cache=_paged_kv_cache(reading, build, plugins, layout),
        remove_input_padding=remove_input_padding,
        **plugin_fields(plugins),
        context_fmha=plugins.get_bool("context_fmha", default=False),
        gather_context_logits=build.get_bool("gather_context_logits", default=False),
        gather_generation_logits=build.get_bool("gather_generation_logits", default=False),
        lora_enabled=lora_enabled,
        max_lora_rank=_max_lora_rank(build, pretrained) if lora_enabled else None,
        speculative_decoding_mode=speculative_mode(
            build, reading, architecture=architecture, max_draft_len=max_draft_len
        ),
        max_draft_len=max_draft_len,
        quant_algo=quantization.optional_str("quant_algo"),
        kv_cache_quant_algo=quantization.optional_str("kv_cache_quant_algo"),
        max_prompt_embedding_table_size=build.get_int(
            "max_prompt_embedding_table_size", default=0, minimum=0
        ),
        gpus_per_node=mapping.get_int("gpus_per_node", default=DEFAULT_GPUS_PER_NODE),
        **reading_fields(reading, parallel, lambda rank: f"rank{rank}.engine", max_position),
    )


_SEQ_LEN_SINCE = Version(0, 11)


def _build_lengths(
    reading: Reading, build: Section, version: Version | None, max_position: int | None
) -> tuple[EngineLayout, int, int]:
    """The layout and (max_input_len, max_seq_len): max_seq_len from 0.11, else input + output."""
    max_input_len = build.get_int("max_input_len", why=LIMIT_WHY)
    has_seq = build.raw("max_seq_len") is not MISSING
    has_output = build.raw("max_output_len") is not MISSING
    seq_layout = has_seq or (not has_output and version is not None and version >= _SEQ_LEN_SINCE)
    if seq_layout:
        max_seq_len = build.optional_int("max_seq_len")
        if max_seq_len is None:
            if max_position is None:
                build.missing("max_seq_len", LIMIT_WHY)
            max_seq_len = max_position
            reading.warn(f"build_config.max_seq_len is missing; using max_position_embeddings {max_position}")
        layout = EngineLayout.TRTLLM_BUILD_SEQ
    else:
        max_seq_len = max_input_len + build.get_int("max_output_len", why=LIMIT_WHY)
        layout = EngineLayout.TRTLLM_BUILD
    check_lengths(reading, max_input_len=max_input_len, max_seq_len=max_seq_len, max_position=max_position)
    return layout, max_input_len, max_seq_len


def _guess_version(layout: EngineLayout) -> str:
    return "0.11" if layout is EngineLayout.TRTLLM_BUILD_SEQ else "0.8"


_KV_CACHE_TYPES = ("paged", "continuous", "disabled")


def _paged_kv_cache(reading: Reading, build: Section, plugins: Section, layout: EngineLayout) -> bool:
    """build_config.kv_cache_type wins (0.11+); plugin_config.paged_kv_cache is the older switch."""
    plugin_paged = plugins.get_bool("paged_kv_cache")
    kv_cache_type = build.optional_str("kv_cache_type")
    if kv_cache_type is None:
        if layout is EngineLayout.TRTLLM_BUILD_SEQ:
            reading.warn(
                "build_config.kv_cache_type is missing (the runtime logs an error); "
                "using plugin_config.paged_kv_cache"
            )
        return plugin_paged
    if kv_cache_type.lower() not in _KV_CACHE_TYPES:
        build.wrong_type("kv_cache_type", "PAGED, CONTINUOUS or DISABLED", kv_cache_type)
    paged = kv_cache_type.lower() == "paged"
    if paged != plugin_paged:
        reading.warn(
            f"kv_cache_type {kv_cache_type} disagrees with plugin_config.paged_kv_cache {str(plugin_paged).lower()};"
            " the runtime follows kv_cache_type"
        )
    return paged


def _max_lora_rank(build: Section, pretrained: Section) -> int | None:
    lora_config = build.section("lora_config", required=False)
    if lora_config is not None and (rank := lora_config.optional_int("max_lora_rank")) is not None:
        return rank
    return pretrained.optional_int("max_lora_rank")
