"""Hostile faults against `tritongen launch` and the files it writes: real processes, real signals.

- A Python-backend stub killed (kill -9) while serving: the launch must fail (exit 7, the model
  named), readiness must go away, and nothing may be left.
- The launcher itself killed (kill -9): no tritonserver, stub or mpirun of it may survive.
- Shared memory: owner-only while serving, gone after any stop.
- `tritongen stop` with a state file whose PIDs now belong to unrelated processes: they live on.
- One port for two services: one line, nothing started.
- Slurm script and LeaderWorkerSet manifest for repository paths that hold shell syntax.

The server tests run tritonserver (the nvidia-pytriton build, on CPU) on the tiny fixture repository.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import stat
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from launch_fixtures import start

from tritongen.launch import procs
from tritongen.launch.command import Ports
from tritongen.testing.launch import FIXTURE, Launch, generate, leftovers, make_repo, run_cli
from tritongen.testing.ports import free_launch_ports

needs_mpirun = pytest.mark.skipif(shutil.which("mpirun") is None, reason="needs Open MPI's mpirun")
EXIT_WITHIN_S = 10.0
SHM = Path("/dev/shm")


def argv_of(pid: int) -> list[str]:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().decode().split("\0")[:-1]
    except OSError:
        return []


def stubs_of(repo: Path) -> dict[tuple[str, int], int]:
    """(model, rank) -> pid of each Python-backend stub serving `repo` (its argv: model.py, region, ...)."""
    found: dict[tuple[str, int], int] = {}
    for pid in leftovers(repo):
        argv = argv_of(pid)
        if argv and argv[0].endswith("triton_python_backend_stub"):
            found[(Path(argv[1]).parent.parent.name, procs.mpi_rank(pid) or 0)] = pid
    return found


def regions_of(repo: Path) -> set[str]:
    """The /dev/shm regions of `repo`'s stubs (their third argument)."""
    return {argv_of(pid)[2] for pid in stubs_of(repo).values()}


def carrying(launch_id: str) -> list[int]:
    """Live processes whose environment holds this launch id (every process the launch started)."""
    needle = f"TRITONGEN_LAUNCH_ID={launch_id}".encode()
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            marked = needle in (entry / "environ").read_bytes().split(b"\0")
            alive = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except OSError:
            continue
        if marked and alive:
            found.append(int(entry.name))
    return found


def http_ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_until(condition: object, timeout: float) -> float:
    """Seconds until `condition()` is true; AssertionError after `timeout`."""
    assert callable(condition)
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"not within {timeout} s"
        time.sleep(0.1)
    return time.monotonic() - started


def assert_nothing_left(launch: Launch) -> None:
    assert leftovers(launch.repo) == [], f"processes left behind:\n{launch.output()[-3000:]}"
    assert not (launch.cache / "run" / f"launch-{launch.ports.http}.json").exists()


# --- a Python stub dies while serving ----------------------------------------------------------


@pytest.mark.server
@pytest.mark.parametrize("model", ["preprocessing", "tensorrt_llm", "postprocessing"])
def test_kill_9_of_a_python_stub_fails_the_launch_and_readiness(
    tmp_path: Path, env: dict[str, str], launches: list[Launch], model: str
) -> None:
    launch = start(launches, make_repo(tmp_path, 1), env, tmp_path)
    launch.wait_ready()
    assert generate(launch.ports, "before")["text_output"] == "before"
    victim = stubs_of(launch.repo)[(model, 0)]
    os.kill(victim, signal.SIGKILL)
    # Readiness goes away within seconds (the teardown starts; then the server is gone).
    wait_until(lambda: not http_ready(launch.ports.http), 5)
    code, seconds = launch.wait()
    output = launch.output()
    assert code == 7, output[-3000:]
    assert seconds < EXIT_WITHIN_S
    assert f"error: the Python backend stub of model '{model}' (rank 0, pid {victim}) died" in output
    assert "tritongen: last " in output and "lines of rank0:" in output
    assert_nothing_left(launch)


@needs_mpirun
@pytest.mark.server
@pytest.mark.mpi
def test_kill_9_of_a_worker_rank_stub_fails_the_launch(
    tmp_path: Path, env: dict[str, str], launches: list[Launch]
) -> None:
    launch = start(launches, make_repo(tmp_path, 2), env, tmp_path)
    launch.wait_ready()
    victim = stubs_of(launch.repo)[("tensorrt_llm", 1)]
    os.kill(victim, signal.SIGKILL)
    code, seconds = launch.wait()
    output = launch.output()
    assert code == 7, output[-3000:]
    assert seconds < EXIT_WITHIN_S
    assert f"error: the Python backend stub of model 'tensorrt_llm' (rank 1, pid {victim}) died" in output
    assert_nothing_left(launch)


