"""Start a real tritonserver on a model repository, wait until it is ready, and stop it again.

The one way tests and scripts run a bare tritonserver (`tritongen launch` has its own harness in
`tritongen.testing.launch`):

- `start_server(repo, log)` / `stop_server(server)`, and `running_server(repo)` as a context manager:
  free loopback ports (retrying when another process binds one first), `/v2/health/ready` polled, and
  on failure an error carrying the tail of the server log, so a model that fails to load reads as a
  clear error, not a timeout. `models=` loads only those models (explicit model control), and
  `world_size` > 1 runs one tritonserver per rank under mpirun (only rank 0 opens the ports).
- `serve_tensorrt_llm(repo, log)`: the torch runtime's `tensorrt_llm` model alone, as the runtime tests
  and the serving benchmark use it.
- `shared_server(name, build)`: one server per name for the whole process, so fixtures of several test
  modules share it; they stop when the process exits (set TRITONGEN_KEEP_TEST_SERVERS to keep their
  repositories and logs for a look afterwards).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

from tritongen.launch.procs import descendants, kill_leftover_descendants, process_table
from tritongen.launch.server import TritonServer, find_tritonserver
from tritongen.testing.ports import SERVER_PORTS, TORCH_PORTS, free_ports

READY_TIMEOUT_S = float(os.environ.get("TRITONGEN_TEST_READY_TIMEOUT", "240"))


@dataclass
class RunningServer:
    """A tritonserver child process (or mpirun over one per rank) and where to reach it."""

    process: subprocess.Popen[bytes]
    http_port: int
    grpc_port: int
    metrics_port: int
    log_path: Path
    repository: Path

    @property
    def http_url(self) -> str:
        """host:port for tritonclient.http and `tritongen infer --url`."""
        return f"127.0.0.1:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.http_url}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def log(self) -> str:
        """The whole server log so far ("" before the server wrote one)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        text = self.log()
        return "\n".join(text.splitlines()[-lines:]) if text else "(no log)"

    def assert_alive(self) -> None:
        """Fail loudly if the server died (e.g. a model crashed its stub) during a test."""
        if self.process.poll() is not None:
            raise AssertionError(f"tritonserver exited with {self.process.returncode}:\n{self.log_tail()}")


def _wait_ready(server: RunningServer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    url = f"{server.base_url}/v2/health/ready"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"tritonserver exited with {server.process.returncode} before it was ready "
                f"(repository {server.repository}):\n{server.log_tail()}"
            )
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"tritonserver not ready after {timeout_s:.0f}s:\n{server.log_tail()}")


def _port_clash(server: RunningServer) -> bool:
    return "already in use" in server.log()


def _rank_argv(
    triton: TritonServer,
    ports: tuple[int, int, int],
    rank: int,
    repository: Path,
    models: Sequence[str] | None,
    exit_timeout_s: int,
    extra_args: Sequence[str],
) -> list[str]:
    """One rank's tritonserver command line (every rank gets the same ports: only rank 0 opens them)."""
    http_port, grpc_port, metrics_port = ports
    return [
        str(triton.binary),
        f"--model-repository={repository}",
        *triton.server_args(),
        *(
            ["--model-control-mode=explicit", *(f"--load-model={model}" for model in models)]
            if models
            else []
        ),
        f"--http-port={http_port}",
        f"--grpc-port={grpc_port}",
        f"--metrics-port={metrics_port}",
        "--http-address=127.0.0.1",
        "--grpc-address=127.0.0.1",
        "--metrics-address=127.0.0.1",
        "--disable-auto-complete-config",
        f"--exit-timeout-secs={exit_timeout_s}",  # tests keep idle keep-alive connections open
        # A unique shared-memory prefix: several test servers run side by side on one machine.
        f"--backend-config=python,shm-region-prefix-name=tgtest{os.getpid()}_{http_port}_{rank}_",
        *extra_args,
    ]


