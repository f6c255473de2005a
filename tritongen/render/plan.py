"""Engine + tokenizer + overrides -> every parameter's value, with where it came from and why.

`build_plan` is pure apart from reading the tokenizer's small JSON files. Values are layered by
precedence: catalogue defaults < engine (and tokenizer) < `--config` file < flags; each `Setting`
keeps the layer that won (`Source`) and a short reason, which is what `tritongen explain` prints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from tritongen.engine.spec import EngineSpec
from tritongen.errors import UsageError
from tritongen.render.catalogue import (
    CHECKPOINT_BACKEND,
    DTYPE_TO_TRITON,
    GENERATION_MODELS,
    NEWEST_KNOWN,
    generation_for,
    params_for,
    tensor_features,
)
from tritongen.render.catalogue_types import Param, Source, Value
from tritongen.render.overrides import Override, coerce, format_value, resolve
from tritongen.tokenizer import TokenizerInfo, read_tokenizer_info
from tritongen.versions import Version, v

PYTHON_INSTANCES_CAP = 4  # pre/postprocessing instances: each is a process with its own tokenizer
_SPECULATIVE_DECODING = {
    "medusa": "medusa",
    "lookahead": "lookahead",
    "eagle": "eagle",
    "explicit_draft_tokens": "redrafter",
}
_DEFAULT_REASONS = {
    "decoupled_mode": (
        "tritongen default: streaming works (generate_stream, stream=true); --no-streaming turns it off"
    ),
    "exclude_input_in_output": "tritongen default: text_output holds the completion only, not the prompt",
    "accumulate_tokens": (
        "tritongen default: streamed text is re-decoded from all tokens, so a multi-byte "
        "character is never split"
    ),
    "add_special_tokens": (
        "tritongen default: tokenize as Hugging Face does (BOS added where the model expects it)"
    ),
    "skip_special_tokens": "tritongen default: no EOS or padding tokens in text_output",
    "max_queue_delay_microseconds": "fill_template's default: no batching delay",
    "max_queue_size": "fill_template's default: no queue limit",
    "kv_cache_free_gpu_mem_fraction": (
        "the backend's documented default, written out so it is easy to find and lower"
    ),
    "batch_scheduler_policy": "the backend's documented default: a request, once started, is never paused",
    "tokenizer_type": "AutoTokenizer reads any Hugging Face tokenizer",
    "device": "cuda when a GPU is visible, else cpu",
}


@dataclass(frozen=True)
class Setting:
    """One parameter of one model: its value, the layer it came from and why."""

    param: Param
    value: Value
    source: Source
    reason: str

    @property
    def model(self) -> str:
        return self.param.model

    @property
    def name(self) -> str:
        return self.param.name

    @property
    def text(self) -> str:
        """The value as written into config.pbtxt."""
        return format_value(self.value)


@dataclass(frozen=True)
class Plan:
    """Everything the renderer writes: backend version, layout and every parameter value."""

    spec: EngineSpec
    backend_version: Version
    version_reason: str
    generation: str  # "v0.5", "v0.8" or "latest"
    runtime: str  # "trtllm" (the C++ backend) or "torch" (tritongen's checkpoint runtime)
    tokenizer: TokenizerInfo
    settings: tuple[Setting, ...]  # model by model, each in catalogue (file) order
    warnings: tuple[str, ...]

    @property
    def models(self) -> tuple[str, ...]:
        return GENERATION_MODELS[self.generation]

    @property
    def features(self) -> dict[str, Value]:
        return tensor_features(self.backend_version)

    def for_model(self, model: str) -> tuple[Setting, ...]:
        return tuple(s for s in self.settings if s.model == model)

    def setting(self, model: str, name: str) -> Setting:
        for candidate in self.settings:
            if candidate.model == model and candidate.name == name:
                return candidate
        raise KeyError(f"{model}.{name}")

    def value(self, model: str, name: str) -> Value:
        return self.setting(model, name).value

    def with_engine_location(self, location: Path, reason: str) -> Plan:
        """The plan with `engine_dir` pointing where the engine will be (unless the user set it)."""
        settings = tuple(
            replace(s, value=str(location), reason=reason)
            if s.name == "engine_dir" and not s.source.user_given
            else s
            for s in self.settings
        )
        return replace(self, settings=settings)


def choose_backend_version(spec: EngineSpec, requested: str | None) -> tuple[Version, str]:
    """The backend version to render for, and why."""
    if requested:
        return Version.parse(requested), f"--backend-version {requested}"
    if spec.is_checkpoint:
        return (
            CHECKPOINT_BACKEND,
            "a Hugging Face checkpoint is served by tritongen's torch runtime (latest layout)",
        )
    if spec.trtllm_version:
        return Version.parse(
            spec.trtllm_version
        ), f"the engine's config.json says version {spec.trtllm_version}"
    return (
        Version.parse(spec.inferred_version),
        f"legacy config.json without a version; its keys date it to ~{spec.inferred_version}",
    )


@dataclass(frozen=True)
class _Context:
    spec: EngineSpec
    runtime: str
    tokenizer_dir: Path
    tokenizer_given: bool


_Derivation = tuple[Value, Source, str]


def _batch_size(c: _Context) -> _Derivation:
    reason = (
        f"the engine's max_batch_size ({c.spec.max_batch_size}); one value for every model, since an "
        "ensemble may not exceed its steps"
    )
    return c.spec.max_batch_size, Source.ENGINE, reason


def _beam_width(c: _Context) -> _Derivation:
    return c.spec.max_beam_width, Source.ENGINE, f"the engine's max_beam_width ({c.spec.max_beam_width})"


def _triton_dtype(attribute: str) -> Callable[[_Context], _Derivation]:
    def derive(c: _Context) -> _Derivation:
        dtype = str(getattr(c.spec, attribute))
        return DTYPE_TO_TRITON.get(dtype, "TYPE_FP32"), Source.ENGINE, f"the engine's {attribute} ({dtype})"

    return derive


def _batching(c: _Context) -> _Derivation:
    spec = c.spec
    if spec.inflight_batching_capable:
        reason = (
            "the engine has the GPT attention plugin, packed input and a paged KV cache: in-flight batching"
        )
        return "inflight_fused_batching", Source.ENGINE, reason
    missing = [
        what
        for what, present in (
            ("the GPT attention plugin", spec.gpt_attention_plugin),
            ("remove_input_padding", spec.remove_input_padding),
            ("a paged KV cache", spec.paged_kv_cache),
        )
        if not present
    ]
    return "V1", Source.ENGINE, f"static batching: the engine lacks {' and '.join(missing)}"


def _paged_context(what: str) -> Callable[[_Context], _Derivation]:
    def derive(c: _Context) -> _Derivation:
        if c.spec.paged_context_fmha:
            return True, Source.ENGINE, f"the engine has paged context FMHA, which {what} needs"
        reason = (
            f"off, explicitly: {what} needs paged context FMHA, which the engine lacks (v0.19+ would "
            "otherwise default KV-cache reuse to on and fail to load)"
        )
        return False, Source.ENGINE, reason

    return derive


def _decoding_mode(c: _Context) -> _Derivation | None:
    mode = _SPECULATIVE_DECODING.get(c.spec.speculative_decoding_mode or "")
    if mode is None:
        return None
    return mode, Source.ENGINE, f"the engine was built for {c.spec.speculative_decoding_mode} decoding"


def _engine_dir(c: _Context) -> _Derivation:
    return str(c.spec.path), Source.DERIVED, "the engine directory, referenced where it is"


def _tokenizer_dir(c: _Context) -> _Derivation:
    if c.tokenizer_given:
        return str(c.tokenizer_dir), Source.FLAG, "--tokenizer"
    return str(c.tokenizer_dir), Source.DERIVED, "the tokenizer files beside the engine's config.json"


def _triton_backend(c: _Context) -> _Derivation:
    if c.runtime == "torch":
        return "python", Source.DERIVED, "a Hugging Face checkpoint: tritongen's torch runtime (1/model.py)"
    return "tensorrtllm", Source.DERIVED, "a TensorRT-LLM engine: the C++ backend"


def _spec_int(attribute: str) -> Callable[[_Context], _Derivation]:
    def derive(c: _Context) -> _Derivation:
        value = int(getattr(c.spec, attribute))
        return value, Source.ENGINE, f"the checkpoint's {attribute} ({value})"

    return derive


def _torch_dtype(c: _Context) -> _Derivation:
    dtype = c.spec.dtype if c.spec.dtype in ("float32", "bfloat16", "float16") else "auto"
    return dtype, Source.ENGINE, f"the checkpoint's dtype ({c.spec.dtype})"


def _tp_size(c: _Context) -> _Derivation:
    return c.spec.tp_size, Source.ENGINE, f"tensor parallelism {c.spec.tp_size} (--tp, default 1)"


_ENGINE_RULES: dict[str, Callable[[_Context], _Derivation | None]] = {
    "triton_max_batch_size": _batch_size,
    "max_beam_width": _beam_width,
    "logits_datatype": _triton_dtype("logits_dtype"),
    "prompt_embedding_table_data_type": _triton_dtype("dtype"),
    "encoder_input_features_data_type": _triton_dtype("dtype"),
    "batching_strategy": _batching,
    "enable_kv_cache_reuse": _paged_context("KV-cache reuse"),
    "enable_chunked_context": _paged_context("chunked context"),
    "decoding_mode": _decoding_mode,
    "engine_dir": _engine_dir,
    "tokenizer_dir": _tokenizer_dir,
    "triton_backend": _triton_backend,
    "max_batch_size": _spec_int("max_batch_size"),
    "max_input_len": _spec_int("max_input_len"),
    "max_seq_len": _spec_int("max_seq_len"),
    "torch_dtype": _torch_dtype,
    "tp_size": _tp_size,
}


def _default_setting(param: Param) -> Setting:
    if param.name in _DEFAULT_REASONS:
        reason = _DEFAULT_REASONS[param.name]
    elif not param.placeholder:
        reason = (
            f'upstream literal: the template of these versions hard-codes "{format_value(param.default)}"'
        )
    elif param.default is None:
        reason = "empty: the backend uses its default" + (
            f" ({param.backend_default})" if param.backend_default else ""
        )
    else:
        reason = "the backend's documented default"
    return Setting(param, param.default, Source.DEFAULT, reason)


def build_plan(
    spec: EngineSpec,
    *,
    backend_version: str | None = None,
    tokenizer_dir: Path | None = None,
    overrides: Iterable[Override] = (),
    streaming: bool = True,
) -> Plan:
    """Every parameter of every model for the chosen backend version, with its source and reason.

    `overrides` from the `--config` file apply before those from flags, whatever their order, so flags
    win. `streaming=False` (`--no-streaming`) turns decoupled mode off.
    """
    version, version_reason = choose_backend_version(spec, backend_version)
    generation = generation_for(version)
    runtime = "torch" if spec.is_checkpoint else "trtllm"
    if runtime == "torch" and generation != "latest":
        raise UsageError(
            f"a Hugging Face checkpoint cannot be rendered for backend {version}",
            hint=f"tritongen's torch runtime uses the latest layout; drop --backend-version or pass "
            f"{CHECKPOINT_BACKEND.major}.{CHECKPOINT_BACKEND.minor}.",
        )
    tokenizer_path = (tokenizer_dir or spec.path).absolute()
    tokenizer = read_tokenizer_info(tokenizer_path)
    context = _Context(spec, runtime, tokenizer_path, tokenizer_dir is not None)

    settings: dict[tuple[str, str], Setting] = {}
    for model in GENERATION_MODELS[generation]:
        for param in params_for(model, version, runtime):
            setting = _default_setting(param)
            rule = _ENGINE_RULES.get(param.name)
            derived = rule(context) if rule else None
            if derived is not None:
                setting = Setting(param, *derived)
            settings[(model, param.name)] = setting
    if not streaming:
        for key, setting in settings.items():
            if setting.name == "decoupled_mode":
                settings[key] = replace(
                    setting,
                    value=False,
                    source=Source.FLAG,
                    reason="--no-streaming: responses come whole, streaming requests fail",
                )

    for override in sorted(overrides, key=lambda o: o.source.precedence):
        for param in resolve(override, version, runtime, generation):
            value = coerce(param, override.raw, override.origin)
            settings[(param.model, param.name)] = Setting(param, value, override.source, override.origin)

    _check_backend(settings, runtime)
    _derive_instance_counts(settings, generation)
    ordered = tuple(settings.values())
    return Plan(
        spec=spec,
        backend_version=version,
        version_reason=version_reason,
        generation=generation,
        runtime=runtime,
        tokenizer=tokenizer,
        settings=ordered,
        warnings=(*spec.warnings, *_warnings(spec, version, generation, ordered)),
    )


def _instance_count(name: str, batch: int, *, decoupled: bool, batched_tokenizer: bool) -> tuple[int, str]:
    """The derived instance count of one of tritongen's Python models (each instance is a process
    with its own tokenizer and >= 64 MB of /dev/shm, so more is not free)."""
    if name == "bls_instance_count":
        if decoupled:
            return (
                1,
                "decoupled: tritongen's BLS runs every stream on its own thread, so one instance serves all",
            )
        return max(batch, 1), (
            "the max batch size, as the backend docs advise: a non-decoupled BLS instance "
            "runs one request at a time"
        )
    if name == "postprocessing_instance_count" and decoupled:
        return 1, (
            "decoupled: streamed chunks of one request must be detokenized in order, by one instance "
            "(dynamic batching keeps it busy)"
        )
    if name == "preprocessing_instance_count" and batched_tokenizer:
        return 1, "the dynamic batcher hands one instance all waiting requests, tokenized in one call"
    capped = max(min(batch, PYTHON_INSTANCES_CAP), 1)
    return capped, (
        f"one per request in a batch, capped at {PYTHON_INSTANCES_CAP}: without a dynamic batcher "
        "each instance handles one request at a time"
    )


def _check_backend(settings: dict[tuple[str, str], Setting], runtime: str) -> None:
    """Only one backend can serve each kind of model directory: refuse an override that cannot load."""
    setting = settings.get(("tensorrt_llm", "triton_backend"))
    wanted = "python" if runtime == "torch" else "tensorrtllm"
    if setting is not None and setting.value != wanted:
        what = "a Hugging Face checkpoint is served" if runtime == "torch" else "an engine is served"
        raise UsageError(
            f"{setting.reason}: {what} by the {wanted} backend in tritongen, not {setting.value}",
            hint="Drop the triton_backend override (tritongen ships 1/model.py only for checkpoints).",
        )


def _derive_instance_counts(settings: dict[tuple[str, str], Setting], generation: str) -> None:
    """Instance counts follow each model's final max batch size and decoupling (unless the user set them)."""
    counts = ("preprocessing_instance_count", "postprocessing_instance_count", "bls_instance_count")
    decoupled_setting = settings.get(("tensorrt_llm", "decoupled_mode"))
    decoupled = bool(decoupled_setting.value) if decoupled_setting else False
    for (model, name), setting in list(settings.items()):
        if name not in counts or setting.source.user_given:
            continue
        if name == "bls_instance_count":
            bls = settings.get((model, "decoupled_mode"))
            decoupled_here = bool(bls.value) if bls else decoupled
        else:
            decoupled_here = decoupled
        batch = settings[(model, "triton_max_batch_size")].value
        value, reason = _instance_count(
            name,
            batch if isinstance(batch, int) else 1,
            decoupled=decoupled_here,
            batched_tokenizer=generation == "latest",
        )
        settings[(model, name)] = replace(setting, value=value, source=Source.DERIVED, reason=reason)


