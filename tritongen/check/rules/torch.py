"""Rules for tritongen's torch runtime (a Python `tensorrt_llm` model serving a Hugging Face checkpoint)."""

from __future__ import annotations

from pathlib import Path

from tritongen.check._findings import Findings, clip
from tritongen.check._load import LoadedRepo, as_int, exists
from tritongen.check.rules.engine import engine_batch, read_spec


def torch_checkpoint(repo: LoadedRepo, out: Findings) -> None:
    """The checkpoint exists, reads as one, splits over tp_size, and fits Triton's batch size."""
    for model in repo.parsed:
        if not model.is_torch_runtime:
            continue
        path_text = model.parameter("gpt_model_path") or ""
        checkpoint = repo.engine_dir or Path(path_text)
        if not path_text or not exists(checkpoint):
            out.error(
                model,
                "gpt_model_path",
                f"checkpoint directory '{clip(path_text)}' does not exist: the "
                "torch runtime cannot load; re-render with --engine pointing at it",
            )
            continue
        tp_size = as_int(model.parameter("tp_size")) or 1
        spec = read_spec(model, checkpoint, out, tp_size=tp_size)
        if spec is not None:
            engine_batch(model, spec, out)
