"""The llmapi tensor contract: request tensors in, an `LlmRequest` out; an `LlmUpdate` back to output arrays.

Pure numpy, shared by both executors (`tensorrt_llm.LLM` and the torch runtime), so the request semantics
are those of upstream's llmapi model whichever runs:

- sampling parameters are top-level `sampling_param_*` tensors; absent ones keep `SamplingParams`'
  defaults (`max_tokens` 32, greedy unless top-k/top-p ask otherwise);
- the prompt is echoed in `text_output` unless `sampling_param_exclude_input_from_output` is true;
- streamed `text_output` is cumulative (the whole text so far), as upstream's, not a delta;
- `return_finish_reason` / `return_stop_reason` / `return_cumulative_logprob` and
  `sampling_param_return_perf_metrics` add outputs, every one sent as a string (upstream builds them with
  text_output's dtype; clients parse the numbers);
- `stop: true` with a `triton-request-id` cancels the earlier request with that id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

DEFAULT_MAX_TOKENS = 32  # tensorrt_llm.SamplingParams' default
STREAMING_NEEDS_DECOUPLED = "Streaming is only supported in decoupled mode."
NEEDS_REQUEST_ID = "A request id must be provided for request cancellation"
LORA_INPUTS = ("lora_id", "lora_name", "lora_path")
PERF_OUTPUTS = (
    "kv_cache_reused_block",
    "kv_cache_missed_block",
    "kv_cache_alloc_new_blocks",
    "kv_cache_alloc_total_blocks",
    "kv_cache_hit_rate",
    "arrival_time_ns",
    "first_scheduled_time_ns",
    "first_token_time_ns",
    "last_token_time_ns",
    "acceptance_rate",
    "total_accepted_draft_tokens",
    "total_draft_tokens",
)


# The ensemble's request names (what `/v2/models/ensemble/generate` users send today) -> the llmapi input, or
# None where the llmapi model has no equivalent. Triton's generate endpoint passes a JSON key the model does
# not declare as a request *parameter*, which upstream's model ignores: `max_tokens: 64` silently became 32
# tokens (tensorrtllm_backend #773). tritongen refuses them instead, naming the llmapi name.
ENSEMBLE_NAMES: dict[str, str | None] = {
    "max_tokens": "sampling_param_max_tokens",
    "stream": "streaming",
    "stop_words": "sampling_param_stop",
    "random_seed": "sampling_param_seed",
    "seed": "sampling_param_seed",
    "exclude_input_in_output": "sampling_param_exclude_input_from_output",
    "temperature": "sampling_param_temperature",
    "top_k": "sampling_param_top_k",
    "top_p": "sampling_param_top_p",
    "runtime_top_k": "sampling_param_top_k",
    "runtime_top_p": "sampling_param_top_p",
    "presence_penalty": "sampling_param_presence_penalty",
    "frequency_penalty": "sampling_param_frequency_penalty",
    "beam_width": "sampling_param_best_of",
    "bad_words": None,
    "end_id": None,
    "pad_id": None,
    "repetition_penalty": None,
    "length_penalty": None,
    "min_tokens": None,
    "min_length": None,
    "return_log_probs": None,
    "return_num_input_tokens": None,
    "return_num_output_tokens": None,
}


class RequestError(ValueError):
    """The request cannot be served; the message goes back to the client (a 4xx over HTTP)."""


@dataclass(frozen=True)
class Sampling:
    """The `SamplingParams` fields a Triton request can set (upstream's helpers read exactly these)."""

    max_tokens: int = DEFAULT_MAX_TOKENS
    best_of: int | None = None
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    exclude_input_from_output: bool = False
    return_perf_metrics: bool = False

    def as_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `tensorrt_llm.SamplingParams` (unset fields left to its defaults)."""
        kwargs: dict[str, Any] = {
            "max_tokens": self.max_tokens,
            "exclude_input_from_output": self.exclude_input_from_output,
            "return_perf_metrics": self.return_perf_metrics,
        }
        for name in (
            "best_of",
            "temperature",
            "top_k",
            "top_p",
            "frequency_penalty",
            "presence_penalty",
            "seed",
        ):
            value = getattr(self, name)
            if value is not None:
                kwargs[name] = value
        if self.stop:
            kwargs["stop"] = list(self.stop)
        return kwargs


@dataclass(frozen=True)
class Lora:
    lora_id: int
    name: str
    path: str
    ckpt_source: str = "hf"


@dataclass(frozen=True)
class LlmRequest:
    """One validated llmapi request, independent of Triton."""

    prompt: str
    sampling: Sampling = field(default_factory=Sampling)
    streaming: bool = False
    return_finish_reason: bool = False
    return_stop_reason: bool = False
    return_cumulative_logprob: bool = False
    lora: Lora | None = None
    image_urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class LlmUpdate:
    """What an executor reports for one request: the whole text so far (cumulative) and, at the end, why."""

    text: str
    finished: bool
    finish_reason: str | None = None  # "stop", "length", "cancelled"
    stop_reason: str | int | None = None  # the stop string (or token) that ended it
    cumulative_logprob: float | None = None
    metrics: dict[str, float | int] | None = None  # the PERF_OUTPUTS, when asked for
    error: str | None = None
    cancelled: bool = False


TensorGetter = Callable[[str], "NDArray[Any] | None"]


def is_stop_request(get: TensorGetter) -> bool:
    """True when the request only asks to stop another one (the `stop` input is true)."""
    return _flag(get, "stop", False)


def parse_request(get: TensorGetter, *, decoupled: bool) -> LlmRequest:
    """Validate the tensors of one request; raise RequestError with a message for the client."""
    text = get("text_input")
    if text is None or text.size == 0:
        raise RequestError("input text_input is required")
    if text.ndim != 1 or text.size != 1:
        raise RequestError(
            f"text_input must hold one prompt (shape [1]), got shape {list(text.shape)}; send one request per prompt"
        )
    prompt = _text(text.reshape(-1)[0])
    streaming = _flag(get, "streaming", False)
    if streaming and not decoupled:
        raise RequestError(STREAMING_NEEDS_DECOUPLED)
    max_tokens = _scalar(get, "sampling_param_max_tokens", int, DEFAULT_MAX_TOKENS)
    if max_tokens < 1:
        raise RequestError(f"sampling_param_max_tokens must be at least 1, got {max_tokens}")
    best_of = _scalar(get, "sampling_param_best_of", int, None)
    if best_of is not None and best_of < 1:
        raise RequestError(f"sampling_param_best_of must be at least 1, got {best_of}")
    top_k = _scalar(get, "sampling_param_top_k", int, None)
    if top_k is not None and top_k < 0:
        raise RequestError(f"sampling_param_top_k must be >= 0, got {top_k}")
    top_p = _scalar(get, "sampling_param_top_p", float, None)
    if top_p is not None and not 0.0 <= top_p <= 1.0:
        raise RequestError(f"sampling_param_top_p must be in [0, 1], got {top_p}")
    temperature = _scalar(get, "sampling_param_temperature", float, None)
    if temperature is not None and temperature < 0:
        raise RequestError(f"sampling_param_temperature must be >= 0, got {temperature}")
    stop = get("sampling_param_stop")
    sampling = Sampling(
        max_tokens=max_tokens,
        best_of=best_of,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        frequency_penalty=_scalar(get, "sampling_param_frequency_penalty", float, None),
        presence_penalty=_scalar(get, "sampling_param_presence_penalty", float, None),
        seed=_scalar(get, "sampling_param_seed", int, None),
        stop=tuple(word for word in (_text(w) for w in stop.reshape(-1)) if word) if stop is not None else (),
        exclude_input_from_output=_flag(get, "sampling_param_exclude_input_from_output", False),
        return_perf_metrics=_flag(get, "sampling_param_return_perf_metrics", False),
    )
    images = get("image_url")
    return LlmRequest(
        prompt=prompt,
        sampling=sampling,
        streaming=streaming,
        return_finish_reason=_flag(get, "return_finish_reason", False),
        return_stop_reason=_flag(get, "return_stop_reason", False),
        return_cumulative_logprob=_flag(get, "return_cumulative_logprob", False),
        lora=_lora(get),
        image_urls=tuple(_text(u) for u in images.reshape(-1)) if images is not None else (),
    )


def _lora(get: TensorGetter) -> Lora | None:
    given = {name: get(name) for name in (*LORA_INPUTS, "lora_ckpt_source")}
    present = [name for name in LORA_INPUTS if given[name] is not None]
    if not present:
        return None
    if len(present) != len(LORA_INPUTS):
        raise RequestError("lora_id, lora_name and lora_path must be provided together")
    source = (
        _text(given["lora_ckpt_source"].reshape(-1)[0]) if given["lora_ckpt_source"] is not None else "hf"
    )
    if source not in ("hf", "nemo"):
        raise RequestError(f"lora_ckpt_source must be hf or nemo, got {source!r}")
    return Lora(
        lora_id=_scalar(get, "lora_id", int, 0),
        name=_text(given["lora_name"].reshape(-1)[0]),  # type: ignore[union-attr]
        path=_text(given["lora_path"].reshape(-1)[0]),  # type: ignore[union-attr]
        ckpt_source=source,
    )


def check_parameters(parameters: dict[str, Any]) -> None:
    """Refuse the ensemble's request names (see `ENSEMBLE_NAMES`), each with its llmapi name."""
    found = sorted(name for name in parameters if name in ENSEMBLE_NAMES)
    if not found:
        return
    mapped = [
        f"{name} -> {ENSEMBLE_NAMES[name]}" if ENSEMBLE_NAMES[name] else f"{name} (no llmapi equivalent)"
        for name in found
    ]
    raise RequestError(
        f"{', '.join(found)} {'is' if len(found) == 1 else 'are'} the ensemble's request name(s), not inputs of the "
        f"llmapi model: {'; '.join(mapped)}"
    )


def response_arrays(request: LlmRequest, update: LlmUpdate, declared: set[str]) -> dict[str, NDArray[Any]]:
    """The output tensors of one response (only those the config declares, as Triton requires)."""
    arrays: dict[str, NDArray[Any]] = {"text_output": _strings(update.text)}
    if request.return_finish_reason:
        arrays["finish_reason"] = _strings(str(update.finish_reason))
    if request.return_stop_reason:
        arrays["stop_reason"] = _strings(str(update.stop_reason))
    if request.return_cumulative_logprob:
        arrays["cumulative_logprob"] = _strings(str(update.cumulative_logprob))
    if request.sampling.return_perf_metrics and update.metrics:
        for name in PERF_OUTPUTS:
            if name in update.metrics:
                arrays[name] = _strings(str(update.metrics[name]))
    return {name: value for name, value in arrays.items() if name in declared}


def _strings(*texts: str) -> NDArray[Any]:
    return np.array([t.encode("utf-8") for t in texts], dtype=np.object_)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise RequestError("a text input is not valid UTF-8") from None
    return str(value)


def _scalar(get: TensorGetter, name: str, kind: type, default):  # type: ignore[no-untyped-def]
    """The first element of a [1] input converted to `kind`, or `default` when absent."""
    value = get(name)
    if value is None or value.size == 0:
        return default
    try:
        return kind(value.reshape(-1)[0].item())
    except (TypeError, ValueError):
        raise RequestError(f"input {name} must be a {kind.__name__}") from None


def _flag(get: TensorGetter, name: str, default: bool) -> bool:
    value = get(name)
    if value is None or value.size == 0:
        return default
    return bool(value.reshape(-1)[0])
