#!/usr/bin/env python3
"""Regenerate docs/reliability.md and docs/benchmarks.md by running what produces their figures.

    .venv/bin/python scripts/make_docs.py --quick     # reduced sizes: ~6 minutes on 2 cores
    .venv/bin/python scripts/make_docs.py             # full sizes: about an hour on 2 cores
    .venv/bin/python scripts/make_docs.py --only reliability
    .venv/bin/python scripts/make_docs.py --from-results .cache/make_docs   # rewrite the docs only
    .venv/bin/python scripts/make_docs.py --only reliability --from-results --merge new.json

`--merge FILE` (repeatable; scripts/reliability.py --json documents) adds the parts of a separate run to
the reliability run, replacing the same parts: the slow parts need not run again for a new one. The page
then lists every run that contributed (command, date, machine), and the merged record is saved.

Reliability: `scripts/reliability.py --json` (every part of the suite). Benchmarks:
`scripts/bench_render.py`, `scripts/bench_launch.py`, `scripts/bench_serving.py` (their stdout tables,
verbatim: they have no JSON output), then, against one real SmolLM2 stack (`tritongen render` +
`tritongen launch` on a free port in 24000-24999), `scripts/bench_pipeline.py --json` and three
`tritongen bench --json` sweeps. Every figure in the docs comes with the exact command that produced
it, the machine (cores, memory, CPU model from /proc/cpuinfo), the date and what the figure means.
Raw outputs are kept in --results (default .cache/make_docs, git-ignored). A step that fails is
reported in the doc with its exit code and the tail of its output; the script then exits 1.

The pages' prose lives in scripts/docs_templates/ (Jinja); this script only gathers the figures as
JSON-able data (`reliability_context`, `benchmarks_context`) and renders the templates with them.
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
TEMPLATES = Path(__file__).resolve().parent / "docs_templates"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PYTHON = sys.executable
DEFAULT_RESULTS = ROOT / ".cache" / "make_docs"
STEP_TIMEOUT_S = 4 * 3600


# --------------------------------------------------------------------------------------------------
# Running steps


def machine() -> dict[str, Any]:
    """The reliability harness's machine facts (cores, memory, CPU model, load), the commit and the date."""
    from tritongen.testing.reliability import machine_facts

    facts = machine_facts()
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = bool(
        _git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!docs")
    )  # docs: written here
    facts["cpu_model"] = facts["cpu_model"] or platform.processor() or "unknown"
    facts["commit"] = f"{commit}{' (with uncommitted changes)' if dirty else ''}" if commit else "unknown"
    facts["date"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return facts


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30, check=False
        )
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


def run_step(
    name: str, argv: list[str], results: Path, *, json_path: Path | None = None, say: Any = print
) -> dict[str, Any]:
    """Run one command (its stderr shown as it goes, both streams kept); a record for the manifest."""
    say(f"{name}: {shown(argv)}")
    started = time.monotonic()
    stdout_parts: list[str] = []
    stderr_parts: list[str] = []
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )

    def pump(stream: Any, sink: list[str], echo: bool) -> None:
        for line in stream:
            sink.append(line)
            if echo:
                print(f"    {name}| {line.rstrip()}", file=sys.stderr, flush=True)

    readers = [
        threading.Thread(target=pump, args=(process.stdout, stdout_parts, False), daemon=True),
        threading.Thread(target=pump, args=(process.stderr, stderr_parts, True), daemon=True),
    ]
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
    return {
        "name": name,
        "command": shown(argv),
        "exit_code": code,
        "seconds": round(seconds, 1),
        "stdout": stdout,
        "stderr_tail": stderr[-3000:],
        "json": data,
    }


# --------------------------------------------------------------------------------------------------
# Reliability


def run_reliability(quick: bool, results: Path, say: Any) -> dict[str, Any]:
    json_path = results / "reliability.json"
    json_path.unlink(missing_ok=True)
    argv = [
        PYTHON,
        str(ROOT / "scripts" / "reliability.py"),
        "--quick" if quick else "--full",
        "--json",
        str(json_path),
    ]
    step = run_step("reliability", argv, results, json_path=json_path, say=say)
    step["command"] = shown(argv[:3])  # the JSON path is where the figures went, not how they were made
    step["quick"] = quick
    return step


