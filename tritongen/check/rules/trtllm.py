"""Rules for the C++ TensorRT-LLM model's settings that do not need the engine."""

from __future__ import annotations

from tritongen.check._findings import Findings
from tritongen.check._load import PLACEHOLDER, LoadedRepo, as_int


def trtllm_settings(repo: LoadedRepo, out: Findings) -> None:
    """Streaming needs decoupled mode; a decoding mode needs what it decodes with."""
    for model in repo.parsed:
        if not model.is_trtllm:
            continue
        if not model.decoupled:
            out.warn(
                model,
                "decoupled",
                "decoupled is false: streaming (generate_stream, stream=true) fails "
                "with 'Streaming is only supported if model is deployed using decoupled mode'; set "
                "decoupled_mode=true unless you never stream",
            )
        decoding = model.parameter("decoding_mode") or ""
        if decoding == "beam_search" and as_int(model.parameter("max_beam_width")) == 1:
            out.warn(model, "decoding_mode", "decoding_mode is beam_search but max_beam_width is 1")
        if decoding in ("medusa", "eagle"):
            choices = model.parameter(f"{decoding}_choices") or ""
            if not choices or PLACEHOLDER.search(choices):
                out.warn(
                    model,
                    f"{decoding}_choices",
                    f"decoding_mode is {decoding} but {decoding}_choices "
                    "is unset: the backend falls back to its default tree",
                )
