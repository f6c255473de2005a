"""`run_bench`: probe the server, then sweep the concurrency levels and reduce each to its figures."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from tritongen.bench.client import RequestRecord, normalize_url, probe_model, shape_requests
from tritongen.bench.config import BenchConfig
from tritongen.bench.load import LevelRun, LoadDriver, make_driver
from tritongen.bench.report import BenchResult, LevelStats, level_stats
from tritongen.bench.tokens import TokenCounter
from tritongen.errors import ServerRequestError

PROBE_TIMEOUT_S = 10.0


def run_bench(config: BenchConfig, on_level: Callable[[LevelStats], None] | None = None) -> BenchResult:
    """Run the sweep against an already running server; `on_level` sees each level as it completes."""
    contract = probe_model(config.url, config.model, min(PROBE_TIMEOUT_S, config.timeout_s))
    shape = shape_requests(
        contract, config.url, config.endpoint, config.max_tokens, config.min_tokens, config.extra_fields
    )
    counter = TokenCounter(config.tokenizer_dir)
    levels: list[LevelStats] = []
    driver = make_driver(config.client, shape, config.prompts, config.timeout_s)
    try:
        for concurrency in config.concurrency:
            warm_up(driver, concurrency, config.warmup_requests)
            run = _measure(driver, config, concurrency)
            stats = level_stats(run, counter)
            levels.append(stats)
            if on_level is not None:
                on_level(stats)
    finally:
        driver.close()
    server: dict[str, Any] = {
        "url": normalize_url(config.url),
        "model": config.model,
        "endpoint": config.endpoint,
        "server_version": contract.server_version,
        "model_inputs": sorted(contract.inputs),
        "request_fields": dict(shape.fields),
    }
    return BenchResult(config.to_dict(), server, levels, notes=list(shape.notes))


def warm_up(driver: LoadDriver, concurrency: int, requests: int) -> None:
    """Open the connections and wake the models; stop early, in one line, if nothing works at all."""
    if requests <= 0:
        return
    run = driver.run(min(concurrency, requests), count=requests)
    failures = [record.error for record in run.records if record.error]
    if len(failures) == len(run.records):
        raise ServerRequestError(
            f"every warm-up request failed, the first with: {failures[0]}",
            hint="Check the model with `tritongen infer`, or pass --warmup 0 to measure the failures.",
        )


def _measure(driver: LoadDriver, config: BenchConfig, concurrency: int) -> LevelRun:
    from tqdm import tqdm

    total = config.requests_at(concurrency)
    with tqdm(
        total=total,
        desc=f"concurrency {concurrency}",
        unit="req",
        file=sys.stderr,
        disable=not config.show_progress,
        leave=False,
    ) as bar:

        def advance(_: RequestRecord) -> None:
            bar.update(1)

        return driver.run(concurrency, count=total, duration_s=config.duration_s, on_done=advance)
