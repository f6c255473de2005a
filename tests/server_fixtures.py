"""Start a real tritonserver on a model repository for tests, and stop it again.

`running_server(repo)` is a context manager: it picks free loopback ports in 20000-20999 (retrying
when another test run grabs one first), waits for `/v2/health/ready`, and on failure raises with the
tail of the server log, so a model that fails to load reads as a clear test error, not a timeout.
`shared_server(name, build)` starts one server per name for the whole test process, so fixtures in
several modules share it; shared servers stop when the process exits (set TRITONGEN_KEEP_TEST_SERVERS
to keep their repositories and logs for a look afterwards). Kept free of pytest so that fixtures and
ad-hoc scripts can both use it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

from tritongen.launch.procs import descendants, kill_leftover_descendants, process_table
from tritongen.launch.server import find_tritonserver

PORT_RANGE = (20000, 20999)
READY_TIMEOUT_S = float(os.environ.get("TRITONGEN_TEST_READY_TIMEOUT", "240"))


@dataclass
class RunningServer:
    """A tritonserver child process and where to reach it."""

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

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def assert_alive(self) -> None:
        """Fail loudly if the server died (e.g. a model crashed its stub) during a test."""
        if self.process.poll() is not None:
            raise AssertionError(f"tritonserver exited with {self.process.returncode}:\n{self.log_tail()}")


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """`count` distinct ports in PORT_RANGE that are free right now (racy by nature: callers retry)."""
    chosen: list[int] = []
    candidates = list(range(PORT_RANGE[0], PORT_RANGE[1] + 1))
    random.shuffle(candidates)
    for port in candidates:
        if _port_is_free(port):
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    raise RuntimeError(f"no {count} free ports in {PORT_RANGE}")


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
        time.sleep(0.5)
    raise RuntimeError(f"tritonserver not ready after {timeout_s:.0f}s:\n{server.log_tail()}")


def _port_clash(log_path: Path) -> bool:
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    return "already in use" in text or "Address already in use" in text


def start_server(
    repository: Path,
    log_path: Path,
    extra_args: Sequence[str] = (),
    ready_timeout_s: float = READY_TIMEOUT_S,
    attempts: int = 3,
    exit_timeout_s: int = 5,
) -> RunningServer:
    """Launch tritonserver on `repository` and return once every model is ready."""
    triton = find_tritonserver()
    env = triton.environment()
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    last_error: Exception | None = None
    for _ in range(attempts):
        http_port, grpc_port, metrics_port = free_ports(3)
        command = [
            str(triton.binary),
            f"--model-repository={repository}",
            *triton.server_args(),
            f"--http-port={http_port}",
            f"--grpc-port={grpc_port}",
            f"--metrics-port={metrics_port}",
            "--http-address=127.0.0.1",
            "--grpc-address=127.0.0.1",
            "--metrics-address=127.0.0.1",
            "--disable-auto-complete-config",
            f"--exit-timeout-secs={exit_timeout_s}",  # tests keep idle keep-alive connections open
            # A unique shared-memory prefix: several test servers run side by side on this machine.
            f"--backend-config=python,shm-region-prefix-name=tgtest{os.getpid()}_{http_port}_",
            *extra_args,
        ]
        log_file = open(log_path, "wb")  # noqa: SIM115 - handed to the child, closed on stop
        process = subprocess.Popen(
            command, stdout=log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        log_file.close()
        server = RunningServer(process, http_port, grpc_port, metrics_port, log_path, repository)
        try:
            _wait_ready(server, ready_timeout_s)
            return server
        except RuntimeError as error:
            stop_server(server)
            last_error = error
            if not _port_clash(log_path):
                raise
    raise RuntimeError(f"tritonserver could not get free ports after {attempts} attempts: {last_error}")


def stop_server(server: RunningServer, timeout_s: float = 30) -> None:
    """Stop the server's own process group: SIGINT (graceful), then SIGKILL."""
    tree = descendants(process_table(), server.process.pid)  # stubs outlive an abruptly stopped server
    if server.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGINT)
        try:
            server.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=10)
    kill_leftover_descendants(tree)


@contextlib.contextmanager
def running_server(
    repository: Path, log_path: Path | None = None, extra_args: Sequence[str] = ()
) -> Iterator[RunningServer]:
    """Context manager form of start_server/stop_server."""
    server = start_server(repository, log_path or repository.parent / "tritonserver.log", extra_args)
    try:
        yield server
    finally:
        stop_server(server)


_SHARED: dict[str, tuple[RunningServer, Path]] = {}


def shared_server(name: str, build: Callable[[Path], Path]) -> RunningServer:
    """One server per `name` for the whole test process (several test modules share it).

    `build(directory)` writes the model repository and returns its path. Servers stop when the test
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
def _stop_shared() -> None:
    for server, _ in _SHARED.values():  # signal them all first: they shut down side by side
        if server.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.process.pid, signal.SIGINT)
    for server, root in _SHARED.values():
        stop_server(server)
        if os.environ.get("TRITONGEN_KEEP_TEST_SERVERS") is None:
            shutil.rmtree(root, ignore_errors=True)
    _SHARED.clear()