# --------------------------------------------------------------------------------------------------
# Benchmarks


def run_benchmarks(quick: bool, results: Path, say: Any) -> dict[str, Any]:
    import random

    from tritongen.testing import reliability as rel

    scripts = ROOT / "scripts"
    steps: list[dict[str, Any]] = []
    steps.append(
        run_step(
            "bench_render",
            [PYTHON, str(scripts / "bench_render.py"), *(["--runs", "5"] if quick else [])],
            results,
            say=say,
        )
    )
    steps.append(
        run_step(
            "bench_launch",
            [PYTHON, str(scripts / "bench_launch.py"), *(["--repeats", "2"] if quick else [])],
            results,
            say=say,
        )
    )
    serving_args = ["--concurrency", "1", "4", "--output-len", "16", "--rounds", "1"] if quick else []
    steps.append(
        run_step(
            "bench_serving", [PYTHON, str(scripts / "bench_serving.py"), *serving_args], results, say=say
        )
    )
    stub_args = ["--requests", "2000"]  # also when --quick: fewer requests leave the CPU figures noisy
    for name, variant in PIPELINE_STUB_VARIANTS.items():
        out = results / f"{name}.json"
        out.unlink(missing_ok=True)
        argv = ["bash", str(scripts / "bench_pipeline_stub.sh"), *variant, *stub_args, "--json", str(out)]
        steps.append(run_step(name, argv, results, json_path=out, say=say))
    for name, variant in PIPELINE_LLMAPI_VARIANTS.items():  # the one-model llmapi target, in the same run
        out = results / f"{name}.json"
        out.unlink(missing_ok=True)
        argv = ["bash", str(scripts / "bench_llmapi_pipeline.sh"), *variant, *stub_args, "--json", str(out)]
        steps.append(run_step(name, argv, results, json_path=out, say=say))
    stack_facts: dict[str, Any] = {}
    say("starting the SmolLM2 stack for bench_pipeline and tritongen bench")
    try:
        with rel.serving_stack(results / "stack", rng=random.Random()) as stack:
            url = stack.base_url
            stack_facts = {
                "render": stack.render_command,
                "launch": stack.launch_command,
                "ready_s": round(stack.ready_s, 1),
                "server_version": _server_version(url),
            }
            server_pid = next(
                (p.pid for p in rel.server_processes(stack.process.pid) if p.name == "tritonserver"), None
            )
            pipeline_json = results / "pipeline.json"
            pipeline_json.unlink(missing_ok=True)
            argv = [
                PYTHON,
                str(scripts / "bench_pipeline.py"),
                "--url",
                url,
                "--json",
                str(pipeline_json),
                *(["--server-pid", str(server_pid)] if server_pid else []),
                *(["--requests", "40", "--warmup", "8"] if quick else []),
            ]
            steps.append(run_step("bench_pipeline", argv, results, json_path=pipeline_json, say=say))
            tritongen = str(Path(PYTHON).parent / "tritongen")
            sweep = (
                ["--concurrency", "1,8,16", "--requests", "16", "--max-tokens", "16", "--warmup", "2"]
                if quick
                else ["--concurrency", "1,2,4,8,16,32", "--max-tokens", "64"]
            )
            for name, model, endpoint in (
                ("bench_ensemble_stream", "ensemble", "generate_stream"),
                ("bench_bls_stream", "tensorrt_llm_bls", "generate_stream"),
                ("bench_ensemble_generate", "ensemble", "generate"),
            ):
                out = results / f"{name}.json"
                out.unlink(missing_ok=True)
                argv = [
                    tritongen,
                    "bench",
                    "--url",
                    url,
                    "--model",
                    model,
                    "--endpoint",
                    endpoint,
                    *sweep,
                    "--ignore-eos",
                    "--quiet",
                    "--json",
                    str(out),
                ]
                steps.append(run_step(name, argv, results, json_path=out, say=say))
    except RuntimeError as error:
        steps.append(
            {
                "name": "stack",
                "command": "tritongen render + tritongen launch",
                "exit_code": -1,
                "seconds": 0,
                "stdout": "",
                "stderr_tail": str(error)[-3000:],
                "json": None,
            }
        )
    return {"steps": steps, "stack": stack_facts, "openai_route": run_openai_route(quick, results, say)}


