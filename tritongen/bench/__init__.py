"""Load generation and reports for a running deployment (`tritongen bench`, scripts/bench_pipeline.py).

Modules: config (what to run), prompts, client (the request body, one timed request), openai_api (the
same for `--api openai`: streamed /v1/chat/completions or /v1/completions of any OpenAI-compatible
server, usage chunks), load / load_async (closed-loop drivers), tokens (how output tokens are counted),
stats (percentiles), report (per-level figures, table, JSON), plot (PNG), run (`run_bench`), server_cpu
and pipeline (per-request server CPU of the pipeline around generation). The probe, SSE decoding and
error bodies are `tritongen.http`'s, shared with `tritongen infer`.
"""

from tritongen.bench.config import BenchConfig, parse_concurrency
from tritongen.bench.pipeline import PipelineConfig, PipelineResult, PipelineRow, measure_pipeline_overhead
from tritongen.bench.report import BenchResult, LevelStats
from tritongen.bench.run import run_bench

__all__ = [
    "BenchConfig",
    "BenchResult",
    "LevelStats",
    "PipelineConfig",
    "PipelineResult",
    "PipelineRow",
    "measure_pipeline_overhead",
    "parse_concurrency",
    "run_bench",
]
