"""The KV-cache settings a deployment runs with: from a model repository, or the runtime's defaults.

A repository is read the way its server reads it: the `tensorrt_llm` model's config.pbtxt parameters
(Triton's own ModelConfig parser; an empty or unfilled `${...}` value is unset, as in the backend), or
for an llmapi repository its `tensorrt_llm/1/model.yaml` (`kv_cache_config`, `max_seq_len`,
`max_batch_size`, `tensor_parallel_size`, `pipeline_parallel_size`). `tritongen.json`, when present,
supplies the backend version (for the default fraction) and where the engine was.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tritongen.errors import EngineError, UsageError
from tritongen.versions import Version

TRTLLM, TORCH, LLMAPI = "trtllm", "torch", "llmapi"
MODEL_DIR = "tensorrt_llm"
LLMAPI_CONFIG = "model.yaml"
LLMAPI_TOKENS_PER_BLOCK = 32  # the LLM API's KvCacheConfig.tokens_per_block default
_UNFILLED = "$" + "{"


@dataclass(frozen=True)
class KvSettings:
    """Everything besides the model that decides the KV cache's size."""

    runtime: str  # TRTLLM, TORCH or LLMAPI
    fraction: float | None = None  # kv_cache_free_gpu_mem_fraction; None: not set (the runtime default)
    fraction_default: float = 0.9  # what an unset fraction means for this backend version
    max_tokens: int | None = None  # max_tokens_in_paged_kv_cache
    attention_window: int | None = None  # max_attention_window_size (one value)
    sink_tokens: int = 0  # sink_token_length
    max_batch_size: int | None = None  # None: the engine's
    max_seq_len: int | None = None  # None: the engine's (torch runtime and llmapi: a runtime setting)
    beam_width: int | None = None  # max_beam_width; None: the engine's
    kv_dtype: str | None = None  # llmapi kv_cache_config.dtype ("fp8"); None: the engine's
    tokens_per_block: int | None = None  # llmapi kv_cache_config.tokens_per_block; None: the engine's
    torch_dtype: str = "auto"  # torch runtime
    device: str = "auto"  # torch runtime
    tp_size: int | None = None  # torch runtime / llmapi split of a checkpoint
    pp_size: int | None = None
    backend_version: Version | None = None
    sources: tuple[tuple[str, str], ...] = ()  # (setting, where it came from), for the report

    @property
    def effective_fraction(self) -> float:
        return self.fraction_default if self.fraction is None else self.fraction

    def source_of(self, name: str) -> str:
        return dict(self.sources).get(name, "default")

    def overridden(self, *, fraction: float | None, max_tokens: int | None) -> KvSettings:
        """These settings with the command line's --fraction / --max-tokens-in-paged-kv-cache."""
        sources = dict(self.sources)
        result = self
        if fraction is not None:
            sources["fraction"] = "--fraction"
            result = replace(result, fraction=fraction)
        if max_tokens is not None:
            sources["max_tokens"] = "--max-tokens-in-paged-kv-cache"
            result = replace(result, max_tokens=max_tokens)
        return replace(result, sources=tuple(sources.items()))


@dataclass(frozen=True)
class Repository:
    """A model repository's `tensorrt_llm` model: its runtime, its engine, its settings."""

    root: Path
    engine: str  # the engine or checkpoint path as the repository names it
    settings: KvSettings


def is_repository(path: Path) -> bool:
    """True when `path` holds a `tensorrt_llm` model (config.pbtxt), i.e. it is a model repository."""
    return (path / MODEL_DIR / "config.pbtxt").is_file()


def fraction_default(version: Version | None) -> float:
    """The backend's default kv_cache_free_gpu_mem_fraction for `version`, from the render catalogue."""
    from tritongen.render.catalogue import entries_named

    for param in entries_named("kv_cache_free_gpu_mem_fraction", MODEL_DIR):
        if version is not None and param.exists_in(version) and isinstance(param.default, float):
            return param.default
    return 0.9


def read_repository(root: Path) -> Repository:
    """The `tensorrt_llm` model of the repository at `root` (a UsageError when it has none)."""
    root = root.expanduser().resolve()
    manifest = _manifest(root)
    version = _version(manifest)
    llmapi = root / MODEL_DIR / "1" / LLMAPI_CONFIG
    if llmapi.is_file():
        return _read_llmapi(root, llmapi, version)
    parameters, backend = _parameters(root / MODEL_DIR / "config.pbtxt")
    runtime = TRTLLM if backend == "tensorrtllm" else TORCH
    engine = _text(parameters, "gpt_model_path") or str(manifest.get("engine", {}).get("path", ""))
    sources: dict[str, str] = {}

    def number(key: str, kind: type[int | float], name: str) -> Any:
        text = _text(parameters, key)
        if text is None:
            return None
        try:
            value = kind(text)
        except ValueError:
            raise UsageError(
                f"{root / MODEL_DIR / 'config.pbtxt'}: parameter {key} is {text!r}, not a number",
                hint="Fix it (tritongen check lists every such value).",
            ) from None
        sources[name] = f"{MODEL_DIR}/config.pbtxt {key}"
        return value

    window_text = _text(parameters, "max_attention_window_size")
    windows = {int(w) for w in window_text.split(",") if w.strip()} if window_text else set()
    settings = KvSettings(
        runtime=runtime,
        fraction=number("kv_cache_free_gpu_mem_fraction", float, "fraction"),
        fraction_default=fraction_default(version),
        max_tokens=number("max_tokens_in_paged_kv_cache", int, "max_tokens"),
        attention_window=_single_window(windows, root),
        sink_tokens=number("sink_token_length", int, "sink_tokens") or 0,
        max_batch_size=number("max_batch_size", int, "max_batch_size") if runtime == TORCH else None,
        max_seq_len=number("max_seq_len", int, "max_seq_len") if runtime == TORCH else None,
        beam_width=number("max_beam_width", int, "beam_width"),
        torch_dtype=_text(parameters, "torch_dtype") or "auto",
        device=_text(parameters, "device") or "auto",
        tp_size=number("tp_size", int, "tp_size") if runtime == TORCH else None,
        backend_version=version,
        sources=tuple(sources.items()),
    )
    if runtime == TRTLLM and (
        _text(parameters, "encoder_model_path") or _text(parameters, "encoder_engine_dir")
    ):
        raise UsageError(
            f"{root} serves an encoder-decoder model: its KV cache is split between self- and "
            "cross-attention (cross_kv_cache_fraction), which tritongen plan does not model",
            hint="Size it from the runtime's log: the two pools' 'Allocated' lines.",
        )
    return Repository(root, engine, settings)


