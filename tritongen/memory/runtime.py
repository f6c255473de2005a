"""What the TensorRT-LLM runtime allocates for the paged KV cache, computed the way it computes it.

Every formula here was read in the public TensorRT-LLM source (NVIDIA/TensorRT-LLM; cited, not copied):

- ``cpp/tensorrt_llm/batch_manager/kvCacheManager.cpp`` at commit b35ac1b64368513d215c57d2ed01d62d910df8da,
  ``BaseKVCacheManager::calculateFreeMemBytes``: the memory it sizes from is the device's free memory plus
  what its memory pool holds free (the "available" of the log line ``Memory usage when calculating max
  tokens in paged kv cache: total: %0.2f GiB, available: %0.2f GiB``); the pool gets
  ``(uint64)(available * fraction)``, a ``size_t * float`` product, so it is computed in single precision;
  the fraction defaults to ``KvCacheConfig::kDefaultGpuMemFraction`` (0.9F) and must be below 1.
- same file, ``BaseKVCacheManager::calculateMaxNumBlocks``: bytes per token =
  ``calculateCacheSizePerTokenForSingleWindowSize`` x the size of the KV-cache data type; max tokens =
  ``(uint64)(pool bytes * share / (double)bytes_per_token)`` (share 1.0 with one attention window);
  ``max_tokens_in_paged_kv_cache`` (``KvCacheConfig::maxTokens``) only lowers it (``std::min``); blocks =
  ``ceilDiv(max tokens, tokens_per_block)``; with more than one rank the blocks are MIN-all-reduced, so
  every rank gets the smallest count.
- ``cpp/tensorrt_llm/batch_manager/kvCacheManager.h`` (``calculateCacheSizePerTokenForSingleWindowSize``):
  the sum, over this pipeline stage's attention layers, of the KV heads x kvFactor (2: K and V) x the
  size per head; the comment there says the model config already divided the heads by the tp size.
- ``cpp/tensorrt_llm/runtime/gptJsonConfig.cpp`` (``createModelConfig``): KV heads per rank =
  ``max(num_kv_heads / (tp * cp), 1)``; a per-layer ``num_kv_heads_per_layer`` list is divided rounding
  up. The v0.5 parser divided by tp without the clamp to 1.
- ``cpp/include/tensorrt_llm/runtime/modelConfig.h``: ``getKvDataType`` is FP8 for an FP8 KV cache,
  INT8 for an INT8 KV cache, else the model's data type (whatever the weights are quantized to);
  ``getNbLayers``/``getFirstLocalLayer``: each pipeline stage gets num_layers / pp layers and the first
  ``num_layers % pp`` stages one more.
- Older releases, same file, ``KVCacheManager::calculateMaxNumBlocks`` (an earlier form, one function
  that also measured the memory; read in several stored versions of the file): max tokens = ``(SizeType32)(fraction * (double)available /
  bytes_per_token)`` in double precision; ``max_tokens_in_paged_kv_cache`` is the minimum of both when a
  fraction is set too, and *replaces* the memory figure when no fraction is set; the MIN all-reduce is on
  the tokens, before ``ceilDiv``.
- The allocation is logged as ``[MemUsageChange] Allocated %0.2f GiB for max tokens in paged KV cache
  (%d)``: the pool's bytes and blocks x tokens_per_block.

Encoder-decoder models (a cross-attention pool taking ``cross_kv_cache_fraction`` of the memory) and
several attention-window sizes (the memory is shared between window pools by
``BlockManager::calculateWindowSizeToShare``) are not modelled: `UnsupportedModel` says so.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

DEFAULT_FRACTION = 0.9  # KvCacheConfig::kDefaultGpuMemFraction
KV_FACTOR = 2  # K and V


class UnsupportedModel(ValueError):
    """A model whose KV-cache split this planner does not model (encoder-decoder, variable windows)."""


def float32(value: float) -> float:
    """`value` rounded to a C++ `float`, as the runtime stores the fraction and computes the pool bytes."""
    result: float = struct.unpack("f", struct.pack("f", value))[0]
    return result


def kv_heads_per_rank(num_kv_heads: int, tp_size: int, cp_size: int = 1) -> int:
    """KV heads one rank holds: num_kv_heads / (tp x cp), at least 1 (gptJsonConfig.cpp)."""
    return max(num_kv_heads // (tp_size * cp_size), 1)


def layers_per_stage(num_layers: int, pp_size: int) -> tuple[int, ...]:
    """Layers of each pipeline stage; the first num_layers % pp stages get one more (modelConfig.h)."""
    base, extra = divmod(num_layers, pp_size)
    return tuple(base + (1 if stage < extra else 0) for stage in range(pp_size))


def bytes_per_token(layers: int, kv_heads: int, head_size: int, kv_dtype_bytes: float) -> int:
    """KV-cache bytes one token takes on one rank: layers x 2 x KV heads x head size x dtype size."""
    return int(layers * KV_FACTOR * kv_heads * head_size * kv_dtype_bytes)


@dataclass(frozen=True)
class TokenLimit:
    """The runtime's max tokens on one rank, and what limited it."""

    max_tokens: int
    limited_by: str  # "memory" or "max_tokens_in_paged_kv_cache"


def max_tokens(
    available: int,
    per_token: int,
    *,
    fraction: float = DEFAULT_FRACTION,
    cap: int | None = None,
    legacy: bool = False,
    fraction_set: bool = True,
) -> TokenLimit:
    """The runtime's max tokens on one rank for `available` bytes (both forms: see the module docstring).

    `fraction_set` False means kv_cache_free_gpu_mem_fraction was not given (`fraction` is then the
    default); it matters only to the legacy form, where a cap without a fraction replaces the memory figure.
    """
    used_fraction = float32(fraction)
    if legacy:
        if cap is not None and not fraction_set:
            return TokenLimit(cap, "max_tokens_in_paged_kv_cache")
        from_memory = int(used_fraction * float(available) / float(per_token))
    else:
        pool = int(float32(float32(float(available)) * used_fraction))
        from_memory = int(float32(float(pool)) / float(per_token))
    if cap is not None and cap < from_memory:
        return TokenLimit(cap, "max_tokens_in_paged_kv_cache")
    return TokenLimit(from_memory, "memory")


def blocks_for(tokens: int, tokens_per_block: int) -> int:
    """Blocks of the primary pool: ceilDiv(max tokens, tokens_per_block)."""
    return -(-tokens // tokens_per_block)


def blocks_per_sequence(sequence_tokens: int, tokens_per_block: int, beam_width: int = 1) -> int:
    """Blocks one sequence of `sequence_tokens` needs: whole blocks for each beam.

    This is the older backend's load check ("must be larger than beam_width * tokensPerBlock *
    maxBlocksPerSeq"); newer runtimes share the context blocks between beams, so for beams > 1 it is an
    upper bound.
    """
    return beam_width * math.ceil(sequence_tokens / tokens_per_block)
