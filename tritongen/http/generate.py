"""Triton's generate endpoints over HTTP: the pieces `infer` and `bench` share.

Both talk to a generate endpoint (`text_input` → `text_output`; the two request contracts, ensemble/BLS
and llmapi, are `tritongen.http.contract`'s) of a server they may not have started, so both need the
same things: a base URL from what the user typed, the model's contract read from its config (which
family and which input names, which inputs are required), the `data: {...}` lines of a
`generate_stream` answer, and the one-line message inside an error answer. They differ only in how
they send (infer: one blocking request; bench: timed requests from threads or asyncio), so this
module works on URLs, bytes and dicts and leaves the transport to each caller, except for the
probes, which are blocking GETs either way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import requests

from tritongen.errors import ServerRequestError
from tritongen.http.contract import ModelContract

GENERATE_ENDPOINTS = ("generate", "generate_stream")
ERROR_TEXT_LIMIT = 300
ENSEMBLE_MODEL = "ensemble"
LLMAPI_MODEL = "tensorrt_llm"  # the llmapi target's one model (and the engine target's TRT-LLM step)


def base_url(url: str) -> str:
    """`localhost:8000`, `http://host:8000/` → `http://host:8000` (http unless a scheme is given)."""
    url = url.strip().rstrip("/")
    return url if "://" in url else f"http://{url}"


def generate_url(url: str, model: str, endpoint: str) -> str:
    """The address of a model's generate or generate_stream endpoint."""
    return f"{base_url(url)}/v2/models/{model}/{endpoint}"


def probe_model(url: str, model: str, timeout_s: float = 10) -> ModelContract:
    """The model's contract; fails fast, in one line, if the server is unreachable or the model not ready."""
    base = base_url(url)
    try:
        ready = requests.get(f"{base}/v2/models/{model}/ready", timeout=timeout_s)
    except requests.RequestException as error:
        raise unreachable(base, error) from None
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


def probe_default_model(url: str, timeout_s: float = 10) -> ModelContract:
    """The contract of the model to talk to when none is named: `ensemble` where the engine target is
    served, else an llmapi `tensorrt_llm` (the llmapi target's one model). The engine target's own
    `tensorrt_llm` takes token ids, not text, so it is never picked."""
    base = base_url(url)
    if _is_ready(base, ENSEMBLE_MODEL, timeout_s):
        return probe_model(base, ENSEMBLE_MODEL, timeout_s)
    if _is_ready(base, LLMAPI_MODEL, timeout_s):
        contract = probe_model(base, LLMAPI_MODEL, timeout_s)
        if contract.llmapi:
            return contract
    available = _ready_models(base, timeout_s)
    listing = f"Ready models there: {', '.join(available)}." if available else "No model is ready there."
    raise ServerRequestError(
        f"no '{ENSEMBLE_MODEL}' and no llmapi '{LLMAPI_MODEL}' model is ready on {base}",
        hint=f"{listing} Pass --model NAME.",
    )


def _is_ready(base: str, model: str, timeout_s: float) -> bool:
    try:
        return requests.get(f"{base}/v2/models/{model}/ready", timeout=timeout_s).status_code == 200
    except requests.RequestException as error:
        raise unreachable(base, error) from None


def unreachable(base: str, error: Exception) -> ServerRequestError:
    """The one-line error for a server that cannot be reached (refused, unresolvable, timed out)."""
    return ServerRequestError(
        f"cannot reach the server at {base} ({_reason(error)})",
        hint="Is it running? Start it with `tritongen launch`, or pass --url HOST:PORT.",
    )


def _reason(error: Exception) -> str:
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
    if not isinstance(index, list):
        return []
    return sorted(str(entry["name"]) for entry in index if isinstance(entry, dict) and "name" in entry)


# -- what comes back ---------------------------------------------------------------------------------


def decode_sse_line(line: bytes) -> dict[str, Any] | None:
    """The JSON object of one `data: {...}` line; None for blank lines, comments and other fields.

    A chunk that is not a JSON object comes back as `{"error": ...}`, the shape the server uses for
    its own errors, so callers handle both in one place.
    """
    line = line.strip()
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


def server_sent_events(lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """The JSON objects of a text/event-stream, one per `data:` line."""
    for line in lines:
        payload = decode_sse_line(line)
        if payload is not None:
            yield payload


def error_text(body: bytes) -> str | None:
    """The message of a `{"error": "..."}` answer (Triton's shape for every failure), else None."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    return str(payload["error"]) if isinstance(payload, dict) and "error" in payload else None


def error_of_body(status: int, body: bytes) -> str:
    """A failed response in one short line: its status and the server's message (or its text)."""
    message = error_text(body)
    return shorten(
        f"HTTP {status}: {message if message is not None else body[:200].decode(errors='replace')}"
    )


def text_of(value: object) -> str:
    """`text_output` of a generate answer or chunk as text: the first beam when there are several."""
    if isinstance(value, list):
        return text_of(value[0]) if value else ""
    return value if isinstance(value, str) else str(value)


def shorten(text: str, limit: int = ERROR_TEXT_LIMIT) -> str:
    """One line (whitespace runs collapsed) of at most `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
