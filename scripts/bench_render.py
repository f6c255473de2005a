"""Wall time of a full `tritongen render` (symlink placement), interpreter start included; target < 0.5 s.

    .venv/bin/python scripts/bench_render.py [--runs 11] [--engine DIR --tokenizer DIR]

Without --engine, a synthetic v1.2 engine (stand-in rank files) and a small tokenizer are built in a
temporary directory. Each run renders into a new output directory, so every run writes and validates
the whole repository.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 0.5


def tritongen_command() -> list[str]:
    script = Path(sys.executable).parent / "tritongen"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from tritongen.cli import main; main(sys.argv[1:])"]


def synthetic_inputs(base: Path) -> tuple[Path, Path]:
    from tritongen.testing.engines import make_engine_dir, make_tokenizer_dir, modern_config

    engine = make_engine_dir(base, modern_config("1.2.0", tp=2, max_batch_size=64), name="bench-engine")
    return engine, make_tokenizer_dir(base / "tokenizer")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--engine", type=Path)
    parser.add_argument("--tokenizer", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        base = Path(temporary)
        engine, tokenizer = (args.engine, args.tokenizer) if args.engine else synthetic_inputs(base)
        command = tritongen_command()
        times = []
        for run in range(args.runs + 1):  # the first run warms the file cache and is not counted
            output = base / f"repo-{run}"
            argv = [*command, "render", "--engine", str(engine), "--output", str(output)]
            argv += ["--tokenizer", str(tokenizer)] if tokenizer else []
            start = time.perf_counter()
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
            elapsed = time.perf_counter() - start
            if done.returncode != 0:
                print(done.stdout + done.stderr, file=sys.stderr)
                return done.returncode
            if run:
                times.append(elapsed)
    median = statistics.median(times)
    verdict = "OK" if median < TARGET_SECONDS else "TOO SLOW"
    print(
        f"tritongen render (symlink placement), {len(times)} runs: median {median:.3f} s, "
        f"min {min(times):.3f} s, max {max(times):.3f} s; target < {TARGET_SECONDS} s: {verdict}"
    )
    return 0 if median < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
