"""The asyncio driver: one aiohttp session, one task per concurrent stream, on a private event loop.

Kept beside the thread driver so the two can be compared (`tritongen bench --client asyncio`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import aiohttp

from tritongen.bench.client import RequestRecord, Shape
from tritongen.bench.load import LevelRun, OnDone, Tickets
from tritongen.http import decode_sse_line, shorten


class AsyncDriver:
    """Same interface as ThreadDriver; the session (and its keep-alive connections) outlives each run."""

    def __init__(self, shape: Shape, prompts: Sequence[str], timeout_s: float) -> None:
        self.shape = shape
        self.prompts = prompts
        self.timeout_s = timeout_s
        self._loop = asyncio.new_event_loop()
        self._session: aiohttp.ClientSession | None = None

    def run(
        self,
        concurrency: int,
        count: int | None = None,
        duration_s: float | None = None,
        on_done: OnDone | None = None,
    ) -> LevelRun:
        return self._loop.run_until_complete(self._run(concurrency, count, duration_s, on_done))

    async def _run(
        self, concurrency: int, count: int | None, duration_s: float | None, on_done: OnDone | None
    ) -> LevelRun:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, force_close=False)
            self._session = aiohttp.ClientSession(connector=connector)
        session = self._session
        tickets = Tickets(count, duration_s)
        records: list[RequestRecord] = []

        async def work() -> None:
            while (index := tickets.take()) is not None:
                prompt = self.prompts[index % len(self.prompts)]
                record = await self._send(session, index, prompt)
                records.append(record)
                if on_done is not None:
                    on_done(record)

        cpu_start, wall_start = time.process_time(), time.perf_counter()
        await asyncio.gather(*(work() for _ in range(concurrency)))
        wall_s, cpu_s = time.perf_counter() - wall_start, time.process_time() - cpu_start
        records.sort(key=lambda record: record.index)
        return LevelRun(concurrency, records, wall_s, cpu_s)

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
