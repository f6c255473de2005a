"""Part 2, faults: `kill -9` of a random rank at a random moment under load, at world size 2 under mpirun.

On the tiny launch fixture and on a tiny random-weight checkpoint served by the real torch runtime at
tp 2: `tritongen launch` must exit non-zero within EXIT_WITHIN_S and leave no process behind.
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tritongen.launch import procs
from tritongen.launch.command import Ports
from tritongen.testing.launch import CLI, Launch, leftovers, make_repo
from tritongen.testing.reliability.machine import alive_of, kill_processes, reliability_ports
from tritongen.testing.reliability.report import PartResult, keep_failure, start_part
from tritongen.testing.reliability.stack import cli_env

EXIT_WITHIN_S = 10.0


def _fault_load(ports: Ports, stop: threading.Event, counts: Counter[str]) -> None:
    """Keep one generate request in flight until `stop` (errors are expected once a rank is gone)."""
    import requests

    url = f"http://127.0.0.1:{ports.http}/v2/models/ensemble/generate"
    with requests.Session() as session:
        index = 0
        while not stop.is_set():
            index += 1
            try:
                response = session.post(
                    url, json={"text_input": f"fault load {index}", "max_tokens": 8}, timeout=5
                )
                counts["ok" if response.status_code == 200 else f"http {response.status_code}"] += 1
            except requests.RequestException:
                counts["no response"] += 1
                stop.wait(0.05)


def launch_members(launcher_pid: int, repo: Path) -> list[procs.Proc]:
    """Every process of a launch now: the launcher's descendants and whatever names its repository."""
    table = procs.process_table()
    members = {p.pid: p for p in procs.descendants(table, launcher_pid)}
    for pid in leftovers(repo):
        if pid in table:
            members[pid] = table[pid]
    return list(members.values())


def fixture_repo(directory: Path) -> Path:
    """A fresh copy of the tiny launch fixture at world size 2 (its rank 1 blocks in initialize)."""
    return make_repo(directory, 2)


class TorchTp2Repos:
    """Repositories of a tiny random-weight Llama checkpoint rendered with --tp 2: the real torch runtime,
    rank 1 following rank 0's steps over torch.distributed (SmolLM2's 9 heads do not divide by 2)."""

    def __init__(self, work: Path) -> None:
        from tritongen.testing.engines import make_hf_checkpoint

        self.checkpoint = work / "tiny-checkpoint"
        if not (self.checkpoint / "config.json").is_file():
            make_hf_checkpoint(self.checkpoint)

    def __call__(self, directory: Path) -> Path:
        repo = directory / "torch_tp2"
        argv = [
            "render",
            "--engine",
            str(self.checkpoint),
            "--output",
            str(repo),
            "--tp",
            "2",
            "--set",
            "device=cpu",
        ]
        done = subprocess.run(
            [*CLI, *argv], env=cli_env(), capture_output=True, text=True, timeout=300, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"tritongen render --tp 2 failed ({done.returncode}): {done.stderr[-2000:]}")
        return repo


