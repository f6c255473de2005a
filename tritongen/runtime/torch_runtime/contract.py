"""The `tensorrt_llm` tensor contract: request tensors in, a validated GenerationRequest out, and back.

Pure numpy: `model.py` hands in `{name: array}` (each with the leading batch dimension Triton adds) and
turns the arrays `response_arrays` returns into output tensors. Decisions that differ from, or are not
written down for, the TensorRT-LLM backend:

- `request_output_len` larger than what fits in `max_seq_len` is clamped to fit (TRT-LLM clamps too);
  a prompt longer than `max_input_len`, or one that leaves no room at all, is refused.
- `end_id` defaults to the checkpoint's EOS; a negative `end_id` disables stopping on it. The end token
  itself is not returned. A matched stop word is returned (as TRT-LLM does).
- Sampling follows TRT-LLM: decoding is greedy unless `runtime_top_k` > 1 or `runtime_top_p` > 0.
- `min_tokens` holds back the end token and stop words until that many tokens were generated.
- `output_log_probs` are log-probabilities of the chosen tokens after penalties and temperature, before
  top-k/top-p truncation; `cum_log_probs` is their running sum.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

# Inputs the torch runtime cannot honour: a request that sets them gets an error rather than a silent no-op.
# decoder_input_ids / decoder_input_lengths are not here: TRT-LLM reads them only for encoder-decoder
# engines and ignores them for decoder-only ones (upstream's preprocessing always sends a pad id there).
UNSUPPORTED_INPUTS = (
    "encoder_input_features",
    "encoder_output_lengths",
    "draft_input_ids",
    "draft_logits",
    "draft_acceptance_threshold",
    "prompt_embedding_table",
    "prompt_table_extra_ids",
    "prompt_vocab_size",
    "cross_attention_mask",
    "mrope_rotary_cos_sin",
    "mrope_position_deltas",
    "lora_task_id",
    "lora_weights",
    "lora_config",
    "context_phase_params",
    "guided_decoding_guide_type",
    "guided_decoding_guide",
)
UNSUPPORTED_FLAGS = ("return_context_logits", "return_generation_logits")
STREAMING_NEEDS_DECOUPLED = "Streaming is only supported if model is deployed using decoupled mode."


class RequestError(ValueError):
    """The request cannot be served; the message goes back to the client."""


@dataclass(frozen=True)
class SamplingParams:
    """How the next token is chosen (TRT-LLM semantics, see the module docstring)."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 0.0
    repetition_penalty: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    min_tokens: int = 0
    seed: int | None = None

    @property
    def greedy(self) -> bool:
        """Argmax decoding: no top-k/top-p asked for, top_k == 1, or a zero temperature."""
        return self.top_k == 1 or (self.top_k == 0 and self.top_p <= 0.0) or self.temperature <= 0.0

    @property
    def penalized(self) -> bool:
        """True when a penalty changes the logits."""
        return self.repetition_penalty != 1.0 or self.presence_penalty != 0.0 or self.frequency_penalty != 0.0


@dataclass(frozen=True)
class GenerationRequest:
    """One validated generation request, independent of Triton."""

    prompt: tuple[int, ...]
    max_new_tokens: int
    end_id: int  # negative: never stop on it
    pad_id: int
    streaming: bool = False
    exclude_input_in_output: bool = False
    return_log_probs: bool = False
    return_perf_metrics: bool = False
    return_num_input_tokens: bool = False
    return_num_output_tokens: bool = False
    sampling: SamplingParams = field(default_factory=SamplingParams)
    stop_sequences: tuple[tuple[int, ...], ...] = ()
    bad_sequences: tuple[tuple[int, ...], ...] = ()
    embedding_bias: tuple[float, ...] | None = None
    requested_output_len: int = 0  # before clamping, for the log


@dataclass(frozen=True)
class ModelLimits:
    """What the served checkpoint and config allow, and its defaults."""

    vocab_size: int
    max_input_len: int | None
    max_seq_len: int
    eos_id: int
    pad_id: int
    exclude_input_in_output: bool
    decoupled: bool


