"""One translation per kind of model the route can front: OpenAI sampling options → a Triton generate body,
and the generate_stream events that come back → text deltas and token counts.

A target is built from the running model's own config (`GET /v2/models/NAME/config`), so it sends exactly
the tensor names that backend version declares (`seed` or `random_seed`, v0.5's required `stop_words`)
and refuses an option the model has no input for instead of letting Triton answer with a 400 about a
tensor the user never named. Two families exist:

- `TensorTarget`: the `ensemble` and `tensorrt_llm_bls` contract (`text_input`, `max_tokens`, `stream`,
  `exclude_input_in_output`, `stop_words`, …); streamed `text_output` is already a delta.
- `LlmapiTarget`: upstream's single `tensorrt_llm` llmapi model (`sampling_param_*`, `streaming`), whose
  streamed `text_output` is cumulative (reference llmapi.md §1.6), so the reader diffs successive chunks.

The llmapi names and the cumulative → delta step are `tritongen.http.contract`'s (`ModelContract`,
`StreamedText`), the description `infer` and `bench` read too, so the three clients cannot drift apart.

`target_for` picks one from the config's input names; adding a target is one class and one line there.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from tritongen.http.contract import ModelContract, StreamedText
from tritongen.openai.protocol import RouteError

# TRT-LLM (and the torch runtime) decode greedily unless top_k > 1 or top_p > 0, so OpenAI's "sample at
# temperature T" needs an explicit top_p; 1.0 keeps the whole distribution, as OpenAI's default does.
OPENAI_DEFAULT_TOP_P = 1.0


@dataclass(frozen=True)
class Sampling:
    """The generation options of one OpenAI request, validated and defaulted."""

    max_tokens: int
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    presence_penalty: float | None = None
    frequency_penalty: float | None = None

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def effective_seed(self) -> int:
        """The request's seed, or a fresh one: TRT-LLM's default seed is the same for every request, which
        would make every unseeded "random" completion identical, unlike OpenAI's."""
        return self.seed if self.seed is not None else random.getrandbits(31)


class StreamReader(Protocol):
    """Per-request state: turns the model's events into text deltas and remembers the token counts."""

    prompt_tokens: int | None
    completion_tokens: int | None

    def feed(self, event: Mapping[str, Any]) -> str:
        """The new text in one generate_stream event."""
        ...

    def finish(self) -> str:
        """Text held back until the stream ended (a cumulative stream's unsettled end), else ""."""
        ...


