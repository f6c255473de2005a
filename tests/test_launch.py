"""Real launches: tritonserver (the nvidia-pytriton build, on CPU) under real mpirun, real signals.

Every test checks the one promise that matters most: after the launcher exits, no process of the
launch is left (no tritonserver, mpirun or Python stub naming the test's repository).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
from pathlib import Path

import pytest
from launch_fixtures import start

from tritongen.testing.launch import Launch, generate, leftovers, make_repo, run_cli
from tritongen.testing.ports import free_launch_ports, port_flags

pytestmark = pytest.mark.server
needs_mpirun = pytest.mark.skipif(shutil.which("mpirun") is None, reason="needs Open MPI's mpirun")
EXIT_WITHIN_S = 10.0


def assert_nothing_left(launch: Launch) -> None:
    assert leftovers(launch.repo) == [], f"processes left behind:\n{launch.output()[-3000:]}"
    assert not (launch.cache / "run" / f"launch-{launch.ports.http}.json").exists()


def test_world_size_1_serves_a_request_and_stops_cleanly_on_sigint(
    tmp_path: Path, env: dict[str, str], launches: list[Launch]
) -> None:
    launch = start(launches, make_repo(tmp_path, 1), env, tmp_path)
    launch.wait_ready()
    assert generate(launch.ports, "hello tritongen")["text_output"] == "hello tritongen"
    output = launch.output()
    assert "[rank0] " in output
    assert f"curl -X POST localhost:{launch.ports.http}/v2/models/ensemble/generate" in output
    assert "mpirun" not in launch.state()["command"][0]  # type: ignore[index]

    launch.signal(signal.SIGINT)
    code, seconds = launch.wait()
    assert code == 0, launch.output()[-3000:]
    assert seconds < EXIT_WITHIN_S
    assert "tritongen: stopped; no process of the launch is left" in launch.output()
    assert_nothing_left(launch)


@needs_mpirun
@pytest.mark.mpi
def test_world_size_2_under_mpirun_serves_and_stops_on_sigterm(
    tmp_path: Path, env: dict[str, str], launches: list[Launch]
) -> None:
    launch = start(launches, make_repo(tmp_path, 2), env, tmp_path)
    launch.wait_ready()
    assert generate(launch.ports, "two ranks")["text_output"] == "two ranks"
    state = launch.state()
    assert state["world_size"] == 2
    assert set(state["ranks"]) == {"0", "1"}  # type: ignore[arg-type]
    assert "[rank1] " in launch.output()  # Open MPI's output tagging, split per rank

    launch.signal(signal.SIGTERM)
    code, seconds = launch.wait()
    assert code == 0, launch.output()[-3000:]
    assert seconds < EXIT_WITHIN_S
    assert_nothing_left(launch)


@needs_mpirun
@pytest.mark.mpi
@pytest.mark.parametrize("rank", [1, 0])
def test_kill_9_of_a_rank_while_serving_fails_the_launch_within_10_s(
    tmp_path: Path, env: dict[str, str], launches: list[Launch], rank: int
) -> None:
    launch = start(launches, make_repo(tmp_path, 2), env, tmp_path)
    launch.wait_ready()
    victim = launch.rank_pid(rank)
    os.kill(victim, signal.SIGKILL)
    code, seconds = launch.wait()
    output = launch.output()
    assert code == 7, output[-3000:]
    assert seconds < EXIT_WITHIN_S
    assert f"error: rank {rank} (pid {victim})" in output
    assert "tritongen: last " in output and f"lines of rank{rank}:" in output
    assert_nothing_left(launch)


@needs_mpirun
@pytest.mark.mpi
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_before_ready_exits_130_with_nothing_left(
    tmp_path: Path, env: dict[str, str], launches: list[Launch], signum: signal.Signals
) -> None:
    slow = {**env, "TRITONGEN_FIXTURE_LOAD_DELAY": "60"}  # reaches the ranks through `-x TRITONGEN_*`
    launch = start(launches, make_repo(tmp_path, 2), slow, tmp_path)
    launch.wait_for('"TRITONBACKEND_ModelInstanceInitialize: tensorrt_llm_0_0')
    launch.signal(signum)
    code, seconds = launch.wait()
    output = launch.output()
    assert code == 130, output[-3000:]
    assert seconds < EXIT_WITHIN_S
    assert "error: stopped before the server was ready" in output
    assert "tritongen: ready in" not in output
    assert_nothing_left(launch)


def test_ready_timeout_tears_down_and_fails(
    tmp_path: Path, env: dict[str, str], launches: list[Launch]
) -> None:
    slow = {**env, "TRITONGEN_FIXTURE_LOAD_DELAY": "60"}
    launch = start(launches, make_repo(tmp_path, 1), slow, tmp_path, "--ready-timeout", "2")
    code, seconds = launch.wait()
    assert code == 7, launch.output()[-3000:]
    assert seconds < 2 + EXIT_WITHIN_S
    assert "error: the server was not ready after 2 s" in launch.output()
    assert_nothing_left(launch)


def test_status_stop_and_a_second_launch_from_other_processes(
    tmp_path: Path, env: dict[str, str], launches: list[Launch]
) -> None:
    repo = make_repo(tmp_path, 1)
    launch = start(launches, repo, env, tmp_path)
    launch.wait_ready()
    http = ["--http-port", str(launch.ports.http)]

    status = run_cli(["status", *http], env)
    assert status.returncode == 0, status.stderr
    assert f"launch on port {launch.ports.http}: ready" in status.stdout

    second = run_cli(["launch", str(repo), *port_flags(launch.ports)], env)
    assert second.returncode == 7
    assert (
        f"a tritongen launch (pid {launch.process.pid}) is already serving on port {launch.ports.http}"
        in second.stderr
    )
    assert "tritongen stop" in second.stderr

    stopped = run_cli(["stop", *http], env)
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped by its launcher" in stopped.stdout
    code, _ = launch.wait(timeout=5)  # `stop` returned only after the launcher had finished
    assert code == 0
    assert_nothing_left(launch)

    after = run_cli(["status", *http], env)
    assert after.returncode == 7
    assert f"no tritongen launch on port {launch.ports.http}" in after.stderr


def test_stale_state_file_is_detected_and_cleaned(
    tmp_path: Path, env: dict[str, str], cache_dir: Path
) -> None:
    ports = free_launch_ports()
    stale = {
        "ports": {"http": ports.http, "grpc": ports.grpc, "metrics": ports.metrics},
        "host": "127.0.0.1",
        "repo": str(tmp_path),
        "world_size": 1,
        "launcher_pid": 999999,
        "launcher_start": 1,
        "session": 999999,
        "session_start": 1,
        "started_at": 0.0,
    }
    path = cache_dir / "run" / f"launch-{ports.http}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stale))
    status = run_cli(["status", "--http-port", str(ports.http)], env)
    assert status.returncode == 7
    assert "removed a stale state file: pid 999999 is gone" in status.stderr
    assert not path.exists()

    path.write_text(json.dumps(stale))  # `stop` sees the same stale file, says so, and removes it
    stop = run_cli(["stop", "--http-port", str(ports.http)], env)
    assert stop.returncode == 7 and "stale" in stop.stderr
    assert not path.exists()


def test_busy_port_is_an_immediate_clear_error(tmp_path: Path, env: dict[str, str]) -> None:
    ports = free_launch_ports()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", ports.grpc))
        holder.listen()
        result = run_cli(["launch", str(make_repo(tmp_path, 1)), *port_flags(ports)], env, timeout=10)
    assert result.returncode == 7
    assert f"error: port {ports.grpc} is already in use (grpc {ports.grpc}) on 127.0.0.1" in result.stderr
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("args", "environment", "message"),
    [
        (["--world-size", "3"], {}, "--world-size 3 disagrees with the repository's world size 2"),
        (
            ["--tritonserver", "/nonexistent/tritonserver"],
            {},
            "--tritonserver points at /nonexistent/tritonserver",
        ),
        (
            [],
            {"TRITONSERVER": "/nonexistent/bin/tritonserver"},
            "$TRITONSERVER points at /nonexistent/bin/tritonserver",
        ),
        ([], {"PATH": "/nonexistent"}, "mpirun not found on PATH"),
    ],
)
def test_errors_before_anything_starts(
    tmp_path: Path, env: dict[str, str], args: list[str], environment: dict[str, str], message: str
) -> None:
    repo = make_repo(tmp_path, 2)
    result = run_cli(
        ["launch", str(repo), *port_flags(free_launch_ports()), *args], {**env, **environment}, timeout=30
    )
    assert result.returncode == 7, result.stderr
    assert message in result.stderr
    assert leftovers(repo) == []


def test_dry_run_prints_the_command_and_starts_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    repo = make_repo(tmp_path, 2)
    result = run_cli(["launch", str(repo), "--dry-run", "--http-port", "22999"], env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "# world size: 2 (from tritongen.json)" in lines
    rank_lines = [line for line in lines if line.strip().startswith("-n 1 ")]
    assert len(rank_lines) == 2
    assert "--load-model=tensorrt_llm" in rank_lines[1] and "--load-model" not in rank_lines[0]
    assert leftovers(repo) == []
    assert not (Path(env["TRITONGEN_CACHE_DIR"]) / "run" / "launch-22999.json").exists()
