"""`tritongen bench --api openai`: the same sweep against any OpenAI-compatible server.

tritongen's own route (`tritongen openai`), vLLM, trtllm-serve and NIM all stream `/v1/chat/completions`
and `/v1/completions` as server-sent events, so one request shape and one record type cover them all:

- every request streams and asks for `stream_options: {"include_usage": true}`, so a server that honours
  it ends the stream with a chunk whose `usage.completion_tokens` is its own output-token count (the
  token count then says `server:usage.completion_tokens`); one that ignores it leaves the count to the
  streamed content chunks, as for Triton's generate_stream;
- TTFT is the time to the first chunk with non-empty text: the role-only first chunk of a chat stream
  (and an echoed prompt, never sent here) is not a token; ITL is the mean gap between text chunks;
- errors come as a non-200 `{"error": {"message": ...}}` body or as such an object inside the stream.

`--model` defaults to the first model `/v1/models` lists; the probe fails in one line when the server is
unreachable, lists no model, or does not list the model asked for.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from tritongen.bench.client import RequestRecord
from tritongen.errors import ServerRequestError, UsageError
from tritongen.http import base_url, shorten, unreachable

OPENAI_ENDPOINTS = {"chat": "/v1/chat/completions", "completions": "/v1/completions"}
USAGE_FIELD = "usage.completion_tokens"


@dataclass(frozen=True)
class OpenAIShape:
    """What every request of an OpenAI run carries, and where it goes (the drivers' `Shape`)."""

    url: str
    model: str
    endpoint: str  # "chat" or "completions"
    fields: Mapping[str, Any]  # max_tokens, stream, stream_options and any --field extras
    notes: tuple[str, ...] = ()

    @property
    def streaming(self) -> bool:
        return True

    @property
    def target(self) -> str:
        return base_url(self.url) + OPENAI_ENDPOINTS[self.endpoint]

    def body(self, prompt: str) -> dict[str, Any]:
        if self.endpoint == "chat":
            return {"model": self.model, "messages": [{"role": "user", "content": prompt}], **self.fields}
        return {"model": self.model, "prompt": prompt, **self.fields}

    def new_record(self, index: int, start_s: float) -> RequestRecord:
        return OpenAIRecord(index=index, streaming=True, start_s=start_s)


def shape_openai_requests(
    url: str,
    model: str,
    endpoint: str,
    max_tokens: int,
    extra_fields: Mapping[str, Any] | None = None,
) -> OpenAIShape:
    """The request fields: a streamed answer of at most `max_tokens` tokens, with a usage chunk asked for."""
    if endpoint not in OPENAI_ENDPOINTS:
        raise UsageError(f"unknown OpenAI endpoint {endpoint!r}", hint="Use chat or completions.")
    fields: dict[str, Any] = {
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    fields.update(extra_fields or {})
    if fields.get("stream") is not True:
        raise UsageError("--api openai measures streamed answers: drop --field stream=...")
    return OpenAIShape(url, model, endpoint, fields)


@dataclass
class OpenAIRecord(RequestRecord):
    """A RequestRecord fed with OpenAI stream chunks: text deltas, the finish reason and the usage."""

    finish_reason: str | None = None
    prompt_tokens: int | None = None
    events: int = 0  # every chunk, text or not (a role chunk, a finish chunk, the usage chunk)
    usage: dict[str, Any] = field(default_factory=dict)

    def take_payload(self, payload: object, now: float) -> None:
        """Account one chunk of a stream (`chat.completion.chunk` or `text_completion`)."""
        if not isinstance(payload, Mapping):
            self.error = shorten(f"the stream chunk is not a JSON object: {payload!r}")
            return
        if "error" in payload:
            self.error = shorten(_error_message(payload["error"]))
            return
        self.events += 1
        for choice in payload.get("choices") or ():
            if not isinstance(choice, Mapping) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            text = delta.get("content") if isinstance(delta, Mapping) else choice.get("text")
            if isinstance(text, str) and text:
                self.chunk_times_s.append(now)
                self.text_pieces.append(text)
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
        usage = payload.get("usage")
        if isinstance(usage, Mapping):
            self.usage = dict(usage)
            completion = usage.get("completion_tokens")
            if isinstance(completion, int) and not isinstance(completion, bool):
                self.server_counts = [completion]  # a total for the request, not a per-chunk delta
                self.server_token_field = USAGE_FIELD
            prompt = usage.get("prompt_tokens")
            self.prompt_tokens = prompt if isinstance(prompt, int) and not isinstance(prompt, bool) else None

    def fail_with_body(self, status: int, body: bytes) -> None:
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if isinstance(payload, Mapping) and "error" in payload:
            self.error = shorten(f"HTTP {status}: {_error_message(payload['error'])}")
        else:
            self.error = shorten(f"HTTP {status}: {body[:200].decode(errors='replace')}")

    def finish(self, now: float) -> None:
        """An answer that ended without a single chunk is a failure; one that finished with no text
        (the model's first token was end-of-sequence) is not, it just has no TTFT."""
        self.end_s = now
        if self.ok and self.events == 0:
            self.error = "the response carried no stream chunk"


def _error_message(error: object) -> str:
    """OpenAI's `{"message": ..., "type": ...}` error object (or a bare string) as one line."""
    if isinstance(error, Mapping):
        return str(error.get("message") or error)
    return str(error)


def probe_openai(url: str, model: str | None, timeout_s: float = 10) -> tuple[str, list[str]]:
    """(the model to send, every model `/v1/models` lists); one-line errors when that is not possible.

    A `--model` the list does not name is still sent: servers answer to aliases they do not list
    (tritongen's route also takes the Triton model's name); if it is wrong, the warm-up fails with the
    server's own message.
    """
    base = base_url(url)
    try:
        response = requests.get(f"{base}/v1/models", timeout=timeout_s)
    except requests.RequestException as error:
        raise unreachable(base, error) from None
    try:
        listing = response.json() if response.status_code == 200 else None
    except ValueError:
        listing = None
    entries = listing.get("data") if isinstance(listing, dict) else None
    if not isinstance(entries, list):
        raise ServerRequestError(
            f"{base}/v1/models answered HTTP {response.status_code} without a model list",
            hint="Is this an OpenAI-compatible server? For Triton's generate endpoints use --api triton.",
        )
    models = [str(entry["id"]) for entry in entries if isinstance(entry, dict) and "id" in entry]
    if not models:
        raise ServerRequestError(f"{base}/v1/models lists no model", hint="Is the server still loading?")
    return (models[0] if model is None else model), models
