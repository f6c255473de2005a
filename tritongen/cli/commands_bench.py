"""The bench command: load a running deployment at a sweep of concurrencies and report the figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from tritongen import defaults
from tritongen.bench.config import API_ENDPOINTS
from tritongen.cli._app import cli
from tritongen.cli._options import (
    AT_LEAST_ONE,
    AT_LEAST_ZERO,
    SECONDS,
    LevelList,
    max_tokens_option,
    model_option,
    timeout_option,
    url_option,
)
from tritongen.errors import OutputError, UsageError


def _fields(pairs: tuple[str, ...]) -> dict[str, Any]:
    """--field NAME=JSON pairs → {NAME: value}; a value that is not JSON is sent as a string."""
    fields: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--field {pair!r} is not NAME=VALUE")
        try:
            fields[name] = json.loads(text)
        except ValueError:
            fields[name] = text
    return fields


@cli.command()
@url_option
@model_option
@click.option(
    "--api",
    type=click.Choice(list(API_ENDPOINTS)),
    default="triton",
    show_default=True,
    help="triton: the model's /v2 generate endpoints; openai: any OpenAI-compatible server (tritongen "
    "openai, vLLM, trtllm-serve, NIM), --model defaulting to the first of its /v1/models.",
)
@click.option(
    "--endpoint",
    type=click.Choice([name for names in API_ENDPOINTS.values() for name in names]),
    help="triton: generate_stream (default; TTFT and inter-token latency) or generate (end-to-end only); "
    "openai: chat (default, streamed /v1/chat/completions) or completions (streamed /v1/completions).",
)
@click.option(
    "--concurrency",
    type=LevelList(),
    default=",".join(str(level) for level in defaults.BENCH_CONCURRENCY),
    show_default=True,
    metavar="N,N,...",
    help="Concurrent streams, one level after another.",
)
@click.option(
    "--requests",
    "requests_per_level",
    type=AT_LEAST_ONE,
    metavar="N",
    help="Requests per level [default: max(32, 4 x concurrency)].",
)
@click.option(
    "--duration",
    "duration_s",
    type=SECONDS,
    metavar="S",
    help="Run each level for S seconds instead of --requests.",
)
@click.option(
    "--prompts",
    "prompts_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="One prompt per line [default: 16 built-in prompts, in a fixed order].",
)
@max_tokens_option
@click.option(
    "--min-tokens",
    type=AT_LEAST_ZERO,
    metavar="N",
    help="Send min_tokens=N where the model accepts it (forces output length).",
)
@click.option(
    "--ignore-eos", is_flag=True, help="Force every output to --max-tokens tokens (min_tokens = max_tokens)."
)
@click.option(
    "--warmup",
    type=AT_LEAST_ZERO,
    default=defaults.BENCH_WARMUP_REQUESTS,
    show_default=True,
    metavar="N",
    help="Unmeasured requests before each level.",
)
@timeout_option
@click.option(
    "--tokenizer",
    "tokenizer_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Count /generate output tokens with this tokenizer when the server reports no count.",
)
@click.option(
    "--client",
    type=click.Choice(["threads", "asyncio"]),
    default=defaults.BENCH_CLIENT,
    show_default=True,
    help="Load driver: asyncio (aiohttp, the lighter client) or threads (a requests.Session per stream).",
)
@click.option(
    "--field",
    "field_pairs",
    multiple=True,
    metavar="NAME=JSON",
    help="Extra request field, e.g. temperature=0.7 (repeatable).",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write every figure, the config and the environment here.",
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write a PNG of throughput and latency against concurrency.",
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def bench(
    url: str,
    model: str,
    api: str,
    endpoint: str | None,
    concurrency: tuple[int, ...],
    requests_per_level: int | None,
    duration_s: float | None,
    prompts_file: Path | None,
    max_tokens: int,
    min_tokens: int | None,
    ignore_eos: bool,
    warmup: int,
    timeout_s: float,
    tokenizer_dir: Path | None,
    client: str,
    field_pairs: tuple[str, ...],
    json_path: Path | None,
    plot_path: Path | None,
    quiet: bool,
) -> None:
    """Benchmark a running deployment: TTFT, inter-token and end-to-end latency, tokens/s, requests/s.

    Works against any server exposing the ensemble/BLS generate contract, including one tritongen did
    not start, and with --api openai against any OpenAI-compatible server (streamed answers; tokens
    from its usage chunk when it honours stream_options.include_usage). Fails with exit 8 if the server
    is unreachable or the model is not ready.
    """
    from tritongen.bench import BenchConfig, run_bench
    from tritongen.bench.prompts import BUILTIN_PROMPTS, load_prompts
    from tritongen.bench.report import format_table

    if ignore_eos and min_tokens is not None:
        raise UsageError("give --ignore-eos or --min-tokens, not both")
    model_given = click.get_current_context().get_parameter_source("model") != ParameterSource.DEFAULT
    config = BenchConfig(
        url=url,
        model=model if model_given or api == "triton" else None,
        endpoint=endpoint or API_ENDPOINTS[api][0],
        api=api,
        concurrency=concurrency,
        requests=requests_per_level,
        duration_s=duration_s,
        prompts=load_prompts(prompts_file) if prompts_file else BUILTIN_PROMPTS,
        prompts_source=str(prompts_file) if prompts_file else "built-in",
        max_tokens=max_tokens,
        min_tokens=max_tokens if ignore_eos else min_tokens,
        warmup_requests=warmup,
        timeout_s=timeout_s,
        tokenizer_dir=tokenizer_dir,
        client=client,
        extra_fields=_fields(field_pairs),
        show_progress=not quiet,
    )
    result = run_bench(config)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(format_table(result.levels))
    methods = sorted({level.token_count_method for level in result.levels})
    click.echo(f"output tokens counted by: {'; '.join(methods)}")
    for level in result.levels:
        if level.failed:
            click.echo(
                f"concurrency {level.concurrency}: {level.failed} failed, first: {level.first_errors[0]}"
            )
    if json_path:
        _write(json_path, json.dumps(result.to_dict(), indent=2) + "\n")
        click.echo(f"wrote {json_path}")
    if plot_path:
        from tritongen.bench.plot import write_plot

        write_plot(result, plot_path)
        click.echo(f"wrote {plot_path}")


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error}") from None
