"""The OpenAI wire format: request models (pydantic, validated once per request) and error bodies.

Requests are strict: an unknown field is a 400 that names it, and a known field the route cannot honour
(`tools`, `response_format` other than text, `logprobs`, `n` > 1, images) is a 400 that says why, so no
option is silently ignored. Responses are plain dicts built by the app: they are written once and never
validated, which keeps the route's own CPU per request small.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class RouteError(Exception):
    """An OpenAI-shaped error: `{"error": {"message", "type", "param", "code"}}` with an HTTP status."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type: str = "invalid_request_error",  # OpenAI's field name
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def validation_error(error: ValidationError) -> RouteError:
    """pydantic's first complaint as one OpenAI error, naming the field (`messages.0.role`)."""
    first = error.errors(include_url=False)[0]
    param = ".".join(str(part) for part in first.get("loc", ()))
    kind = first.get("type", "")
    if kind == "extra_forbidden":
        message = f"Unrecognized request argument supplied: {param}"
    elif kind == "missing":
        message = f"Missing required parameter: '{param}'"
    elif kind == "json_invalid":
        message = f"The request body is not valid JSON ({first['msg']})"
        param = ""
    elif kind in ("model_type", "model_attributes_type") and not param:
        message = "The request body must be a JSON object"
    else:
        message = f"Invalid value for '{param}': {first['msg']}"
    return RouteError(message, param=param or None, code="invalid_value" if param else None)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StreamOptions(_Strict):
    include_usage: bool = False


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    # Extra keys (tool_call_id, refusal, ...) are kept for the template; `tool_calls` are refused below.
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None

    def text(self, index: int) -> str:
        """The message content as one string (text parts joined); images and audio are refused."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        pieces = []
        for number, part in enumerate(self.content):
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise RouteError(
                    f"content part of type '{part.get('type')}' is not supported: this deployment takes text only",
                    param=f"messages.{index}.content.{number}",
                )
            pieces.append(part["text"])
        return "".join(pieces)


class SamplingFields(_Strict):
    """Options chat and text completions share."""

    model: str
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = Field(default=None, ge=0, lt=2**63)
    stop: str | list[str] | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    n: int | None = Field(default=None, ge=1, le=128)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    user: str | None = None  # accepted and ignored, as OpenAI documents it (an end-user id for abuse checks)
    logit_bias: dict[str, float] | None = None

    def stop_strings(self) -> tuple[str, ...]:
        stop = [self.stop] if isinstance(self.stop, str) else list(self.stop or ())
        if len(stop) > 4:
            raise RouteError("'stop' takes at most 4 sequences", param="stop")
        if any(not word for word in stop):
            raise RouteError("'stop' sequences must not be empty", param="stop")
        return tuple(stop)

    def refuse_unsupported(self) -> None:
        """A clear 400 for every option that is accepted by OpenAI but cannot be honoured here."""
        if self.n is not None and self.n > 1:
            raise RouteError(
                "n > 1 is not supported: this route returns one choice per request; send n requests instead",
                param="n",
            )
        if self.logit_bias:
            raise RouteError(
                "'logit_bias' is not supported: the deployment's models take no per-token bias by id",
                param="logit_bias",
            )
        if self.stream_options is not None and not self.stream:
            raise RouteError("'stream_options' is only allowed when 'stream' is true", param="stream_options")


class ChatCompletionRequest(SamplingFields):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    logprobs: bool | None = None
    top_logprobs: int | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None

    def refuse_unsupported(self) -> None:
        super().refuse_unsupported()
        if self.logprobs or self.top_logprobs:
            raise RouteError(
                "'logprobs' is not supported: the ensemble and BLS return no token ids to name the tokens with",
                param="logprobs" if self.logprobs else "top_logprobs",
            )
        if self.tools or (self.tool_choice not in (None, "none")):
            raise RouteError(
                "'tools' are not supported: this route has no tool-call parser; describe the tools in the "
                "system message and parse the answer yourself",
                param="tools" if self.tools else "tool_choice",
            )
        if self.response_format is not None and self.response_format.get("type") != "text":
            raise RouteError(
                f"response_format '{self.response_format.get('type')}' is not supported: the deployment has "
                "no guided decoding; only {'type': 'text'} is",
                param="response_format",
            )
        for index, message in enumerate(self.messages):
            if getattr(message, "tool_calls", None):
                raise RouteError("messages with 'tool_calls' are not supported", param=f"messages.{index}")

    def output_limit(self) -> int | None:
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens


class CompletionRequest(SamplingFields):
    prompt: str | list[str]
    echo: bool | None = False
    logprobs: int | None = None
    best_of: int | None = Field(default=None, ge=1)
    suffix: str | None = None

    def refuse_unsupported(self) -> None:
        super().refuse_unsupported()
        if self.logprobs is not None:
            raise RouteError(
                "'logprobs' is not supported: the ensemble and BLS return no token ids to name the tokens with",
                param="logprobs",
            )
        if self.best_of is not None and self.best_of > 1:
            raise RouteError("'best_of' > 1 is not supported: one sequence per request", param="best_of")
        if self.suffix:
            raise RouteError("'suffix' (insertion) is not supported by causal models", param="suffix")

    def prompt_text(self) -> str:
        if isinstance(self.prompt, str):
            return self.prompt
        if len(self.prompt) != 1:
            raise RouteError(
                "a list of prompts is not supported: send one prompt per request", param="prompt"
            )
        return self.prompt[0]
