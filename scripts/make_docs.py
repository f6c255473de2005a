#!/usr/bin/env python3
"""Regenerate docs/reliability.md and docs/benchmarks.md by running what produces their figures.

    .venv/bin/python scripts/make_docs.py --quick     # reduced sizes: ~6 minutes on 2 cores
    .venv/bin/python scripts/make_docs.py             # full sizes: about an hour on 2 cores
    .venv/bin/python scripts/make_docs.py --only reliability
    .venv/bin/python scripts/make_docs.py --from-results .cache/make_docs   # rewrite the docs only

Reliability: `scripts/reliability.py --json` (load, faults, engine-fuzz, request-fuzz). Benchmarks:
`scripts/bench_render.py`, `scripts/bench_launch.py`, `scripts/bench_serving.py` (their stdout tables,
verbatim: they have no JSON output), then, against one real SmolLM2 stack (`tritongen render` +
`tritongen launch` on a free port in 24000-24999), `scripts/bench_pipeline.py --json` and three
`tritongen bench --json` sweeps. Every figure in the docs comes with the exact command that produced
it, the machine (cores, memory, CPU model from /proc/cpuinfo), the date and what the figure means.
Raw outputs are kept in --results (default .cache/make_docs, git-ignored). A step that fails is
reported in the doc with its exit code and the tail of its output; the script then exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PYTHON = sys.executable
DEFAULT_RESULTS = ROOT / ".cache" / "make_docs"
STEP_TIMEOUT_S = 4 * 3600


# --------------------------------------------------------------------------------------------------
# Running steps


def machine() -> dict[str, Any]:
    """reliability.py's machine facts (cores, memory, CPU model, load), plus the tritongen commit and the date."""
    from reliability import machine as machine_facts  # scripts/ is on sys.path when this script runs

    facts = machine_facts()
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!docs"))  # docs: written here
    facts["cpu_model"] = facts["cpu_model"] or platform.processor() or "unknown"
    facts["commit"] = f"{commit}{' (with uncommitted changes)' if dirty else ''}" if commit else "unknown"
    facts["date"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return facts


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def tidy(text: str) -> str:
    """Paths a reader does not have, made readable: the home directory as ~, temporary work dirs as $WORK."""
    import re

    text = re.sub(r"/tmp/tritongen-reliability-[^/\s]+", "$WORK", text)
    text = text.replace(str(ROOT) + "/", "")
    return text.replace(str(Path.home()), "~")


def shown(argv: list[str]) -> str:
    """A command line as a reader would type it from the repository root."""
    words = []
    for word in argv:
        if word == PYTHON:
            word = ".venv/bin/python"
        elif word.startswith(str(ROOT) + "/"):
            word = os.path.relpath(word, ROOT)
        words.append(word)
    return shlex.join(words)


def run_step(name: str, argv: list[str], results: Path, *, json_path: Path | None = None,
             say: Any = print) -> dict[str, Any]:
    """Run one command (its stderr shown as it goes, both streams kept); a record for the manifest."""
    say(f"{name}: {shown(argv)}")
    started = time.monotonic()
    stdout_parts: list[str] = []
    stderr_parts: list[str] = []
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def pump(stream: Any, sink: list[str], echo: bool) -> None:
        for line in stream:
            sink.append(line)
            if echo:
                print(f"    {name}| {line.rstrip()}", file=sys.stderr, flush=True)

    readers = [threading.Thread(target=pump, args=(process.stdout, stdout_parts, False), daemon=True),
               threading.Thread(target=pump, args=(process.stderr, stderr_parts, True), daemon=True)]
    for reader in readers:
        reader.start()
    try:
        code = process.wait(timeout=STEP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        code = process.wait()
        stderr_parts.append(f"\ntimed out after {STEP_TIMEOUT_S} s")
    for reader in readers:
        reader.join(timeout=10)
    stdout, stderr = "".join(stdout_parts), "".join(stderr_parts)
    seconds = time.monotonic() - started
    (results / f"{name}.stdout.txt").write_text(stdout)
    (results / f"{name}.stderr.txt").write_text(stderr)
    data = None
    if json_path is not None and json_path.is_file():
        try:
            data = json.loads(json_path.read_text())
        except ValueError:
            data = None
    say(f"{name}: exit {code} after {seconds:.0f} s")
    return {"name": name, "command": shown(argv), "exit_code": code, "seconds": round(seconds, 1),
            "stdout": stdout, "stderr_tail": stderr[-3000:], "json": data}


# --------------------------------------------------------------------------------------------------
# Reliability


def run_reliability(quick: bool, results: Path, say: Any) -> dict[str, Any]:
    json_path = results / "reliability.json"
    json_path.unlink(missing_ok=True)
    argv = [PYTHON, str(ROOT / "scripts" / "reliability.py"), "--quick" if quick else "--full",
            "--json", str(json_path)]
    step = run_step("reliability", argv, results, json_path=json_path, say=say)
    step["command"] = shown(argv[:3])  # the JSON path is where the figures went, not how they were made
    step["quick"] = quick
    return step


PART_TEXT = {
    "load": (
        "Load",
        ("The real SmolLM2-135M-Instruct stack (`tritongen render` + `tritongen launch`, torch runtime on "
        "CPU) gets requests from concurrent clients: three quarters to the `ensemble`, a quarter to "
        "`tensorrt_llm_bls`, half of them streaming (`generate_stream`), each with its own `id`, "
        "`max_tokens` 8 or 16 forced with `min_tokens`, and exactly 10% closed by the client midway "
        "(streams after their first one or two events, non-streaming requests after a random 0.05-0.8 s). "
        "Every other request must get exactly one complete answer: HTTP 200, every response object "
        "carrying the request's `id`, streaming token counts strictly increasing (a repeat is a "
        "duplicate), the last count equal to `max_tokens` (the final response arrived), and a text that "
        "is not another prompt's answer (checked against one-at-a-time reference answers). Memory is "
        "the RSS of tritonserver and its `triton_python_backend_stub` children (from /proc) after a "
        "warm-up and after the load; the server must then go idle (no generation left running)."),
    ),
    "faults": (
        "Faults (kill -9 of a rank)",
        ("World size 2 under Open MPI's mpirun, two client threads sending requests to rank 0, and at a "
         "random moment 0-3 s after ready `kill -9` of a random rank (both ranks equally often). Two "
         "targets: the tiny launch fixture (`fixture`: Python stand-in models, its `tensorrt_llm` blocks in "
         "initialize on rank 1 like a TensorRT-LLM worker rank), and the real torch runtime at tp 2 "
         "(`torch-tp2`: a tiny random-weight Llama checkpoint rendered with `--tp 2`, rank 1 following "
         "rank 0's steps over torch.distributed; SmolLM2's 9 heads do not divide by 2). `tritongen launch` "
         "must exit non-zero within 10 s and leave no process behind: no tritonserver, mpirun/prted/orted "
         "or triton_python_backend_stub of that launch (every process the launch had just before the kill, "
         "and any process naming its repository, are checked)."),
    ),
    "engine-fuzz": (
        "Fuzzed engine directories",
        ("Hypothesis mutates the `config.json` of every corpus engine layout (v0.5 `builder_config`, "
        "`trtllm-build` 0.8-0.10, 0.11+/1.x), synthetic engines, a Hugging Face checkpoint and a "
        "TensorRT-LLM checkpoint (set/delete/add/retype keys, replace the whole document) and the "
        "directory layout (truncated, binary, empty, BOM, invalid UTF-8, deeply nested or 5 MB config; "
        "missing, dangling or looping config links; missing, extra, empty or directory rank files; the "
        "engine a file, missing, empty, nested or a symlink), with odd tokenizers, output paths "
        "(existing repositories with and without --force, files, symlinks, inside the engine) and flags. "
        "The real CLI runs in-process (`tritongen.cli.main`), every 25th case as a subprocess. "
        "Never a traceback, only documented exit codes (0, 2-6), never a partial write: on failure (or "
        "--dry-run) the output is byte-for-byte what it was, nothing new appears beside it, and the "
        "engine directory is never modified."),
    ),
    "request-fuzz": (
        "Fuzzed requests",
        ("Hypothesis builds malformed `generate`/`generate_stream` bodies for the `ensemble` and "
        "`tensorrt_llm_bls`: mutated valid bodies (wrong types, missing fields, huge and negative numbers, "
        "odd strings), random JSON, non-JSON bytes, empty bodies, invalid escapes and surrogates, "
        "extra fields, 0.1-2 MB strings and arrays, nesting up to 10,000 levels. The server must stay "
        "alive and ready (`/v2/health/ready` 200), answer every request, give no 5xx except Triton "
        "2.51's own front-end parse errors (counted apart, by kind), and a valid ensemble request and a "
        "valid streaming BLS request must succeed after every 25 bodies and at the end."),
    ),
}

FIGURE_TEXT = {
    "errors": "requests answered with an error (HTTP status other than 200, or an error object)",
    "lost": "requests with no complete answer (timeout, connection dropped, stream cut)",
    "duplicated": "streams whose token count repeated or went back, or requests answered twice",
    "misrouted": "responses carrying another request's id",
    "incomplete": "answers whose last response had fewer tokens than max_tokens",
    "crossed": "answers equal to another prompt's reference answer (cross-talk between sequences)",
    "text_diverged": "answers differing from the one-at-a-time answer without being another prompt's "
                     "(batched float arithmetic; reported, not a failure)",
    "cancelled": "requests the client closed midway, of cancel_planned",
    "cancel_completed_first": "requests meant to be cancelled that finished before the client closed them",
    "memory_growth_pct": "server RSS after the load vs after the warm-up (limit 10%)",
    "seconds_to_idle_after_load": "seconds until the server tree used under 0.2 cores after the load",
    "requests_per_s": "completed requests per second of wall time during the load",
    "server_log_tracebacks": "'Traceback' lines the server log gained during the part",
    "kill_to_exit_median_s": "seconds from kill -9 to the exit of `tritongen launch` (median)",
    "kill_to_exit_max_s": "the same, worst trial (limit 10 s)",
    "kill_to_exit_by_target": "median and worst kill-to-exit seconds per target",
    "leftover_processes": "processes of the launch alive after it exited, all trials together",
    "exit_codes": "exit codes seen, with their counts",
    "tracebacks": "cases that printed a traceback or let an exception escape main()",
    "undocumented_codes": "cases that ended with an exit code not documented for render",
    "partial_writes": "failed (or --dry-run) cases after which the output differed from before",
    "temporary_dirs_left": "entries left beside the output that were not there before",
    "known_5xx_by_kind": "Triton front-end HTTP 500 parse errors, by kind (known upstream behaviour)",
    "unexpected_5xx": "any other 5xx (a failure)",
    "no_response": "requests without any HTTP answer (a failure)",
    "health_checks_passed": "health checks (server alive, ready, two valid requests) passed, of health_checks",
}


def reliability_markdown(step: dict[str, Any], quick: bool) -> str:
    data = step.get("json") or {}
    lines = ["# Reliability", "",
             "<!-- Generated by scripts/make_docs.py from scripts/reliability.py --json; do not edit by hand. -->",
             ""]
    lines += [
        ("What the reliability suite checks, and what it found the last time it ran. Four parts, each "
        "bounded in time and count: load on the real serving stack, `kill -9` of a rank, fuzzed engine "
        "directories through `tritongen render`, fuzzed requests against the running server."), "",
        "## How to run it", "",
        "```bash",
        ".venv/bin/python scripts/reliability.py --quick          # CI sizes, a few minutes",
        (".venv/bin/python scripts/reliability.py --full           # 2,000 requests at concurrency 32, 20 kills, "
        "500 + 500 fuzz cases"),
        ".venv/bin/python scripts/reliability.py --quick --parts faults,engine-fuzz --json out.json",
        (".venv/bin/pytest -m reliability                          # the same four parts, quick sizes "
        "(TRITONGEN_RELIABILITY=full for full)"),
        "```", "",
        ("Every part uses a fixed seed (`--seed`, default 0), so a failure can be replayed; failing engine "
        "cases are kept with an `example.json` under the work directory (`--work DIR`). The script exits "
        "1 if any part failed."), "",
    ]
    if not data:
        lines += ["## Last run", "", f"The run failed before it wrote its results (exit {step.get('exit_code')}):",
                  "", "```", (step.get("stdout", "") + step.get("stderr_tail", ""))[-3000:], "```", ""]
        return "\n".join(lines)
    m = data.get("machine", {})
    sizes = data.get("sizes", {})
    lines += [
        "## Last run", "",
        (f"- **Command**: `{step.get('command') or data.get('command')}` ({data.get('mode')} mode, seed "
        f"{data.get('seed')}), {data.get('duration_s', 0):.0f} s in all"),
        f"- **Date**: {data.get('started_at', '?')}",
        f"- **Machine**: {m.get('cpu_cores')} cores ({m.get('cpu_model')}), {m.get('memory_gib')} GiB, "
        f"{m.get('platform')}, Python {m.get('python')}; load average {m.get('load_average_1m')} at the start"
        + (" (the machine was shared: timings are noisy)" if quick else ""),
        (f"- **Sizes**: load {sizes.get('load_requests')} requests at concurrency {sizes.get('load_concurrency')}; "
        f"faults {sizes.get('fault_trials')} + {sizes.get('fault_torch_trials', 0)} trials (fixture + torch-tp2); "
        f"engine-fuzz {sizes.get('engine_examples')} cases; "
        f"request-fuzz {sizes.get('request_examples')} bodies"),
    ]
    stack = (data.get("facts") or {}).get("stack")
    if stack:
        lines.append(f"- **Serving stack**: `{tidy(shlex.join(stack['render']))}` then "
                     f"`{tidy(shlex.join(stack['launch']))}` "
                     f"(ready in {stack.get('ready_s')} s; processes left after its stop: "
                     f"{len(stack.get('left_after_stop', []))})")
    verdict = "every part passed" if data.get("ok") else "**at least one part failed**"
    lines += [f"- **Verdict**: {verdict}", "", "```", data.get("table", ""), "```", ""]
    for result in data.get("results", []):
        title, text = PART_TEXT.get(result["part"], (result["part"], ""))
        lines += [f"## {title}", "", text, "",
                  (f"**{result['passed']}/{result['trials']} {result['unit']} passed, {result['failed']} failed "
                  f"({'PASS' if result['ok'] else 'FAIL'}), {result['duration_s']:.0f} s.**"), ""]
        lines += ["| figure | value | meaning |", "|---|---|---|"]
        for key, meaning in FIGURE_TEXT.items():
            if key in result["figures"]:
                value = result["figures"][key]
                if key == "cancelled":
                    value = f"{value} of {result['figures'].get('cancel_planned')}"
                if key == "health_checks_passed":
                    value = f"{value} of {result['figures'].get('health_checks')}"
                lines.append(f"| {key} | {_cell(value)} | {meaning} |")
        lines.append("")
        extra = _extra_figures(result)
        if extra:
            lines += extra
        if result.get("failures"):
            lines += ["Failures (the first ones, as recorded):", ""]
            lines += [f"- `{_inline(f)[:700]}`" for f in result["failures"]]
            lines.append("")
        if result.get("notes"):
            lines += [f"Note: {_inline(note)}" for note in result["notes"]] + [""]
    lines += KNOWN_ISSUES
    return "\n".join(lines)


def _extra_figures(result: dict[str, Any]) -> list[str]:
    f = result["figures"]
    lines: list[str] = []
    if result["part"] == "load":
        gib = 1024**3
        lines += [(f"Server RSS: {f.get('rss_before_bytes', 0) / gib:.2f} GiB after the warm-up, "
                  f"{f.get('rss_after_bytes', 0) / gib:.2f} GiB after the load, over "
                  f"{f.get('server_processes')} processes (tritonserver and its stubs). Requests: "
                  f"{f.get('ensemble')} ensemble, {f.get('bls')} BLS, {f.get('streaming')} streaming. "
                  f"Latency p50 {f.get('latency_p50_s')} s, max {f.get('latency_max_s')} s. Triton's own "
                  f"counters over the load (`nv_inference_request_success/failure`; a request the client "
                  f"cancelled counts as a failure there): `{json.dumps(f.get('triton_metrics_delta'))}`."), ""]
    elif result["part"] == "faults":
        rows = f.get("trials_detail", [])
        if rows:
            lines += [("| trial | target | rank killed | after ready | exit code | kill to exit | leftovers | "
                      "requests served |"), "|---|---|---|---|---|---|---|---|"]
            lines += [f"| {r.get('trial')} | {r.get('target')} | {r.get('rank')} | {r.get('delay_s')} s | "
                      f"{r.get('exit_code')} | "
                      f"{r.get('kill_to_exit_s')} s | {len(r.get('leftovers', {}))} | {r.get('requests_served')} |"
                      for r in rows]
            lines.append("")
    elif result["part"] == "engine-fuzz":
        lines += [(f"Output scenarios: `{json.dumps(f.get('output_scenarios'))}`; tokenizer scenarios: "
                  f"`{json.dumps(f.get('tokenizer_scenarios'))}`; layout mutations: "
                  f"`{json.dumps(f.get('layout_ops'))}`; {f.get('subprocess_runs')} cases ran as a subprocess; "
                  f"median render {f.get('render_median_s')} s."), "",
                  "Most frequent messages (paths replaced by PATH):", ""]
        lines += [f"- {n} x `{_inline(message) or '(none: exit 0)'}`" for message, n in
                  (f.get("messages") or {}).items()]
        lines.append("")
    elif result["part"] == "request-fuzz":
        lines += [(f"HTTP status codes: `{json.dumps(f.get('status_codes'))}`; body kinds: "
                  f"`{json.dumps(f.get('by_kind'))}`; targets: `{json.dumps(f.get('by_target'))}`; slowest "
                  f"answer {f.get('slowest_s')} s."), ""]
        if f.get("known_crash_probe"):
            lines += [f"Known-crash probe (`--probe-known-crash`): `{json.dumps(f['known_crash_probe'])}`", ""]
    return lines


def _cell(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
    return text.replace("|", "\\|")


def _inline(text: str) -> str:
    return " ".join(str(text).split()).replace("`", "'")


KNOWN_ISSUES = [
    "## Known upstream behaviour (Triton 2.51, not tritongen)", "",
    ("- **HTTP 500 for malformed bodies.** Triton's HTTP front end parses the request before any model "
    "runs and answers these with 500, not 400; the request-fuzz part counts them apart, by kind: "
    "`unable-to-parse-data` (`Unable to parse 'data'...`: a JSON value of the wrong type for an input, "
    "e.g. `\"max_tokens\": \"4\"`), `unable-to-parse-id` (a non-string `id`), `unable-to-parse-bytes` "
    "(a non-string value for a string input, e.g. `\"text_input\": 5`), `invalid-json` (not JSON, "
    "an empty body, an invalid surrogate escape), `not-an-object` (`null`, `[]`), `parameters-not-object` "
    "(`\"parameters\": \"x\"`) and `nul-in-field-name` (a field name containing `\\u0000`)."),
    ("- **A deeply nested input crashes tritonserver.** A `text_input` nested 100,000 arrays deep "
    "(a 200 KB body) makes Triton 2.51's JSON-to-tensor conversion overflow its stack: SIGSEGV, the "
    "whole server goes down (10,000 levels are answered normally). `tritongen launch` then does what it "
    "promises (tears down, exits 7 naming the rank, nothing left), but any client can take the server "
    "down with one request; keep the HTTP endpoint behind a proxy that limits body size or nesting. "
    "Reproduce: `python3 -c \"import sys; d=100000; sys.stdout.write('{\\\"max_tokens\\\": 4, "
    "\\\"text_input\\\": ' + '['*d + '\\\"a\\\"' + ']'*d + '}')\" | curl -s -X POST "
    "localhost:8000/v2/models/ensemble/generate --data-binary @-`. The random request fuzz stays at "
    "10,000 levels so that it tests tritongen rather than this; `scripts/reliability.py "
    "--probe-known-crash` ends the request-fuzz part with the crashing body."),
    "",
]


# --------------------------------------------------------------------------------------------------
# Benchmarks


def run_benchmarks(quick: bool, results: Path, say: Any) -> dict[str, Any]:
    import random

    import reliability_support as rel

    scripts = ROOT / "scripts"
    steps: list[dict[str, Any]] = []
    steps.append(run_step("bench_render", [PYTHON, str(scripts / "bench_render.py"),
                                           *(["--runs", "5"] if quick else [])], results, say=say))
    steps.append(run_step("bench_launch", [PYTHON, str(scripts / "bench_launch.py"),
                                           *(["--repeats", "2"] if quick else [])], results, say=say))
    serving_args = ["--concurrency", "1", "4", "--output-len", "16", "--rounds", "1"] if quick else []
    steps.append(run_step("bench_serving", [PYTHON, str(scripts / "bench_serving.py"), *serving_args], results,
                          say=say))
    stub_args = ["--requests", "2000"]  # also when --quick: fewer requests leave the CPU figures noisy
    for name, variant in PIPELINE_STUB_VARIANTS.items():
        out = results / f"{name}.json"
        out.unlink(missing_ok=True)
        argv = ["bash", str(scripts / "bench_pipeline_stub.sh"), *variant, *stub_args, "--json", str(out)]
        steps.append(run_step(name, argv, results, json_path=out, say=say))
    stack_facts: dict[str, Any] = {}
    say("starting the SmolLM2 stack for bench_pipeline and tritongen bench")
    try:
        with rel.serving_stack(results / "stack", rng=random.Random()) as stack:
            url = stack.base_url
            stack_facts = {"render": stack.render_command, "launch": stack.launch_command,
                           "ready_s": round(stack.ready_s, 1), "server_version": _server_version(url)}
            server_pid = next((p.pid for p in rel.server_processes(stack.process.pid) if p.name == "tritonserver"),
                              None)
            pipeline_json = results / "pipeline.json"
            pipeline_json.unlink(missing_ok=True)
            argv = [PYTHON, str(scripts / "bench_pipeline.py"), "--url", url, "--json", str(pipeline_json),
                    *(["--server-pid", str(server_pid)] if server_pid else []),
                    *(["--requests", "40", "--warmup", "8"] if quick else [])]
            steps.append(run_step("bench_pipeline", argv, results, json_path=pipeline_json, say=say))
            tritongen = str(Path(PYTHON).parent / "tritongen")
            sweep = (["--concurrency", "1,8,16", "--requests", "16", "--max-tokens", "16", "--warmup", "2"]
                     if quick else ["--concurrency", "1,2,4,8,16,32", "--max-tokens", "64"])
            for name, model, endpoint in (("bench_ensemble_stream", "ensemble", "generate_stream"),
                                          ("bench_bls_stream", "tensorrt_llm_bls", "generate_stream"),
                                          ("bench_ensemble_generate", "ensemble", "generate")):
                out = results / f"{name}.json"
                out.unlink(missing_ok=True)
                argv = [tritongen, "bench", "--url", url, "--model", model, "--endpoint", endpoint, *sweep,
                        "--ignore-eos", "--quiet", "--json", str(out)]
                steps.append(run_step(name, argv, results, json_path=out, say=say))
    except RuntimeError as error:
        steps.append({"name": "stack", "command": "tritongen render + tritongen launch", "exit_code": -1,
                      "seconds": 0, "stdout": "", "stderr_tail": str(error)[-3000:], "json": None})
    return {"steps": steps, "stack": stack_facts}


def _server_version(url: str) -> str | None:
    import requests

    try:
        return str(requests.get(f"{url}/v2", timeout=5).json().get("version"))
    except (requests.RequestException, ValueError):
        return None


# bench_pipeline_stub.sh runs: tritongen's models and zero-cost ones (the floor), streaming and not.
PIPELINE_STUB_VARIANTS = {
    "pipeline_stub": [],
    "pipeline_stub_floor": ["--floor"],
    "pipeline_stub_nostream": ["--no-streaming"],
    "pipeline_stub_nostream_floor": ["--no-streaming", "--floor"],
}
PIPELINE_STUB_TEXT = (
    "Pipeline overhead against a zero-cost `tensorrt_llm`",
    ("What preprocessing + postprocessing + the ensemble or BLS cost per request, generation aside, "
     "measured as upstream's baseline was: the rendered SmolLM2 repository with its `tensorrt_llm` swapped "
     "for a stub that answers at once (`scripts/pipeline_stub/model.py`), `max_tokens` 1 requests to "
     "/generate, server CPU (tritonserver and its Python-backend stubs, from /proc) per request. Two "
     "deployments: tritongen's default (decoupled, so `generate_stream` works) and `--no-streaming` "
     "(nothing decoupled, as upstream's quick start fills it). The **floor** column runs the same server "
     "with preprocessing, postprocessing and the BLS also swapped for zero-cost models "
     "(`scripts/pipeline_stub/floor`, `--floor`): what Triton's own structure costs per request (HTTP, "
     "the ensemble scheduler, one Python-backend round trip per model), the least any pair of Python "
     "models can cost on this server. tritongen's models minus the floor is what their Python work costs. "
     "Upstream v0.19's models cost 1.79 ms at concurrency 1 and 0.88 ms at 32 in the same measurement; "
     "half of that (the goal) is below this server's floor for the ensemble."),
)

BENCH_TEXT = {
    "bench_render": (
        "Render time",
        ("Wall time of a whole `tritongen render` (a new interpreter each time, symlink placement) of a "
        "synthetic v1.2 tp 2 engine with a small tokenizer: read and check the engine, plan every "
        "parameter, render the five models, validate against Triton's ModelConfig protobuf, and move the "
        "repository into place. The target is a median under 0.5 s."),
    ),
    "bench_launch": (
        "Launch time",
        ("Time to ready of `tritongen launch` on the tiny fixture repository (Python stand-in models), "
        "world size 1 (tritonserver directly) and 2 (under mpirun): the launcher's own overhead plus "
        "tritonserver start-up, as the launcher reports it and as wall time from the command's start; "
        "`stop` is SIGINT to exit with nothing left."),
    ),
    "bench_serving": (
        "Serving throughput: torch runtime through Triton vs in-process generation",
        ("Decode throughput (generated tokens per second of wall time) and time to first token of the "
        "SmolLM2 checkpoint at each concurrency, three ways: Hugging Face `model.generate` on a batch "
        "(the baseline), tritongen's torch engine in-process (continuous batching, no Triton), and "
        "tritonserver serving the `tensorrt_llm` model with that engine over streaming gRPC."),
    ),
    "bench_pipeline": (
        "Pipeline overhead (server CPU per request)",
        ("`max_tokens` 1 requests to /generate of the ensemble and the BLS at concurrency 1 and 32: "
        "requests per second, and the CPU time of the server process tree (tritonserver and its "
        "Python-backend stubs, from /proc) per request, which is what preprocessing, postprocessing and "
        "the ensemble/BLS plumbing cost around a one-token generation (the prefill is included). The "
        "upstream v0.19 column is the baseline of the same measurement with upstream's templates and a "
        "zero-cost `tensorrt_llm` stub. Against the real SmolLM2 model the server CPU per request is "
        "dominated by that one-token generation (a prefill of the chat-templated prompt and one decode "
        "step on CPU), so the two columns compare only for a deployment whose `tensorrt_llm` costs "
        "nothing; here the figure bounds the pipeline overhead from above (the zero-cost measurement is "
        "the section before)."),
    ),
    "bench_ensemble_stream": (
        "`tritongen bench`: ensemble, streaming",
        ("A closed-loop concurrency sweep against the real SmolLM2 stack: at each level that many "
        "concurrent streams send requests back to back; every output is forced to `--max-tokens` "
        "(`--ignore-eos`). TTFT is the time to the first streamed event, ITL the mean gap between events "
        "of a request, e2e the whole request; out tok/s counts generated tokens per second of wall time."),
    ),
    "bench_bls_stream": (
        "`tritongen bench`: BLS, streaming",
        ("The same sweep through `tensorrt_llm_bls` (one Python model orchestrating pre/post-processing "
        "instead of Triton's ensemble scheduler)."),
    ),
    "bench_ensemble_generate": (
        "`tritongen bench`: ensemble, non-streaming",
        ("The same sweep with `/generate` (one response per request): only end-to-end latency and "
        "throughput are meaningful."),
    ),
}


def benchmarks_markdown(bench: dict[str, Any], info: dict[str, Any], quick: bool) -> str:
    lines = ["# Benchmarks", "",
             "<!-- Generated by scripts/make_docs.py; do not edit by hand. -->", "",
             ("Figures of tritongen on a CPU-only machine: how fast it renders and launches, what the torch "
             "runtime serves through Triton, and what the pipeline around generation costs. Each section "
             "gives the exact command that produced its figures and what they mean. On a shared 2-core "
             "machine every timing is noisy; compare figures taken on the same machine only."), "",
             ("Regenerate both this page and docs/reliability.md with `.venv/bin/python scripts/make_docs.py` "
             "(full sizes; `--quick` for reduced ones)."), "",
             "## Machine", "",
             f"- **Date**: {info.get('date')}",
             (f"- **CPU**: {info.get('cpu_model')}, {info.get('cpu_cores')} cores ({info.get('cpu_cores_usable')} "
             f"usable); load average {info.get('load_average_1m')} at the start"),
             f"- **Memory**: {info.get('memory_gib')} GiB",
             (f"- **System**: {info.get('platform')}, Python {info.get('python')}, tritongen commit "
             f"{info.get('commit')}"),
             f"- **Sizes**: {'reduced (`--quick`)' if quick else 'full'}", ""]
    stack = bench.get("stack") or {}
    if stack:
        lines += [(f"The serving stack for the pipeline and `tritongen bench` sections: "
                  f"`{tidy(shlex.join(stack['render']))}` then `{tidy(shlex.join(stack['launch']))}` "
                  f"(Triton {stack.get('server_version')}, ready in "
                  f"{stack.get('ready_s')} s); SmolLM2-135M-Instruct in float32 on the torch runtime, "
                  "`max_batch_size` 16."), ""]
    stub_steps = [step for step in bench.get("steps", []) if step["name"] in PIPELINE_STUB_VARIANTS]
    if stub_steps:
        lines += _stub_section(stub_steps)
    for step in bench.get("steps", []):
        if step["name"] in PIPELINE_STUB_VARIANTS:
            continue
        title, meaning = BENCH_TEXT.get(step["name"], (step["name"], ""))
        lines += [f"## {title}", "", meaning, "", "```bash", step["command"], "```", ""]
        if step["exit_code"] != 0:
            lines += [(f"**The command failed (exit {step['exit_code']}, after {step['seconds']:.0f} s).** "
                      "Its output:"), "", "```", (step.get("stdout", "")[-2000:] + "\n" +
                                                  step.get("stderr_tail", "")[-2000:]).strip(), "```", ""]
            continue
        data = step.get("json")
        if step["name"] == "bench_pipeline" and data:
            lines += _pipeline_table(data)
        elif step["name"].startswith("bench_") and data and data.get("levels"):
            lines += _sweep_table(data)
        else:
            lines += ["Its output, verbatim (the script writes no JSON):", "", "```", step["stdout"].strip(), "```", ""]
        lines.append(f"_{step['seconds']:.0f} s._")
        lines.append("")
    return "\n".join(lines)


def _sweep_table(data: dict[str, Any]) -> list[str]:
    config = data.get("config", {})
    lines = [(f"{config.get('max_tokens')} output tokens per request; requests per level: "
             f"{config.get('requests_per_level') or 'max(32, 4 x concurrency)'}; "
             f"{config.get('warmup_requests')} warm-up requests per level. Latencies in ms, p50 / p90 / p99."), "",
             "| concurrency | ok | failed | req/s | out tok/s | TTFT | ITL | e2e |",
             "|---:|---:|---:|---:|---:|---|---|---|"]
    for level in data["levels"]:
        lines.append(f"| {level['concurrency']} | {level['succeeded']} | {level['failed']} | "
                     f"{_n(level['requests_per_s'])} | {_n(level['output_tokens_per_s'])} | "
                     f"{_spread(level.get('ttft_ms'))} | {_spread(level.get('itl_ms'))} | "
                     f"{_spread(level.get('e2e_ms'))} |")
    errors = [e for level in data["levels"] for e in level.get("first_errors", [])]
    if errors:
        lines += ["", f"First errors: `{_inline(errors[0])}`"]
    return [*lines, ""]


def _pipeline_table(data: dict[str, Any]) -> list[str]:
    baseline = data.get("upstream_baseline_server_cpu_ms_per_request", {})
    lines = [f"Server pid {data.get('server_pid')} ({data.get('processes_measured')} processes measured).", "",
             ("| model | concurrency | ok | failed | req/s | server CPU ms/req | upstream v0.19 ms/req | "
             "client CPU ms/req | e2e p50 ms |"), "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in data.get("rows", []):
        lines.append(f"| {row['model']} | {row['concurrency']} | {row['requests'] - row['failed']} | {row['failed']} | "
                     f"{_n(row['requests_per_s'])} | {_n(row['server_cpu_ms_per_request'])} | "
                     f"{baseline.get(str(row['concurrency']), '-')} | {_n(row['client_cpu_ms_per_request'])} | "
                     f"{_n(row['e2e_p50_ms'])} |")
    return [*lines, ""]


def _stub_section(steps: list[dict[str, Any]]) -> list[str]:
    """One table from the four bench_pipeline_stub.sh runs: tritongen's models beside the floor."""
    title, meaning = PIPELINE_STUB_TEXT
    lines = [f"## {title}", "", meaning, "", "```bash", *(step["command"] for step in steps), "```", ""]
    by_name = {step["name"]: step for step in steps}
    for step in steps:
        if step["exit_code"] != 0 or not step.get("json"):
            lines += [f"**`{step['command']}` failed (exit {step['exit_code']}).** Its output:", "", "```",
                      (step.get("stdout", "")[-1500:] + "\n" + step.get("stderr_tail", "")[-1500:]).strip(),
                      "```", ""]
    lines += [("| deployment | model | concurrency | ok | failed | req/s | server CPU ms/req | floor ms/req | "
              "tritongen minus floor | upstream v0.19 ms/req |"), "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for label, ours_name, floor_name in (("streaming (default)", "pipeline_stub", "pipeline_stub_floor"),
                                         ("--no-streaming", "pipeline_stub_nostream", "pipeline_stub_nostream_floor")):
        ours = (by_name.get(ours_name) or {}).get("json") or {}
        floor = (by_name.get(floor_name) or {}).get("json") or {}
        baseline = ours.get("upstream_baseline_server_cpu_ms_per_request", {})
        floor_rows = {(r["model"], r["concurrency"]): r for r in floor.get("rows", [])}
        for row in ours.get("rows", []):
            under = floor_rows.get((row["model"], row["concurrency"]))
            floor_ms = under["server_cpu_ms_per_request"] if under else None
            gap = row["server_cpu_ms_per_request"] - floor_ms if floor_ms is not None else None
            lines.append(f"| {label} | {row['model']} | {row['concurrency']} | {row['requests'] - row['failed']} | "
                         f"{row['failed']} | {_n(row['requests_per_s'])} | {_n(row['server_cpu_ms_per_request'])} | "
                         f"{_n(floor_ms)} | {_n(gap)} | {baseline.get(str(row['concurrency']), '-')} |")
    seconds = sum(step["seconds"] for step in steps)
    return [*lines, "", f"_{seconds:.0f} s for the four runs._", ""]


def _n(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "-"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def _spread(distribution: dict[str, Any] | None) -> str:
    if not distribution:
        return "-"
    return " / ".join(_n(distribution.get(key)) for key in ("p50", "p90", "p99"))


# --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="reduced sizes (every step)")
    parser.add_argument("--only", choices=("reliability", "benchmarks"), help="regenerate one doc only")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="where raw outputs are kept")
    parser.add_argument("--from-results", action="store_true",
                        help="run nothing: rewrite the docs from the manifests already in --results")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs", help="where the docs are written")
    args = parser.parse_args(argv)
    results: Path = args.results
    results.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - started:6.0f}s] {text}", file=sys.stderr, flush=True)

    ok = True
    args.docs.mkdir(parents=True, exist_ok=True)
    if args.only in (None, "reliability"):
        manifest = results / "reliability-step.json"
        if args.from_results:
            step = json.loads(manifest.read_text())
        else:
            step = run_reliability(args.quick, results, say)
            manifest.write_text(json.dumps(step, indent=2, default=str) + "\n")
        ok &= step["exit_code"] == 0
        (args.docs / "reliability.md").write_text(reliability_markdown(step, step.get("quick", args.quick)))
        say(f"wrote {args.docs / 'reliability.md'}")
    if args.only in (None, "benchmarks"):
        manifest = results / "benchmarks-steps.json"
        if args.from_results:
            saved = json.loads(manifest.read_text())
            bench, info, quick = saved["bench"], saved["machine"], saved["quick"]
        else:
            info, quick = machine(), args.quick
            bench = run_benchmarks(args.quick, results, say)
            manifest.write_text(json.dumps({"bench": bench, "machine": info, "quick": quick}, indent=2,
                                           default=str) + "\n")
        ok &= all(step["exit_code"] == 0 for step in bench["steps"])
        (args.docs / "benchmarks.md").write_text(benchmarks_markdown(bench, info, quick))
        say(f"wrote {args.docs / 'benchmarks.md'}")
    say("done" if ok else "done, but at least one step failed (see the docs)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