TensorGetter = Callable[[str], "NDArray[Any] | None"]


def is_stop_request(get: TensorGetter) -> bool:
    """True when the request only asks to stop another one (the `stop` input is true)."""
    return _flag(get, "stop", False)


def parse_request(get: TensorGetter, limits: ModelLimits) -> GenerationRequest:
    """Validate the tensors of one Triton request; raise RequestError with a message for the client."""
    for name in UNSUPPORTED_INPUTS:
        value = get(name)
        if value is not None and value.size > 0:
            raise RequestError(f"input {name} is not supported by the torch runtime")
    for name in UNSUPPORTED_FLAGS:
        if _flag(get, name, False):
            raise RequestError(f"{name} is not supported by the torch runtime")
    beam_width = _scalar(get, "beam_width", int, 1)
    if beam_width != 1:
        raise RequestError(f"beam_width {beam_width} is not supported: the torch runtime decodes one beam")
    if _scalar(get, "num_return_sequences", int, 1) != 1:
        raise RequestError("num_return_sequences other than 1 is not supported by the torch runtime")
    streaming = _flag(get, "streaming", False)
    if streaming and not limits.decoupled:
        raise RequestError(STREAMING_NEEDS_DECOUPLED)

    prompt = _prompt(get, limits)
    requested = _scalar(get, "request_output_len", int, None)
    if requested is None:
        raise RequestError("input request_output_len is required")
    if requested < 1:
        raise RequestError(f"request_output_len must be at least 1, got {requested}")
    room = limits.max_seq_len - len(prompt)
    if room < 1:
        raise RequestError(
            f"the prompt has {len(prompt)} tokens and leaves no room to generate within max_seq_len "
            f"{limits.max_seq_len}"
        )
    sampling = _sampling(get)
    return GenerationRequest(
        prompt=prompt,
        max_new_tokens=min(requested, room),
        requested_output_len=requested,
        end_id=_token_id(get, "end_id", limits.eos_id, limits.vocab_size),
        pad_id=_token_id(get, "pad_id", limits.pad_id, limits.vocab_size),
        streaming=streaming,
        exclude_input_in_output=_flag(get, "exclude_input_in_output", limits.exclude_input_in_output),
        return_log_probs=_flag(get, "return_log_probs", False),
        return_perf_metrics=_flag(get, "return_perf_metrics", False),
        return_num_input_tokens=_flag(get, "return_num_input_tokens", False),
        return_num_output_tokens=_flag(get, "return_num_output_tokens", False),
        sampling=sampling,
        stop_sequences=_word_list(get, "stop_words_list", limits.vocab_size),
        bad_sequences=_word_list(get, "bad_words_list", limits.vocab_size),
        embedding_bias=_embedding_bias(get, limits.vocab_size),
    )


def _prompt(get: TensorGetter, limits: ModelLimits) -> tuple[int, ...]:
    input_ids = get("input_ids")
    if input_ids is None or input_ids.size == 0:
        raise RequestError("input input_ids is required and must not be empty")
    if input_ids.ndim != 2 or input_ids.shape[0] != 1:
        raise RequestError(
            f"input_ids must hold one sequence (shape [1, tokens]), got shape {list(input_ids.shape)}; "
            "send one request per prompt"
        )
    tokens = input_ids[0]
    length = _scalar(get, "input_lengths", int, len(tokens))
    if not 1 <= length <= len(tokens):
        raise RequestError(f"input_lengths {length} does not fit input_ids, which holds {len(tokens)} tokens")
    tokens = tokens[:length]
    if limits.max_input_len is not None and length > limits.max_input_len:
        raise RequestError(f"the prompt has {length} tokens, more than max_input_len {limits.max_input_len}")
    if int(tokens.min()) < 0 or int(tokens.max()) >= limits.vocab_size:
        raise RequestError(f"input_ids holds token ids outside the vocabulary [0, {limits.vocab_size})")
    return tuple(int(token) for token in tokens)


