"""The bench's requests: the body every request of a run carries, and one timed request with its record.

Works against any server that exposes the ensemble/BLS contract (`text_input`, `max_tokens`, optional
`stream`, `min_tokens`, ... → `text_output`), including one this process did not start. Optional
inputs are sent only when the model's config (`tritongen.http.probe_model`) declares them, so one
client fits every backend version. URL, contract, SSE and error-body handling are `tritongen.http`'s,
shared with `tritongen infer`.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests

from tritongen.errors import UsageError
from tritongen.http import (
    GENERATE_ENDPOINTS,
    ModelContract,
    decode_sse_line,
    error_of_body,
    generate_url,
    shorten,
    text_of,
)

SERVER_TOKEN_FIELDS = ("num_output_tokens", "sequence_length")


class Shape(Protocol):
    """What the load drivers need to send one kind of request (Triton generate or OpenAI)."""

    @property
    def streaming(self) -> bool: ...

    @property
    def target(self) -> str: ...

    def body(self, prompt: str) -> dict[str, Any]: ...

    def new_record(self, index: int, start_s: float) -> RequestRecord: ...


@dataclass(frozen=True)
class RequestShape:
    """Everything but the prompt: what each request body carries, and where it is sent."""

    url: str
    model: str
    endpoint: str  # "generate" or "generate_stream"
    fields: Mapping[str, Any]  # max_tokens, stream, min_tokens, ... as the model accepts them
    notes: tuple[str, ...] = ()  # what could not be honoured (e.g. no min_tokens input)

    @property
    def streaming(self) -> bool:
        return self.endpoint == "generate_stream"

    @property
    def target(self) -> str:
        return generate_url(self.url, self.model, self.endpoint)

    def body(self, prompt: str) -> dict[str, Any]:
        return {"text_input": prompt, **self.fields}

    def new_record(self, index: int, start_s: float) -> RequestRecord:
        """An empty record for one request of this shape (the OpenAI shape's reads OpenAI chunks)."""
        return RequestRecord(index=index, streaming=self.streaming, start_s=start_s)


def shape_requests(
    contract: ModelContract,
    url: str,
    endpoint: str,
    max_tokens: int,
    min_tokens: int | None = None,
    extra_fields: Mapping[str, Any] | None = None,
) -> RequestShape:
    """The request fields for this model: optional inputs only where the model declares them."""
    if endpoint not in GENERATE_ENDPOINTS:
        raise UsageError(f"unknown endpoint {endpoint!r}", hint="Use generate or generate_stream.")
    streaming = endpoint == "generate_stream"
    fields = contract.generation_fields(max_tokens, streaming)  # its names: ensemble/BLS or llmapi
    notes: list[str] = []
    if min_tokens:
        name = contract.input_for("min_tokens")
        if name:
            fields[name] = min_tokens
        else:
            notes.append(
                f"model '{contract.name}' has no min_tokens/min_length input: output lengths are not forced"
            )
    if contract.accepts("return_num_output_tokens"):
        fields["return_num_output_tokens"] = True
    for name in ("bad_words", "stop_words"):  # required (as "") by v0.5-era ensembles
        if contract.requires(name):
            fields[name] = ""
    fields.update(extra_fields or {})
    missing = [
        n for n, optional in contract.inputs.items() if not optional and n not in fields and n != "text_input"
    ]
    if missing:
        raise UsageError(
            f"model '{contract.name}' requires inputs the bench does not fill: {', '.join(missing)}",
            hint="Give them with --field NAME=JSON.",
        )
    return RequestShape(url, contract.name, endpoint, fields, tuple(notes))


@dataclass
class RequestRecord:
    """One request's timings (time.perf_counter seconds) and what came back."""

    index: int
    streaming: bool
    start_s: float
    end_s: float = 0.0
    chunk_times_s: list[float] = field(default_factory=list)
    text_pieces: list[str] = field(default_factory=list)
    server_counts: list[int] = field(default_factory=list)  # the server's token count, chunk by chunk
    server_token_field: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def text(self) -> str:
        return "".join(self.text_pieces)

    @property
    def server_tokens(self) -> int | None:
        """The server's output-token count for the whole request, if it reported one.

        Backends disagree on what a streamed chunk's count means: new tokens (TRT-LLM deltas) or the
        running total (vLLM-style). A strictly increasing series is read as running totals, anything
        else (all 1s, say) as deltas.
        """
        counts = self.server_counts
        if not counts:
            return None
        running_total = len(counts) >= 2 and all(b > a for a, b in itertools.pairwise(counts))
        if not self.streaming or running_total or self.server_token_field == "sequence_length":
            return counts[-1]
        return sum(counts)

    @property
    def e2e_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def ttft_s(self) -> float | None:
        """Time to first token: only meaningful when the response streams."""
        return self.chunk_times_s[0] - self.start_s if self.streaming and self.chunk_times_s else None

    @property
    def itl_s(self) -> float | None:
        """Mean gap between chunks after the first (None with fewer than two chunks)."""
        if not self.streaming or len(self.chunk_times_s) < 2:
            return None
        return (self.chunk_times_s[-1] - self.chunk_times_s[0]) / (len(self.chunk_times_s) - 1)

    def fail_with_body(self, status: int, body: bytes) -> None:
        """Record a non-200 answer: its status and the server's message."""
        self.error = error_of_body(status, body)

    def finish(self, now: float) -> None:
        """Close the record: the end time, and an error if a 200 answer carried no output at all."""
        self.end_s = now
        if self.ok and not self.chunk_times_s:
            self.error = "the response carried no output"

    def take_payload(self, payload: object, now: float) -> None:
        """Account one response object (a whole /generate body or one SSE chunk)."""
        if not isinstance(payload, Mapping):
            self.error = shorten(f"the response is not a JSON object: {payload!r}")
            return
        if "error" in payload:
            self.error = shorten(str(payload["error"]))
            return
        self.chunk_times_s.append(now)
        self.text_pieces.append(text_of(payload.get("text_output", "")))
        for name in SERVER_TOKEN_FIELDS:
            value = _count_of(payload.get(name))
            if value is not None and self.server_token_field in (None, name):
                self.server_counts.append(value)
                self.server_token_field = name
                break


def _count_of(value: object) -> int | None:
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def send_request(
    session: requests.Session, shape: Shape, index: int, prompt: str, timeout_s: float
) -> RequestRecord:
    """Send one request and time it; never raises: failures are recorded in `error`."""
    record = shape.new_record(index, time.perf_counter())
    try:
        with session.post(
            shape.target, json=shape.body(prompt), stream=shape.streaming, timeout=timeout_s
        ) as response:
            if response.status_code != 200:
                record.fail_with_body(response.status_code, response.content)
            elif shape.streaming:
                _read_stream(response, record)
            else:
                record.take_payload(response.json(), time.perf_counter())
    except requests.Timeout:
        record.error = f"timed out after {timeout_s:g}s"
    except requests.RequestException as error:
        record.error = shorten(f"{type(error).__name__}: {error}")
    except ValueError as error:
        record.error = shorten(f"unparsable response: {error}")
    record.finish(time.perf_counter())
    return record


def _read_stream(response: requests.Response, record: RequestRecord) -> None:
    """Read SSE lines as they arrive (chunk_size=None: no buffering that would delay a chunk)."""
    pending = b""
    for data in response.iter_content(chunk_size=None):
        now = time.perf_counter()
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            payload = decode_sse_line(line.rstrip(b"\r"))
            if payload is not None:
                record.take_payload(payload, now)
                if not record.ok:
                    return
    payload = decode_sse_line(pending.rstrip(b"\r"))
    if payload is not None:
        record.take_payload(payload, time.perf_counter())
