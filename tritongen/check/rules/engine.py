"""Rules that hold a model's settings against the engine (or checkpoint) it serves.

Values fixed when the engine was built (batch size, beam width, paged context FMHA, plugins) must not
be asked for at run time. The engine is `check --engine` (or render's placed copy) when given, else the
directory `gpt_model_path` names; one that does not exist here is only a warning, since it may exist
where tritonserver runs (inside the container).
"""

from __future__ import annotations

from pathlib import Path

from tritongen.check._findings import Findings, clip
from tritongen.check._load import PLACEHOLDER, LoadedRepo, ModelFile, as_bool, as_int, exists
from tritongen.engine.spec import EngineSpec
from tritongen.errors import EngineError

_LORA_CACHE_KEYS = (
    "lora_cache_optimal_adapter_size",
    "lora_cache_max_adapter_size",
    "lora_cache_gpu_memory_fraction",
    "lora_cache_host_memory_bytes",
)


def read_spec(
    model: ModelFile, path: Path, out: Findings, *, tp_size: int | None = None
) -> EngineSpec | None:
    """The engine at `path`, or None after reporting why it cannot serve."""
    from tritongen.engine import read_engine

    try:
        return read_engine(path, tp_size=tp_size)
    except EngineError as error:
        out.error(model, "gpt_model_path", error.one_line())
        return None


def engine_batch(model: ModelFile, spec: EngineSpec, out: Findings) -> None:
    """Triton's max_batch_size against the engine's."""
    batch = model.config.max_batch_size
    if batch > spec.max_batch_size:
        out.warn(
            model,
            "max_batch_size",
            f"max_batch_size {batch} is above the engine's "
            f"{spec.max_batch_size} (fixed at build time): requests beyond it only queue",
        )
    elif 0 < batch < spec.max_batch_size:
        out.warn(
            model,
            "max_batch_size",
            f"max_batch_size {batch} is below the engine's "
            f"{spec.max_batch_size}: Triton never batches as many requests as the engine can run",
        )


def trtllm_engine(repo: LoadedRepo, out: Findings) -> None:
    """The C++ model's engine: present, readable, and built for what the settings ask."""
    for model in repo.parsed:
        if not model.is_trtllm:
            continue
        path = _engine_path(repo, model, out)
        if path is not None and (spec := read_spec(model, path, out)) is not None:
            engine_batch(model, spec, out)
            _lint_engine(model, spec, out)


def _engine_path(repo: LoadedRepo, model: ModelFile, out: Findings) -> Path | None:
    path_text = model.parameter("gpt_model_path")
    if path_text is None or not path_text or PLACEHOLDER.search(path_text):
        if path_text == "" and not model.parameter("encoder_model_path"):
            out.error(model, "gpt_model_path", "the engine path is empty: the model cannot load")
        return None
    engine_path = repo.engine_dir or Path(path_text)
    if not engine_path.is_absolute():
        out.warn(
            model,
            "gpt_model_path",
            f"'{clip(path_text)}' is relative: tritonserver resolves it against "
            "its working directory, not the repository; use an absolute path",
        )
        engine_path = repo.root / engine_path
    if not exists(engine_path):
        out.warn(
            model,
            "gpt_model_path",
            f"engine directory {clip(path_text)} does not exist on this machine "
            "(fine only if it exists where tritonserver runs, e.g. inside the container)",
        )
        return None
    return engine_path


def _lint_engine(model: ModelFile, spec: EngineSpec, out: Findings) -> None:
    beam = as_int(model.parameter("max_beam_width"))
    if beam is not None and beam > spec.max_beam_width:
        out.error(
            model,
            "max_beam_width",
            f"max_beam_width {beam} exceeds the engine's "
            f"{spec.max_beam_width} (fixed at build time): lower it or rebuild the engine",
        )
    if spec.num_heads % spec.tp_size:
        out.error(
            model,
            "gpt_model_path",
            f"the engine's {spec.num_heads} attention heads do not divide by tp={spec.tp_size}",
        )
    reuse = model.parameter("enable_kv_cache_reuse")
    reuse_on = as_bool(reuse)
    if reuse_on is None and reuse is not None and model.parameter("guided_decoding_backend") is not None:
        reuse_on = True  # guided_decoding_backend marks the v0.19+ template, where unset means true
    if reuse_on and not spec.paged_context_fmha:
        out.error(
            model,
            "enable_kv_cache_reuse",
            "KV-cache reuse needs an engine built with paged context "
            "FMHA (use_paged_context_fmha): the backend asserts at load; set "
            "enable_kv_cache_reuse=false or rebuild with --use_paged_context_fmha enable",
        )
    if as_bool(model.parameter("enable_chunked_context")) and not spec.paged_context_fmha:
        out.error(
            model,
            "enable_chunked_context",
            "chunked context needs an engine built with paged context FMHA (use_paged_context_fmha)",
        )
    strategy = model.parameter("gpt_model_type") or ""
    if strategy.startswith("inflight") and not spec.inflight_batching_capable:
        out.error(
            model,
            "gpt_model_type",
            "in-flight batching needs an engine built with the GPT attention "
            "plugin, remove_input_padding and a paged KV cache; this engine lacks one: use V1",
        )
    if strategy in ("V1", "v1") and spec.inflight_batching_capable:
        out.warn(
            model,
            "gpt_model_type",
            "V1 (static batching) on an engine that supports in-flight "
            "batching: use inflight_fused_batching for throughput",
        )
    lora_keys = [key for key in _LORA_CACHE_KEYS if model.set_parameter(key)]
    if lora_keys and not spec.lora_enabled:
        out.warn(model, lora_keys[0], "LoRA cache parameters are set but the engine has no LoRA plugin")
    tokens = as_int(model.parameter("max_tokens_in_paged_kv_cache"))
    if tokens is not None and tokens < spec.max_seq_len * max(1, beam or 1):
        out.error(
            model,
            "max_tokens_in_paged_kv_cache",
            f"{tokens} tokens cannot hold one sequence of "
            f"max_seq_len {spec.max_seq_len}: the backend refuses to start; raise it or leave it empty",
        )
    if as_bool(model.parameter("speculative_decoding_fast_logits")) and not spec.gather_generation_logits:
        out.warn(
            model,
            "speculative_decoding_fast_logits",
            "fast logits need an engine built with gather_generation_logits",
        )
