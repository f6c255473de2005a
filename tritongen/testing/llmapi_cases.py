"""The golden llmapi repositories (`tests/golden/llmapi-*`): their inputs, rendering and snapshot.

Kept apart from `render_cases.GOLDEN_CASES` (the engine target's cases, which other tests iterate with
engine-target expectations); `scripts/update_golden.py` regenerates both.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tritongen.render.llmapi import LlmapiResult, render_llmapi
from tritongen.testing.render_cases import TREE_FILE, make_checkpoint_dir, tree


def _default(base: Path) -> dict[str, object]:
    return {"engine": make_checkpoint_dir(base)}


def _tp2_1_0(base: Path) -> dict[str, object]:
    return {"engine": make_checkpoint_dir(base), "backend_version": "1.0", "tp_size": 2}


def _main_overrides(base: Path) -> dict[str, object]:
    """TensorRT-LLM 1.3 tensors (LoRA + image_url), a trtllm-serve --config file, --set and --no-streaming."""
    config = base / "serve-config.yaml"
    config.write_text(
        "max_batch_size: 4\n"
        "kv_cache_config:\n  enable_block_reuse: false\n  free_gpu_memory_fraction: 0.6\n"
        "lora_config:\n  max_lora_rank: 16\n  max_loras: 2\n"
        "triton_config:\n  cancellation_check_period_ms: 50\n",
        encoding="utf-8",
    )
    return {
        "engine": make_checkpoint_dir(base),
        "backend_version": "1.3",
        "config_file": config,
        "sets": ("max_batch_size=8", "kv_cache_config.free_gpu_memory_fraction=0.5"),
        "streaming": False,
    }


LLMAPI_CASES: dict[str, Callable[[Path], dict[str, object]]] = {
    # TensorRT-LLM 1.2.1 (the 26.07 container): upstream's c8c6df08 tensors, every default
    "llmapi-1.2-checkpoint": _default,
    # TensorRT-LLM 1.0 with --tp 2: the same tensors, tensor_parallel_size 2 for the LLM to spawn
    "llmapi-1.0-tp2": _tp2_1_0,
    # post-1.2.1 ("main") tensors, overrides from a trtllm-serve config file and flags, not decoupled
    "llmapi-1.3-main-overrides": _main_overrides,
}


def render_llmapi_case(name: str, base: Path) -> LlmapiResult:
    """Build the inputs of llmapi golden case `name` under `base` and render them into base/repo."""
    inputs = LLMAPI_CASES[name](base)
    engine = inputs.pop("engine")
    assert isinstance(engine, Path)
    return render_llmapi(engine, output=base / "repo", **inputs)  # type: ignore[arg-type]


def llmapi_snapshot(repo: Path, base: Path) -> dict[str, str]:
    """{relative path: text} of what the llmapi target renders (the copied model code left out)."""
    texts = {
        "tensorrt_llm/config.pbtxt": (repo / "tensorrt_llm" / "config.pbtxt").read_text(encoding="utf-8"),
        "tensorrt_llm/1/model.yaml": (repo / "tensorrt_llm" / "1" / "model.yaml").read_text(encoding="utf-8"),
        "tritongen.json": (repo / "tritongen.json").read_text(encoding="utf-8"),
        TREE_FILE: tree(repo),
    }
    return {rel: text.replace(str(base), "<TMP>") for rel, text in texts.items()}
