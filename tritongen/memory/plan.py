"""The KV-cache plan of a deployment: blocks per rank, full-length sequences, headroom, and the fix.

`plan_model` is pure: a `ModelMemory`, the `KvSettings` and what is known of the GPU memory in, a
`MemoryPlan` out. Given the memory the runtime will report as available after loading
(``--free-memory``, the "available" of its log) the figures are the runtime's own; given only the GPU's
total memory the weights and the runtime's buffers are subtracted first, and the plan says it is an
estimate.

The torch runtime (tritongen's checkpoint runtime) sizes its cache with its own rule, mirrored in
`_torch_plan` (``tritongen/runtime/torch_runtime/engine.py``: ``default_kv_cache_tokens`` and
``TorchEngine._create_manager``; tests/test_memory_plan.py checks the constants and the result against it): bytes per token = 2 x all layers x the
model's KV heads x head size x dtype size; a budget of 90% of the free GPU memory (1 GiB on CPU); room
for every slot at max_seq_len within that budget but always one full sequence;
``max_tokens_in_paged_kv_cache`` replaces it; pages of 64 tokens, at least one per slot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from tritongen.errors import UsageError
from tritongen.memory.model import DTYPE_BYTES, ModelMemory
from tritongen.memory.runtime import (
    blocks_for,
    blocks_per_sequence,
    bytes_per_token,
    float32,
    kv_heads_per_rank,
    max_tokens,
)
from tritongen.memory.settings import LLMAPI, TORCH, KvSettings
from tritongen.memory.units import GIB, MIB, gib, gib_short
from tritongen.versions import Version, v

# Releases before this sized the cache in the older one-function form (see `runtime`). The exact release
# of the switch is not pinned; the forms differ by float rounding (a token) and when a cap is set without
# a fraction, which a tritongen repository never does (it writes the fraction out).
LEGACY_BEFORE = v("0.17")
CUDA_CONTEXT_BYTES = 512 * MIB  # CUDA context, cuBLAS/NCCL workspaces: what loading takes besides the engine
ACTIVATION_BYTES_PER_TOKEN_PER_HIDDEN = 28  # TensorRT activations: ~928 MiB for a 7B engine at 8,192 tokens
DECODER_BYTES_PER_SLOT_AND_TOKEN = 20  # runtime + decoder buffers per sequence slot and vocabulary entry
MAX_SUGGESTED_FRACTION = 0.95  # above this the runtime's own allocations after the KV cache run out
TORCH_PAGE_SIZE = 64  # tritongen.runtime.torch_runtime.engine.PAGE_SIZE
TORCH_GPU_FRACTION = 0.9  # tritongen.runtime.torch_runtime.engine.GPU_KV_CACHE_FREE_FRACTION
TORCH_CPU_BUDGET = 1 << 30  # tritongen.runtime.torch_runtime.engine.CPU_KV_CACHE_BYTES


@dataclass(frozen=True)
class GpuMemory:
    """What is known of one GPU's memory: the runtime's "available" (exact) or its total (estimate)."""

    origin: str  # "--free-memory", "--gpu-memory", "NVML: <GPU name>"
    available: int | None = None  # what the runtime will see free after loading (its log's "available")
    total: int | None = None  # the GPU's total memory; the available memory is then estimated

    @property
    def exact(self) -> bool:
        return self.available is not None


@dataclass(frozen=True)
class RankPlan:
    """The KV cache of the ranks of one pipeline stage (their tp/cp ranks are identical)."""

    stage: int
    ranks: tuple[int, ...]
    layers: int  # attention layers of this stage
    weights: int  # bytes of weights on one GPU
    reserve: (
        int  # bytes the runtime takes besides weights and KV cache (0 when the available memory is given)
    )
    available: int  # bytes the runtime sees free when it sizes the cache
    bytes_per_token: int
    max_tokens: int  # the runtime's max tokens on this rank, before the MIN over ranks
    limited_by: str
    blocks: int  # this rank's blocks, before the MIN over ranks


@dataclass(frozen=True)
class Recommendation:
    """What to change when the plan does not fit, in words, and the --set line that applies the main fix."""

    text: str
    set_line: str | None


@dataclass(frozen=True)
class MemoryPlan:
    """Everything `tritongen plan` reports."""

    model: ModelMemory
    settings: KvSettings
    memory: GpuMemory | None  # None: the torch runtime on CPU
    ranks: tuple[RankPlan, ...]
    tokens_per_block: int
    blocks: int  # the MIN over ranks: what every rank allocates
    bytes_per_token: int  # of the rank that set the minimum
    sequence_tokens: int  # KV tokens of one full-length sequence (max_seq_len, or the attention window)
    beam_width: int
    max_batch_size: int
    headroom: int  # bytes left on the tightest GPU once the KV cache is allocated
    recommendation: Recommendation | None
    notes: tuple[str, ...] = field(default=())

    @property
    def runtime(self) -> str:
        return self.settings.runtime

    @property
    def capacity(self) -> int:
        """Tokens the pool holds: blocks x tokens_per_block (the number the runtime logs in parentheses)."""
        return self.blocks * self.tokens_per_block

    @property
    def kv_bytes(self) -> int:
        return self.capacity * self.bytes_per_token

    @property
    def blocks_per_sequence(self) -> int:
        return blocks_per_sequence(self.sequence_tokens, self.tokens_per_block, self.beam_width)

    @property
    def full_sequences(self) -> int:
        return self.blocks // self.blocks_per_sequence

    @property
    def batch_reachable(self) -> bool:
        return self.full_sequences >= self.max_batch_size

    @property
    def holds_a_sequence(self) -> bool:
        """The allocated blocks hold one full-length sequence, and every GPU has memory left for a cache."""
        return self.full_sequences >= 1 and all(rank.available > 0 for rank in self.ranks)

    @property
    def fits(self) -> bool:
        """At least one full-length sequence fits (the runtime refuses to load, or shortens the window, else;
        the torch runtime allocates one anyway, beyond its budget, and may run out of memory)."""
        return self.holds_a_sequence and self.recommendation is None

    @property
    def limiting(self) -> RankPlan:
        return min(self.ranks, key=lambda rank: (rank.blocks, rank.stage))

    @property
    def exact(self) -> bool:
        return self.memory is not None and self.memory.exact


# --------------------------------------------------------------------------------------------------
# Planning


def plan_model(model: ModelMemory, settings: KvSettings, memory: GpuMemory | None) -> MemoryPlan:
    """The KV-cache plan of `model` served with `settings` on GPUs with `memory`.

    `memory` None is only meaningful for the torch runtime (it then runs on CPU with a fixed budget).
    """
    if settings.runtime == TORCH:
        return _torch_plan(model, settings, memory)
    if memory is None:
        raise ValueError("the TensorRT-LLM runtime needs the GPU memory")
    tokens_per_block = settings.tokens_per_block or model.tokens_per_block
    kv_dtype = settings.kv_dtype or model.kv_dtype
    legacy = settings.runtime != LLMAPI and _version_of(model) < LEGACY_BEFORE
    ranks = []
    for stage, heads in enumerate(model.stage_kv_heads):
        per_token = int(sum(heads) * 2 * model.head_size * DTYPE_BYTES[kv_dtype])
        weights = model.stage_weights[stage]
        reserve = 0 if memory.available is not None else _reserve(model)
        available = (
            memory.available if memory.available is not None else (memory.total or 0) - weights - reserve
        )
        limit = max_tokens(
            max(available, 0),
            per_token,
            fraction=settings.effective_fraction,
            cap=settings.max_tokens,
            legacy=legacy,
            fraction_set=settings.fraction is not None,
        )
        group = model.tp_size * model.cp_size
        ranks.append(
            RankPlan(
                stage,
                tuple(range(stage * group, (stage + 1) * group)),
                len(heads),
                weights,
                reserve,
                available,
                per_token,
                limit.max_tokens,
                limit.limited_by,
                blocks_for(limit.max_tokens, tokens_per_block) if available > 0 else 0,
            )
        )
    limiting = min(ranks, key=lambda rank: (rank.blocks, rank.stage))
    sequence = _sequence_tokens(settings, model, tokens_per_block)
    plan = MemoryPlan(
        model=model,
        settings=settings,
        memory=memory,
        ranks=tuple(ranks),
        tokens_per_block=tokens_per_block,
        blocks=limiting.blocks,
        bytes_per_token=limiting.bytes_per_token,
        sequence_tokens=sequence,
        beam_width=settings.beam_width or model.max_beam_width,
        max_batch_size=settings.max_batch_size or model.max_batch_size,
        headroom=min(
            rank.available - limiting.blocks * tokens_per_block * rank.bytes_per_token for rank in ranks
        ),
        recommendation=None,
        notes=_notes(model, settings, memory),
    )
    return _with_recommendation(plan)


def _version_of(model: ModelMemory) -> Version:
    """The building TensorRT-LLM version; a checkpoint or an unreadable one counts as current."""
    try:
        return Version.parse(model.trtllm_version or "99")
    except UsageError:
        return Version(99)


def _reserve(model: ModelMemory) -> int:
    """Estimated bytes the runtime takes on a GPU besides weights and KV cache: the CUDA context, TensorRT's
    activations for max_num_tokens, and the runtime and decoder buffers for every sequence slot's logits.

    The last term is the large one at big batch sizes: 20 bytes per slot, beam and vocabulary entry puts
    the Llama-3.1-8B log of tests/data/kv_cache_logs.json (batch 2,048, vocabulary 128,256) at the 5.5 GiB
    it took besides the weights; at batch 8 the LLaVA log's estimate lands within 0.1 GiB (both tested).
    """
    activations = (
        model.max_num_tokens * (model.hidden_size // model.tp_size) * ACTIVATION_BYTES_PER_TOKEN_PER_HIDDEN
    )
    buffers = (
        model.max_batch_size * model.max_beam_width * model.vocab_size * DECODER_BYTES_PER_SLOT_AND_TOKEN
    )
    return CUDA_CONTEXT_BYTES + activations + buffers


def _sequence_tokens(settings: KvSettings, model: ModelMemory, tokens_per_block: int) -> int:
    """KV tokens one full sequence keeps: max_seq_len, or the attention window, plus the sink bubble."""
    length = settings.max_seq_len or model.max_seq_len
    if settings.attention_window is not None:
        length = min(length, settings.attention_window)
    sink = settings.sink_tokens % tokens_per_block
    return length + (tokens_per_block - sink if sink else 0)


def _notes(model: ModelMemory, settings: KvSettings, memory: GpuMemory | None) -> tuple[str, ...]:
    notes = []
    if memory is not None and not memory.exact:
        notes.append(
            "estimate: the memory left after loading is the GPU's total minus the weights "
            f"({_weights_origin(model)})"
            " and the runtime's buffers; pass --free-memory with the 'available' figure of the runtime's "
            "log ('Memory usage when calculating max tokens in paged kv cache') for the exact plan"
        )
    if settings.runtime == LLMAPI:
        notes.append(
            "llmapi (PyTorch backend): the runtime measures its peak memory with a dry run before sizing "
            "the cache, so --free-memory should be the 'available' it logs after that run"
        )
    if (settings.beam_width or model.max_beam_width) > 1:
        notes.append(
            "beam search: a sequence counts one set of blocks per beam (an upper bound; newer runtimes "
            "share the prompt's blocks between beams)"
        )
    return tuple(notes)


def _weights_origin(model: ModelMemory) -> str:
    if not model.weights_measured:
        return "estimated from the architecture"
    return "from the checkpoint's weight files" if not model.trtllm_version else "from the rank engine files"


def _torch_plan(model: ModelMemory, settings: KvSettings, memory: GpuMemory | None) -> MemoryPlan:
    """The torch runtime's own rule (see the module docstring)."""
    dtype = model.dtype if settings.torch_dtype == "auto" else settings.torch_dtype
    per_token = bytes_per_token(
        model.num_layers, model.num_kv_heads, model.head_size, DTYPE_BYTES.get(dtype, 2)
    )
    max_seq_len = settings.max_seq_len or model.max_seq_len
    max_batch = settings.max_batch_size or model.max_batch_size
    on_gpu = memory is not None and settings.device != "cpu"
    weights = model.stage_weights[0]
    if on_gpu and memory is not None:
        reserve = 0 if memory.exact else CUDA_CONTEXT_BYTES
        free = memory.available if memory.available is not None else (memory.total or 0) - weights - reserve
        budget = int(max(free, 0) * TORCH_GPU_FRACTION)
    else:
        reserve, free, budget = 0, TORCH_CPU_BUDGET, TORCH_CPU_BUDGET
    if settings.max_tokens is not None:
        tokens, limited_by = settings.max_tokens, "max_tokens_in_paged_kv_cache"
    else:
        tokens = max(max_seq_len, min(max_batch * max_seq_len, budget // per_token))
        limited_by = "memory" if tokens < max_batch * max_seq_len else "max_batch_size x max_seq_len"
    blocks = max(math.ceil(tokens / TORCH_PAGE_SIZE), max_batch)
    ranks = (
        RankPlan(
            0,
            tuple(range(model.tp_size * model.pp_size)),
            model.num_layers,
            weights if on_gpu else 0,
            reserve,
            free,
            per_token,
            tokens,
            limited_by,
            blocks,
        ),
    )
    notes = list(_notes(model, settings, memory if on_gpu else None))
    if not on_gpu:
        notes.append(
            "torch runtime on CPU: a fixed budget of 1 GiB of RAM for the KV cache (pass --gpu-memory or "
            "--free-memory to plan it on a GPU)"
        )
    plan = MemoryPlan(
        model=model,
        settings=settings,
        memory=memory if on_gpu else None,
        ranks=ranks,
        tokens_per_block=TORCH_PAGE_SIZE,
        blocks=blocks,
        bytes_per_token=per_token,
        sequence_tokens=max_seq_len,
        beam_width=1,
        max_batch_size=max_batch,
        headroom=free - blocks * TORCH_PAGE_SIZE * per_token,
        recommendation=None,
        notes=tuple(notes),
    )
    if on_gpu and budget < max_seq_len * per_token and settings.max_tokens is None:
        # The runtime still allocates one full sequence: more than its budget, so it may run out of memory.
        return _with_recommendation(plan, pool=budget)
    return _with_recommendation(plan)


# --------------------------------------------------------------------------------------------------
# Recommendations


def _with_recommendation(plan: MemoryPlan, *, pool: int | None = None) -> MemoryPlan:
    recommendation = _recommend(plan, pool)
    return replace(plan, recommendation=recommendation) if recommendation else plan


def _recommend(plan: MemoryPlan, torch_pool: int | None) -> Recommendation | None:
    """None when a full-length sequence fits (and, for the torch runtime, its budget holds one)."""
    if plan.holds_a_sequence and torch_pool is None:
        return None
    settings, limiting = plan.settings, plan.limiting
    if any(rank.available <= 0 for rank in plan.ranks):
        return _weights_do_not_fit(plan)
    per_sequence = plan.blocks_per_sequence * plan.tokens_per_block
    if limiting.limited_by == "max_tokens_in_paged_kv_cache":
        needed = per_sequence
        return Recommendation(
            f"max_tokens_in_paged_kv_cache is {settings.max_tokens:,} but one {plan.sequence_tokens:,}-token "
            f"sequence needs {needed:,} tokens of KV cache: raise it to at least {needed:,}, or empty it to size "
            "the cache from the memory fraction",
            "--set max_tokens_in_paged_kv_cache=" + str(needed),
        )
    need = per_sequence * limiting.bytes_per_token
    fraction = settings.effective_fraction if settings.runtime != TORCH else TORCH_GPU_FRACTION
    have = torch_pool if torch_pool is not None else int(float32(fraction) * limiting.available)
    length = _longest_fitting(plan, torch_pool)
    options = [f"lower max_seq_len to {length:,}" if length > 0 else None]
    if plan.model.kv_dtype_bytes >= 2 and settings.runtime != TORCH:
        options.append("use an FP8 KV cache")
    tp = _more_gpus(plan, need)
    options.append(f"add GPUs (tp {tp})" if tp else None)
    text = (
        f"one {plan.sequence_tokens:,}-token sequence needs {gib_short(need)} of KV cache"
        f"{' per GPU' if plan.model.world_size > 1 else ''}; at fraction {fraction:g} you have "
        f"{gib_short(have)}: " + _either([o for o in options if o])
    )
    raised = math.ceil(need / limiting.available * 100) / 100 if limiting.available else 1.0
    if settings.runtime == TORCH:
        text += " (the torch runtime allocates one full sequence anyway, beyond its budget, and may run out of memory)"
        set_line = f"--set max_seq_len={length}" if length > 0 else None
    elif settings.runtime == LLMAPI:
        set_line = None
        text += " (edit max_seq_len or kv_cache_config.free_gpu_memory_fraction in tensorrt_llm/1/model.yaml)"
    elif fraction < raised <= MAX_SUGGESTED_FRACTION:
        text += f"; or raise kv_cache_free_gpu_mem_fraction to {raised:g}"
        set_line = f"--set kv_cache_free_gpu_mem_fraction={raised:g}"
    else:
        # max_seq_len is built into the engine; the runtime's per-sequence cap is the attention window.
        set_line = f"--set max_attention_window_size={length}" if length > 0 else None
        if set_line:
            text += (
                f" (rebuild with trtllm-build --max_seq_len {length}, or cap each sequence's KV cache now "
                "with a sliding attention window)"
            )
    return Recommendation(text, set_line)


def _longest_fitting(plan: MemoryPlan, torch_pool: int | None) -> int:
    """The longest sequence the allocated blocks hold, rounded down to 100 tokens.

    For the TensorRT-LLM runtime that is the window it shrinks to itself when one sequence does not fit
    ("maxAttentionWindow and maxSequenceLen are too large ... reduced to N"): all blocks but one, plus
    one token (82 blocks of 64 -> 5,185 in the grps_trtllm log of tests/data/kv_cache_logs.json).
    """
    if torch_pool is not None:
        tokens = torch_pool // plan.bytes_per_token
    else:
        blocks = plan.blocks // max(plan.beam_width, 1)
        tokens = (blocks - 1) * plan.tokens_per_block + 1 if blocks > 0 else 0
    return tokens - tokens % 100 if tokens >= 100 else tokens


def _more_gpus(plan: MemoryPlan, need: int) -> int | None:
    """The smallest larger tp (x2, x4, x8) under which one sequence fits, weights shrinking accordingly."""
    model, limiting, settings = plan.model, plan.limiting, plan.settings
    fraction = TORCH_GPU_FRACTION if settings.runtime == TORCH else settings.effective_fraction
    for factor in (2, 4, 8):
        tp = model.tp_size * factor
        if settings.runtime != TORCH:
            heads_before = kv_heads_per_rank(model.num_kv_heads, model.tp_size, model.cp_size)
            heads_after = kv_heads_per_rank(model.num_kv_heads, tp, model.cp_size)
            need_after = need * heads_after // heads_before
        else:
            need_after = need  # the torch runtime sizes every rank for all KV heads
        available = limiting.available + limiting.weights - limiting.weights // factor
        if need_after <= float32(fraction) * available:
            return tp
    return None


def _weights_do_not_fit(plan: MemoryPlan) -> Recommendation:
    worst = min(plan.ranks, key=lambda rank: rank.available)
    total = plan.memory.total if plan.memory is not None and plan.memory.total else 0
    tp = None
    for factor in (2, 4, 8):
        if worst.weights // factor + worst.reserve < total * 0.8:
            tp = plan.model.tp_size * factor
            break
    more = f"add GPUs (tp {tp})" if tp else "use a quantized engine (FP8 or INT4 weights) on more GPUs"
    return Recommendation(
        f"the weights ({gib_short(worst.weights)} per GPU) and the runtime's buffers (about "
        f"{gib_short(worst.reserve)}) leave no memory for the KV cache on a {gib_short(total)} GPU: {more}",
        None,
    )


def _either(options: list[str]) -> str:
    if len(options) <= 1:
        return "".join(options) or "use a GPU with more memory"
    return ", ".join(options[:-1]) + ", or " + options[-1]


# --------------------------------------------------------------------------------------------------
# Output


def to_json(plan: MemoryPlan) -> dict[str, Any]:
    """The machine-readable plan (`tritongen plan --json`)."""
    model, settings, memory = plan.model, plan.settings, plan.memory
    return {
        "runtime": plan.runtime,
        "model": {
            "architecture": model.architecture,
            "dtype": model.dtype,
            "kv_cache_dtype": model.kv_dtype if not settings.kv_dtype else settings.kv_dtype,
            "trtllm_version": model.trtllm_version,
        },
        "parallel": {
            "tp_size": model.tp_size,
            "pp_size": model.pp_size,
            "cp_size": model.cp_size,
            "world_size": model.world_size,
        },
        "memory": None
        if memory is None
        else {
            "origin": memory.origin,
            "exact": memory.exact,
            "total_bytes": memory.total,
            "available_bytes": memory.available,
        },
        "settings": {
            "kv_cache_free_gpu_mem_fraction": settings.fraction,
            "effective_fraction": TORCH_GPU_FRACTION
            if plan.runtime == TORCH
            else settings.effective_fraction,
            "max_tokens_in_paged_kv_cache": settings.max_tokens,
            "max_attention_window_size": settings.attention_window,
            "sources": dict(settings.sources),
        },
        "kv_cache": {
            "bytes_per_token": plan.bytes_per_token,
            "tokens_per_block": plan.tokens_per_block,
            "max_tokens": plan.capacity,
            "blocks": plan.blocks,
            "bytes": plan.kv_bytes,
            "limited_by": plan.limiting.limited_by,
        },
        "ranks": [
            {
                "stage": r.stage,
                "ranks": list(r.ranks),
                "attention_layers": r.layers,
                "weights_bytes": r.weights,
                "weights_measured": model.weights_measured,
                "reserve_bytes": r.reserve,
                "available_bytes": r.available,
                "bytes_per_token": r.bytes_per_token,
                "max_tokens": r.max_tokens,
                "blocks": r.blocks,
            }
            for r in plan.ranks
        ],
        "sequences": {
            "tokens_per_sequence": plan.sequence_tokens,
            "beam_width": plan.beam_width,
            "blocks_per_sequence": plan.blocks_per_sequence,
            "full_length": plan.full_sequences,
            "max_batch_size": plan.max_batch_size,
            "max_batch_size_reachable": plan.batch_reachable,
        },
        "headroom_bytes": plan.headroom,
        "fits": plan.fits,
        "recommendation": None
        if plan.recommendation is None
        else {"text": plan.recommendation.text, "set": plan.recommendation.set_line},
        "notes": list(plan.notes),
    }


def describe(plan: MemoryPlan, where: str) -> str:
    """The human report: a header, a table per stage, the summary and the recommendation."""
    model, settings, memory = plan.model, plan.settings, plan.memory
    runtime = {"trtllm": "TensorRT-LLM runtime", "torch": "tritongen torch runtime", "llmapi": "LLM API"}
    kv_dtype = settings.kv_dtype or model.kv_dtype
    lines = [
        (
            f"KV-cache plan for {where}: {model.architecture}, {model.dtype} (KV cache {kv_dtype}), "
            f"tp {model.tp_size} x pp {model.pp_size}; {runtime.get(plan.runtime, plan.runtime)}"
        )
    ]
    if memory is None:
        lines.append("memory: CPU (torch runtime)")
    elif memory.exact:
        lines.append(
            f"memory: {gib(memory.available or 0)} available per GPU after loading ({memory.origin})"
        )
    else:
        lines.append(
            f"memory: {gib(memory.total or 0)} per GPU ({memory.origin}); available after loading is an "
            "estimate"
        )
    header = ("STAGE", "RANKS", "LAYERS", "WEIGHTS", "AVAILABLE", "BYTES/TOKEN", "MAX TOKENS", "BLOCKS")
    shown_weights = gib if model.weights_measured else (lambda size: "~" + gib(size))
    rows = [header] + [
        (
            str(r.stage),
            _ranks(r.ranks),
            str(r.layers),
            shown_weights(r.weights),
            gib(r.available),
            f"{r.bytes_per_token:,}",
            f"{r.max_tokens:,}",
            f"{r.blocks:,}",
        )
        for r in plan.ranks
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines += [
        "  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    fraction = TORCH_GPU_FRACTION if plan.runtime == TORCH else settings.effective_fraction
    source = settings.source_of("fraction")
    lines.append(
        f"KV cache: {plan.blocks:,} blocks of {plan.tokens_per_block} tokens = {plan.capacity:,} tokens, "
        f"{gib(plan.kv_bytes)} per {'GPU' if memory is not None else 'rank'} (fraction {fraction:g} from {source}; limited by "
        f"{plan.limiting.limited_by})"
    )
    reach = "reachable" if plan.batch_reachable else "NOT reachable at full length"
    lines.append(
        f"sequences: {plan.full_sequences:,} full-length {'sequence' if plan.full_sequences == 1 else 'sequences'} "
        f"of {plan.sequence_tokens:,} tokens {'fits' if plan.full_sequences == 1 else 'fit'} "
        f"(max_batch_size {plan.max_batch_size}: {reach})"
    )
    if memory is not None:
        lines.append(f"headroom: {gib(plan.headroom)} left on the tightest GPU after the KV cache")
    lines += [f"note: {note}" for note in plan.notes]
    if plan.recommendation is not None:
        lines.append(f"does not fit: {plan.recommendation.text}.")
        if plan.recommendation.set_line:
            lines.append(f"fix: tritongen render ... {plan.recommendation.set_line}")
    elif not plan.batch_reachable:
        lines.append(
            f"note: {plan.max_batch_size} full-length sequences need "
            f"{gib_short(plan.max_batch_size * plan.blocks_per_sequence * plan.tokens_per_block * plan.bytes_per_token)}"
            "; shorter ones share the pool"
        )
    return "\n".join(lines)


def _ranks(ranks: tuple[int, ...]) -> str:
    return str(ranks[0]) if len(ranks) == 1 else f"{ranks[0]}-{ranks[-1]}"


__all__ = [
    "GIB",
    "GpuMemory",
    "MemoryPlan",
    "RankPlan",
    "Recommendation",
    "describe",
    "plan_model",
    "to_json",
]
