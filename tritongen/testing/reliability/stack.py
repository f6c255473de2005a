"""The real serving stack that the load and request-fuzz parts share.

`tritongen render` + `tritongen launch` of SmolLM2, run as a user would (child processes, the real CLI),
on free ports of the reliability range.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tritongen.defaults import cache_dir
from tritongen.launch.command import Ports
from tritongen.testing.launch import CLI, leftovers
from tritongen.testing.ports import port_flags
from tritongen.testing.reliability.machine import (
    kill_processes,
    reliability_ports,
    server_memory,
    server_processes,
)
from tritongen.testing.smollm2 import smollm2_checkpoint


def cli_env() -> dict[str, str]:
    """The environment of every `tritongen` this suite runs: offline, and tritongen's cache made explicit."""
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "TRITONGEN_CACHE_DIR": str(cache_dir()),
    }


@dataclass
class ServingStack:
    """`tritongen launch` serving a rendered SmolLM2 repository, and where to reach it."""

    process: subprocess.Popen[bytes]
    repo: Path
    ports: Ports
    log_path: Path
    ready_s: float
    render_command: list[str]
    launch_command: list[str]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.http}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def launcher_alive(self) -> bool:
        return self.process.poll() is None

    def server_alive(self) -> bool:
        return self.launcher_alive() and any(
            p.name == "tritonserver" for p in server_processes(self.process.pid)
        )

    def memory(self) -> dict[str, Any]:
        return server_memory(self.process.pid)

    def health_ready(self, timeout_s: float = 5) -> bool:
        import requests

        try:
            return requests.get(f"{self.base_url}/v2/health/ready", timeout=timeout_s).status_code == 200
        except requests.RequestException:
            return False


def render_smollm2(output: Path, checkpoint: Path | None = None) -> list[str]:
    """`tritongen render` the SmolLM2 repository into `output`; returns the command line it ran."""
    checkpoint = checkpoint or smollm2_checkpoint()
    argv = ["render", "--engine", str(checkpoint), "--output", str(output), "--force"]
    done = subprocess.run(
        [*CLI, *argv], env=cli_env(), capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"tritongen render failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return ["tritongen", *argv]


@contextlib.contextmanager
def serving_stack(
    work: Path,
    *,
    ready_timeout_s: float = 300,
    rng: random.Random | None = None,
    checkpoint: Path | None = None,
) -> Iterator[ServingStack]:
    """Render and launch the real SmolLM2 stack under `work`; stop it (SIGINT) and check it is all gone."""
    work.mkdir(parents=True, exist_ok=True)
    repo = work / "smollm2-repo"
    render_command = render_smollm2(repo, checkpoint)
    stack: ServingStack | None = None
    for attempt in range(3):
        ports = reliability_ports(rng)
        log_path = work / f"launch-{attempt}.log"
        argv = ["launch", str(repo), *port_flags(ports)]
        started = time.monotonic()
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [*CLI, *argv],
                env=cli_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        candidate = ServingStack(process, repo, ports, log_path, 0.0, render_command, ["tritongen", *argv])
        if _wait_launch_ready(candidate, ready_timeout_s):
            candidate.ready_s = time.monotonic() - started
            stack = candidate
            break
        _stop_stack(candidate)
        if "already in use" not in candidate.log() or attempt == 2:
            raise RuntimeError(f"the SmolLM2 stack did not become ready:\n{candidate.log()[-4000:]}")
    assert stack is not None
    try:
        yield stack
    finally:
        _stop_stack(stack)


def _wait_launch_ready(stack: ServingStack, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if "tritongen: ready in" in stack.log():
            return True
        if stack.process.poll() is not None:
            return False
        time.sleep(0.2)
    return False


def _stop_stack(stack: ServingStack) -> None:
    if stack.process.poll() is None:
        stack.process.send_signal(signal.SIGINT)
        try:
            stack.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            stack.process.kill()
            stack.process.wait()
    kill_processes(leftovers(stack.repo))
