"""Closed-loop load: `concurrency` workers, each sending its next request as soon as the last one ends.

Two interchangeable drivers with the same `run` interface: asyncio (one aiohttp session, one task per
worker; the default) and threads (one `requests.Session` per worker). Both report the client's own CPU
time. On a 2-core machine the asyncio driver cost 0.2-0.5 ms of client CPU per request at concurrency 32
against 0.9-1.4 ms for threads (GIL hand-offs), and so disturbed the server less; `--client` picks one.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import requests

from tritongen.bench.client import RequestRecord, Shape, send_request

OnDone = Callable[[RequestRecord], None]


@dataclass
class LevelRun:
    """The raw outcome of one load phase."""

    concurrency: int
    records: list[RequestRecord]
    wall_s: float
    client_cpu_s: float  # this process's CPU time (all threads) during the phase


class Tickets:
    """Hands out request indices until the count or the deadline is reached (thread-safe)."""

    def __init__(self, count: int | None, duration_s: float | None) -> None:
        if (count is None) == (duration_s is None):
            raise ValueError("give exactly one of count and duration_s")
        self._limit = count
        self._deadline = None if duration_s is None else time.perf_counter() + duration_s
        self._next = 0
        self._lock = threading.Lock()

    def take(self) -> int | None:
        with self._lock:
            if self._limit is not None and self._next >= self._limit:
                return None
            if self._deadline is not None and time.perf_counter() >= self._deadline:
                return None
            self._next += 1
            return self._next - 1


class LoadDriver(ABC):
    """A closed-loop driver: `run` hands out the requests and times the phase; a subclass only sends them.

    The two drivers differ only in how they keep `concurrency` requests in flight (threads or asyncio
    tasks); counting, timing and collecting the records in one place keeps their numbers comparable.
    """

    def __init__(self, shape: Shape, prompts: Sequence[str], timeout_s: float) -> None:
        self.shape = shape
        self.prompts = prompts
        self.timeout_s = timeout_s

    def run(
        self,
        concurrency: int,
        count: int | None = None,
        duration_s: float | None = None,
        on_done: OnDone | None = None,
    ) -> LevelRun:
        """One phase: `count` requests, or as many as `duration_s` allows, `concurrency` at a time."""
        tickets = Tickets(count, duration_s)
        records: list[RequestRecord] = []
        done_lock = threading.Lock()

        def done(record: RequestRecord) -> None:
            with done_lock:  # the thread driver's workers report concurrently
                records.append(record)
                if on_done is not None:
                    on_done(record)

        cpu_start, wall_start = time.process_time(), time.perf_counter()
        self._drive(concurrency, tickets, done)
        wall_s, cpu_s = time.perf_counter() - wall_start, time.process_time() - cpu_start
        records.sort(key=lambda record: record.index)
        return LevelRun(concurrency, records, wall_s, cpu_s)

    def prompt(self, index: int) -> str:
        """The prompt of request `index`: the prompts in turn, over and over."""
        return self.prompts[index % len(self.prompts)]

    @abstractmethod
    def _drive(self, concurrency: int, tickets: Tickets, done: OnDone) -> None:
        """Send requests until `tickets` runs out, `concurrency` at a time, handing each record to `done`."""

    @abstractmethod
    def close(self) -> None:
        """Close the connections kept between phases."""


class ThreadDriver(LoadDriver):
    """One thread and one keep-alive `requests.Session` per concurrent stream; sessions are reused."""

    def __init__(self, shape: Shape, prompts: Sequence[str], timeout_s: float) -> None:
        super().__init__(shape, prompts, timeout_s)
        self._sessions: list[requests.Session] = []

    def _drive(self, concurrency: int, tickets: Tickets, done: OnDone) -> None:
        while len(self._sessions) < concurrency:
            self._sessions.append(_new_session())

        def work(session: requests.Session) -> None:
            while (index := tickets.take()) is not None:
                done(send_request(session, self.shape, index, self.prompt(index), self.timeout_s))

        workers = [
            threading.Thread(target=work, args=(s,), daemon=True) for s in self._sessions[:concurrency]
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    def close(self) -> None:
        for session in self._sessions:
            session.close()
        self._sessions.clear()


def _new_session() -> requests.Session:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=1, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def make_driver(kind: str, shape: Shape, prompts: Sequence[str], timeout_s: float) -> LoadDriver:
    """The driver named by `--client`: "asyncio" or "threads"."""
    if kind == "threads":
        return ThreadDriver(shape, prompts, timeout_s)
    from tritongen.bench.load_async import AsyncDriver

    return AsyncDriver(shape, prompts, timeout_s)