def one_fault_trial(
    index: int,
    work: Path,
    rng: random.Random,
    max_delay_s: float,
    *,
    rank: int | None = None,
    load_threads: int = 2,
    make: Callable[[Path], Path] = fixture_repo,
    target: str = "fixture",
) -> dict[str, Any]:
    """Launch world size 2, put it under load, kill -9 a random rank at a random moment; what happened."""
    directory = work / f"trial{index}"
    directory.mkdir(parents=True)
    repo = make(directory)
    env = cli_env()
    ports = reliability_ports(rng)
    record: dict[str, Any] = {"trial": index, "target": target, "ports": ports.http, "repo": str(repo)}
    stop = threading.Event()
    counts: Counter[str] = Counter()
    threads: list[threading.Thread] = []
    try:
        launch = Launch.start(repo, env, directory / "launch.log", ports=ports)
    except BaseException:
        kill_processes(leftovers(repo))
        raise
    try:
        record["ready_s"] = round(launch.wait_ready(timeout=180), 2)
        threads = [
            threading.Thread(target=_fault_load, args=(ports, stop, counts), daemon=True)
            for _ in range(load_threads)
        ]
        for thread in threads:
            thread.start()
        delay = rng.uniform(0, max_delay_s)
        time.sleep(delay)
        rank = rng.choice([0, 1]) if rank is None else rank
        victim = launch.rank_pid(rank)
        snapshot = launch_members(launch.process.pid, repo)
        served_before_kill = counts["ok"]
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        try:
            code: int | None = launch.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            code = None
        seconds = time.monotonic() - killed_at
        left = {p.pid: p.name for p in alive_of(snapshot)}
        left.update((pid, "names the repository") for pid in leftovers(repo))
        record.update(
            {
                "delay_s": round(delay, 2),
                "rank": rank,
                "victim_pid": victim,
                "exit_code": code,
                "kill_to_exit_s": round(seconds, 3),
                "processes_before_kill": len(snapshot),
                "leftovers": {str(pid): name for pid, name in left.items()},
                "rank_named": f"rank {rank} (pid {victim})" in launch.output(),
                "requests_served": served_before_kill,
            }
        )
        record["passed"] = code not in (None, 0) and seconds <= EXIT_WITHIN_S and not left
    except Exception as error:  # noqa: BLE001 (a trial that could not run is a failed trial, with its reason)
        record.update(
            {
                "passed": False,
                "error": f"{type(error).__name__}: {error}",
                "log_tail": launch.output()[-2000:],
            }
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        record["load_counts"] = dict(counts)
        launch.kill()
    if not record["passed"]:
        record.setdefault("log_tail", launch.output()[-2000:])
    return record


def run_faults(
    work: Path,
    *,
    trials: int,
    torch_trials: int = 0,
    seed: int = 0,
    max_delay_s: float = 3.0,
    mode: str = "quick",
    progress: Callable[[str], None] | None = None,
) -> PartResult:
    """Part 2: `trials` kill -9 trials on the tiny fixture, then `torch_trials` on the real torch runtime."""
    say, started = start_part(work, progress)
    rng = random.Random(seed)
    plan: list[tuple[str, int]] = []
    for target, count in (("fixture", trials), ("torch-tp2", torch_trials)):
        ranks = [index % 2 for index in range(count)]
        rng.shuffle(ranks)  # a random rank each time, both ranks killed as often as each other
        plan += [(target, rank) for rank in ranks]
    makers: dict[str, Callable[[Path], Path]] = {"fixture": fixture_repo}
    if torch_trials:
        say("faults: building a tiny random-weight checkpoint for the torch runtime at tp 2")
        makers["torch-tp2"] = TorchTp2Repos(work)
    records = []
    failures: list[str] = []
    trials = len(plan)
    for index, (target, rank) in enumerate(plan):
        record = one_fault_trial(index, work, rng, max_delay_s, rank=rank, make=makers[target], target=target)
        records.append(record)
        say(
            f"faults: trial {index + 1}/{trials} ({target}): rank {record.get('rank')} killed after "
            f"{record.get('delay_s')} s: exit {record.get('exit_code')} in {record.get('kill_to_exit_s')} s, "
            f"{len(record.get('leftovers', {}))} left -> {'ok' if record['passed'] else 'FAIL'}"
        )
        if not record["passed"]:
            keep_failure(
                failures,
                "trial {trial} ({target}): rank {rank} kill after {delay} s: exit {code} after "
                "{secs} s, leftovers {left}{err}; log: {tail}".format(
                    trial=index,
                    target=target,
                    rank=record.get("rank"),
                    delay=record.get("delay_s"),
                    code=record.get("exit_code"),
                    secs=record.get("kill_to_exit_s"),
                    left=record.get("leftovers"),
                    err=f", {record['error']}" if "error" in record else "",
                    tail=record.get("log_tail", "")[-600:].replace("\n", " | "),
                ),
            )
    times = [r["kill_to_exit_s"] for r in records if "kill_to_exit_s" in r]
    passed = sum(r["passed"] for r in records)
    figures = {
        "trials": trials,
        "targets": dict(Counter(r.get("target") for r in records)),
        "world_size": 2,
        "kill_to_exit_median_s": round(statistics.median(times), 3) if times else None,
        "kill_to_exit_max_s": round(max(times), 3) if times else None,
        "exit_within_s": EXIT_WITHIN_S,
        "exit_codes": dict(Counter(str(r.get("exit_code")) for r in records)),
        "ranks_killed": dict(Counter(str(r.get("rank")) for r in records)),
        "rank_named_in_error": sum(bool(r.get("rank_named")) for r in records),
        "leftover_processes": sum(len(r.get("leftovers", {})) for r in records),
        "requests_served": sum(r.get("requests_served", 0) for r in records),
        "ready_median_s": round(statistics.median(r["ready_s"] for r in records if "ready_s" in r), 2)
        if any("ready_s" in r for r in records)
        else None,
        "kill_to_exit_by_target": {
            target: {"median_s": round(statistics.median(values), 3), "max_s": round(max(values), 3)}
            for target in ("fixture", "torch-tp2")
            if (
                values := [
                    r["kill_to_exit_s"]
                    for r in records
                    if r.get("target") == target and "kill_to_exit_s" in r
                ]
            )
        },
        "trials_detail": [{k: v for k, v in r.items() if k != "log_tail"} for r in records],
    }
    return PartResult(
        "faults",
        mode,
        "trials",
        trials,
        passed,
        trials - passed,
        ok=passed == trials,
        duration_s=time.monotonic() - started,
        figures=figures,
        failures=failures,
    )
