#!/usr/bin/env python3
"""Stress the crash path: launch world size 2, wait until ready, kill -9 a random rank at a random
moment, and check that the launch exits non-zero within 10 s with no process left. Repeats N times.

    .venv/bin/python scripts/stress_kill.py [-n 20] [--max-delay 3]

Prints one line per round and a summary (failures, exit-time median and max); exit 1 on any failure.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from launch_support import Launch, leftovers, make_repo

EXIT_WITHIN_S = 10.0


def one_round(index: int, work: Path, env: dict[str, str], max_delay: float) -> tuple[bool, float, str]:
    """(passed, seconds from kill to exit, what happened)."""
    directory = work / f"round{index}"
    directory.mkdir()
    launch = Launch.start(make_repo(directory, 2), env, directory / "launch.log")
    try:
        launch.wait_ready()
        time.sleep(random.uniform(0, max_delay))
        rank = random.choice([0, 1])
        victim = launch.rank_pid(rank)
        os.kill(victim, signal.SIGKILL)
        code, seconds = launch.wait(timeout=60)
        left = leftovers(launch.repo)
        named = f"error: rank {rank} (pid {victim})" in launch.output()
        passed = code == 7 and seconds < EXIT_WITHIN_S and not left and named
        return passed, seconds, f"rank {rank} killed: exit {code} after {seconds:.2f} s, {len(left)} left" + (
            "" if named else ", rank not named")
    finally:
        launch.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--rounds", type=int, default=20)
    parser.add_argument("--max-delay", type=float, default=3.0, help="random wait after ready, seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tritongen-stress-") as temporary:
        work = Path(temporary)
        env = {**os.environ, "TRITONGEN_CACHE_DIR": str(work / "cache")}
        timings: list[float] = []
        failures = 0
        for index in range(args.rounds):
            passed, seconds, what = one_round(index, work, env, args.max_delay)
            timings.append(seconds)
            failures += not passed
            print(f"round {index + 1:3d}/{args.rounds}: {'ok  ' if passed else 'FAIL'} {what}", flush=True)
    print(f"{args.rounds - failures}/{args.rounds} rounds passed; kill-to-exit median "
          f"{statistics.median(timings):.2f} s, max {max(timings):.2f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
