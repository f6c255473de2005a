"""A small asyncio client for the Triton server behind the route: model configs and generate_stream.

Every generation goes through `generate_stream`, streamed or not: a decoupled model's responses then
arrive as they are produced, and closing the HTTP connection early is how Triton learns that the client
went away. Triton 2.51 then cancels a BLS (and an llmapi) request, but not the steps of an ensemble, so
for an ensemble the target also names a stop request (the TensorRT-LLM `stop` input, same request id),
sent in the background. One `aiohttp` session with an unbounded connection pool serves every request of
the route, so a long stream never waits behind another one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, Coroutine
from typing import Any

import aiohttp

from tritongen.http.generate import base_url, error_text
from tritongen.openai.protocol import RouteError

# aiohttp reads a line of at most twice its buffer; a non-streamed answer is one event on one line.
READ_BUFFER = 1 << 20


class Upstream:
    """The Triton HTTP endpoint; open it inside the event loop that will use it."""

    def __init__(self, url: str) -> None:
        self.url = base_url(url)
        self._session: aiohttp.ClientSession | None = None
        self._background: set[asyncio.Task[None]] = set()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30),
                timeout=aiohttp.ClientTimeout(total=None, connect=10, sock_read=None),
                read_bufsize=READ_BUFFER,
            )
        return self._session

    async def close(self) -> None:
        if self._background:  # stop requests still on their way
            await asyncio.wait(self._background, timeout=5)
        if self._session is not None:
            await self._session.close()

    def in_background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` outside the caller's task: a cancelled (disconnected) request's clean-up must not be
        cancelled with it."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _stop(self, model: str, body: dict[str, Any]) -> None:
        with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
            url = f"{self.url}/v2/models/{model}/generate_stream"
            async with self.session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=30)) as response:
                await response.read()

    def unreachable(self, error: Exception) -> RouteError:
        return RouteError(
            f"the Triton server at {self.url} cannot be reached ({type(error).__name__})",
            status=503,
            type="server_error",
            code="upstream_unavailable",
        )

    async def get_json(self, path: str) -> tuple[int, Any]:
        """GET `path`; (status, parsed JSON or None)."""
        try:
            async with self.session.get(f"{self.url}{path}") as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            raise self.unreachable(error) from None
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, None

    async def ready(self, model: str) -> bool:
        try:
            async with self.session.get(f"{self.url}/v2/models/{model}/ready") as response:
                return response.status == 200
        except (aiohttp.ClientError, OSError, TimeoutError):
            return False

    async def generate_stream(
        self, model: str, body: dict[str, Any], abandon: tuple[str, dict[str, Any]] | None = None
    ) -> AsyncGenerator[dict[str, Any], None]:
        """The JSON events of one generate_stream request; an error event or a refused request raises
        RouteError. Stopping early closes the connection (Triton cancels a BLS or llmapi request then)
        and sends `abandon` (model, body), the stop request of models Triton does not cancel."""
        url = f"{self.url}/v2/models/{model}/generate_stream"
        try:
            response = await self.session.post(url, json=body)
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            raise self.unreachable(error) from None
        finished = False
        try:
            if response.status != 200:
                raise upstream_error(response.status, await response.read())
            async for line in response.content:
                if not line.startswith(b"data:"):
                    continue
                try:
                    event = json.loads(line[5:])
                except ValueError:
                    raise upstream_error(502, line) from None
                if "error" in event:
                    raise upstream_error(400, json.dumps(event).encode())
                yield event
            finished = True
        except (aiohttp.ClientError, ValueError) as error:  # ValueError: a line over the buffer
            raise RouteError(
                f"the Triton server at {self.url} dropped the stream ({type(error).__name__})",
                status=502,
                type="server_error",
                code="upstream_error",
            ) from None
        finally:
            if finished:
                response.release()
            else:  # not read to the end: close the connection so that Triton cancels the request
                response.close()
                if abandon is not None:
                    self.in_background(self._stop(*abandon))


def upstream_error(status: int, raw: bytes) -> RouteError:
    """Triton's `{"error": "..."}` as an OpenAI error: its 400s (bad input) stay 400s, the rest are 502."""
    message = error_text(raw) or raw[:300].decode(errors="replace").strip()
    if status == 400:
        return RouteError(f"the deployment rejected the request: {message}", code="invalid_value")
    return RouteError(
        f"the deployment failed (HTTP {status}): {message}",
        status=502,
        type="server_error",
        code="upstream_error",
    )