# bench_openai.py runs for "The OpenAI route": real SmolLM2 (with the aiperf comparison), then a zero-cost
# tensorrt_llm (the route's own CPU per request). Small sizes also in full runs: each starts its own
# deployment, and the comparison, not the sample size, is the point.
OPENAI_ROUTE_RUNS = {
    "openai_route": shlex.split("--concurrency 1,8 --requests 16 --rounds 2 --max-tokens 16 --aiperf"),
    "openai_route_zero_cost": shlex.split("--zero-cost --max-tokens 1 --concurrency 1,8 --requests 200"),
}


def run_openai_route(quick: bool, results: Path, say: Any) -> dict[str, Any]:
    """The OpenAI route section's steps (`--only openai-route` runs only these)."""
    steps = []
    for name, args in OPENAI_ROUTE_RUNS.items():
        out = results / f"{name}.json"
        out.unlink(missing_ok=True)
        argv = [PYTHON, str(ROOT / "scripts" / "bench_openai.py"), "--smollm2", *args, "--json", str(out)]
        steps.append(run_step(name, argv, results, json_path=out, say=say))
    return {"steps": steps, "quick": quick}


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
# bench_llmapi_pipeline.sh runs: the llmapi target with its zero-cost executor, streaming and not.
PIPELINE_LLMAPI_VARIANTS = {"pipeline_llmapi": [], "pipeline_llmapi_nostream": ["--no-streaming"]}

# --------------------------------------------------------------------------------------------------
# The docs: data here, prose in scripts/docs_templates/