def start_server(
    repository: Path,
    log_path: Path,
    extra_args: Sequence[str] = (),
    ready_timeout_s: float = READY_TIMEOUT_S,
    attempts: int = 3,
    exit_timeout_s: int = 5,
    *,
    models: Sequence[str] | None = None,
    world_size: int = 1,
    port_range: tuple[int, int] = SERVER_PORTS,
) -> RunningServer:
    """Launch tritonserver on `repository` and return once it is ready.

    `models`: load only these (explicit model control); None loads the whole repository.
    `world_size` > 1: mpirun with one tritonserver per rank (MPMD, one app context per rank, each with
    its own shared-memory prefix); MASTER_ADDR/MASTER_PORT point the ranks at a free rendezvous port.
    """
    triton = find_tritonserver()
    last_error: Exception | None = None
    for _ in range(attempts):
        http_port, grpc_port, metrics_port, rendezvous_port = free_ports(4, port_range)
        ports = (http_port, grpc_port, metrics_port)
        common = (repository, models, exit_timeout_s, extra_args)
        argv = _rank_argv(triton, ports, 0, *common)
        if world_size > 1:
            argv = ["mpirun", "--allow-run-as-root", "--oversubscribe"]
            for rank in range(world_size):
                argv += [*([":"] if rank else []), "-n", "1", *_rank_argv(triton, ports, rank, *common)]
        env = triton.environment(
            {
                "TOKENIZERS_PARALLELISM": "false",
                **os.environ,
                "HF_HUB_OFFLINE": "1",  # a test server never downloads
                "TRANSFORMERS_OFFLINE": "1",
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": str(rendezvous_port),
            }
        )
        with open(log_path, "wb") as log_file:  # the child keeps its own descriptor
            process = subprocess.Popen(
                argv, stdout=log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        server = RunningServer(process, http_port, grpc_port, metrics_port, log_path, repository)
        try:
            _wait_ready(server, ready_timeout_s)
            return server
        except RuntimeError as error:
            stop_server(server)
            last_error = error
            if not _port_clash(server):
                raise
        except BaseException:
            stop_server(server)
            raise
    raise RuntimeError(f"tritonserver could not get free ports after {attempts} attempts: {last_error}")


def stop_server(server: RunningServer, timeout_s: float = 30) -> None:
    """Stop the server's own process group: SIGTERM (graceful, also what mpirun forwards), then SIGKILL."""
    tree = descendants(process_table(), server.process.pid)  # stubs outlive an abruptly stopped server
    if server.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=10)
    kill_leftover_descendants(tree)


@contextlib.contextmanager
def running_server(
    repository: Path,
    log_path: Path | None = None,
    extra_args: Sequence[str] = (),
    *,
    models: Sequence[str] | None = None,
    world_size: int = 1,
    port_range: tuple[int, int] = SERVER_PORTS,
) -> Iterator[RunningServer]:
    """Context manager form of start_server/stop_server."""
    server = start_server(
        repository,
        log_path or repository.parent / "tritonserver.log",
        extra_args,
        models=models,
        world_size=world_size,
        port_range=port_range,
    )
    try:
        yield server
    finally:
        stop_server(server)


def serve_tensorrt_llm(
    repository: Path, log_path: Path, models: Sequence[str] = ("tensorrt_llm",), world_size: int = 1
) -> contextlib.AbstractContextManager[RunningServer]:
    """Serve only `models` of a rendered torch-runtime repository until the block ends."""
    return running_server(repository, log_path, models=models, world_size=world_size, port_range=TORCH_PORTS)


_SHARED: dict[str, tuple[RunningServer, Path]] = {}


def shared_server(name: str, build: Callable[[Path], Path]) -> RunningServer:
    """One server per `name` for the whole process (several test modules share it).

    `build(directory)` writes the model repository and returns its path. Servers stop when the
    process exits, so session- or module-scoped fixtures in different modules can all ask for one.
    """
    if name in _SHARED and _SHARED[name][0].process.poll() is None:
        return _SHARED[name][0]
    root = Path(tempfile.mkdtemp(prefix=f"tritongen-test-{name}-"))
    repository = build(root / "repository")
    server = start_server(repository, root / "tritonserver.log")
    _SHARED[name] = (server, root)
    return server


@atexit.register
def stop_shared_servers() -> None:
    """Stop every `shared_server` (at exit, or earlier when what they use is about to be removed)."""
    # Each server's process tree is read before any is signalled: a server that exits on the signal
    # leaves its Python-backend stubs to init, where stop_server would no longer find them.
    table = process_table()
    trees = [descendants(table, server.process.pid) for server, _ in _SHARED.values()]
    for server, _ in _SHARED.values():  # signal them all first: they shut down side by side
        if server.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.process.pid, signal.SIGTERM)
    for (server, root), tree in zip(_SHARED.values(), trees, strict=True):
        stop_server(server)
        kill_leftover_descendants(tree)
        if os.environ.get("TRITONGEN_KEEP_TEST_SERVERS") is None:
            shutil.rmtree(root, ignore_errors=True)
    _SHARED.clear()
