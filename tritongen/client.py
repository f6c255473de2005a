"""Send a prompt to a running deployment and get text back: what `tritongen infer` does.

The model's metadata (through tritonclient) tells which input names it takes, so the same options
work on every contract version (`seed` or `random_seed`, `min_tokens` or `min_length`) and an option
the model does not take is a clear error instead of a server-side 400. Text comes from Triton's
generate endpoints: `generate` for one answer, `generate_stream` (server-sent events) for streaming.
Each request carries a fresh id, which the ensemble's postprocessing needs to stream text exactly.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests

from tritongen.errors import ServerRequestError, UsageError

DEFAULT_URL = "localhost:8000"
DEFAULT_MODEL = "ensemble"

# option -> the input names it may have, newest first (see the reference §4.4)
INPUT_NAMES: dict[str, tuple[str, ...]] = {
    "temperature": ("temperature",),
    "top_k": ("top_k",),
    "top_p": ("top_p",),
    "seed": ("seed", "random_seed"),
    "stop": ("stop_words",),
}


@dataclass(frozen=True)
class GenerateOptions:
    """What to ask for besides the prompt; None means the server's default."""

    max_tokens: int = 64
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()


def base_url(url: str) -> str:
    """`localhost:8000`, `http://host:8000/` -> `http://host:8000`."""
    url = url.strip().rstrip("/")
    return url if url.startswith(("http://", "https://")) else f"http://{url}"


class InferClient:
    """Generate text from one model of a running tritonserver over HTTP."""

    def __init__(self, url: str = DEFAULT_URL, model: str = DEFAULT_MODEL, timeout_s: float = 600) -> None:
        self.url = base_url(url)
        self.model = model
        self.timeout_s = timeout_s
        self._inputs: dict[str, str] | None = None

    # -- public --------------------------------------------------------------------------------

    def generate(self, prompt: str, options: GenerateOptions) -> str:
        """The whole answer at once."""
        response = self._post("generate", self.request_body(prompt, options, stream=False), stream=False)
        with response:
            payload = self._json(response)
            if response.status_code != 200 or "error" in payload:
                raise self._server_error(payload.get("error") or response.text)
        return text_of(payload)

    def stream(self, prompt: str, options: GenerateOptions) -> Iterator[str]:
        """The answer in pieces, as the server produces them."""
        response = self._post("generate_stream", self.request_body(prompt, options, stream=True), stream=True)
        with response:
            if response.status_code != 200 and "text/event-stream" not in response.headers.get(
                "content-type", ""
            ):
                raise self._server_error(self._json(response).get("error") or response.text)
            for event in server_sent_events(response.iter_lines(decode_unicode=False)):
                if "error" in event:
                    raise self._server_error(str(event["error"]))
                yield text_of(event)

    def request_body(self, prompt: str, options: GenerateOptions, stream: bool) -> dict[str, Any]:
        """The generate request: tensors named as this model names them, and a fresh request id."""
        inputs = self.model_inputs()
        body: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "text_input": prompt,
            "max_tokens": options.max_tokens,
        }
        wanted = {
            "temperature": options.temperature,
            "top_k": options.top_k,
            "top_p": options.top_p,
            "seed": options.seed,
            "stop": list(options.stop) or None,
        }
        for option, value in wanted.items():
            if value is None:
                continue
            name = next((n for n in INPUT_NAMES[option] if n in inputs), None)
            if name is None:
                raise UsageError(
                    f"model '{self.model}' has no input for --{option.replace('_', '-')}",
                    hint=f"Its inputs are: {', '.join(sorted(inputs))}.",
                )
            body[name] = value
        if stream or "stream" in inputs:
            body["stream"] = stream
        for required in ("bad_words", "stop_words"):  # v0.5 requires them; "" means none
            if required in inputs and required not in body and inputs[required] == "required":
                body[required] = [""]
        return body

    def model_inputs(self) -> dict[str, str]:
        """This model's input names -> "required" / "optional", from its config (cached)."""
        if self._inputs is None:
            import tritonclient.http as httpclient
            from tritonclient.utils import InferenceServerException

            host = self.url.split("://", 1)[1]
            try:
                client = httpclient.InferenceServerClient(
                    host, ssl=self.url.startswith("https"), connection_timeout=10, network_timeout=30
                )
                config = client.get_model_config(self.model)
                client.close()
            except InferenceServerException as error:
                raise self._server_error(error.message() or str(error)) from None
            except (OSError, ConnectionError) as error:
                raise self._unreachable(error) from None
            self._inputs = {
                entry["name"]: "optional" if entry.get("optional") else "required"
                for entry in config.get("input", [])
            }
        return self._inputs

    # -- plumbing ------------------------------------------------------------------------------

    def _post(self, endpoint: str, body: dict[str, Any], stream: bool) -> requests.Response:
        url = f"{self.url}/v2/models/{self.model}/{endpoint}"
        try:
            return requests.post(url, json=body, stream=stream, timeout=(10, self.timeout_s))
        except requests.ConnectionError as error:
            raise self._unreachable(error) from None
        except requests.Timeout:
            raise ServerRequestError(
                f"the server at {self.url} did not answer within {self.timeout_s:.0f}s",
                hint="Try fewer --max-tokens, or check the server log.",
            ) from None

    @staticmethod
    def _json(response: requests.Response) -> dict[str, Any]:
        try:
            payload = response.json()
        except ValueError:
            return {}
        return payload if isinstance(payload, dict) else {}

    def _unreachable(self, error: Exception) -> ServerRequestError:
        reason = str(error).rsplit(":", 1)[-1].strip(" ')\"") or type(error).__name__
        return ServerRequestError(
            f"cannot reach tritonserver at {self.url} ({reason})",
            hint="Is it running? Start it with `tritongen launch`, or pass --url HOST:PORT.",
        )

    def _server_error(self, message: str) -> ServerRequestError:
        first_line = " ".join(message.split())
        return ServerRequestError(f"model '{self.model}' at {self.url} answered with an error: {first_line}")


def text_of(payload: dict[str, Any]) -> str:
    """text_output of a generate response (the first beam when there are several)."""
    text = payload.get("text_output", "")
    if isinstance(text, list):
        text = text[0] if text else ""
    return str(text)


def server_sent_events(lines: Iterator[bytes]) -> Iterator[dict[str, Any]]:
    """The JSON objects of a text/event-stream (`data: {...}` lines)."""
    for raw in lines:
        line = raw.decode("utf-8", errors="replace").strip()
        if not line.startswith("data:"):
            continue
        try:
            event = json.loads(line[len("data:") :].strip())
        except ValueError:
            raise ServerRequestError(f"the server sent an unreadable event: {line[:200]}") from None
        if isinstance(event, dict):
            yield event
