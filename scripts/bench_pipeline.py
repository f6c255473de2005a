#!/usr/bin/env python3
"""Pipeline overhead of a running deployment: requests/s and server CPU ms per request, generation aside.

Sends `max_tokens` 1 requests to /generate of each model (ensemble, tensorrt_llm_bls by default) at
concurrency 1 and 32, and reads the server process tree's CPU time (tritonserver and its Python-backend
stubs, from /proc) before and after each cell. The server must run on this machine: it is found by the
port of --url, or given with --server-pid (the mpirun pid for a multi-rank launch).

    .venv/bin/python scripts/bench_pipeline.py --url http://127.0.0.1:8000 --json pipeline.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tritongen.bench.config import parse_concurrency
from tritongen.bench.pipeline import (
    UPSTREAM_BASELINE_MS,
    PipelineConfig,
    PipelineRow,
    format_pipeline_table,
    measure_pipeline_overhead,
)
from tritongen.errors import TritongenError


def print_row(row: PipelineRow) -> None:
    """Progress for long runs, on stderr."""
    print(
        f"  {row.model} @ {row.concurrency}: {row.requests_per_s:.0f} req/s, "
        f"{row.server_cpu_ms_per_request:.2f} ms server CPU/req",
        file=sys.stderr,
    )


def parse_fields(pairs: list[str]) -> dict[str, object]:
    """NAME=JSON pairs (a value that is not JSON is sent as a string)."""
    fields: dict[str, object] = {}
    for pair in pairs:
        name, _, text = pair.partition("=")
        try:
            fields[name] = json.loads(text)
        except ValueError:
            fields[name] = text
    return fields


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--models", default="ensemble,tensorrt_llm_bls", help="comma-separated model names")
    parser.add_argument("--concurrency", default="1,32", help="comma-separated levels")
    parser.add_argument("--requests", type=int, default=500, help="measured requests per model and level")
    parser.add_argument("--warmup", type=int, default=32, help="unmeasured requests before each cell")
    parser.add_argument(
        "--server-pid", type=int, help="the server's pid (default: whoever listens on --url's port)"
    )
    parser.add_argument("--client", choices=("threads", "asyncio"), default="asyncio")
    parser.add_argument("--timeout", type=float, default=60.0, help="per-request timeout, seconds")
    parser.add_argument(
        "--field", action="append", default=[], metavar="NAME=JSON", help="extra request field (repeatable)"
    )
    parser.add_argument("--json", type=Path, help="write the rows, config and environment here")
    args = parser.parse_args(argv)
    try:
        config = PipelineConfig(
            url=args.url,
            models=tuple(name.strip() for name in args.models.split(",") if name.strip()),
            concurrency=parse_concurrency(args.concurrency),
            requests=args.requests,
            warmup_requests=args.warmup,
            server_pid=args.server_pid,
            timeout_s=args.timeout,
            client=args.client,
            extra_fields=parse_fields(args.field),
        )
        result = measure_pipeline_overhead(config, on_row=print_row)
    except TritongenError as error:
        print(f"error: {error.one_line()}", file=sys.stderr)
        return error.exit_code
    print(f"server pid {result.server_pid} ({result.processes_measured} processes measured)")
    print(format_pipeline_table(result.rows))
    baseline = ", ".join(f"{ms} ms at concurrency {c}" for c, ms in UPSTREAM_BASELINE_MS.items())
    print(f"upstream v0.19 baseline (server CPU/request): {baseline}; the goal is at most half of it")
    if args.json:
        args.json.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 1 if any(row.failed for row in result.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
