"""The request contracts a generate endpoint may speak, as one description `infer` and `bench` both read.

Two families of models answer Triton's generate endpoints with `text_input` → `text_output`:

- the ensemble/BLS contract (`max_tokens`, `stream`, `temperature`, `seed` or `random_seed`, `stop_words`,
  ...), whose streamed `text_output` is the new text of each response (a delta);
- upstream's LLM-API (`llmapi`) `tensorrt_llm` model (`sampling_param_max_tokens`, `streaming`,
  `sampling_param_*`), whose streamed `text_output` is the whole text so far (cumulative) and which echoes
  the prompt unless `sampling_param_exclude_input_from_output` is set.

Triton rejects an input a model does not declare (and the llmapi model refuses the ensemble's names), so a
client must send each model its own names: `ModelContract`, read from the running model's config, says
which family it is and which name each option has there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# A request option → the input names it has had, newest first: the ensemble/BLS contract's across backend
# versions (`seed` was `random_seed` before 0.9, `min_tokens` was `min_length`), then the llmapi model's.
# The model's config says which one it takes.
INPUT_NAMES: dict[str, tuple[str, ...]] = {
    "max_tokens": ("max_tokens", "sampling_param_max_tokens"),
    "stream": ("stream", "streaming"),
    "temperature": ("temperature", "sampling_param_temperature"),
    "top_k": ("top_k", "sampling_param_top_k"),
    "top_p": ("top_p", "sampling_param_top_p"),
    "seed": ("seed", "random_seed", "sampling_param_seed"),
    "stop": ("stop_words", "sampling_param_stop"),
    "min_tokens": ("min_tokens", "min_length"),  # the llmapi model has no such input
}
# Inputs only the llmapi model declares: one of them in a config means the whole llmapi contract.
LLMAPI_MARKERS = ("sampling_param_max_tokens", "streaming")
LLMAPI_EXCLUDE_INPUT = "sampling_param_exclude_input_from_output"
# What a UTF-8 decoder shows for a character whose bytes have not all arrived yet.
REPLACEMENT_CHARACTER = "\ufffd"


@dataclass(frozen=True)
class ModelContract:
    """What the running model accepts, read from its config: input name → optional?"""

    name: str
    inputs: Mapping[str, bool]
    outputs: tuple[str, ...] = ()
    server_version: str | None = None

    @property
    def llmapi(self) -> bool:
        """True for upstream's llmapi model: `sampling_param_*` names and cumulative streamed text."""
        return any(marker in self.inputs for marker in LLMAPI_MARKERS)

    def accepts(self, name: str) -> bool:
        return name in self.inputs

    def requires(self, name: str) -> bool:
        """True when the model declares `name` and it is not optional (e.g. v0.5's stop_words)."""
        return self.inputs.get(name) is False

    def input_for(self, option: str) -> str | None:
        """This model's name for a request option (see INPUT_NAMES), or None if it has no such input."""
        return next((name for name in INPUT_NAMES[option] if name in self.inputs), None)

    def generation_fields(self, max_tokens: int, streaming: bool) -> dict[str, Any]:
        """The length and streaming fields of every request, named as this model names them.

        The llmapi model is asked not to echo the prompt (its default does), so its text is the answer alone,
        as the ensemble's streamed text is. The ensemble family gets `stream` whenever the request streams,
        even if its config is hidden (probe_model then assumes only text_input and max_tokens), because
        generate_stream needs it; the llmapi model gets `streaming` only where declared (Triton rejects an
        undeclared input there, and every llmapi config declares it).
        """
        if not self.llmapi:
            fields: dict[str, Any] = {"max_tokens": max_tokens}
            if streaming or self.accepts("stream"):
                fields["stream"] = streaming
            return fields
        fields = {"sampling_param_max_tokens": max_tokens}
        if self.accepts(LLMAPI_EXCLUDE_INPUT):
            fields[LLMAPI_EXCLUDE_INPUT] = True
        if self.accepts("streaming"):
            fields["streaming"] = streaming
        return fields


class StreamedText:
    """Turns the `text_output` of successive streamed responses into the new text of each.

    The ensemble's responses already hold only new text. The llmapi model's hold everything so far, and the
    end of that can still change: a character whose bytes are split across tokens decodes as U+FFFD until
    its last byte arrives, and the final response drops a stop word whose first tokens earlier responses
    showed. Printed text cannot be taken back, so a cumulative stream's delta holds back a trailing U+FFFD
    and any end that could be the start of a stop word; `finish` releases what the last response kept.
    """

    def __init__(self, cumulative: bool, stop: Iterable[str] = ()) -> None:
        self.cumulative = cumulative
        self.stop = tuple(word for word in stop if word)
        self.shown = ""  # what the deltas so far add up to (cumulative streams only)
        self.latest = ""  # the last response's whole text (cumulative streams only)

    def delta(self, text: str) -> str:
        """The new text of one response."""
        if not self.cumulative:
            return text
        self.latest = text
        return self._extend(self._settled(text))

    def finish(self) -> str:
        """What is left to show once the stream has ended: the last response's text beyond the deltas."""
        return self._extend(self.latest) if self.cumulative else ""

    def _extend(self, text: str) -> str:
        # A text that does not extend what was shown rewrote shown text (it never should): show nothing
        # rather than repeat or garble it.
        if not text.startswith(self.shown):
            return ""
        new, self.shown = text[len(self.shown) :], text
        return new

    def _settled(self, text: str) -> str:
        """`text` without the end that a later response may still change."""
        text = text.rstrip(REPLACEMENT_CHARACTER)
        held = max((_overlap(text, word) for word in self.stop), default=0)
        return text[: len(text) - held]


def _overlap(text: str, word: str) -> int:
    """The length of the longest end of `text` that is a start of `word` (the whole word included)."""
    for size in range(min(len(text), len(word)), 0, -1):
        if text.endswith(word[:size]):
            return size
    return 0
