"""Run `tritongen launch` for real on the tiny fixture repository, and look for what it left behind.

Used by tests/test_launch.py, the reliability harness, scripts/stress_kill.py and scripts/bench_launch.py.
Each launch gets a copy of the fixture at a unique path, so "a process of this launch" is simply "a
process whose command line names that path" (tritonserver's --model-repository, the stubs' model.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tritongen.launch.command import Ports
from tritongen.testing.paths import FIXTURES_DIR
from tritongen.testing.ports import free_launch_ports, port_flags

FIXTURE = FIXTURES_DIR / "launch" / "tiny_llm"
CLI = [sys.executable, "-c", "import sys; from tritongen.cli import main; main(sys.argv[1:])"]


def make_repo(directory: Path, world_size: int = 1) -> Path:
    """A copy of the tiny repository whose render manifest records `world_size`."""
    repo = directory / f"tiny_llm_ws{world_size}"
    shutil.copytree(FIXTURE, repo)
    (repo / "tritongen.json").write_text(json.dumps({"engine": {"world_size": world_size}}))
    return repo


def run_cli(args: list[str], env: Mapping[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`tritongen ARGS` in a child process (so signals and exit codes are the real ones)."""
    return subprocess.run(
        [*CLI, *args], env=dict(env), capture_output=True, text=True, timeout=timeout, check=False
    )


@dataclass
class Launch:
    """A `tritongen launch` running in the background, its output going to a file."""

    process: subprocess.Popen[bytes]
    repo: Path
    ports: Ports
    log_path: Path
    cache: Path

    @classmethod
    def start(
        cls, repo: Path, env: Mapping[str, str], log_path: Path, *extra: str, ports: Ports | None = None
    ) -> Launch:
        ports = ports or free_launch_ports()
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [*CLI, "launch", str(repo), *port_flags(ports), *extra],
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return cls(process, repo, ports, log_path, Path(env["TRITONGEN_CACHE_DIR"]))

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 120) -> float:
        """Seconds until `text` appears in the output; AssertionError (with the output) if it does not."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if text in self.output():
                return time.monotonic() - started
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not seen (exit code {self.process.poll()}):\n{self.output()[-4000:]}")

    def wait_ready(self, timeout: float = 120) -> float:
        return self.wait_for("tritongen: ready in", timeout)

    def state(self) -> dict[str, object]:
        path = self.cache / "run" / f"launch-{self.ports.http}.json"
        data: dict[str, object] = json.loads(path.read_text())
        return data

    def rank_pid(self, rank: int) -> int:
        ranks = self.state()["ranks"]
        assert isinstance(ranks, dict)
        return int(ranks[str(rank)][0])

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 60) -> tuple[int, float]:
        """(exit code, seconds it took)."""
        started = time.monotonic()
        code = self.process.wait(timeout=timeout)
        return code, time.monotonic() - started

    def kill(self) -> None:
        """Last resort for a failed test: the launcher and anything of the launch still running."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pid in leftovers(self.repo):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def leftovers(repo: Path) -> list[int]:
    """Live (non-zombie) processes whose command line names `repo`."""
    needle = str(repo).encode()
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in cmdline and state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def generate(ports: Ports, text: str, timeout: float = 30) -> dict[str, object]:
    """POST /v2/models/ensemble/generate, as the curl line the launcher prints."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{ports.http}/v2/models/ensemble/generate",
        data=json.dumps({"text_input": text, "max_tokens": 8}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer: dict[str, object] = json.loads(response.read())
    return answer
