"""Per-level statistics, the terminal table and the JSON document of a benchmark run."""

from __future__ import annotations

import math
import os
import platform
import socket
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from tritongen import __version__
from tritongen.bench.load import LevelRun
from tritongen.bench.stats import Distribution, summarize
from tritongen.bench.tokens import TokenCounter

FIRST_ERRORS_KEPT = 5
MS = 1000.0


@dataclass(frozen=True)
class LevelStats:
    """The figures of one concurrency level (latencies in milliseconds)."""

    concurrency: int
    requests: int
    succeeded: int
    failed: int
    wall_s: float
    requests_per_s: float
    output_tokens: int
    output_tokens_per_s: float
    mean_output_tokens: float
    token_count_method: str
    ttft_ms: Distribution | None
    itl_ms: Distribution | None
    e2e_ms: Distribution | None
    client_cpu_ms_per_request: float
    first_errors: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        for name in ("ttft_ms", "itl_ms", "e2e_ms"):
            value = data[name]
            data[name] = value.to_dict() if value is not None else None
        data["first_errors"] = list(self.first_errors)
        return data


def level_stats(run: LevelRun, counter: TokenCounter) -> LevelStats:
    """Reduce one level's records to its figures (throughput counts successful requests only)."""
    good = [record for record in run.records if record.ok]
    counted = [counter.count(record) for record in good]
    tokens = sum(count for count, _ in counted)
    methods = Counter(method for _, method in counted)
    method = (
        next(iter(methods))
        if len(methods) == 1
        else ("mixed: " + ", ".join(sorted(methods)) if methods else "none")
    )
    errors = list(dict.fromkeys(record.error for record in run.records if record.error))
    wall_s = run.wall_s if run.wall_s > 0 else float("nan")
    return LevelStats(
        concurrency=run.concurrency,
        requests=len(run.records),
        succeeded=len(good),
        failed=len(run.records) - len(good),
        wall_s=run.wall_s,
        requests_per_s=len(good) / wall_s,
        output_tokens=tokens,
        output_tokens_per_s=tokens / wall_s,
        mean_output_tokens=tokens / len(good) if good else 0.0,
        token_count_method=method,
        ttft_ms=summarize([r.ttft_s * MS for r in good if r.ttft_s is not None]),
        itl_ms=summarize([r.itl_s * MS for r in good if r.itl_s is not None]),
        e2e_ms=summarize([r.e2e_s * MS for r in good]),
        client_cpu_ms_per_request=run.client_cpu_s * MS / len(run.records) if run.records else 0.0,
        first_errors=tuple(errors[:FIRST_ERRORS_KEPT]),
    )


def environment() -> dict[str, Any]:
    """Where the figures were taken: they mean little without the machine and the time."""
    return {
        "host": socket.gethostname(),
        "cpu_cores": os.cpu_count(),
        "cpu_cores_usable": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "load_average_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "tritongen_version": __version__,
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


@dataclass
class BenchResult:
    """Everything a run measured, ready for the table, the JSON file and the plot."""

    config: dict[str, Any]
    server: dict[str, Any]
    levels: list[LevelStats]
    environment: dict[str, Any] = field(default_factory=environment)
    notes: list[str] = field(default_factory=list)

    @property
    def total_failed(self) -> int:
        return sum(level.failed for level in self.levels)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "tritongen.bench/1",
            "config": self.config,
            "server": self.server,
            "environment": self.environment,
            "notes": self.notes,
            "levels": [level.to_dict() for level in self.levels],
        }


def _number(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _spread(distribution: Distribution | None) -> str:
    if distribution is None:
        return "-"
    return "/".join(_number(v) for v in (distribution.p50, distribution.p90, distribution.p99))


def format_table(levels: list[LevelStats]) -> str:
    """An aligned table, one row per level; latencies as p50/p90/p99 in ms."""
    header = (
        "conc",
        "ok",
        "err",
        "req/s",
        "out tok/s",
        "TTFT ms p50/p90/p99",
        "ITL ms p50/p90/p99",
        "e2e ms p50/p90/p99",
    )
    rows = [
        (
            str(level.concurrency),
            str(level.succeeded),
            str(level.failed),
            _number(level.requests_per_s),
            _number(level.output_tokens_per_s),
            _spread(level.ttft_ms),
            _spread(level.itl_ms),
            _spread(level.e2e_ms),
        )
        for level in levels
    ]
    return aligned_table(header, rows)


def aligned_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]], *, left_columns: int = 0) -> str:
    """`header` and `rows` as columns two spaces apart, numbers right-aligned; the first `left_columns`
    (names, not numbers) left-aligned. Shared by the bench and pipeline tables so they read alike."""
    table = [header, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if i < left_columns else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in table
    )
