#!/usr/bin/env python3
"""Time to ready of `tritongen launch` for world sizes 1 and 2 (median of 5 each).

    .venv/bin/python scripts/bench_launch.py [--repeats 5] [--world-sizes 1,2] [--repo DIR]

Without --repo it uses the tiny fixture repository (the launcher's own overhead plus tritonserver
start-up); with --repo (a rendered repository whose manifest records its world size) it measures
that, e.g. the real runtime. Time to ready is what the launcher prints ("ready in X s"), and the
wall time from starting the command until then; the stop time is from SIGINT to exit.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
from pathlib import Path

from tritongen.testing.launch import Launch, make_repo


def measure(repo: Path, directory: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """(launcher's ready time, wall time to ready, stop time) of one launch."""
    launch = Launch.start(repo, env, directory / "launch.log")
    try:
        wall = launch.wait_ready(timeout=1800)
        reported = float(re.search(r"tritongen: ready in ([\d.]+) s", launch.output()).group(1))  # type: ignore[union-attr]
        launch.signal(signal.SIGINT)
        code, stop = launch.wait(timeout=120)
        if code != 0:
            raise RuntimeError(f"launch exited {code}:\n{launch.output()[-3000:]}")
        return reported, wall, stop
    finally:
        launch.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--world-sizes", default="1,2")
    parser.add_argument("--repo", type=Path, help="a rendered repository instead of the tiny fixture")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tritongen-bench-") as temporary:
        work = Path(temporary)
        env = {**os.environ, "TRITONGEN_CACHE_DIR": str(work / "cache")}
        print(
            f"{'world size':>10}  {'ready (launcher)':>16}  {'ready (wall)':>12}  {'stop':>6}  (median of {args.repeats})"
        )
        for world_size in (int(w) for w in args.world_sizes.split(",")):
            results = []
            for index in range(args.repeats):
                directory = work / f"ws{world_size}-{index}"
                directory.mkdir()
                repo = args.repo.resolve() if args.repo else make_repo(directory, world_size)
                results.append(measure(repo, directory, env))
                if not args.repo:
                    shutil.rmtree(repo)
            reported, wall, stop = (statistics.median(column) for column in zip(*results, strict=True))
            print(f"{world_size:>10}  {reported:>15.2f}s  {wall:>11.2f}s  {stop:>5.2f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