def _sampling(get: TensorGetter) -> SamplingParams:
    """Every sampling input checked on its own: a value that is refused here is one that, unchecked, could
    make a step of the shared batch fail (a NaN temperature, an end_id outside the vocabulary, ...)."""
    seed = _scalar(get, "seed", int, None)
    if seed is None:
        seed = _scalar(get, "random_seed", int, None)
    min_tokens = _scalar(get, "min_tokens", int, 0)
    min_length = _scalar(get, "min_length", int, 0)
    for name, value in (("min_tokens", min_tokens), ("min_length", min_length)):
        if value < 0:
            raise RequestError(f"{name} must not be negative, got {value}")
    params = SamplingParams(
        temperature=_finite(get, "temperature", 1.0),
        top_k=_scalar(get, "runtime_top_k", int, 0),
        top_p=_finite(get, "runtime_top_p", 0.0),
        repetition_penalty=_finite(get, "repetition_penalty", 1.0),
        presence_penalty=_finite(get, "presence_penalty", 0.0),
        frequency_penalty=_finite(get, "frequency_penalty", 0.0),
        min_tokens=max(min_tokens, min_length),
        seed=seed,
    )
    if params.temperature < 0:
        raise RequestError(f"temperature must not be negative, got {params.temperature}")
    if params.top_k < 0:
        raise RequestError(f"runtime_top_k must not be negative, got {params.top_k}")
    if not 0.0 <= params.top_p <= 1.0:
        raise RequestError(f"runtime_top_p must be within [0, 1], got {params.top_p}")
    if params.repetition_penalty <= 0:
        raise RequestError(f"repetition_penalty must be positive, got {params.repetition_penalty}")
    return params


def _token_id(get: TensorGetter, name: str, default: int, vocab_size: int) -> int:
    """end_id / pad_id: a token of the vocabulary, or negative (never stop on it)."""
    value = _scalar(get, name, int, default)
    if value >= vocab_size:
        raise RequestError(f"{name} {value} is outside the vocabulary [0, {vocab_size}) (negative: none)")
    return int(value)


def _word_list(get: TensorGetter, name: str, vocab_size: int) -> tuple[tuple[int, ...], ...]:
    """Decode the [2, N] word-list format: row 0 the concatenated ids, row 1 cumulative end offsets, -1 padded."""
    value = get(name)
    if value is None or value.size == 0:
        return ()
    words = value[0] if value.ndim == 3 else value
    if words.ndim != 2 or words.shape[0] != 2:
        raise RequestError(f"{name} must have shape [2, N] (ids, offsets), got {list(value.shape)}")
    ids, offsets = words[0], words[1]
    sequences: list[tuple[int, ...]] = []
    start = 0
    for offset in (int(o) for o in offsets):
        if offset < 0:
            break
        if offset <= start or offset > len(ids):
            raise RequestError(f"{name} has offset {offset} out of order or beyond its {len(ids)} ids")
        sequence = tuple(int(token) for token in ids[start:offset])
        if any(not 0 <= token < vocab_size for token in sequence):
            raise RequestError(f"{name} holds token ids outside the vocabulary [0, {vocab_size})")
        sequences.append(sequence)
        start = offset
    return tuple(sequences)


def _embedding_bias(get: TensorGetter, vocab_size: int) -> tuple[float, ...] | None:
    value = get("embedding_bias")
    if value is None or value.size == 0:
        return None
    bias = value.reshape(-1).astype(np.float32)
    if not bias.any():
        return None
    if bias.size != vocab_size:
        raise RequestError(f"embedding_bias has {bias.size} values; the vocabulary has {vocab_size}")
    if np.isnan(bias).any() or np.isposinf(bias).any():
        raise RequestError(
            "embedding_bias holds NaN or +inf (-inf bans a token; NaN and +inf have no meaning)"
        )
    return tuple(float(x) for x in bias)


def _scalar(get: TensorGetter, name: str, kind: type, default):  # type: ignore[no-untyped-def]
    value = get(name)
    if value is None or value.size == 0:
        return default
    if value.size != 1:
        raise RequestError(f"input {name} must hold one value, got shape {list(value.shape)}")
    return kind(value.reshape(-1)[0])