@pytest.mark.server
@pytest.mark.parametrize("model", ["tensorrt_llm_bls", "tensorrt_llm"])
def test_kill_9_of_a_stub_of_the_smollm2_deployment_ends_a_stream_in_flight(
    tmp_path: Path, smollm2_checkpoint_dir: Path, launches: list[Launch], model: str
) -> None:
    """The reported case: the real SmolLM2 repository (BLS, torch runtime), a stream in flight."""
    from tritongen.testing.smollm2 import render_repository

    repo = render_repository(smollm2_checkpoint_dir, tmp_path / "smollm2")
    launch = Launch.start(repo, dict(os.environ), tmp_path / "launch.log")
    launches.append(launch)
    launch.wait_ready(timeout=600)
    chunks: list[bytes] = []
    ended = threading.Event()

    def stream() -> None:
        body = {"text_input": "Write a long story about a robot.", "max_tokens": 2000, "stream": True}
        request = urllib.request.Request(
            f"http://127.0.0.1:{launch.ports.http}/v2/models/ensemble/generate_stream",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                for line in response:
                    chunks.append(line)  # noqa: PERF402 (one at a time: the test watches them arrive)
        except (urllib.error.URLError, OSError, http.client.HTTPException):
            pass  # the stream ends with an error or a closed connection: either way it ends
        finally:
            ended.set()

    reader = threading.Thread(target=stream, daemon=True)
    reader.start()
    wait_until(lambda: len(chunks) >= 2, 120)  # tokens are flowing
    victim = stubs_of(repo)[(model, 0)]
    os.kill(victim, signal.SIGKILL)
    assert ended.wait(EXIT_WITHIN_S + 5), "the stream in flight hangs"
    code, _ = launch.wait()
    output = launch.output()
    assert code == 7, output[-3000:]
    assert f"error: the Python backend stub of model '{model}' (rank 0, pid {victim}) died" in output
    assert leftovers(repo) == []


# --- the launcher is killed outright -----------------------------------------------------------


@pytest.mark.server
@pytest.mark.parametrize("world_size", [1, pytest.param(2, marks=[needs_mpirun, pytest.mark.mpi])])
def test_kill_9_of_the_launcher_takes_the_whole_launch_with_it(
    tmp_path: Path, env: dict[str, str], launches: list[Launch], world_size: int
) -> None:
    launch = start(launches, make_repo(tmp_path, world_size), env, tmp_path)
    launch.wait_ready()
    regions = regions_of(launch.repo)
    assert len(regions) == 3 + (world_size - 1)
    names = {
        (procs.read_proc(pid) or procs.Proc(pid, 0, 0, 0, 0, "", "?")).name for pid in leftovers(launch.repo)
    }
    assert "tritonserver" in names and (world_size == 1 or "mpirun" in names)
    launch_id = str(launch.state()["launch_id"])
    assert len(carrying(launch_id)) == len(leftovers(launch.repo)) - 1  # all but the launcher itself

    launch.process.kill()
    launch.process.wait()
    wait_until(lambda: not leftovers(launch.repo), EXIT_WITHIN_S)
    # Also what names no repository (Open MPI 5's prted, a daemon of some backend): the launch id.
    wait_until(lambda: not carrying(launch_id), 2)
    # The watchdog then removes the shared memory and the state file (the port is free for a new launch).
    state = launch.cache / "run" / f"launch-{launch.ports.http}.json"
    wait_until(
        lambda: not state.exists() and not any((SHM / name).exists() for name in regions), EXIT_WITHIN_S
    )
    assert not http_ready(launch.ports.http)


# --- shared memory --------------------------------------------------------------------------------


@pytest.mark.server
def test_shared_memory_is_owner_only_and_removed_after_a_crash(
    tmp_path: Path, env: dict[str, str], launches: list[Launch]
) -> None:
    launch = start(launches, make_repo(tmp_path, 1), env, tmp_path)
    launch.wait_ready()
    regions = regions_of(launch.repo)
    assert len(regions) == 3
    for name in regions:
        assert stat.S_IMODE((SHM / name).stat().st_mode) == 0o600, name  # the backend makes them 0644

    os.kill(launch.rank_pid(0), signal.SIGKILL)  # a crash: tritonserver cannot unlink its regions
    code, _ = launch.wait()
    assert code == 7
    assert_nothing_left(launch)
    assert [name for name in regions if (SHM / name).exists()] == []


@pytest.mark.server
def test_the_next_launch_removes_the_regions_of_one_that_died_with_its_watchdog(
    tmp_path: Path, env: dict[str, str], launches: list[Launch]
) -> None:
    """Everything killed at once (kill -9 of the whole tree, as the OOM killer or a cgroup kill
    does): nobody is left to clean up, so the next launch on the same port does it."""
    repo = make_repo(tmp_path, 1)
    first = start(launches, repo, env, tmp_path)
    first.wait_ready()
    regions = regions_of(repo)
    watchdog = [
        p.pid
        for p in procs.process_table().values()
        if p.ppid == first.process.pid and p.pid not in leftovers(repo)
    ]
    assert len(watchdog) == 1
    for pid in [first.process.pid, *watchdog, *leftovers(repo)]:
        os.kill(pid, signal.SIGKILL)
    first.process.wait()
    wait_until(lambda: not leftovers(repo), 5)
    assert all((SHM / name).exists() for name in regions)  # left behind, world-unreadable at least

    second = Launch.start(repo, env, tmp_path / "second.log", ports=first.ports)
    launches.append(second)
    second.wait_ready()
    assert "removed the stale state of a launch on port" in second.output()
    assert [name for name in regions if (SHM / name).exists()] == []
    second.signal(signal.SIGINT)
    assert second.wait()[0] == 0
    assert_nothing_left(second)


# --- `tritongen stop` and PID reuse --------------------------------------------------------------


def _state(ports: Ports, **fields: object) -> dict[str, object]:
    return {
        "ports": ports.named(),
        "host": "127.0.0.1",
        "repo": "/nonexistent",
        "world_size": 1,
        "started_at": 0.0,
        **fields,
    }


@pytest.mark.parametrize("case", ["reused session pid", "other boot", "other command line"])
def test_stop_never_signals_a_process_that_reused_a_recorded_pid(
    tmp_path: Path, env: dict[str, str], cache_dir: Path, case: str
) -> None:
    """A launch died long ago; its PIDs now belong to an unrelated process (here: `sleep`, leader of
    its own session, exactly what a reused session id looks like). `stop` must leave it alone."""
    bystander = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        proc = procs.read_proc(bystander.pid)
        assert proc is not None
        ports = free_launch_ports()
        fields: dict[str, object]
        if case == "reused session pid":  # the launch's session id, with a start time of its own
            fields = {"launcher_pid": 999999, "launcher_start": 1, "session": proc.pid, "session_start": 1}
        elif case == "other boot":  # pid and start time match, but they were recorded before a reboot
            fields = {
                "launcher_pid": proc.pid,
                "launcher_start": proc.start,
                "session": proc.pid,
                "session_start": proc.start,
                "boot": "0" * 8 + "-0000-0000-0000-" + "0" * 12,
            }
        else:  # same boot, pid and start time (as after a wrap-around), but not a tritongen launcher
            fields = {
                "launcher_pid": proc.pid,
                "launcher_start": proc.start,
                "session": 999999,
                "session_start": 1,
                "boot": Path("/proc/sys/kernel/random/boot_id").read_text().strip(),
                "launcher_cmdline": ["python", "-m", "tritongen", "launch"],
                "launch_id": "x",
            }
        path = cache_dir / "run" / f"launch-{ports.http}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_state(ports, **fields)))
        stop = run_cli(["stop", "--http-port", str(ports.http), "--grace-period", "1"], env)
        assert stop.returncode == 7, stop.stdout + stop.stderr
        assert "stale" in stop.stderr
        assert bystander.poll() is None, "stop killed an unrelated process"
        assert not path.exists()
    finally:
        bystander.kill()
        bystander.wait()


# --- one port for two services -----------------------------------------------------------------


def test_the_same_port_for_two_services_is_one_line_and_starts_nothing(
    tmp_path: Path, env: dict[str, str]
) -> None:
    repo = make_repo(tmp_path, 1)
    ports = free_launch_ports()
    result = run_cli(
        [
            "launch",
            str(repo),
            "--http-port",
            str(ports.http),
            "--grpc-port",
            str(ports.http),
            "--metrics-port",
            str(ports.metrics),
        ],
        env,
        timeout=30,
    )
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Usage:" not in result.stderr and "tritonserver" not in result.stderr
    assert leftovers(repo) == []


def test_plan_launch_refuses_one_port_for_two_services() -> None:
    """The library check, for callers other than the CLI (which refuses it first)."""
    from tritongen.errors import UsageError
    from tritongen.launch.plan import LaunchOptions, plan_launch

    with pytest.raises(UsageError, match="--grpc-port and --metrics-port are both 9001"):
        plan_launch(LaunchOptions(repo=FIXTURE, ports=Ports(9000, 9001, 9001)))


# --- cluster files for hostile paths -------------------------------------------------------------

HOSTILE = [
    "repo\ntouch {marker}\n",
    "repo $(touch {marker})",
    "repo `touch {marker}`",
    "repo'; touch {marker}; echo '",
    'repo"; touch {marker}; echo "',
    "repo with spaces & {marker} | x",
]
FAKE_SRUN = """#!/bin/bash
# Runs the task command once per rank, as srun would across nodes (only the options tritongen writes).
set -eu
for arg; do case "$arg" in --ntasks=*) tasks="${arg#--ntasks=}";; esac; done
while [ "$1" != bash ]; do shift; done
for ((rank = 0; rank < tasks; rank++)); do SLURM_PROCID=$rank "$@"; done
"""
RECORD_ARGS = """#!/bin/bash
# Stands in for tritonserver (or mpirun): records its exact argv, NUL-separated, one file per rank.
printf '%s\\0' "$@" > "$OUT/${SLURM_PROCID:-mpirun}.args"
"""


def _executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def _recorded(path: Path) -> list[str]:
    return path.read_text().split("\0")[:-1]


@pytest.mark.parametrize("template", HOSTILE)
def test_slurm_script_quotes_a_hostile_repository_path(tmp_path: Path, template: str) -> None:
    from tritongen.launch.cluster import cluster_spec, slurm_batch_script

    marker = tmp_path / "INJECTED"  # what an injected `touch INJECTED` would create (the script runs here)
    hostile = tmp_path / "dir" / template.format(marker=marker.name)
    hostile.parent.mkdir()
    shutil.copytree(FIXTURE, hostile)
    (hostile / "tritongen.json").write_text(json.dumps({"engine": {"world_size": 2}}))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _executable(bin_dir / "srun", FAKE_SRUN)
    _executable(bin_dir / "scontrol", "#!/bin/bash\necho node1\n")
    server = _executable(tmp_path / "tritonserver", RECORD_ARGS)
    spec = cluster_spec(
        hostile, gpus_per_node=2, tritonserver=server, image=f"img $(touch {marker.name})", name=hostile.name
    )
    script = _executable(tmp_path / "serve.sbatch", slurm_batch_script(spec))
    subprocess.run(["bash", "-n", str(script)], check=True)
    for line in script.read_text().splitlines():
        if line.startswith("#SBATCH"):
            assert all(c.isalnum() or c in "#=-_. " for c in line), line

    out = tmp_path / "out"
    out.mkdir()
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "OUT": str(out), "SLURM_JOB_NODELIST": "node1"}
    ran = subprocess.run([str(script)], env=env, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert ran.returncode == 0, ran.stderr
    assert not marker.exists(), "a command from the path ran"
    for rank in (0, 1):
        argv = _recorded(out / f"{rank}.args")
        assert f"--model-repository={hostile}" in argv
        assert argv[-1] == f"--backend-config=python,shm-region-prefix-name=prefix{rank}_"


@pytest.mark.parametrize("template", HOSTILE)
def test_leaderworkerset_quotes_a_hostile_repository_path(tmp_path: Path, template: str) -> None:
    from tritongen.launch.cluster import cluster_spec, leaderworkerset_manifest, leaderworkerset_yaml

    marker = tmp_path / "INJECTED"
    deployed = Path("/models") / template.format(marker=marker.name)
    spec = cluster_spec(make_repo(tmp_path, 4), deployed_repo=deployed, gpus_per_node=2, image="img")
    text = leaderworkerset_yaml(spec)
    assert yaml.safe_load(text) == leaderworkerset_manifest(spec)  # a real dumper: the YAML means the dict
    script = yaml.safe_load(text)["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]["containers"][0][
        "command"
    ][2]
    subprocess.run(["bash", "-n", "-c", script], check=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _executable(bin_dir / "mpirun", RECORD_ARGS)
    out = tmp_path / "out"
    out.mkdir()
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "OUT": str(out),
        "LWS_LEADER_ADDRESS": "tritongen-0.tritongen.default",
        "LWS_GROUP_SIZE": "2",
    }
    subprocess.run(["bash", "-c", script], env=env, cwd=tmp_path, check=True)
    assert not marker.exists(), "a command from the path ran"
    argv = _recorded(out / "mpirun.args")
    assert argv.count(f"--model-repository={deployed}") == 4
