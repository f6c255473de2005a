"""Pipeline overhead: what preprocessing + postprocessing + ensemble/BLS cost per request.

Generation is made (almost) free with `max_tokens` 1 and non-streaming `/generate`, so what remains is
the per-request cost of the pipeline around it: requests/s at each concurrency, and the server's CPU
time per request (the tritonserver process tree, from /proc, sampled around the measured phase).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from tritongen import defaults
from tritongen.bench.client import shape_requests
from tritongen.bench.load import make_driver
from tritongen.bench.report import aligned_table, environment
from tritongen.bench.run import warm_up
from tritongen.bench.stats import percentile
from tritongen.http import base_url, probe_model

PIPELINE_PROMPT = "What is the capital of France?"
MS = 1000.0
# Upstream v0.19 (fill_template pre/post, a zero-cost tensorrt_llm stub): server CPU ms/request.
UPSTREAM_BASELINE_MS = {1: 1.79, 32: 0.88}


@dataclass(frozen=True)
class PipelineConfig:
    """Which models, at which concurrencies, how many requests each."""

    url: str = defaults.SERVER_URL
    models: tuple[str, ...] = ("ensemble", "tensorrt_llm_bls")
    concurrency: tuple[int, ...] = (1, 32)
    requests: int = 500
    warmup_requests: int = 32
    server_pid: int | None = None
    timeout_s: float = 60.0
    client: str = "asyncio"
    prompt: str = PIPELINE_PROMPT
    extra_fields: Mapping[str, Any] = field(default_factory=dict)  # e.g. a runtime's "return at once" flag


@dataclass(frozen=True)
class PipelineRow:
    """One model at one concurrency."""

    model: str
    concurrency: int
    requests: int
    failed: int
    requests_per_s: float
    server_cpu_ms_per_request: float
    client_cpu_ms_per_request: float
    e2e_p50_ms: float | None
    first_error: str | None


@dataclass
class PipelineResult:
    server_pid: int
    processes_measured: int
    rows: list[PipelineRow]
    config: dict[str, Any]
    environment: dict[str, Any] = field(default_factory=environment)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "tritongen.bench.pipeline/1",
            "server_pid": self.server_pid,
            "processes_measured": self.processes_measured,
            "upstream_baseline_server_cpu_ms_per_request": {
                str(k): v for k, v in UPSTREAM_BASELINE_MS.items()
            },
            "config": self.config,
            "environment": self.environment,
            "rows": [asdict(row) for row in self.rows],
        }


def measure_pipeline_overhead(
    config: PipelineConfig, on_row: Callable[[PipelineRow], None] | None = None
) -> PipelineResult:
    """Every model × concurrency cell: warm up, sample server CPU, run `requests`, sample again."""
    from tritongen.bench.server_cpu import find_server_pid, tree_cpu_seconds, tree_size  # psutil: only here

    pid = config.server_pid or find_server_pid(base_url(config.url))
    rows: list[PipelineRow] = []
    for model in config.models:
        contract = probe_model(config.url, model, min(10.0, config.timeout_s))
        shape = shape_requests(
            contract, config.url, "generate", max_tokens=1, extra_fields=config.extra_fields
        )
        driver = make_driver(config.client, shape, (config.prompt,), config.timeout_s)
        try:
            for concurrency in config.concurrency:
                warm_up(driver, concurrency, config.warmup_requests)
                cpu_before = tree_cpu_seconds(pid)
                run = driver.run(concurrency, count=config.requests)
                cpu_after = tree_cpu_seconds(pid)
                good = [record for record in run.records if record.ok]
                errors = [record.error for record in run.records if record.error]
                row = PipelineRow(
                    model=model,
                    concurrency=concurrency,
                    requests=len(run.records),
                    failed=len(errors),
                    requests_per_s=len(good) / run.wall_s if run.wall_s > 0 else 0.0,
                    server_cpu_ms_per_request=(cpu_after - cpu_before) * MS / max(1, len(run.records)),
                    client_cpu_ms_per_request=run.client_cpu_s * MS / max(1, len(run.records)),
                    e2e_p50_ms=percentile([r.e2e_s * MS for r in good], 50) if good else None,
                    first_error=errors[0] if errors else None,
                )
                rows.append(row)
                if on_row is not None:
                    on_row(row)
        finally:
            driver.close()
    settings = asdict(config) | {
        "url": base_url(config.url),
        "extra_fields": dict(config.extra_fields),
        "max_tokens": 1,
        "endpoint": "generate",
    }
    return PipelineResult(pid, tree_size(pid), rows, settings)


def format_pipeline_table(rows: list[PipelineRow]) -> str:
    """model, concurrency, requests/s, server CPU ms/request (and the upstream baseline where known)."""
    header = (
        "model",
        "conc",
        "ok",
        "err",
        "req/s",
        "server CPU ms/req",
        "upstream ms/req",
        "client CPU ms/req",
        "e2e p50 ms",
    )
    table: list[tuple[str, ...]] = []
    for row in rows:
        baseline = UPSTREAM_BASELINE_MS.get(row.concurrency)
        table.append(
            (
                row.model,
                str(row.concurrency),
                str(row.requests - row.failed),
                str(row.failed),
                f"{row.requests_per_s:.0f}",
                f"{row.server_cpu_ms_per_request:.2f}",
                f"{baseline:.2f}" if baseline is not None else "-",
                f"{row.client_cpu_ms_per_request:.2f}",
                f"{row.e2e_p50_ms:.2f}" if row.e2e_p50_ms is not None else "-",
            )
        )
    return aligned_table(header, table, left_columns=1)