def _finite(get: TensorGetter, name: str, default: float) -> float:
    """A float input that must be a number: NaN or infinity would turn the row's logits into NaN."""
    value = float(_scalar(get, name, float, default))
    if not math.isfinite(value):
        raise RequestError(f"{name} must be a finite number, got {value}")
    return value


def _flag(get: TensorGetter, name: str, default: bool) -> bool:
    return bool(_scalar(get, name, bool, default))


@dataclass
class ResponseCursor:
    """What one request has sent so far, so each streamed response carries only the new tokens."""

    request: GenerationRequest
    arrival_ns: int
    sent_tokens: int = 0
    first_token_ns: int = 0


def response_arrays(
    cursor: ResponseCursor,
    tokens: list[int],
    log_probs: list[float],
    *,
    now_ns: int,
    declared: Mapping[str, np.dtype[Any]],
) -> dict[str, NDArray[Any]]:
    """The output arrays of one response: `tokens`/`log_probs` are everything generated so far.

    Streaming responses carry the tokens not sent before; a non-streaming (final) response carries the
    prompt (unless excluded) and all generated tokens. Only outputs declared in config.pbtxt are produced.
    """
    request = cursor.request
    if request.streaming:
        new_tokens = tokens[cursor.sent_tokens :]
        new_log_probs = log_probs[cursor.sent_tokens : len(tokens)]
    else:
        new_tokens = tokens if request.exclude_input_in_output else [*request.prompt, *tokens]
        new_log_probs = log_probs[: len(tokens)]
    if tokens and not cursor.first_token_ns:
        cursor.first_token_ns = now_ns
    cursor.sent_tokens = len(tokens)
    arrays: dict[str, NDArray[Any]] = {
        "output_ids": np.array(new_tokens, dtype=np.int32).reshape(1, 1, -1),
        "sequence_length": np.array([[len(new_tokens)]], dtype=np.int32),
    }
    if request.return_log_probs:
        arrays["cum_log_probs"] = np.array([[sum(log_probs[: len(tokens)])]], dtype=np.float32)
        arrays["output_log_probs"] = np.array(new_log_probs, dtype=np.float32).reshape(1, 1, -1)
    else:  # placeholders, as the TensorRT-LLM backend sends
        arrays["cum_log_probs"] = np.zeros((1, 1), dtype=np.float32)
        arrays["output_log_probs"] = np.zeros((1, 1, 1), dtype=np.float32)
    arrays["context_logits"] = np.zeros((1, 1, 1), dtype=np.float32)
    arrays["generation_logits"] = np.zeros((1, 1, 1, 1), dtype=np.float32)
    if request.return_num_input_tokens:
        arrays["num_input_tokens"] = np.array([[len(request.prompt)]], dtype=np.int32)
    if request.return_num_output_tokens:
        arrays["num_output_tokens"] = np.array([[len(tokens)]], dtype=np.int32)
    if request.return_perf_metrics:  # on every response, as TRT-LLM does: streaming clients read each one's
        arrays.update(_perf_metrics(cursor, now_ns))
    return {
        name: array.astype(declared[name], copy=False) for name, array in arrays.items() if name in declared
    }


def _perf_metrics(cursor: ResponseCursor, now_ns: int) -> dict[str, NDArray[Any]]:
    def int64(value: int) -> NDArray[Any]:
        return np.array([[value]], dtype=np.int64)

    def int32(value: int) -> NDArray[Any]:
        return np.array([[value]], dtype=np.int32)

    return {
        "arrival_time_ns": int64(cursor.arrival_ns),
        "first_scheduled_time_ns": int64(cursor.arrival_ns),
        "first_token_time_ns": int64(cursor.first_token_ns or now_ns),
        "last_token_time_ns": int64(now_ns),
        "kv_cache_alloc_new_blocks": int32(0),
        "kv_cache_reused_blocks": int32(0),
        "kv_cache_alloc_total_blocks": int32(0),
        "acceptance_rate": np.zeros((1, 1), dtype=np.float32),
        "total_accepted_draft_tokens": int32(0),
        "total_draft_tokens": int32(0),
    }
