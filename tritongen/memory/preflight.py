"""The KV-cache check that `render` (a warning) and `launch` (a refusal) run, and `explain`'s KV-cache line.

Both read only what is known without starting anything: the repository, its engine, and the GPU memory
when it is given or NVML reports it. Without a known memory only the memory-independent mistake is
caught: a `max_tokens_in_paged_kv_cache` too small for one full-length sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tritongen.errors import TritongenError
from tritongen.memory.plan import GpuMemory, MemoryPlan, plan_model
from tritongen.memory.runtime import blocks_per_sequence
from tritongen.memory.settings import TORCH
from tritongen.memory.target import Target, gpu_memory, load_target
from tritongen.memory.units import gib_short


@dataclass(frozen=True)
class Problem:
    """Why not even one full-length sequence fits, and the fix (a LaunchError's message and hint)."""

    message: str
    hint: str

    def one_line(self) -> str:
        return f"{self.message.rstrip('.')}. {self.hint}"


def preflight(
    repo: Path, *, free_memory: int | None = None, total_memory: int | None = None, use_nvml: bool = True
) -> Problem | None:
    """The KV-cache problem of the repository at `repo`, or None (it fits, or nothing can be known here).

    Never raises for a repository it cannot read: render and launch report those in their own words.
    """
    try:
        target = load_target(repo)
        memory = gpu_memory(
            free_memory=free_memory,
            gpu_memory=total_memory,
            world_size=target.model.world_size,
            use_nvml=use_nvml,
        )
        if memory is None and target.settings.runtime != TORCH:
            return _cap_problem(target, repo)
        plan = plan_model(target.model, target.settings, memory)
    except (TritongenError, ValueError, OSError):
        return None
    return _problem(plan, repo)


def _problem(plan: MemoryPlan, repo: Path) -> Problem | None:
    if plan.recommendation is None:
        return None
    fix = (
        f"Re-render with {plan.recommendation.set_line}"
        if plan.recommendation.set_line
        else "Change the repository"
    )
    return Problem(
        f"the KV cache of {repo} cannot hold one full-length sequence: {plan.recommendation.text}",
        f"{fix} (`tritongen plan {repo}` shows the figures).",
    )


def _cap_problem(target: Target, repo: Path) -> Problem | None:
    """Memory unknown: only a max_tokens_in_paged_kv_cache below one sequence is certain to fail."""
    settings, model = target.settings, target.model
    tokens_per_block = settings.tokens_per_block or model.tokens_per_block
    if settings.max_tokens is None:
        return None
    length = settings.max_seq_len or model.max_seq_len
    if settings.attention_window is not None:
        length = min(length, settings.attention_window)
    beam = settings.beam_width or model.max_beam_width
    needed = blocks_per_sequence(length, tokens_per_block, beam) * tokens_per_block
    if settings.max_tokens >= needed:
        return None
    return Problem(
        f"max_tokens_in_paged_kv_cache is {settings.max_tokens:,} in {repo}, but one {length:,}-token "
        f"sequence needs {needed:,} tokens of KV cache",
        f"Re-render with --set max_tokens_in_paged_kv_cache={needed} (or empty it to size the cache "
        "from kv_cache_free_gpu_mem_fraction).",
    )


def kv_cache_line(repo: Path) -> str | None:
    """One line for `tritongen explain`: the KV cache per token and per full sequence; None if unreadable."""
    try:
        target = load_target(repo)
        plan = plan_model(target.model, target.settings, GpuMemory("explain", available=1 << 60))
    except (TritongenError, ValueError, OSError):
        return None
    model = target.model
    per_sequence = plan.blocks_per_sequence * plan.tokens_per_block * plan.bytes_per_token
    heads = model.stage_kv_heads[0][0] if model.stage_kv_heads and model.stage_kv_heads[0] else 0
    formula = (
        (
            f"{plan.limiting.layers} layers x 2 x {heads} KV heads x {model.head_size} x "
            f"{model.kv_dtype_bytes:g} bytes"
        )
        if plan.runtime != TORCH
        else "the torch runtime's rule"
    )
    return (
        f"KV cache: {plan.bytes_per_token:,} bytes per token per GPU ({formula}), "
        f"{plan.tokens_per_block} tokens per block; one {plan.sequence_tokens:,}-token sequence needs "
        f"{gib_short(per_sequence)}; `tritongen plan {repo} --gpu-memory 80GiB` sizes the pool"
    )
