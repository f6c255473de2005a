"""Talking to a running deployment: the readiness probe, the request body, and one timed request.

Works against any server that exposes the ensemble/BLS contract (`text_input`, `max_tokens`, optional
`stream`, `min_tokens`, ... → `text_output`), including one this process did not start. Optional
inputs are sent only when the model's config declares them, so one client fits every backend version.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from tritongen.errors import ServerRequestError, UsageError

GENERATE_ENDPOINTS = ("generate", "generate_stream")
SERVER_TOKEN_FIELDS = ("num_output_tokens", "sequence_length")
ERROR_TEXT_LIMIT = 300


def normalize_url(url: str) -> str:
    """`host:port` or `http://host:port/` → `http://host:port`."""
    url = url.strip().rstrip("/")
    return url if "://" in url else f"http://{url}"


@dataclass(frozen=True)
class ModelContract:
    """What the running model accepts, read from its config: input name → optional?"""

    name: str
    inputs: Mapping[str, bool]
    outputs: tuple[str, ...]
    server_version: str | None = None

    def accepts(self, name: str) -> bool:
        return name in self.inputs


def probe_model(url: str, model: str, timeout_s: float = 10) -> ModelContract:
    """Fail fast, in one line, when the server is unreachable or the model is not ready."""
    base = normalize_url(url)
    try:
        ready = requests.get(f"{base}/v2/models/{model}/ready", timeout=timeout_s)
    except requests.RequestException as error:
        raise ServerRequestError(
            f"cannot reach the server at {base} ({_reason(error)})",
            hint="Start it (tritongen launch) or pass the --url of a running server.",
        ) from None
    if ready.status_code != 200:
        available = _ready_models(base, timeout_s)
        listing = f"Ready models there: {', '.join(available)}." if available else "No model is ready there."
        raise ServerRequestError(
            f"model '{model}' is not ready on {base} (HTTP {ready.status_code})",
            hint=f"{listing} Pass --model NAME.",
        )
    config = _get_json(f"{base}/v2/models/{model}/config", timeout_s)
    metadata = _get_json(f"{base}/v2", timeout_s)
    inputs = {str(entry.get("name")): bool(entry.get("optional", False)) for entry in config.get("input", [])}
    outputs = tuple(str(entry.get("name")) for entry in config.get("output", []))
    if not inputs:  # config hidden or unparsable: assume the minimal contract
        inputs = {"text_input": False, "max_tokens": False}
    version = metadata.get("version")
    return ModelContract(model, inputs, outputs, str(version) if version is not None else None)


def _reason(error: requests.RequestException) -> str:
    if isinstance(error, requests.ConnectionError):
        return "connection refused or host unreachable"
    if isinstance(error, requests.Timeout):
        return "timed out"
    return type(error).__name__


def _get_json(url: str, timeout_s: float) -> dict[str, Any]:
    try:
        response = requests.get(url, timeout=timeout_s)
        data = response.json() if response.status_code == 200 else {}
    except (requests.RequestException, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _ready_models(base: str, timeout_s: float) -> list[str]:
    try:
        index = requests.post(f"{base}/v2/repository/index", json={"ready": True}, timeout=timeout_s).json()
    except (requests.RequestException, ValueError):
        return []
    return sorted(str(entry["name"]) for entry in index if isinstance(entry, dict) and "name" in entry)


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
        return f"{normalize_url(self.url)}/v2/models/{self.model}/{self.endpoint}"

    def body(self, prompt: str) -> dict[str, Any]:
        return {"text_input": prompt, **self.fields}


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
    fields: dict[str, Any] = {"max_tokens": max_tokens}
    notes: list[str] = []
    if contract.accepts("stream"):
        fields["stream"] = streaming
    if min_tokens:
        name = next((n for n in ("min_tokens", "min_length") if contract.accepts(n)), None)
        if name:
            fields[name] = min_tokens
        else:
            notes.append(
                f"model '{contract.name}' has no min_tokens/min_length input: output lengths are not forced"
            )
    if contract.accepts("return_num_output_tokens"):
        fields["return_num_output_tokens"] = True
    for name in ("bad_words", "stop_words"):  # required (as "") by v0.5-era ensembles
        if contract.inputs.get(name) is False:
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
        self.text_pieces.append(_text_of(payload.get("text_output", "")))
        for name in SERVER_TOKEN_FIELDS:
            value = _count_of(payload.get(name))
            if value is not None and self.server_token_field in (None, name):
                self.server_counts.append(value)
                self.server_token_field = name
                break


def shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= ERROR_TEXT_LIMIT else text[: ERROR_TEXT_LIMIT - 1] + "…"


def _text_of(value: object) -> str:
    if isinstance(value, list):
        return "".join(_text_of(item) for item in value)
    return value if isinstance(value, str) else str(value)


def _count_of(value: object) -> int | None:
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def decode_sse_line(line: bytes) -> dict[str, Any] | None:
    """The JSON object of one `data: {...}` line; None for blank lines, comments and other fields."""
    if not line.startswith(b"data:"):
        return None
    data = line[5:].strip()
    if not data or data == b"[DONE]":
        return None
    try:
        payload = json.loads(data)
    except ValueError:
        return {"error": f"unparsable stream chunk: {data[:120].decode(errors='replace')}"}
    return payload if isinstance(payload, dict) else {"error": f"stream chunk is not an object: {payload!r}"}


def error_of_body(status: int, body: bytes) -> str:
    """The server's `{"error": ...}` message of a failed response, else its status and text."""
    try:
        payload = json.loads(body)
        if isinstance(payload, dict) and "error" in payload:
            return shorten(f"HTTP {status}: {payload['error']}")
    except ValueError:
        pass
    return shorten(f"HTTP {status}: {body[:200].decode(errors='replace')}")


def send_request(
    session: requests.Session, shape: RequestShape, index: int, prompt: str, timeout_s: float
) -> RequestRecord:
    """Send one request and time it; never raises: failures are recorded in `error`."""
    record = RequestRecord(index=index, streaming=shape.streaming, start_s=time.perf_counter())
    try:
        with session.post(
            shape.target, json=shape.body(prompt), stream=shape.streaming, timeout=timeout_s
        ) as response:
            if response.status_code != 200:
                record.error = error_of_body(response.status_code, response.content)
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