class Target(Protocol):
    """How to talk to one model of the deployment."""

    @property
    def kind(self) -> str:
        """ "ensemble", "tensorrt_llm_bls" or "llmapi"."""
        ...

    @property
    def model(self) -> str:
        """The Triton model name."""
        ...

    @property
    def decoupled(self) -> bool:
        """Whether it streams several responses (generate_stream then has one event per response)."""
        ...

    @property
    def reports_usage(self) -> bool:
        """Whether its responses carry the prompt and completion token counts."""
        ...

    def body(self, prompt: str, sampling: Sampling, stream: bool) -> dict[str, Any]:
        """The generate / generate_stream JSON body for `prompt` (already chat-templated)."""
        ...

    def reader(self, stop: tuple[str, ...] = ()) -> StreamReader:
        """A reader for one request whose stop strings are `stop`."""
        ...

    def abandon(self, body: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """The request (model, body) that stops `body`'s generation when the route stops reading it early,
        or None when closing the connection is enough (Triton cancels the request itself)."""
        ...


def _scalar(value: object) -> object:
    """A generate-response value without the list Triton wraps around [1]-shaped outputs."""
    while isinstance(value, list) and value:
        value = value[0]
    return value


def _count(event: Mapping[str, Any], name: str) -> int | None:
    value = _scalar(event.get(name))
    try:
        return int(value) if value is not None and value != [] else None  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _text(event: Mapping[str, Any]) -> str:
    value = _scalar(event.get("text_output", ""))
    return value if isinstance(value, str) else str(value)


class _DeltaReader:
    """`text_output` is already the new text; `num_*_tokens` (when asked for) are running totals."""

    def __init__(self) -> None:
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None

    def feed(self, event: Mapping[str, Any]) -> str:
        prompt = _count(event, "num_input_tokens")
        if prompt is not None:
            self.prompt_tokens = prompt
        completion = _count(event, "num_output_tokens")
        if completion is not None:
            self.completion_tokens = completion
        return _text(event)

    def finish(self) -> str:
        return ""


class _CumulativeReader:
    """`text_output` is everything so far: the delta is what is new since the previous event.

    `StreamedText` holds back an end that may still change: a half-decoded character (U+FFFD) and the
    start of a stop string, which the llmapi model shows while the string's tokens arrive and then drops
    from its final text. Without the hold-back the route's `StopScanner` would keep such a start and
    release it at the end, into an answer that must stop before it.
    """

    def __init__(self, stop: tuple[str, ...]) -> None:
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self._text = StreamedText(cumulative=True, stop=stop)

    def feed(self, event: Mapping[str, Any]) -> str:
        return self._text.delta(_text(event))

    def finish(self) -> str:
        return self._text.finish()


def _unsupported(model: str, option: str, inputs: Mapping[str, bool]) -> RouteError:
    return RouteError(
        f"'{option}' is not supported by this deployment: its model '{model}' has no input for it "
        f"(inputs: {', '.join(sorted(inputs))})",
        param=option,
    )


@dataclass(frozen=True)
class TensorTarget:
    """The ensemble / BLS contract of every backend version tritongen renders (v0.5, v0.8, latest).

    Triton (2.51) cancels a BLS request whose HTTP client went away, and the BLS stops its LLM request;
    an ensemble's steps are not cancelled. The ensemble passes its request id to its steps, though, so
    the route stops the LLM step the way the TensorRT-LLM backend documents: a request with the same id
    and `stop` true (`stopper`: that step's name and its required inputs, filled with dummies).
    """

    kind: str
    model: str
    inputs: Mapping[str, bool]  # name -> optional
    decoupled: bool
    stopper: tuple[str, tuple[str, ...]] | None = None

    @property
    def reports_usage(self) -> bool:
        return "return_num_input_tokens" in self.inputs and "return_num_output_tokens" in self.inputs

    def _name(self, *candidates: str) -> str | None:
        return next((name for name in candidates if name in self.inputs), None)

    def body(self, prompt: str, sampling: Sampling, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": uuid.uuid4().hex,  # the postprocessing model streams text exactly per request id
            "text_input": prompt,
            "max_tokens": sampling.max_tokens,
            # The route applies the chat template itself (system prompts, several turns), so the
            # preprocessing model must not template the already-templated prompt again.
            "apply_chat_template": False,
        }
        body.update(self._protocol_inputs(stream))
        body.update(self._sampling_inputs(sampling))
        body.update(self._penalty_and_stop_inputs(sampling))
        for required in ("bad_words", "stop_words"):  # v0.5 requires both; "" means none
            if required not in body and self.inputs.get(required) is False:
                body[required] = [""]
        return body

    def _protocol_inputs(self, stream: bool) -> dict[str, Any]:
        """Echo off, streaming only where decoupled, and the token counts where the model reports them."""
        chosen: dict[str, Any] = {}
        if "exclude_input_in_output" in self.inputs:
            chosen["exclude_input_in_output"] = True
        if "stream" in self.inputs:
            chosen["stream"] = stream and self.decoupled
        for flag in ("return_num_input_tokens", "return_num_output_tokens"):
            if flag in self.inputs:
                chosen[flag] = True
        return chosen

    def _penalty_and_stop_inputs(self, sampling: Sampling) -> dict[str, Any]:
        """Only what the request set (0 is OpenAI's default: not sent); refused where the model lacks it."""
        wanted = {
            "presence_penalty": sampling.presence_penalty or None,
            "frequency_penalty": sampling.frequency_penalty or None,
            "stop": list(sampling.stop) or None,
        }
        return {
            self._require(option, "stop_words" if option == "stop" else option): value
            for option, value in wanted.items()
            if value is not None
        }

    def _require(self, option: str, name: str) -> str:
        if name not in self.inputs:
            raise _unsupported(self.model, option, self.inputs)
        return name

    def _sampling_inputs(self, sampling: Sampling) -> dict[str, Any]:
        """Greedy is top_k 1 (on every backend); sampling needs an explicit top_p and a seed."""
        if sampling.greedy:
            return {"top_k": 1} if "top_k" in self.inputs else {}
        chosen: dict[str, Any] = {}
        if sampling.temperature is not None:
            chosen[self._require("temperature", "temperature")] = sampling.temperature
        top_p = sampling.top_p if sampling.top_p is not None else OPENAI_DEFAULT_TOP_P
        chosen[self._require("top_p", "top_p")] = top_p
        seed_name = self._name("seed", "random_seed")
        if seed_name is not None:
            chosen[seed_name] = sampling.effective_seed()
        elif sampling.seed is not None:
            raise _unsupported(self.model, "seed", self.inputs)
        return chosen

    def reader(self, stop: tuple[str, ...] = ()) -> StreamReader:  # noqa: ARG002 - text is already a delta
        return _DeltaReader()

    def abandon(self, body: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
        if self.stopper is None or not self.decoupled:
            return None
        model, required = self.stopper
        return model, {"id": body["id"], "stop": True, **{name: [1] for name in required}}


@dataclass(frozen=True)
class LlmapiTarget:
    """Upstream's llmapi `tensorrt_llm` model: `sampling_param_*` inputs, `streaming`, cumulative text.

    It has no token-count outputs (reference llmapi.md §1.4), so usage comes from the route's tokenizer.
    """

    kind: str
    model: str
    inputs: Mapping[str, bool]
    decoupled: bool

    @property
    def reports_usage(self) -> bool:
        return False

    def body(self, prompt: str, sampling: Sampling, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": uuid.uuid4().hex,  # its cancellation needs a request id (llmapi.md §1.8)
            "text_input": prompt,
            # sampling_param_max_tokens, streaming, and exclude_input_from_output (its default echoes)
            **ModelContract(self.model, self.inputs).generation_fields(
                sampling.max_tokens, stream and self.decoupled
            ),
        }
        if sampling.greedy:
            body["sampling_param_top_k"] = 1
        else:
            if sampling.temperature is not None:
                body["sampling_param_temperature"] = sampling.temperature
            body["sampling_param_top_p"] = (
                sampling.top_p if sampling.top_p is not None else OPENAI_DEFAULT_TOP_P
            )
            body["sampling_param_seed"] = sampling.effective_seed()
        if sampling.presence_penalty:
            body["sampling_param_presence_penalty"] = sampling.presence_penalty
        if sampling.frequency_penalty:
            body["sampling_param_frequency_penalty"] = sampling.frequency_penalty
        if sampling.stop:
            body["sampling_param_stop"] = list(sampling.stop)
        unknown = [name for name in body if name not in ("id", *self.inputs)]
        if unknown:  # an older llmapi model than this route knows: refuse rather than let Triton 400
            raise _unsupported(self.model, unknown[0].removeprefix("sampling_param_"), self.inputs)
        return body

    def reader(self, stop: tuple[str, ...] = ()) -> StreamReader:
        return _CumulativeReader(stop)

    def abandon(self, body: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
        if "stop" not in self.inputs:
            return None
        return self.model, {"id": body["id"], "text_input": [""], "stop": True}  # llmapi.md §1.8


def target_for(
    model: str,
    config: Mapping[str, Any],
    decoupled: bool,
    steps: Mapping[str, Mapping[str, Any]] | None = None,
) -> Target:
    """The translation for `model`, from its config (`GET /v2/models/NAME/config`) and, for an ensemble,
    its steps' configs (name → config)."""
    inputs = {str(entry.get("name")): bool(entry.get("optional", False)) for entry in config.get("input", [])}
    if "text_input" not in inputs:
        raise RouteError(
            f"model '{model}' takes no text_input: the OpenAI route fronts the ensemble, tensorrt_llm_bls "
            "or an llmapi tensorrt_llm model",
            status=500,
            type="server_error",
        )
    if ModelContract(model, inputs).llmapi:
        return LlmapiTarget("llmapi", model, inputs, decoupled)
    if config.get("platform") != "ensemble":
        return TensorTarget("tensorrt_llm_bls", model, inputs, decoupled)
    stopper = None
    for name, step in (steps or {}).items():
        step_inputs = step.get("input", [])
        if any(entry.get("name") == "stop" for entry in step_inputs):
            required = tuple(str(e.get("name")) for e in step_inputs if not e.get("optional", False))
            stopper = (name, required)
    return TensorTarget("ensemble", model, inputs, decoupled, stopper)
