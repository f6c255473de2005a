#!/usr/bin/env python3
"""What the OpenAI route costs: TTFT and inter-token latency p50 through `/v1/chat/completions` vs the
ensemble's `generate_stream` on the same deployment, and the route's own CPU per request.

Both paths send the same chat message (the route templates it, the preprocessing model templates the
direct request: the same token ids) at each concurrency level, in alternating rounds so that drift in a
shared machine hits both alike. TTFT is the time to the first non-empty text; ITL the gaps between the
following text events. The route runs as `tritongen openai` in a child process, so its CPU time is read
with psutil (user + system) around the route rounds and divided by their requests.

    # a running deployment (the route is started in front of it)
    .venv/bin/python scripts/bench_openai.py --url 127.0.0.1:8000 --repository model_repos/smollm2
    # start everything here: SmolLM2 rendered into a temporary directory, served on CPU
    .venv/bin/python scripts/bench_openai.py --smollm2
    # the route's CPU per request with a zero-cost tensorrt_llm (scripts/pipeline_stub), max_tokens 1
    .venv/bin/python scripts/bench_openai.py --smollm2 --zero-cost --max-tokens 1 --concurrency 1,8 --requests 200
    # then, with the route still up: scripts/compare_aiperf.sh --api openai at concurrency 1 against it
    .venv/bin/python scripts/bench_openai.py --smollm2 --aiperf --json openai_route.json

`--json FILE` writes the figures with the command, the settings, the machine and (with --aiperf) the
aiperf comparison: scripts/make_docs.py renders docs/benchmarks.md's "The OpenAI route" from it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
STUB = ROOT / "scripts" / "pipeline_stub" / "model.py"
QUESTIONS = (
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Explain gravity to a child.",
    "List three primary colours.",
    "Tell me a joke about cats.",
    "Why is the sky blue?",
    "Give me a tip for studying.",
    "Describe a rainy day.",
)


@dataclass
class Timings:
    """Per-request first-token times and all inter-token gaps of one path (seconds)."""

    ttft: list[float] = field(default_factory=list)
    itl: list[float] = field(default_factory=list)
    requests: int = 0
    errors: int = 0

    def add(self, start: float, arrivals: list[float]) -> None:
        self.requests += 1
        if not arrivals:
            self.errors += 1
            return
        self.ttft.append(arrivals[0] - start)
        self.itl.extend(b - a for a, b in itertools.pairwise(arrivals))

    @staticmethod
    def p50_ms(values: list[float]) -> float | None:
        return statistics.median(values) * 1000 if values else None


async def _events(response: aiohttp.ClientResponse) -> AsyncIterator[dict[str, Any]]:
    async for line in response.content:
        if line.startswith(b"data:") and line[5:].strip() != b"[DONE]":
            yield json.loads(line[5:])


async def direct_request(
    session: aiohttp.ClientSession, url: str, question: str, max_tokens: int
) -> list[float]:
    body = {"text_input": question, "max_tokens": max_tokens, "stream": True, "top_k": 1,
            "exclude_input_in_output": True}  # fmt: skip
    arrivals = []
    async with session.post(f"{url}/v2/models/ensemble/generate_stream", json=body) as response:
        async for event in _events(response):
            if "error" in event:
                raise RuntimeError(f"generate_stream failed: {event['error']}")
            if event.get("text_output"):
                arrivals.append(time.perf_counter())
    return arrivals


async def route_request(
    session: aiohttp.ClientSession, url: str, question: str, max_tokens: int
) -> list[float]:
    body = {"model": "bench", "messages": [{"role": "user", "content": question}], "max_tokens": max_tokens,
            "temperature": 0, "stream": True}  # fmt: skip
    arrivals = []
    async with session.post(f"{url}/v1/chat/completions", json=body) as response:
        if response.status != 200:
            raise RuntimeError(f"route answered {response.status}: {await response.text()}")
        async for event in _events(response):
            choices = event.get("choices") or [{}]
            if choices[0].get("delta", {}).get("content"):
                arrivals.append(time.perf_counter())
    return arrivals


async def run_round(
    kind: str, url: str, concurrency: int, count: int, max_tokens: int, into: Timings
) -> None:
    send = direct_request if kind == "direct" else route_request
    queue = list(range(count))
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=None)
    ) as session:

        async def worker() -> None:
            while queue:
                index = queue.pop()
                start = time.perf_counter()
                into.add(start, await send(session, url, QUESTIONS[index % len(QUESTIONS)], max_tokens))

        await asyncio.gather(*(worker() for _ in range(concurrency)))


@contextlib.contextmanager
def route_process(url: str, repository: Path | None) -> Iterator[tuple[str, psutil.Process]]:
    from tritongen.testing.ports import free_ports

    (port,) = free_ports(1)
    argv = [sys.executable, "-m", "tritongen", "openai", "--url", url, "--port", str(port),
            "--served-model-name", "bench"]  # fmt: skip
    if repository is not None:
        argv += ["--repository", str(repository)]
    process = subprocess.Popen(
        argv, env={**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise SystemExit(f"tritongen openai exited with {process.returncode}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit("the route was not healthy within 120 s")
            time.sleep(0.3)
        yield base, psutil.Process(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


@contextlib.contextmanager
def smollm2_deployment(zero_cost: bool) -> Iterator[tuple[str, Path]]:
    """SmolLM2 rendered into a temporary directory and served on CPU (tensorrt_llm swapped for the stub)."""
    from tritongen.testing.server import running_server
    from tritongen.testing.smollm2 import render_repository, smollm2_checkpoint

    work = Path(tempfile.mkdtemp(prefix="tritongen-bench-openai-"))
    try:
        repository = render_repository(smollm2_checkpoint(), work / "smollm2",
                                       settings=("torch_dtype=float32", "device=cpu"))  # fmt: skip
        if zero_cost:
            shutil.rmtree(repository / "tensorrt_llm" / "1")
            (repository / "tensorrt_llm" / "1").mkdir()
            shutil.copyfile(STUB, repository / "tensorrt_llm" / "1" / "model.py")
        with running_server(repository, work / "tritonserver.log") as server:
            yield server.http_url, repository
    finally:
        shutil.rmtree(work, ignore_errors=True)


@dataclass
class AiperfRun:
    """scripts/compare_aiperf.sh --api openai against the route once the measurement is done."""

    tokenizer: Path
    requests: int
    max_tokens: int
    out: Path
    comparison: dict[str, Any] | None = None
    command: str = ""

    def run(self, route: str) -> None:
        argv = ["bash", str(ROOT / "scripts" / "compare_aiperf.sh"), "--api", "openai", "--url", route,
                "--concurrency", "1", "--requests", str(self.requests), "--max-tokens", str(self.max_tokens),
                "--warmup", "2", "--tokenizer", str(self.tokenizer), "--out", str(self.out)]  # fmt: skip
        # As a reader would type it: the route's port, the output folder and the home directory named.
        names = {route: "http://127.0.0.1:$ROUTE_PORT", str(self.out): "$OUT"}
        shown = [names.get(word, word).replace(str(Path.home()), "~") for word in argv[1:]]
        self.command = "bash " + " ".join(
            os.path.relpath(w, ROOT) if w.startswith(str(ROOT)) else w for w in shown
        )
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
        print(done.stdout, end="", file=sys.stderr)
        if done.returncode != 0:
            raise SystemExit(f"compare_aiperf.sh failed ({done.returncode}):\n{done.stderr[-2000:]}")
        self.comparison = json.loads((self.out / "comparison.json").read_text())


def measure(
    url: str,
    repository: Path | None,
    levels: list[int],
    count: int,
    max_tokens: int,
    rounds: int,
    aiperf: AiperfRun | None = None,
) -> dict[str, dict[str, object]]:
    base = url if "://" in url else f"http://{url}"
    results: dict[str, dict[str, object]] = {}
    with route_process(url, repository) as (route, process):
        for warm in ("direct", "route"):  # load the tokenizer paths and open connections first
            asyncio.run(run_round(warm, base if warm == "direct" else route, 2, 4, max_tokens, Timings()))
        for level in levels:
            direct, routed = Timings(), Timings()
            cpu = 0.0
            for _ in range(rounds):
                asyncio.run(run_round("direct", base, level, count, max_tokens, direct))
                before = process.cpu_times()
                asyncio.run(run_round("route", route, level, count, max_tokens, routed))
                after = process.cpu_times()
                cpu += (after.user - before.user) + (after.system - before.system)
            row: dict[str, object] = {
                "direct_ttft_p50_ms": Timings.p50_ms(direct.ttft),
                "route_ttft_p50_ms": Timings.p50_ms(routed.ttft),
                "direct_itl_p50_ms": Timings.p50_ms(direct.itl),
                "route_itl_p50_ms": Timings.p50_ms(routed.itl),
                "route_cpu_ms_per_request": cpu * 1000 / max(routed.requests, 1),
                "requests_per_path": routed.requests,
                "errors": direct.errors + routed.errors,
            }
            results[str(level)] = row
            print(
                f"c={level}: " + ", ".join(f"{k} {_fmt(v)}" for k, v in row.items()),
                file=sys.stderr,
                flush=True,
            )
        if aiperf is not None:
            aiperf.run(route)
    return results


def _fmt(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def table(results: dict[str, dict[str, object]]) -> str:
    lines = [
        "| concurrency | TTFT p50 direct | TTFT p50 route | added | ITL p50 direct | ITL p50 route | added | "
        + "route CPU/request |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for level, row in results.items():

        def added(a: object, b: object) -> str:
            if not isinstance(a, float) or not isinstance(b, float) or a == 0:
                return "–"
            return f"{(b - a) / a * 100:+.1f} %"

        ttft = (row["direct_ttft_p50_ms"], row["route_ttft_p50_ms"])
        itl = (row["direct_itl_p50_ms"], row["route_itl_p50_ms"])
        lines.append(
            f"| {level} | {_fmt(ttft[0])} ms | {_fmt(ttft[1])} ms | {added(*ttft)} | {_fmt(itl[0])} ms "
            f"| {_fmt(itl[1])} ms | {added(*itl)} | {_fmt(row['route_cpu_ms_per_request'])} ms |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--url", help="a running deployment (HOST:PORT); the route is started in front of it")
    source.add_argument("--smollm2", action="store_true", help="render and serve SmolLM2 here (CPU)")
    parser.add_argument("--repository", type=Path, help="the --url deployment's repository (tokenizer)")
    parser.add_argument("--zero-cost", action="store_true", help="with --smollm2: a zero-cost tensorrt_llm")
    parser.add_argument("--concurrency", default="1,8", help="comma-separated levels")
    parser.add_argument("--requests", type=int, default=16, help="requests per path, level and round")
    parser.add_argument("--rounds", type=int, default=2, help="alternating direct/route rounds per level")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--aiperf", action="store_true", help="then compare with aiperf at concurrency 1")
    parser.add_argument("--aiperf-requests", type=int, default=32, help="requests of each aiperf comparison")
    parser.add_argument("--tokenizer", type=Path, help="with --url --aiperf: a local tokenizer for aiperf")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    levels = [int(level) for level in args.concurrency.split(",")]
    aiperf = None
    if args.aiperf:
        from tritongen.testing.smollm2 import smollm2_checkpoint

        tokenizer = args.tokenizer or (smollm2_checkpoint() if args.smollm2 else None)
        if tokenizer is None:
            parser.error("--aiperf with --url needs --tokenizer DIR")
        out = Path(tempfile.mkdtemp(prefix="bench-openai-aiperf-"))
        aiperf = AiperfRun(tokenizer, args.aiperf_requests, args.max_tokens, out)
    environment = _environment()
    if args.smollm2:
        with smollm2_deployment(args.zero_cost) as (url, repository):
            results = measure(url, repository, levels, args.requests, args.max_tokens, args.rounds, aiperf)
    else:
        results = measure(
            args.url, args.repository, levels, args.requests, args.max_tokens, args.rounds, aiperf
        )
    print(table(results))
    if args.json:
        document = {
            "schema": "tritongen.bench.openai_route/1",
            "command": " ".join([".venv/bin/python", "scripts/bench_openai.py", *(argv or sys.argv[1:])]),
            "settings": {
                "concurrency": levels,
                "requests_per_path_level_round": args.requests,
                "rounds": args.rounds,
                "max_tokens": args.max_tokens,
                "zero_cost": args.zero_cost,
                "deployment": "SmolLM2 rendered and served here (CPU)" if args.smollm2 else args.url,
            },
            "environment": environment,
            "levels": results,
            "aiperf": None
            if aiperf is None
            else {"command": aiperf.command, "comparison": aiperf.comparison},
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0


def _environment() -> dict[str, Any]:
    """The machine and its load at the start: on a shared machine the figures mean little without it."""
    from tritongen.testing.reliability import machine_facts

    facts = machine_facts()
    facts["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return facts


if __name__ == "__main__":
    sys.exit(main())