def _cell(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
    return text.replace("|", "\\|")


def _inline(text: Any) -> str:
    return " ".join(str(text).split()).replace("`", "'")


def _n(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "-"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def _spread(distribution: dict[str, Any] | None) -> str:
    if not distribution:
        return "-"
    return " / ".join(_n(distribution.get(key)) for key in ("p50", "p90", "p99"))


def render_doc(template: str, context: dict[str, Any]) -> str:
    """Render one of scripts/docs_templates/ with `context` (plain JSON-able data)."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,  # a misspelt field fails loudly instead of printing nothing
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # Markdown, not HTML
    )
    environment.filters.update(
        json=json.dumps,
        cell=_cell,
        inline=_inline,
        n=_n,
        spread=_spread,
        paragraph=lambda text: " ".join(
            str(text).split()
        ),  # prose is wrapped in the templates, one line here
    )
    text = environment.get_template(template).render(**context)
    return text.rstrip("\n") + "\n"  # one newline at the end, whichever section came last


def _stack_commands(stack: dict[str, Any]) -> dict[str, Any]:
    return {**stack, "render": tidy(shlex.join(stack["render"])), "launch": tidy(shlex.join(stack["launch"]))}


def reliability_context(step: dict[str, Any], quick: bool) -> dict[str, Any]:
    """What reliability.md.j2 shows: the step record, its JSON document, and each part's table cells."""
    data = step.get("json") or {}
    stack = (data.get("facts") or {}).get("stack")
    results = []
    for result in data.get("results", []):
        figures = result["figures"]
        cells = {key: _cell(value) for key, value in figures.items()}
        if "cancelled" in figures:
            cells["cancelled"] = _cell(f"{figures['cancelled']} of {figures.get('cancel_planned')}")
        if "health_checks_passed" in figures:
            cells["health_checks_passed"] = _cell(
                f"{figures['health_checks_passed']} of {figures.get('health_checks')}"
            )
        results.append({**result, "cells": cells})
    return {
        "step": step,
        "quick": quick,
        "data": data,
        "failure_output": (step.get("stdout", "") + step.get("stderr_tail", ""))[-3000:],
        "stack": {**_stack_commands(stack), "left_after_stop": len(stack.get("left_after_stop", []))}
        if stack
        else None,
        "results": results,
    }


def _run_summary(data: dict[str, Any], parts: list[str]) -> dict[str, Any]:
    """One run of a merged page: how it was made, when, where, and the parts it gave."""
    words = shlex.split(data.get("command", ""))
    kept: list[str] = []
    for word in words:  # where the figures went is not how they were made
        if kept and kept[-1] in ("--json", "--work"):
            kept.pop()
        elif not word.startswith(("--json=", "--work=")):
            kept.append(word)
    if kept and kept[-1] in ("--json", "--work"):
        kept.pop()
    command = shlex.join(kept)
    if command.startswith("scripts/"):
        command = f".venv/bin/python {command}"
    return {
        "command": command,
        "mode": data.get("mode"),
        "seed": data.get("seed"),
        "parts": parts,
        "started_at": data.get("started_at"),
        "duration_s": data.get("duration_s"),
        "machine": data.get("machine", {}),
        "sizes": data.get("sizes", {}),
    }


def merge_reliability(step: dict[str, Any], documents: list[dict[str, Any]]) -> dict[str, Any]:
    """The reliability step with the parts of `documents` (reliability.py --json) added, replacing those
    of the same name; the table is rebuilt, and `runs` records which run gave which parts."""
    from tritongen.testing import reliability as rel

    base = dict(step.get("json") or {})
    if not base:
        raise SystemExit("make_docs: nothing to merge into: the reliability run wrote no results")
    by_part = {result["part"]: result for result in base.get("results", [])}
    runs = base.get("runs") or [
        {**_run_summary(base, list(by_part)), "command": step.get("command") or base.get("command")}
    ]
    sizes = dict(base.get("sizes", {}))
    facts = dict(base.get("facts", {}))
    for document in documents:
        new = [result["part"] for result in document.get("results", [])]
        for result in document.get("results", []):
            by_part[result["part"]] = result
        runs = [{**run, "parts": [p for p in run["parts"] if p not in new]} for run in runs]
        runs = [run for run in runs if run["parts"]] + [_run_summary(document, new)]
        sizes.update({key: value for key, value in document.get("sizes", {}).items() if key != "mode"})
        facts.update(document.get("facts", {}))
    order = {name: index for index, name in enumerate(rel.PARTS)}
    results = sorted(by_part.values(), key=lambda result: order.get(result["part"], len(order)))
    modes = {run["mode"] for run in runs}
    merged = {
        **base,
        "mode": modes.pop() if len(modes) == 1 else "mixed",
        "sizes": sizes,
        "facts": facts,
        "parts": [result["part"] for result in results],
        "duration_s": sum(run.get("duration_s") or 0 for run in runs),
        "ok": all(result["ok"] for result in results),
        "table": rel.format_table([rel.PartResult(**result) for result in results]),
        "results": results,
        "runs": runs,
    }
    return {**step, "exit_code": 0 if merged["ok"] else 1, "json": merged}


def reliability_markdown(step: dict[str, Any], quick: bool) -> str:
    return render_doc("reliability.md.j2", reliability_context(step, quick))


def _step_output(step: dict[str, Any], tail: int) -> str:
    stdout, stderr = str(step.get("stdout", "")), str(step.get("stderr_tail", ""))
    return (stdout[-tail:] + "\n" + stderr[-tail:]).strip()


def _stub_context(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The four bench_pipeline_stub.sh runs as one table: tritongen's models beside the floor."""
    by_name = {step["name"]: step for step in steps}
    rows = []
    for ours_name, floor_name in (
        ("pipeline_stub", "pipeline_stub_floor"),
        ("pipeline_stub_nostream", "pipeline_stub_nostream_floor"),
        ("pipeline_llmapi", None),  # one Python model: no ensemble structure, so no floor of its own
        ("pipeline_llmapi_nostream", None),
    ):
        ours = (by_name.get(ours_name) or {}).get("json") or {}
        floor = ((by_name.get(floor_name) or {}).get("json") or {}) if floor_name else {}
        baseline = ours.get("upstream_baseline_server_cpu_ms_per_request", {})
        floor_rows = {(r["model"], r["concurrency"]): r for r in floor.get("rows", [])}
        for row in ours.get("rows", []):
            under = floor_rows.get((row["model"], row["concurrency"]))
            floor_ms = under["server_cpu_ms_per_request"] if under else None
            rows.append(
                {
                    "deployment": ours_name,
                    "model": row["model"],
                    "concurrency": row["concurrency"],
                    "ok": row["requests"] - row["failed"],
                    "failed": row["failed"],
                    "requests_per_s": row["requests_per_s"],
                    "server_cpu_ms": row["server_cpu_ms_per_request"],
                    "floor_ms": floor_ms,
                    "gap_ms": row["server_cpu_ms_per_request"] - floor_ms if floor_ms is not None else None,
                    "baseline": baseline.get(str(row["concurrency"]), "-"),
                }
            )
    return {
        "commands": [step["command"] for step in steps],
        "failed": [
            {"command": step["command"], "exit_code": step["exit_code"], "output": _step_output(step, 1500)}
            for step in steps
            if step["exit_code"] != 0 or not step.get("json")
        ],
        "rows": rows,
        "seconds": sum(step["seconds"] for step in steps),
    }


def openai_route_context(section: dict[str, Any] | None) -> dict[str, Any] | None:
    """The OpenAI route's two bench_openai.py runs, for benchmarks_openai.md.j2 (None: never run)."""
    if not section:
        return None
    by_name = {step["name"]: step for step in section["steps"]}
    real, zero = by_name.get("openai_route") or {}, by_name.get("openai_route_zero_cost") or {}
    return {
        "real": real.get("json"),
        "zero_cost": zero.get("json"),
        "commands": [step["command"] for step in section["steps"]],
        "failed": [
            {"command": step["command"], "exit_code": step["exit_code"], "output": _step_output(step, 1500)}
            for step in section["steps"]
            if step["exit_code"] != 0 or not step.get("json")
        ],
        "seconds": sum(step["seconds"] for step in section["steps"]),
    }


def openai_route_markdown(section: dict[str, Any] | None) -> str:
    return render_doc("benchmarks_openai.md.j2", {"openai_route": openai_route_context(section)})


def splice_openai_route(page: str, section_text: str) -> str:
    """docs/benchmarks.md with its OpenAI route section replaced (or put where the template puts it, before
    the step sections): the rest of the page, figures included, stays as the last full run wrote it."""
    start, end = page.find(OPENAI_ROUTE_START), page.find(OPENAI_ROUTE_END)
    if start != -1 and end > start:
        return page[:start] + section_text.strip("\n") + page[end + len(OPENAI_ROUTE_END) :]
    before = page.find(OPENAI_ROUTE_BEFORE)
    if before == -1:
        return page.rstrip("\n") + "\n\n" + section_text
    head, tail = page[:before].rstrip("\n"), page[before:].lstrip("\n")
    return head + "\n\n" + section_text.strip("\n") + "\n\n" + tail


OPENAI_ROUTE_START, OPENAI_ROUTE_END = "<!-- openai-route: start -->", "<!-- openai-route: end -->"
OPENAI_ROUTE_BEFORE = "\n## Render time\n"  # the first step section (benchmarks.md.j2's order)


def benchmarks_context(bench: dict[str, Any], info: dict[str, Any], quick: bool) -> dict[str, Any]:
    """What benchmarks.md.j2 shows: the machine, the stack, and each step with the kind of table it gets."""
    stub_names = {*PIPELINE_STUB_VARIANTS, *PIPELINE_LLMAPI_VARIANTS}
    stub_steps = [step for step in bench.get("steps", []) if step["name"] in stub_names]
    steps = []
    for step in bench.get("steps", []):
        if step["name"] in stub_names:
            continue
        data = step.get("json")
        kind = (
            "pipeline"
            if step["name"] == "bench_pipeline" and data
            else "sweep"
            if step["name"].startswith("bench_") and data and data.get("levels")
            else "verbatim"
        )
        errors = (
            [e for level in data["levels"] for e in level.get("first_errors", [])] if kind == "sweep" else []
        )
        steps.append(
            {
                **step,
                "kind": kind,
                "failure_output": _step_output(step, 2000),
                "first_error": errors[0] if errors else None,
            }
        )
    stack = bench.get("stack") or {}
    return {
        "info": info,
        "quick": quick,
        "stack": _stack_commands(stack) if stack else None,
        "stub": _stub_context(stub_steps) if stub_steps else None,
        "steps": steps,
        "openai_route": openai_route_context(bench.get("openai_route")),
    }


def benchmarks_markdown(bench: dict[str, Any], info: dict[str, Any], quick: bool) -> str:
    return render_doc("benchmarks.md.j2", benchmarks_context(bench, info, quick))


def _saved_openai_route(results: Path) -> dict[str, Any] | None:
    """The last `--only openai-route` run, for a page rewritten from a manifest that predates it."""
    manifest = results / "openai-route-steps.json"
    return json.loads(manifest.read_text()) if manifest.is_file() else None


# --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="reduced sizes (every step)")
    parser.add_argument(
        "--only",
        choices=("reliability", "benchmarks", "openai-route"),
        help="regenerate one doc only; openai-route: only docs/benchmarks.md's OpenAI route section",
    )
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="where raw outputs are kept")
    parser.add_argument(
        "--from-results",
        action="store_true",
        help="run nothing: rewrite the docs from the manifests already in --results",
    )
    parser.add_argument(
        "--merge",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="add the parts of this scripts/reliability.py --json document to the reliability run (repeatable)",
    )
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
        if args.merge:
            step = merge_reliability(step, [json.loads(path.read_text()) for path in args.merge])
            manifest.write_text(json.dumps(step, indent=2, default=str) + "\n")
            say(f"merged {', '.join(map(str, args.merge))} into {manifest}")
        ok &= step["exit_code"] == 0
        (args.docs / "reliability.md").write_text(reliability_markdown(step, step.get("quick", args.quick)))
        say(f"wrote {args.docs / 'reliability.md'}")
    if args.only in (None, "benchmarks"):
        manifest = results / "benchmarks-steps.json"
        if args.from_results:
            saved = json.loads(manifest.read_text())
            bench, info, quick = saved["bench"], saved["machine"], saved["quick"]
            bench.setdefault("openai_route", _saved_openai_route(results))
        else:
            info, quick = machine(), args.quick
            bench = run_benchmarks(args.quick, results, say)
            manifest.write_text(
                json.dumps({"bench": bench, "machine": info, "quick": quick}, indent=2, default=str) + "\n"
            )
        ok &= all(step["exit_code"] == 0 for step in bench["steps"])
        ok &= all(step["exit_code"] == 0 for step in (bench.get("openai_route") or {}).get("steps", []))
        (args.docs / "benchmarks.md").write_text(benchmarks_markdown(bench, info, quick))
        say(f"wrote {args.docs / 'benchmarks.md'}")
    if args.only == "openai-route":
        manifest = results / "openai-route-steps.json"
        if args.from_results:
            section = json.loads(manifest.read_text())
        else:
            section = run_openai_route(args.quick, results, say)
            manifest.write_text(json.dumps(section, indent=2, default=str) + "\n")
        ok &= all(step["exit_code"] == 0 for step in section["steps"])
        page = args.docs / "benchmarks.md"
        page.write_text(splice_openai_route(page.read_text(), openai_route_markdown(section)))
        say(f"rewrote the OpenAI route section of {page}")
    say("done" if ok else "done, but at least one step failed (see the docs)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
