"""The typed description of an engine (or Hugging Face checkpoint) that everything downstream reads.

`tritongen.engine.read_engine` builds one of these from any `config.json` TensorRT-LLM has written
(legacy `builder_config`, `trtllm-build` 0.8-0.10, 0.11+ and 1.x) or from a Hugging Face checkpoint.
It is frozen: planning and validation derive values from it but never change it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path


class EngineLayout(str, Enum):
    """Which `config.json` layout the directory holds."""

    LEGACY = "legacy"  # v0.5-0.8 `builder_config` + `plugin_config`, no `version`
    TRTLLM_BUILD = "trtllm-build"  # v0.8-0.10: version + pretrained_config + build_config, max_output_len
    TRTLLM_BUILD_SEQ = "trtllm-build-seq"  # v0.11+ and 1.x: build_config.max_seq_len
    HF_CHECKPOINT = "hf-checkpoint"  # a Hugging Face checkpoint served by tritongen's torch runtime


@dataclass(frozen=True)
class RankFile:
    """One per-rank engine file (or, for a checkpoint, one weights shard)."""

    rank: int
    path: Path
    size_bytes: int


@dataclass(frozen=True)
class EngineSpec:
    """Everything tritongen needs to know about an engine directory."""

    path: Path  # absolute engine (or checkpoint) directory
    layout: EngineLayout
    trtllm_version: str | None  # `version` key; None for legacy files (see `inferred_version`)
    inferred_version: str  # best estimate of the building TRT-LLM version, e.g. "0.5", "0.7", "0.13.0";
    # "" for a Hugging Face checkpoint (no TensorRT-LLM built it)
    architecture: str  # "LlamaForCausalLM", or the legacy family name ("llama", "gpt")
    dtype: str  # float16 / bfloat16 / float32
    logits_dtype: str  # float32 / float16
    vocab_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_size: int
    hidden_size: int
    tp_size: int
    pp_size: int
    cp_size: int
    max_batch_size: int
    max_input_len: int
    max_seq_len: int  # max_seq_len, or max_input_len + max_output_len on older layouts
    max_num_tokens: int | None
    max_beam_width: int
    paged_kv_cache: bool
    remove_input_padding: bool
    gpt_attention_plugin: bool
    context_fmha: bool
    paged_context_fmha: bool
    tokens_per_block: int | None
    gather_context_logits: bool
    gather_generation_logits: bool
    lora_enabled: bool
    max_lora_rank: int | None
    # None, "medusa", "lookahead", "eagle", "explicit_draft_tokens", "draft_tokens_external", ...
    speculative_decoding_mode: str | None
    max_draft_len: int
    quant_algo: str | None  # e.g. "W8A16", "FP8", or the legacy bitmask decoded ("int8_weight_only")
    kv_cache_quant_algo: str | None
    max_prompt_embedding_table_size: int
    gpus_per_node: int
    rank_files: tuple[RankFile, ...]  # one per rank; for a checkpoint, its weight files, each with rank 0
    config_sha256: str  # hash of the config.json bytes, for the manifest
    tokenizer_present: bool  # tokenizer files sit beside config.json
    warnings: tuple[str, ...] = field(default=())  # oddities found while reading (not errors)
    max_position_embeddings: int | None = None  # the model's trained context, when config.json says it

    @property
    def world_size(self) -> int:
        """Number of ranks: tp * pp * cp."""
        return self.tp_size * self.pp_size * self.cp_size

    @property
    def is_checkpoint(self) -> bool:
        """True when tritongen's torch runtime serves this (a Hugging Face checkpoint)."""
        return self.layout is EngineLayout.HF_CHECKPOINT

    @property
    def inflight_batching_capable(self) -> bool:
        """In-flight batching needs the GPT attention plugin, packed input and a paged KV cache."""
        return self.gpt_attention_plugin and self.remove_input_padding and self.paged_kv_cache

    @property
    def engine_bytes(self) -> int:
        """Total size of the rank files."""
        return sum(r.size_bytes for r in self.rank_files)
