"""The FastAPI application: `/v1/models`, `/v1/chat/completions`, `/v1/completions`, `/health`.

Handlers read the raw body and validate it with the request models themselves, so every mistake gets
OpenAI's error shape (FastAPI's own 422 body would not). Everything is asyncio end to end: a handler
awaits only the upstream stream, so one long generation never holds up another. A client that goes
away cancels its generation: a streamed response's generator is cancelled by Starlette, a non-streamed
one is raced against the ASGI disconnect message; either way the upstream stream is closed and, for an
ensemble, its LLM step is sent a stop request (see `upstream`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tritongen.openai.deployment import DEFAULT_MAX_TOKENS, Deployment
from tritongen.openai.generation import Generation
from tritongen.openai.prompts import PromptBuilder
from tritongen.openai.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    RouteError,
    SamplingFields,
    validation_error,
)
from tritongen.openai.targets import Sampling
from tritongen.openai.upstream import Upstream

T = TypeVar("T")
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _sse(value: Any) -> bytes:
    return f"data: {_dumps(value)}\n\n".encode()


class ClientGone(Exception):
    """The client closed the connection before the answer was ready."""


async def _disconnected(request: Request) -> None:
    """Returns when the ASGI server reports that the client went away (the body is already read)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def _unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not task.done():
            task.cancel()  # closes the upstream stream: Triton cancels the request
            with contextlib.suppress(asyncio.CancelledError, RouteError):
                await task
        watcher.cancel()
    if task.cancelled():
        raise ClientGone
    return task.result()


