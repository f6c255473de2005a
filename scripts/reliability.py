#!/usr/bin/env python3
"""The reliability suite: load, kill -9 faults, fuzzed engine directories and requests, kill -9 of a Python
stub and of the launcher, hostile repository paths in cluster scripts; a table.

    .venv/bin/python scripts/reliability.py --quick                 # CI sizes, a few minutes
    .venv/bin/python scripts/reliability.py --full --json rel.json  # the full sizes (tens of minutes)
    .venv/bin/python scripts/reliability.py --quick --parts load,request-fuzz
    .venv/bin/python scripts/reliability.py --full --parts stub-death,supervisor-death,hostile-paths

Sizes (quick / full): load 200 requests at concurrency 16 / 2,000 at 32; faults 3 + 1 / 20 + 10 kill -9
trials (tiny launch fixture + the real torch runtime at tp 2);
engine-fuzz 100 / 500 generated engine directories; request-fuzz 100 / 500 malformed bodies;
stub-death 2 / 10 + 4 kill -9 of a stub (SmolLM2 at world size 1 + the torch runtime at tp 2);
supervisor-death 1 + 1 / 6 + 4 + 4 kill -9 of `tritongen launch` (SmolLM2 + the tiny fixture at world
size 2 + the torch runtime at tp 2); hostile-paths 50 / 500 fuzzed paths through render --slurm --k8s.
Without --quick or --full the mode comes from TRITONGEN_RELIABILITY (quick|full), else it is full.

The load and request-fuzz parts share one real SmolLM2 stack (`tritongen render` + `tritongen launch`
on free ports in 24000-24999); faults launch world size 2 under mpirun: the tiny launch fixture, and a
tiny random-weight checkpoint on the real torch runtime at tp 2.
Prints one row per part and exits 1 if any part failed (the first failures are printed below the
table); --json writes every figure, the sizes, the machine and the commands.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Imported after the offline environment is set: huggingface_hub reads it once, at import.
from tritongen.testing import reliability as rel


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="the reduced CI sizes")
    size.add_argument("--full", action="store_true", help="the full sizes")
    parser.add_argument(
        "--parts",
        default=",".join(rel.PARTS),
        help=f"comma-separated subset of {', '.join(rel.PARTS)} (default: all)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--work", type=Path, help="work directory (default: a temporary one, removed unless something failed)"
    )
    parser.add_argument("--requests", type=int, help="override: load requests")
    parser.add_argument("--concurrency", type=int, help="override: load concurrency")
    parser.add_argument("--trials", type=int, help="override: fault trials on the tiny fixture")
    parser.add_argument(
        "--torch-trials", type=int, help="override: fault trials on the torch runtime at tp 2"
    )
    parser.add_argument("--engine-examples", type=int, help="override: engine-fuzz examples")
    parser.add_argument("--request-examples", type=int, help="override: request-fuzz bodies")
    parser.add_argument("--stub-trials", type=int, help="override: stub-death trials on SmolLM2")
    parser.add_argument("--supervisor-trials", type=int, help="override: supervisor-death trials on SmolLM2")
    parser.add_argument("--hostile-cases", type=int, help="override: hostile-paths cases")
    parser.add_argument(
        "--probe-known-crash",
        action="store_true",
        help="end request-fuzz with the body known to crash Triton 2.51 (see docs/reliability.md)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in rel.PARTS]
    if unknown or not parts:
        parser.error(f"unknown part(s) {unknown}; choose from {', '.join(rel.PARTS)}")
    args.parts = parts
    return args


def sizes_of(args: argparse.Namespace) -> rel.Sizes:
    mode = "quick" if args.quick else "full" if args.full else rel.mode_from_env("full")
    sizes = rel.sizes_for(mode)
    overrides = {
        "load_requests": args.requests,
        "load_concurrency": args.concurrency,
        "fault_trials": args.trials,
        "fault_torch_trials": args.torch_trials,
        "engine_examples": args.engine_examples,
        "request_examples": args.request_examples,
        "stub_trials": args.stub_trials,
        "supervisor_trials": args.supervisor_trials,
        "hostile_cases": args.hostile_cases,
    }
    changed = {name: value for name, value in overrides.items() if value is not None}
    if changed:
        from dataclasses import replace

        sizes = replace(sizes, **changed)
    return sizes


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = sizes_of(args)
    command = "scripts/reliability.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    started = time.monotonic()
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    facts_machine = rel.machine_facts()

    def say(text: str) -> None:
        if not args.quiet:
            print(f"[{time.monotonic() - started:6.0f}s] {text}", file=sys.stderr, flush=True)

    def on_result(result: rel.PartResult) -> None:
        say(
            f"{result.part}: {'PASS' if result.ok else 'FAIL'} "
            f"({result.passed}/{result.trials} {result.unit}, {result.duration_s:.0f} s)"
        )

    work = args.work or Path(tempfile.mkdtemp(prefix="tritongen-reliability-"))
    work.mkdir(parents=True, exist_ok=True)
    say(f"mode {sizes.mode}, parts {', '.join(args.parts)}, seed {args.seed}, work {work}")
    try:
        results, facts = rel.run_parts(
            args.parts,
            sizes,
            work,
            seed=args.seed,
            probe_known_crash=args.probe_known_crash,
            progress=say,
            on_result=on_result,
        )
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    total_s = time.monotonic() - started
    ok = all(result.ok for result in results)
    print(
        f"tritongen reliability, {sizes.mode} mode, seed {args.seed}: {facts_machine['cpu_cores']} cores "
        f"({facts_machine['cpu_model']}), {facts_machine['memory_gib']} GiB, {started_at}"
    )
    print(rel.format_table(results))
    for result in results:
        for line in result.failures[:10]:
            print(f"  {result.part} failure: {line[:600]}")
        for note in result.notes:
            print(f"  {result.part} note: {note}")
    print(f"total {total_s:.0f} s: {'all parts passed' if ok else 'FAILED'}")
    if args.json:
        document = {
            "schema": "tritongen.reliability/1",
            "command": command,
            "mode": sizes.mode,
            "sizes": sizes.__dict__,
            "seed": args.seed,
            "parts": args.parts,
            "started_at": started_at,
            "duration_s": round(total_s, 1),
            "ok": ok,
            "machine": facts_machine,
            "facts": facts,
            "table": rel.format_table(results),
            "results": [result.to_dict() for result in results],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    if args.work is None:
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept the work directory for a look: {work}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
