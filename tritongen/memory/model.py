"""The KV-cache geometry and the weights of one engine or checkpoint, per pipeline stage.

`model_memory` turns an `EngineSpec` (plus the few keys of its config.json that the spec does not keep:
per-layer KV heads, layer types, the MLP width) into `ModelMemory`, the input of the planner.

The weights per GPU are the rank engine files' sizes when they are real engines (TensorRT deserializes
the weights onto the GPU, so an engine file is close to what loading takes), else an estimate from the
architecture, and said to be one.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from tritongen.engine.spec import EngineSpec
from tritongen.memory.runtime import UnsupportedModel, kv_heads_per_rank, layers_per_stage
from tritongen.memory.units import MIB

DTYPE_BYTES: dict[str, float] = {"float32": 4, "float16": 2, "bfloat16": 2, "fp8": 1, "int8": 1}
KV_QUANT_DTYPES = {"FP8": "fp8", "INT8": "int8"}  # kv_cache_quant_algo -> the KV-cache data type
# Weight bytes per parameter of the quantized linear layers (embeddings stay in the model dtype).
_WEIGHT_BYTES = {"W8A16": 1.0, "W8A8": 1.0, "INT8": 1.0, "FP8": 1.0, "W4A16": 0.5, "W4A8": 0.5, "NVFP4": 0.5}
REAL_ENGINE_BYTES = 16 * MIB  # smaller rank files are stand-ins (tests, dry runs), not engines
_GATED_ACTIVATIONS = ("silu", "swiglu", "geglu", "gelu_new_gated", "swish")
_ENCODER_DECODER = (
    "DecoderModel",
    "EncoderModel",
    "WhisperEncoder",
    "EncDecModel",
    "T5ForConditionalGeneration",
    "BartForConditionalGeneration",
)


@dataclass(frozen=True)
class ModelMemory:
    """What the planner needs to know about a model, per rank."""

    architecture: str
    dtype: str  # the model (activation) dtype
    kv_dtype: str  # float16 / bfloat16 / float32 / fp8 / int8
    tp_size: int
    pp_size: int
    cp_size: int
    stage_kv_heads: tuple[
        tuple[int, ...], ...
    ]  # per pipeline stage: the KV heads of each local attention layer
    head_size: int
    tokens_per_block: int
    max_batch_size: int
    max_seq_len: int
    max_beam_width: int
    max_num_tokens: int
    hidden_size: int
    vocab_size: int
    stage_weights: tuple[int, ...]  # bytes of weights on one GPU of each pipeline stage
    weights_measured: bool  # True: from the rank engine files; False: estimated from the architecture
    trtllm_version: str  # the building TensorRT-LLM version ("" for a checkpoint)
    num_layers: int
    num_kv_heads: int  # the model's, before tensor parallelism (the torch runtime's formula uses it)

    @property
    def world_size(self) -> int:
        return self.tp_size * self.pp_size * self.cp_size

    @property
    def kv_dtype_bytes(self) -> float:
        return DTYPE_BYTES[self.kv_dtype]

    def stage_of_rank(self, rank: int) -> int:
        """Pipeline stage of a global rank (pp is the outermost dimension of TensorRT-LLM's mapping)."""
        return rank // (self.tp_size * self.cp_size)


def model_memory(spec: EngineSpec, *, tp_size: int | None = None, pp_size: int | None = None) -> ModelMemory:
    """The planner's view of `spec`; `tp_size`/`pp_size` override a checkpoint's split (torch runtime).

    Raises `UnsupportedModel` for encoder-decoder models and FP4 KV caches.
    """
    raw = _raw_config(spec)
    config: dict[str, Any] = dict(raw)
    for section in ("builder_config", "pretrained_config"):  # the keys of either layout, in one mapping
        if isinstance(raw.get(section), dict):
            config.update(raw[section])
    if spec.architecture in _ENCODER_DECODER or config.get("cross_attention") is True:
        raise UnsupportedModel(
            f"{spec.architecture} is an encoder-decoder model: its KV cache is split between self- and "
            "cross-attention pools (cross_kv_cache_fraction), which tritongen plan does not model"
        )
    kv_dtype = _kv_dtype(spec)
    tp = tp_size or spec.tp_size
    pp = pp_size or spec.pp_size
    cp = spec.cp_size
    heads_by_layer = _kv_heads_by_layer(spec, config, tp, cp)
    stages: list[tuple[int, ...]] = []
    first = 0
    for count in layers_per_stage(len(heads_by_layer.types), pp):
        stages.append(
            tuple(
                h
                for h, attention in zip(
                    heads_by_layer.heads[first : first + count],
                    heads_by_layer.types[first : first + count],
                    strict=True,
                )
                if attention
            )
        )
        first += count
    weights, measured = _weights(spec, config, tp, pp)
    return ModelMemory(
        architecture=spec.architecture,
        dtype=spec.dtype,
        kv_dtype=kv_dtype,
        tp_size=tp,
        pp_size=pp,
        cp_size=cp,
        stage_kv_heads=tuple(stages),
        head_size=spec.head_size,
        tokens_per_block=spec.tokens_per_block or 64,
        max_batch_size=spec.max_batch_size,
        max_seq_len=spec.max_seq_len,
        max_beam_width=spec.max_beam_width,
        max_num_tokens=spec.max_num_tokens or spec.max_batch_size * spec.max_input_len,
        hidden_size=spec.hidden_size,
        vocab_size=spec.vocab_size,
        stage_weights=weights,
        weights_measured=measured,
        trtllm_version=spec.trtllm_version or spec.inferred_version,
        num_layers=spec.num_layers,
        num_kv_heads=spec.num_kv_heads,
    )


def _raw_config(spec: EngineSpec) -> dict[str, Any]:
    """The engine's config.json (already validated by read_engine), for keys EngineSpec does not keep."""
    try:
        data = json.loads((spec.path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _kv_dtype(spec: EngineSpec) -> str:
    algo = (spec.kv_cache_quant_algo or "").upper()
    if algo in KV_QUANT_DTYPES:
        return KV_QUANT_DTYPES[algo]
    if algo:
        raise UnsupportedModel(
            f"the engine's KV cache is {spec.kv_cache_quant_algo}, whose block layout "
            "(scales beside the values) tritongen plan does not model"
        )
    return spec.dtype


@dataclass(frozen=True)
class _Layers:
    heads: tuple[int, ...]  # KV heads on one rank, per layer
    types: tuple[bool, ...]  # True: an attention layer (others, e.g. recurrent ones, hold no KV cache)


def _kv_heads_by_layer(spec: EngineSpec, config: dict[str, Any], tp: int, cp: int) -> _Layers:
    """Per-layer KV heads on one rank (gptJsonConfig.cpp) and which layers are attention layers."""
    per_layer = config.get("num_kv_heads_per_layer")
    if isinstance(per_layer, list) and per_layer and all(isinstance(h, int) for h in per_layer):
        heads = tuple(math.ceil(h / (tp * cp)) for h in per_layer)  # rounded up, as the runtime does
    else:
        heads = (kv_heads_per_rank(spec.num_kv_heads, tp, cp),) * spec.num_layers
    layer_types = config.get("layer_types")
    if isinstance(layer_types, list) and layer_types:
        types = tuple(str(layer_types[i % len(layer_types)]) == "attention" for i in range(spec.num_layers))
    else:
        types = (True,) * spec.num_layers
    if len(heads) < spec.num_layers:  # a per-layer list of the attention layers only
        it = iter(heads)
        heads = tuple(next(it, heads[-1]) if attention else 0 for attention in types)
    return _Layers(heads[: spec.num_layers], types)


def _weights(spec: EngineSpec, config: dict[str, Any], tp: int, pp: int) -> tuple[tuple[int, ...], bool]:
    """Bytes of weights on one GPU of each stage: measured from the rank files, or estimated."""
    files = spec.rank_files
    if spec.is_checkpoint:
        total = sum(f.size_bytes for f in files)
        if total >= REAL_ENGINE_BYTES:  # a checkpoint is split by the torch runtime, evenly enough
            return tuple(total // (tp * pp) for _ in range(pp)), True
    elif files and all(f.size_bytes >= REAL_ENGINE_BYTES for f in files):
        per_stage = tp * spec.cp_size
        return tuple(
            max(f.size_bytes for f in files if f.rank // per_stage == stage) for stage in range(pp)
        ), True
    return _estimated_weights(spec, config, tp, pp), False


def _estimated_weights(spec: EngineSpec, config: dict[str, Any], tp: int, pp: int) -> tuple[int, ...]:
    """Parameter count x bytes per parameter, from the architecture: attention, MLP, embedding, LM head."""
    hidden, head = spec.hidden_size, spec.head_size
    dtype_bytes = DTYPE_BYTES.get(spec.dtype, 2)
    linear_bytes = _WEIGHT_BYTES.get(_quant_family(spec.quant_algo), dtype_bytes)
    intermediate = _intermediate_size(spec, config)
    gated = str(config.get("hidden_act", "")).lower() in _GATED_ACTIVATIONS
    experts = _experts(config)
    attention = hidden * (spec.num_heads + 2 * spec.num_kv_heads) * head + spec.num_heads * head * hidden
    mlp = (3 if gated else 2) * hidden * intermediate * experts
    per_layer = (attention + mlp) * linear_bytes / tp
    embedding = spec.vocab_size * hidden * dtype_bytes  # replicated on every tp rank by default
    lm_head = spec.vocab_size * hidden * dtype_bytes / tp
    stages = []
    for stage, layers in enumerate(layers_per_stage(spec.num_layers, pp)):
        size = layers * per_layer
        size += embedding if stage == 0 else 0
        size += lm_head if stage == pp - 1 else 0
        stages.append(int(size))
    return tuple(stages)


def _quant_family(algo: str | None) -> str:
    text = (algo or "").upper()
    for family in ("W4A16", "W4A8", "W8A16", "W8A8", "NVFP4", "FP8", "INT8"):
        if text.startswith(family):
            return family
    return ""


def _intermediate_size(spec: EngineSpec, config: dict[str, Any]) -> int:
    for key in ("intermediate_size", "mlp_hidden_size", "inter_size", "ffn_hidden_size", "n_inner"):
        value = config.get(key)
        if isinstance(value, int) and value > 0:
            return value
    if str(config.get("hidden_act", "")).lower() in _GATED_ACTIVATIONS:  # LLaMA's 2/3 x 4h, rounded to 256
        return -(-(8 * spec.hidden_size // 3) // 256) * 256
    return 4 * spec.hidden_size


def _experts(config: dict[str, Any]) -> int:
    for block in (config.get("moe"), config.get("moe_config")):
        if isinstance(block, dict) and isinstance(block.get("num_experts"), int) and block["num_experts"] > 1:
            return int(block["num_experts"])
    return 1
