"""`run_bench`: probe the server, then sweep the concurrency levels and reduce each to its figures."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from tritongen.bench.client import RequestRecord, Shape, shape_requests
from tritongen.bench.config import BenchConfig
from tritongen.bench.load import LevelRun, LoadDriver, make_driver
from tritongen.bench.openai_api import probe_openai, shape_openai_requests
from tritongen.bench.report import BenchResult, LevelStats, level_stats
from tritongen.bench.tokens import CHUNKS, TokenCounter
from tritongen.errors import ServerRequestError
from tritongen.http import base_url, probe_model

PROBE_TIMEOUT_S = 10.0


def run_bench(config: BenchConfig, on_level: Callable[[LevelStats], None] | None = None) -> BenchResult:
    """Run the sweep against an already running server; `on_level` sees each level as it completes."""
    shape: Shape
    probe_timeout_s = min(PROBE_TIMEOUT_S, config.timeout_s)
    if config.api == "openai":
        model, listed = probe_openai(config.url, config.model, probe_timeout_s)
        shape = shape_openai_requests(
            config.url, model, config.endpoint, config.max_tokens, config.extra_fields
        )
        server: dict[str, Any] = {"api": "openai", "listed_models": listed}
    else:
        assert config.model is not None  # BenchConfig requires it for the triton API
        model = config.model
        contract = probe_model(config.url, model, probe_timeout_s)
        shape = shape_requests(
            contract, config.url, config.endpoint, config.max_tokens, config.min_tokens, config.extra_fields
        )
        server = {"server_version": contract.server_version, "model_inputs": sorted(contract.inputs)}
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
    server = {
        "url": base_url(config.url),
        "model": model,
        "endpoint": config.endpoint,
        **server,
        "request_fields": dict(shape.fields),
    }
    notes = list(shape.notes)
    if config.api == "openai" and any(level.token_count_method == CHUNKS for level in levels):
        notes.append(
            "the server sent no usage chunk (stream_options.include_usage not honoured): "
            "output tokens are counted as streamed text chunks"
        )
    return BenchResult(config.to_dict(), server, levels, notes=notes)


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