class Route:
    """The handlers' shared state: the deployment, its tokenizer and the upstream session."""

    def __init__(self, deployment: Deployment, builder: PromptBuilder, upstream: Upstream) -> None:
        self.deployment = deployment
        self.builder = builder
        self.upstream = upstream
        self.created = int(time.time())
        self.names = {deployment.served_name, deployment.target.model}

    # -- shared steps ---------------------------------------------------------------------------

    def model_entry(self) -> dict[str, Any]:
        return {
            "id": self.deployment.served_name,
            "object": "model",
            "created": self.created,
            "owned_by": "tritongen",
        }

    def check_model(self, name: str) -> None:
        if name not in self.names:
            raise RouteError(
                f"The model '{name}' does not exist; this server has '{self.deployment.served_name}'",
                status=404,
                param="model",
                code="model_not_found",
            )

    def sampling(self, request: SamplingFields, limit: int | None, prompt_tokens: int | None) -> Sampling:
        """The request's options; `prompt_tokens` is None when it was not counted (see `generation`)."""
        max_seq_len = self.deployment.max_seq_len
        if limit is None:
            assert prompt_tokens is not None
            limit = max_seq_len - prompt_tokens if max_seq_len else DEFAULT_MAX_TOKENS
        if max_seq_len and (prompt_tokens or 1) + limit > max_seq_len:
            counted = f"the prompt has {prompt_tokens} tokens and " if prompt_tokens is not None else ""
            raise RouteError(
                f"This model's maximum context length is {max_seq_len} tokens; {counted}{limit} more were requested",
                param="max_tokens" if (prompt_tokens or 0) < max_seq_len else "messages",
                code="context_length_exceeded",
            )
        return Sampling(
            max_tokens=limit,
            temperature=request.temperature,
            top_p=request.top_p,
            seed=request.seed,
            stop=request.stop_strings(),
            presence_penalty=request.presence_penalty,
            frequency_penalty=request.frequency_penalty,
        )

    def generation(self, prompt: str, request: SamplingFields, limit: int | None) -> Generation:
        # Counting the prompt is the largest CPU cost of a short request. It is needed up front only to
        # fill in a missing max_tokens; a model that reports its token counts gives the usage itself and
        # checks prompt + max_tokens against its max_seq_len (a 400 either way).
        target = self.deployment.target
        needed = limit is None or not target.reports_usage
        prompt_tokens = self.builder.count(prompt) if needed else None
        sampling = self.sampling(request, limit, prompt_tokens)
        return Generation(self.upstream, target, self.builder, prompt, prompt_tokens, sampling)

    async def stream(
        self,
        generation: Generation,
        chunk: Callable[[str | None, str | None], dict[str, Any]],
        head: dict[str, Any] | None,
        include_usage: bool,
        usage_chunk: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> Response:
        """An SSE response. The first upstream event is awaited here, so a request Triton refuses is
        still a plain 400, not an error inside a 200 stream."""
        deltas = generation.deltas()
        try:
            first: str | None = await deltas.__anext__()
        except StopAsyncIteration:
            first = None
        except BaseException:
            await deltas.aclose()
            raise

        async def events() -> AsyncIterator[bytes]:
            # Chunks that are ready together go out in one write (the role chunk with the first text; the
            # finish chunk with the usage chunk and [DONE]): fewer sends, less CPU per request.
            opening = _sse(head) if head is not None else b""
            try:
                if first is not None:
                    yield opening + _sse(chunk(first, None))
                    opening = b""
                    async for delta in deltas:
                        yield _sse(chunk(delta, None))
                closing = opening + _sse(chunk(None, generation.finish_reason))
                if include_usage:
                    closing += _sse(usage_chunk(generation.usage()))
            except RouteError as error:
                closing = _sse(error.body())
            finally:
                await deltas.aclose()  # a cancelled (disconnected) stream closes the upstream one
            yield closing + b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers=SSE_HEADERS)

    # -- endpoints ------------------------------------------------------------------------------

    async def chat(self, request: Request) -> Response:
        try:
            body = ChatCompletionRequest.model_validate_json(await request.body())
        except ValidationError as error:
            raise validation_error(error) from None
        body.refuse_unsupported()
        self.check_model(body.model)
        generation = self.generation(self.builder.chat_prompt(body.messages), body, body.output_limit())
        ident, created, model = f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), body.model
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            extra = {"usage": None} if include_usage else {}

            def chunk(content: str | None, finish: str | None) -> dict[str, Any]:
                delta = {"content": content} if content is not None else {}
                return {
                    "id": ident,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
                    **extra,
                }

            head = chunk("", None)
            head["choices"][0]["delta"] = {"role": "assistant", "content": ""}

            def usage_chunk(usage: dict[str, Any]) -> dict[str, Any]:
                return {**chunk(None, None), "choices": [], "usage": usage}

            return await self.stream(generation, chunk, head, include_usage, usage_chunk)
        text = await _unless_disconnected(request, generation.run())
        return JSONResponse(
            {
                "id": ident,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "logprobs": None,
                        "finish_reason": generation.finish_reason,
                    }
                ],
                "usage": generation.usage(),
            }
        )

    async def completions(self, request: Request) -> Response:
        try:
            body = CompletionRequest.model_validate_json(await request.body())
        except ValidationError as error:
            raise validation_error(error) from None
        body.refuse_unsupported()
        self.check_model(body.model)
        prompt = body.prompt_text()
        generation = self.generation(prompt, body, body.max_tokens)
        ident, created, model = f"cmpl-{uuid.uuid4().hex}", int(time.time()), body.model
        echo = prompt if body.echo else ""
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            extra = {"usage": None} if include_usage else {}

            def chunk(text: str | None, finish: str | None) -> dict[str, Any]:
                return {
                    "id": ident,
                    "object": "text_completion",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}],
                    **extra,
                }

            def usage_chunk(usage: dict[str, Any]) -> dict[str, Any]:
                return {**chunk(None, None), "choices": [], "usage": usage}

            head = chunk(echo, None) if echo else None
            return await self.stream(generation, chunk, head, include_usage, usage_chunk)
        text = await _unless_disconnected(request, generation.run())
        return JSONResponse(
            {
                "id": ident,
                "object": "text_completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "text": echo + text,
                        "logprobs": None,
                        "finish_reason": generation.finish_reason,
                    }
                ],
                "usage": generation.usage(),
            }
        )

    async def models(self, _: Request) -> Response:
        return JSONResponse({"object": "list", "data": [self.model_entry()]})

    async def model(self, request: Request) -> Response:
        self.check_model(request.path_params["model"])
        return JSONResponse(self.model_entry())

    async def health(self, _: Request) -> Response:
        if await self.upstream.ready(self.deployment.target.model):
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "unavailable", "upstream": self.deployment.url}, status_code=503)


async def _route_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, RouteError)
    return JSONResponse(error.body(), status_code=error.status)


async def _http_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    kind = "not_found_error" if error.status_code == 404 else "invalid_request_error"
    body = RouteError(str(error.detail), status=error.status_code, type=kind).body()
    return JSONResponse(body, status_code=error.status_code, headers=getattr(error, "headers", None))


async def _client_gone(_: Request, _error: Exception) -> Response:
    return Response(status_code=499)  # nobody reads it: the client left


def create_app(deployment: Deployment, builder: PromptBuilder) -> FastAPI:
    """The route for `deployment`; the upstream session opens and closes with the app."""
    upstream = Upstream(deployment.url)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await upstream.close()

    route = Route(deployment, builder, upstream)
    app = FastAPI(title="tritongen OpenAI-compatible route", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.add_api_route("/v1/chat/completions", route.chat, methods=["POST"])
    app.add_api_route("/v1/completions", route.completions, methods=["POST"])
    app.add_api_route("/v1/models", route.models, methods=["GET"])
    app.add_api_route("/v1/models/{model:path}", route.model, methods=["GET"])
    app.add_api_route("/health", route.health, methods=["GET"])
    app.add_exception_handler(RouteError, _route_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ClientGone, _client_gone)
    app.state.route = route
    return app
