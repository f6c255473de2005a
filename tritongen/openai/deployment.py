"""What the route needs to know about the deployment it fronts, found once before it starts serving.

The model to call and its contract come from the running server (its ready models and their configs),
so the route works against a Triton it did not start. The rendered repository's manifest
(`tritongen.json`), when there is one, adds what the server cannot say: which of its models tritongen
rendered and where the tokenizer is. Choice order for the model: `--model-name`, then `ensemble`,
`tensorrt_llm_bls`, and an llmapi `tensorrt_llm`, whichever is ready first in that order. Tokenizer:
`--tokenizer`, the manifest, then the preprocessing model's `tokenizer_dir` parameter. An llmapi
repository's manifest has no tokenizer entry: its model's LLM arguments (`tokenizer`, else `model`, the
checkpoint the LLM loads its tokenizer from) say where it is, and `max_seq_len`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tritongen.errors import ServerRequestError, TokenizerError, UsageError
from tritongen.http.generate import base_url
from tritongen.openai.targets import Target, target_for

MODEL_PREFERENCE = ("ensemble", "tensorrt_llm_bls", "tensorrt_llm")
DEFAULT_MAX_TOKENS = 16  # when the deployment's max_seq_len is unknown (Triton's frontend default)
TRUE_WORDS = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Deployment:
    """The resolved route configuration."""

    url: str
    target: Target
    served_name: str  # the OpenAI model id
    tokenizer_dir: Path
    add_special_tokens: bool
    max_seq_len: int | None


def _get(url: str, timeout_s: float = 10) -> tuple[int, Any]:
    try:
        response = requests.get(url, timeout=timeout_s)
    except requests.RequestException as error:
        raise _unreachable(url, error) from None
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, None


def _unreachable(url: str, error: Exception) -> ServerRequestError:
    return ServerRequestError(
        f"cannot reach tritonserver at {url.split('/v2', 1)[0]} ({type(error).__name__})",
        hint="Is it running? Start it with `tritongen launch`, or pass --url HOST:PORT.",
    )


def _ready_models(base: str) -> list[str]:
    try:
        index = requests.post(f"{base}/v2/repository/index", json={"ready": True}, timeout=10).json()
    except requests.RequestException as error:
        raise _unreachable(base, error) from None
    except ValueError:
        return []
    return (
        [str(e["name"]) for e in index if isinstance(e, dict) and "name" in e]
        if isinstance(index, list)
        else []
    )


def _config(base: str, model: str) -> dict[str, Any]:
    status, config = _get(f"{base}/v2/models/{model}/config")
    if status != 200 or not isinstance(config, dict):
        raise ServerRequestError(f"cannot read the config of model '{model}' at {base} (HTTP {status})")
    return config


def _parameter(config: dict[str, Any], name: str) -> str | None:
    entry = config.get("parameters", {}).get(name)
    value = entry.get("string_value") if isinstance(entry, dict) else None
    return str(value) if value not in (None, "") and "${" not in str(value) else None


def _decoupled(config: dict[str, Any]) -> bool:
    return bool(config.get("model_transaction_policy", {}).get("decoupled", False))


def read_manifest(repository: Path) -> dict[str, Any]:
    path = repository.expanduser() / "tritongen.json"
    if not repository.expanduser().is_dir():
        raise UsageError(f"model repository {repository} does not exist", hint="Pass --repository DIR.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}  # a hand-made repository: everything comes from the server
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot read {path}: {error}", hint="Re-render the repository.") from None
    return data if isinstance(data, dict) else {}


def resolve(
    url: str,
    *,
    repository: Path | None = None,
    model_name: str | None = None,
    served_name: str | None = None,
    tokenizer: Path | None = None,
) -> Deployment:
    """Ask the server (and the manifest) everything the route needs; one-line errors otherwise."""
    base = base_url(url)
    manifest = read_manifest(repository) if repository is not None else {}
    status, _ = _get(f"{base}/v2/health/ready")
    if status != 200:
        raise ServerRequestError(f"tritonserver at {base} is not ready (HTTP {status})")
    ready = _ready_models(base)
    if model_name is None:
        rendered = manifest.get("models") or MODEL_PREFERENCE
        model_name = next((m for m in MODEL_PREFERENCE if m in ready and m in rendered), None)
        if model_name is None:
            raise ServerRequestError(
                f"no ensemble, tensorrt_llm_bls or llmapi model is ready at {base}",
                hint=f"Ready models: {', '.join(sorted(ready)) or 'none'}. Pass --model-name NAME.",
            )
    elif model_name not in ready:
        raise ServerRequestError(
            f"model '{model_name}' is not ready at {base}",
            hint=f"Ready models: {', '.join(sorted(ready)) or 'none'}.",
        )
    config = _config(base, model_name)
    names = [str(s.get("model_name")) for s in config.get("ensemble_scheduling", {}).get("step", [])]
    steps = {name: _config(base, name) for name in names}
    decoupled = any(_decoupled(step) for step in steps.values()) if steps else _decoupled(config)
    target = target_for(model_name, config, decoupled, steps)
    pre = _config(base, "preprocessing") if "preprocessing" in ready else {}
    tokenizer_dir = (
        tokenizer
        or _manifest_tokenizer(manifest)
        or _llm_argument_path(manifest, model_name)
        or _tokenizer_parameter(pre, config)
    )
    if tokenizer_dir is None:
        raise TokenizerError(
            f"cannot tell where the tokenizer of '{model_name}' is",
            hint="Pass --tokenizer DIR or --repository REPO (a repository rendered by tritongen).",
        )
    max_seq_len = (
        _int(_parameter(pre, "max_seq_len"))
        or _int(manifest.get("engine", {}).get("max_seq_len"))
        or _int(_llm_argument(manifest, model_name, "max_seq_len"))
    )
    add_special = (_parameter(pre, "add_special_tokens") or "true").lower() in TRUE_WORDS
    if served_name is None:
        served_name = repository.expanduser().resolve().name if repository is not None else model_name
    return Deployment(base, target, served_name, tokenizer_dir, add_special, max_seq_len)


def _manifest_tokenizer(manifest: dict[str, Any]) -> Path | None:
    path = manifest.get("tokenizer", {}).get("path")
    return Path(path) if path else None


def _llm_argument(manifest: dict[str, Any], model: str, key: str) -> object:
    """An LLM argument of an llmapi model (its model.yaml), as the manifest records it."""
    parameters = manifest.get("parameters", {}).get(model, {}) if manifest.get("target") == "llmapi" else {}
    entry = parameters.get(key) if isinstance(parameters, dict) else None
    return entry.get("value") if isinstance(entry, dict) else None


def _llm_argument_path(manifest: dict[str, Any], model: str) -> Path | None:
    value = _llm_argument(manifest, model, "tokenizer") or _llm_argument(manifest, model, "model")
    return Path(str(value)) if value else None


def _tokenizer_parameter(pre: dict[str, Any], config: dict[str, Any]) -> Path | None:
    for source in (pre, config):
        value = _parameter(source, "tokenizer_dir")
        if value:
            return Path(value)
    return None


def _int(value: object) -> int | None:
    try:
        return int(value) if value is not None else None  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
