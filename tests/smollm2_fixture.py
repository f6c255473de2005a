"""The real SmolLM2-135M-Instruct checkpoint for tests, and a tritonserver serving it with the torch runtime.

- `smollm2_checkpoint()` builds the checkpoint once per machine into
  `$TRITONGEN_CACHE_DIR/examples/smollm2` (default ~/.cache/tritongen) and reuses it afterwards; the
  `smollm2_checkpoint_dir` session fixture wraps it (import it into a test module to use it).
- `render_repository()` renders a repository for it with `tritongen render`.
- `serve_tensorrt_llm()` starts tritonserver on loopback ports (21000-21999) with only the
  `tensorrt_llm` model loaded, waits until it is ready, and stops it on exit. With `world_size` > 1
  it runs one tritonserver per rank under mpirun (all ranks on the same ports: only rank 0 opens them).

Kept usable without pytest, so scripts/bench_serving.py shares it.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tritongen.example import build_smollm2
from tritongen.launch.procs import descendants, kill_leftover_descendants, process_table
from tritongen.launch.server import cache_dir, find_tritonserver

PORTS = (21000, 21999)
READY_TIMEOUT_S = float(os.environ.get("TRITONGEN_TEST_READY_TIMEOUT", "240"))


def smollm2_checkpoint() -> Path:
    """The checkpoint directory, built on first use (about 30 s) and reused afterwards."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    return build_smollm2(cache_dir() / "examples" / "smollm2")


@pytest.fixture(scope="session")
def smollm2_checkpoint_dir() -> Path:
    """Session fixture: the SmolLM2-135M-Instruct checkpoint (see `smollm2_checkpoint`)."""
    return smollm2_checkpoint()


def render_repository(
    checkpoint: Path, output: Path, *, decoupled: bool = True, settings: Sequence[str] = ()
) -> Path:
    """`tritongen render` a repository for `checkpoint` into `output` (settings: KEY=VALUE overrides)."""
    from click.testing import CliRunner

    from tritongen.cli import cli

    args = [
        "render",
        "--engine",
        str(checkpoint),
        "--output",
        str(output),
        "--placement",
        "reference",
        "--force",
    ]
    for setting in settings:
        args += ["--set", setting]
    if not decoupled:
        args.append("--no-streaming")
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    if result.exit_code != 0:
        raise RuntimeError(f"tritongen render failed ({result.exit_code}):\n{result.output}")
    return output


@dataclass
class Server:
    """A running tritonserver and where to reach it."""

    process: subprocess.Popen[bytes]
    http_port: int
    grpc_port: int
    metrics_port: int
    log_path: Path

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextlib.contextmanager
def serve_tensorrt_llm(
    repository: Path, log_path: Path, models: Sequence[str] = ("tensorrt_llm",), world_size: int = 1
) -> Iterator[Server]:
    """Serve `models` of `repository` until the block ends; retry on a port another process took first."""
    for attempt in range(3):
        server = _start(repository, log_path, models, world_size)
        try:
            _wait_ready(server)
        except _PortTaken:
            _stop(server)
            if attempt == 2:
                raise
            continue
        except BaseException:
            _stop(server)
            raise
        try:
            yield server
        finally:
            _stop(server)
        return


class _PortTaken(RuntimeError):
    pass


def _start(repository: Path, log_path: Path, models: Sequence[str], world_size: int) -> Server:
    triton = find_tritonserver()
    http_port, grpc_port, metrics_port, rendezvous_port = _free_ports(4)

    def rank_argv(rank: int) -> list[str]:
        return [
            str(triton.binary),
            f"--model-repository={repository}",
            *triton.server_args(),
            "--model-control-mode=explicit",
            *(f"--load-model={model}" for model in models),
            f"--http-port={http_port}",
            f"--grpc-port={grpc_port}",
            f"--metrics-port={metrics_port}",
            "--http-address=127.0.0.1",
            "--grpc-address=127.0.0.1",
            "--metrics-address=127.0.0.1",
            "--disable-auto-complete-config",
            "--exit-timeout-secs=5",
            f"--backend-config=python,shm-region-prefix-name=tgtorch{os.getpid()}_{http_port}_{rank}_",
        ]

    argv = rank_argv(0)
    if world_size > 1:  # MPMD: one app context per rank, each with its own shared-memory prefix
        argv = ["mpirun", "--allow-run-as-root", "--oversubscribe"]
        for rank in range(world_size):
            argv += [*([":"] if rank else []), "-n", "1", *rank_argv(rank)]
    env = triton.environment(
        {**os.environ, "HF_HUB_OFFLINE": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(rendezvous_port)}
    )
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Server(process, http_port, grpc_port, metrics_port, log_path)


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            if "already in use" in server.log():
                raise _PortTaken("a port was taken")
            raise RuntimeError(
                f"tritonserver exited with {server.process.returncode}:\n{server.log()[-4000:]}"
            )
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"http://{server.http_url}/v2/health/ready", timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"tritonserver not ready after {READY_TIMEOUT_S:.0f}s:\n{server.log()[-4000:]}")


def _stop(server: Server) -> None:
    """SIGTERM the server's process group, SIGKILL it if it lingers."""
    tree = descendants(process_table(), server.process.pid)  # stubs outlive an abruptly stopped server
    if server.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()
    kill_leftover_descendants(tree)


def _free_ports(count: int) -> list[int]:
    candidates = list(range(PORTS[0], PORTS[1] + 1))
    random.shuffle(candidates)
    chosen = []
    for port in candidates:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        chosen.append(port)
        if len(chosen) == count:
            return chosen
    raise RuntimeError(f"no {count} free ports in {PORTS}")
