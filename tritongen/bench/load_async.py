"""The asyncio driver: one aiohttp session, one task per concurrent stream, on a private event loop.

Kept beside the thread driver so the two can be compared (`tritongen bench --client asyncio`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import aiohttp

from tritongen.bench.client import RequestRecord, Shape
from tritongen.bench.load import LoadDriver, OnDone, Tickets
from tritongen.http import decode_sse_line, shorten


class AsyncDriver(LoadDriver):
    """Tasks on a private event loop; the session (and its keep-alive connections) outlives each run."""

    def __init__(self, shape: Shape, prompts: Sequence[str], timeout_s: float) -> None:
        super().__init__(shape, prompts, timeout_s)
        self._loop = asyncio.new_event_loop()
        self._session: aiohttp.ClientSession | None = None

    def _drive(self, concurrency: int, tickets: Tickets, done: OnDone) -> None:
        self._loop.run_until_complete(self._gather(concurrency, tickets, done))

    async def _gather(self, concurrency: int, tickets: Tickets, done: OnDone) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, force_close=False)
            self._session = aiohttp.ClientSession(connector=connector)
        session = self._session

        async def work() -> None:
            while (index := tickets.take()) is not None:
                done(await self._send(session, index, self.prompt(index)))

        await asyncio.gather(*(work() for _ in range(concurrency)))

    async def _send(self, session: aiohttp.ClientSession, index: int, prompt: str) -> RequestRecord:
        shape = self.shape
        record = shape.new_record(index, time.perf_counter())
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        try:
            async with session.post(shape.target, json=shape.body(prompt), timeout=timeout) as response:
                if response.status != 200:
                    record.fail_with_body(response.status, await response.read())
                elif shape.streaming:
                    async for line in response.content:
                        payload = decode_sse_line(line)
                        if payload is not None:
                            record.take_payload(payload, time.perf_counter())
                            if not record.ok:
                                break
                else:
                    record.take_payload(await response.json(content_type=None), time.perf_counter())
        except asyncio.TimeoutError:
            record.error = f"timed out after {self.timeout_s:g}s"
        except aiohttp.ClientError as error:
            record.error = shorten(f"{type(error).__name__}: {error}")
        except ValueError as error:
            record.error = shorten(f"unparsable response: {error}")
        record.finish(time.perf_counter())
        return record

    def close(self) -> None:
        if self._session is not None:
            self._loop.run_until_complete(self._session.close())
            self._session = None
        self._loop.close()