def engine_directory(repository: Repository, override: Path | None) -> Path:
    """Where the engine is: `override`, the path the repository names, or the placed `1/engine`."""
    candidates = [override] if override is not None else []
    candidates += [Path(repository.engine)] if repository.engine else []
    candidates.append(repository.root / MODEL_DIR / "1" / "engine")
    for candidate in candidates:
        if (candidate / "config.json").is_file():
            return candidate
    named = repository.engine or str(repository.root / MODEL_DIR / "1" / "engine")
    raise EngineError(
        f"the engine of {repository.root} ({named}) is not here (no config.json)",
        hint="Pass its local copy with --engine-path DIR (gpt_model_path may name a path "
        "inside the serving container).",
    )


def _manifest(root: Path) -> dict[str, Any]:
    try:
        data = json.loads((root / "tritongen.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _version(manifest: dict[str, Any]) -> Version | None:
    text = manifest.get("backend_version")
    if not isinstance(text, str):
        return None
    try:
        return Version.parse(text)
    except UsageError:
        return None


def _parameters(config: Path) -> tuple[dict[str, str], str]:
    from google.protobuf import text_format

    from tritongen.check import parse_model_config

    try:
        message = parse_model_config(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, text_format.ParseError) as error:
        raise UsageError(
            f"{config} cannot be read as a Triton model config ({error})",
            hint="Run `tritongen check` on the repository.",
        ) from None
    return {key: value.string_value for key, value in message.parameters.items()}, str(message.backend)


def _text(parameters: dict[str, str], key: str) -> str | None:
    """A parameter's value; None when missing, empty or an unfilled placeholder (unset, as in the backend)."""
    value = parameters.get(key, "").strip()
    return None if not value or value.startswith(_UNFILLED) else value


def _single_window(windows: set[int], root: Path) -> int | None:
    if len(windows) > 1:
        raise UsageError(
            f"{root} sets several attention windows ({', '.join(map(str, sorted(windows)))}): the "
            "runtime then shares the memory between one pool per window, which tritongen plan "
            "does not model",
            hint="Size it from the runtime's 'Blocks per window size' log lines.",
        )
    return next(iter(windows), None)


def _read_llmapi(root: Path, path: Path, version: Version | None) -> Repository:
    """An llmapi repository: model.yaml is an LLM API (trtllm-serve) configuration."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise UsageError(f"{path} cannot be read as YAML ({error})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} is not a mapping of LLM API settings")
    kv_config = data.get("kv_cache_config")
    kv: dict[str, Any] = kv_config if isinstance(kv_config, dict) else {}
    sources = {
        name: f"{MODEL_DIR}/1/{LLMAPI_CONFIG} {key}"
        for name, key, present in (
            ("fraction", "kv_cache_config.free_gpu_memory_fraction", "free_gpu_memory_fraction" in kv),
            ("max_tokens", "kv_cache_config.max_tokens", "max_tokens" in kv),
            ("max_seq_len", "max_seq_len", "max_seq_len" in data),
            ("max_batch_size", "max_batch_size", "max_batch_size" in data),
        )
        if present
    }
    settings = KvSettings(
        runtime=LLMAPI,
        fraction=_optional(kv.get("free_gpu_memory_fraction"), float, path),
        max_tokens=_optional(kv.get("max_tokens"), int, path),
        kv_dtype="fp8" if str(kv.get("dtype", "auto")).lower() == "fp8" else None,
        tokens_per_block=_optional(kv.get("tokens_per_block"), int, path) or LLMAPI_TOKENS_PER_BLOCK,
        max_batch_size=_optional(data.get("max_batch_size"), int, path),
        max_seq_len=_optional(data.get("max_seq_len"), int, path),
        tp_size=_optional(data.get("tensor_parallel_size"), int, path),
        pp_size=_optional(data.get("pipeline_parallel_size"), int, path),
        backend_version=version,
        sources=tuple(sources.items()),
    )
    return Repository(root, str(data.get("model", "")), settings)


def _optional(value: Any, kind: type[int | float], path: Path) -> Any:
    if value is None:
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise UsageError(f"{path}: {value!r} is not a number") from None
