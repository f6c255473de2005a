"""Send a prompt to a running deployment and get text back: what `tritongen infer` does.

The model's config (read once by `tritongen.http.probe_model`) tells which contract it speaks and
which input names it takes, so the same options work on the ensemble/BLS contract of every backend
version (`seed` or `random_seed`) and on the llmapi model (`sampling_param_seed`), and an option the
model does not take is a clear error instead of a server-side 400. Text comes from Triton's generate
endpoints: `generate` for one answer, `generate_stream` (server-sent events) for streaming, whose
pieces are deltas whichever contract (the llmapi model's cumulative text is diffed by
`tritongen.http.StreamedText`). Each request carries a fresh id, which the ensemble's postprocessing
needs to stream text exactly and the llmapi model needs to cancel it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests

from tritongen import defaults
from tritongen.errors import ServerRequestError, UsageError
from tritongen.http import (
    ModelContract,
    StreamedText,
    base_url,
    error_text,
    generate_url,
    probe_default_model,
    probe_model,
    server_sent_events,
    text_of,
    unreachable,
)

CONNECT_TIMEOUT_S = 10.0  # a server that does not accept the connection in 10 s is not there


@dataclass(frozen=True)
class GenerateOptions:
    """What to ask for besides the prompt; None means the server's default."""

    max_tokens: int = defaults.MAX_TOKENS
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()


class InferClient:
    """Generate text from one model of a running tritonserver over HTTP."""

    def __init__(
        self,
        url: str = defaults.SERVER_URL,
        model: str | None = None,
        timeout_s: float = defaults.REQUEST_TIMEOUT_S,
    ) -> None:
        """`model` None: the `ensemble` if the server has one, else its llmapi `tensorrt_llm`."""
        self.url = base_url(url)
        self._model = model
        self.timeout_s = timeout_s
        self._contract: ModelContract | None = None

    # -- public --------------------------------------------------------------------------------

    def generate(self, prompt: str, options: GenerateOptions) -> str:
        """The whole answer at once."""
        response = self._post("generate", self.request_body(prompt, options, stream=False), stream=False)
        with response:
            payload = self._json(response)
            if response.status_code != 200 or "error" in payload:
                raise self._server_error(str(payload.get("error") or response.text))
        return text_of(payload.get("text_output", ""))

    def stream(self, prompt: str, options: GenerateOptions) -> Iterator[str]:
        """The answer in pieces (each only new text), as the server produces them."""
        response = self._post("generate_stream", self.request_body(prompt, options, stream=True), stream=True)
        text = StreamedText(cumulative=self.contract().llmapi, stop=options.stop)
        with response:
            if response.status_code != 200 and "text/event-stream" not in response.headers.get(
                "content-type", ""
            ):
                raise self._server_error(error_text(response.content) or response.text)
            for event in server_sent_events(response.iter_lines(decode_unicode=False)):
                if "error" in event:
                    raise self._server_error(str(event["error"]))
                piece = text.delta(text_of(event.get("text_output", "")))
                if piece:
                    yield piece
        rest = text.finish()
        if rest:
            yield rest

    def request_body(self, prompt: str, options: GenerateOptions, stream: bool) -> dict[str, Any]:
        """The generate request: tensors named as this model names them, and a fresh request id."""
        contract = self.contract()
        body: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "text_input": prompt,
            **contract.generation_fields(options.max_tokens, streaming=stream),
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
            name = contract.input_for(option)
            if name is None:
                raise UsageError(
                    f"model '{self.model}' has no input for --{option.replace('_', '-')}",
                    hint=f"Its inputs are: {', '.join(sorted(contract.inputs))}.",
                )
            body[name] = value
        for required in ("bad_words", "stop_words"):  # v0.5 requires them; "" means none
            if contract.requires(required) and required not in body:
                body[required] = [""]
        return body

    @property
    def model(self) -> str:
        """The model requests go to: the one given, else the one the probe picked (before it: the default)."""
        if self._contract is not None:
            return self._contract.name
        return self._model if self._model is not None else defaults.MODEL

    def contract(self) -> ModelContract:
        """This model's inputs, from its config (probed once per client)."""
        if self._contract is None:
            if self._model is None:
                self._contract = probe_default_model(self.url, CONNECT_TIMEOUT_S)
            else:
                self._contract = probe_model(self.url, self._model, CONNECT_TIMEOUT_S)
        return self._contract

    # -- plumbing ------------------------------------------------------------------------------

    def _post(self, endpoint: str, body: dict[str, Any], stream: bool) -> requests.Response:
        try:
            return requests.post(
                generate_url(self.url, self.model, endpoint),
                json=body,
                stream=stream,
                timeout=(CONNECT_TIMEOUT_S, self.timeout_s),
            )
        except requests.ConnectionError as error:
            raise unreachable(self.url, error) from None
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

    def _server_error(self, message: str) -> ServerRequestError:
        first_line = " ".join(message.split())
        return ServerRequestError(f"model '{self.model}' at {self.url} answered with an error: {first_line}")
