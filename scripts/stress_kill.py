#!/usr/bin/env python3
"""Stress the crash paths: launch world size 2, wait until ready, kill -9 a random victim at a random
moment, and check that the launch ends within 10 s with no process left. Repeats N times.

    .venv/bin/python scripts/stress_kill.py [-n 20] [--max-delay 3] [--targets rank,stub,launcher]

Victims (`--targets`, default all three): `rank` (a rank's tritonserver: exit 7, the rank named),
`stub` (a Python-backend stub of either rank: exit 7, the model named), `launcher` (the tritongen
process itself: its ranks, stubs and mpirun must all go, and its shared memory with them).
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

from tritongen.launch.procs import mpi_rank
from tritongen.testing.launch import Launch, leftovers, make_repo

EXIT_WITHIN_S = 10.0
SHM = Path("/dev/shm")
TARGETS = ("rank", "stub", "launcher")


def one_round(
    index: int, work: Path, env: dict[str, str], max_delay: float, targets: list[str]
) -> tuple[bool, float, str]:
    """(passed, seconds from kill to the end of the launch, what happened)."""
    directory = work / f"round{index}"
    directory.mkdir()
    launch = Launch.start(make_repo(directory, 2), env, directory / "launch.log")
    try:
        launch.wait_ready()
        time.sleep(random.uniform(0, max_delay))
        target = random.choice(targets)
        if target == "launcher":
            return _kill_launcher(launch)
        rank = random.choice([0, 1])
        if target == "stub":
            stubs = _stubs(launch.repo, rank)
            model, victim = random.choice(sorted(stubs.items()))
            expected = f"error: the Python backend stub of model '{model}' (rank {rank}, pid {victim}) died"
            what = f"stub {model} of rank {rank}"
        else:
            victim = launch.rank_pid(rank)
            expected, what = f"error: rank {rank} (pid {victim})", f"rank {rank}"
        os.kill(victim, signal.SIGKILL)
        code, seconds = launch.wait(timeout=60)
        left = leftovers(launch.repo)
        named = expected in launch.output()
        passed = code == 7 and seconds < EXIT_WITHIN_S and not left and named
        return (
            passed,
            seconds,
            f"{what} killed: exit {code} after {seconds:.2f} s, {len(left)} left"
            + ("" if named else ", victim not named"),
        )
    finally:
        launch.kill()


def _kill_launcher(launch: Launch) -> tuple[bool, float, str]:
    """kill -9 of `tritongen launch`: its watchdog and the ranks' parent-death signal end the rest."""
    regions = {argv[2] for argv in (_argv(pid) for pid in leftovers(launch.repo)) if _is_stub(argv)}
    started = time.monotonic()
    launch.process.kill()
    launch.process.wait()
    while (leftovers(launch.repo) or any((SHM / name).exists() for name in regions)) and (
        time.monotonic() - started < EXIT_WITHIN_S + 5
    ):
        time.sleep(0.1)
    seconds = time.monotonic() - started
    left = leftovers(launch.repo)
    shm_left = [name for name in regions if (SHM / name).exists()]
    passed = seconds < EXIT_WITHIN_S and not left and not shm_left
    return (
        passed,
        seconds,
        (
            f"launcher killed: its launch gone after {seconds:.2f} s, {len(left)} left, "
            f"{len(shm_left)} shm region(s) left"
        ),
    )


def _argv(pid: int) -> list[str]:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().decode().split("\0")[:-1]
    except OSError:
        return []


def _is_stub(argv: list[str]) -> bool:
    return len(argv) > 2 and argv[0].endswith("triton_python_backend_stub")


def _stubs(repo: Path, rank: int) -> dict[str, int]:
    """model -> pid of the rank's Python-backend stubs (rank 1 runs only the tensorrt_llm model)."""
    found: dict[str, int] = {}
    for pid in leftovers(repo):
        argv = _argv(pid)
        if _is_stub(argv) and (mpi_rank(pid) or 0) == rank:
            found[Path(argv[1]).parent.parent.name] = pid
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--rounds", type=int, default=20)
    parser.add_argument("--max-delay", type=float, default=3.0, help="random wait after ready, seconds")
    parser.add_argument(
        "--targets",
        default=",".join(TARGETS),
        help=f"comma-separated victims to choose from at random ({', '.join(TARGETS)})",
    )
    args = parser.parse_args()
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if not targets or set(targets) - set(TARGETS):
        parser.error(f"--targets takes a comma-separated subset of {', '.join(TARGETS)}")
    with tempfile.TemporaryDirectory(prefix="tritongen-stress-") as temporary:
        work = Path(temporary)
        env = {**os.environ, "TRITONGEN_CACHE_DIR": str(work / "cache")}
        timings: list[float] = []
        failures = 0
        for index in range(args.rounds):
            passed, seconds, what = one_round(index, work, env, args.max_delay, targets)
            timings.append(seconds)
            failures += not passed
            print(f"round {index + 1:3d}/{args.rounds}: {'ok  ' if passed else 'FAIL'} {what}", flush=True)
    print(
        f"{args.rounds - failures}/{args.rounds} rounds passed; kill-to-exit median "
        f"{statistics.median(timings):.2f} s, max {max(timings):.2f} s"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