def _warnings(
    spec: EngineSpec, version: Version, generation: str, settings: tuple[Setting, ...]
) -> list[str]:
    found: list[str] = []

    def values(name: str) -> dict[str, Value]:
        return {s.model: s.value for s in settings if s.name == name}

    if version > NEWEST_KNOWN and (version.major, version.minor) != (NEWEST_KNOWN.major, NEWEST_KNOWN.minor):
        found.append(
            f"backend {version} is newer than the newest tritongen knows ({NEWEST_KNOWN}); rendered "
            "with the latest layout, which may lack new parameters"
        )
    if generation == "v0.8" and version >= v("0.9"):
        found.append(
            f"backend {version} is rendered with the v0.8 tensor layout and {version}'s parameters; "
            "newer optional inputs are not exposed (use --backend-version 0.19 or later for them)"
        )
    if generation == "v0.5" and version >= v("0.6"):
        found.append(
            f"backend {version} is rendered with the v0.5 tensor layout (UINT32 length inputs, which "
            "later releases made INT32) and no BLS model; prefer backend 0.5 or 0.8+"
        )
    if values("batching_strategy").get("tensorrt_llm") in ("V1", "v1"):
        found.append(
            "static (V1) batching: requests wait for the whole batch to finish; rebuild the engine "
            "with the GPT attention plugin, remove_input_padding and a paged KV cache for in-flight "
            "batching"
        )
    batches = values("triton_max_batch_size")
    if len(set(batches.values())) > 1:
        found.append(
            "triton_max_batch_size differs between models ("
            + ", ".join(f"{model} {batch}" for model, batch in batches.items())
            + "); Triton refuses an ensemble larger "
            "than its steps"
        )
    if any(isinstance(b, int) and b > spec.max_batch_size for b in batches.values()):
        found.append(
            f"triton_max_batch_size is above the engine's max_batch_size {spec.max_batch_size}: the "
            "engine still runs at most that many; the rest queue"
        )
    beam = values("max_beam_width").get("tensorrt_llm")
    if isinstance(beam, int) and beam > spec.max_beam_width:
        found.append(
            f"max_beam_width {beam} exceeds the engine's {spec.max_beam_width}: the backend rejects it"
        )
    for name in ("enable_kv_cache_reuse", "enable_chunked_context"):
        if values(name).get("tensorrt_llm") is True and not spec.paged_context_fmha:
            found.append(
                f"{name}=true needs an engine built with paged context FMHA, which this one lacks: "
                "the backend fails to load it"
            )
    return found
