"""`tritongen launch --openai-port`: the OpenAI route as one more supervised child of the launch.

The launcher starts it once rank 0 is ready (the route asks the server what to call), prefixes its
output like a rank's (`[openai] ...`), announces it when `/health` answers, treats its exit as a
failure of the whole launch (exit 7, with its last lines), and stops it first on teardown so that
clients see the route close before the server behind it does. It runs `python -m tritongen openai` in
a session of its own (the terminal's Ctrl-C reaches the launcher, which stops it in order) and dies
with the launcher even on SIGKILL (PR_SET_PDEATHSIG), so nothing of it is left behind.

This module imports neither FastAPI nor uvicorn: only the child does.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tritongen.errors import LaunchError, UsageError

CHANNEL = "openai"
PROBE_EVERY_S = 0.5
READY_TIMEOUT_S = 300.0  # loading transformers and the tokenizer; far less in practice
TAIL_LINES = 25

_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded before any fork: the child only makes the call


def _die_with_parent() -> None:
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class RouteSidecar:
    """The route's child process, driven by the launcher's supervision loop (`start`, `check`, `stop`)."""

    def __init__(
        self,
        emit: Callable[[str], None],
        *,
        port: int,
        host: str,
        server_url: str,
        repository: Path,
    ) -> None:
        self.emit = emit
        self.port = port
        self.host = host
        self.server_url = server_url
        self.repository = repository
        self.process: subprocess.Popen[bytes] | None = None
        self.ready = False
        self._started = 0.0
        self._next_probe = 0.0
        self._tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._reader: threading.Thread | None = None

    @property
    def argv(self) -> list[str]:
        return [
            sys.executable, "-m", "tritongen", "openai", "--url", self.server_url, "--port", str(self.port),
            "--host", self.host, "--repository", str(self.repository), "--log-level", "warning",
        ]  # fmt: skip

    def preflight(self) -> None:
        """Before any rank starts: the port is free and the route's packages are installed."""
        from tritongen.launch.preflight import port_is_free

        missing = [name for name in ("fastapi", "uvicorn") if importlib.util.find_spec(name) is None]
        if missing:
            raise UsageError(
                f"--openai-port needs the 'openai' extra ({', '.join(missing)} missing)",
                hint="pip install 'tritongen[openai]'.",
            )
        if not port_is_free(self.host, self.port):
            raise LaunchError(
                f"--openai-port {self.port} is already in use on {self.host}",
                hint="Stop what listens there, or choose another --openai-port.",
            )

    def start(self) -> None:
        self._started = time.monotonic()
        self.process = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 (one prctl call, no lock taken: safe with threads)
        )
        self._reader = threading.Thread(target=self._read_output, name="openai-output", daemon=True)
        self._reader.start()
        self.emit(f"tritongen: started the OpenAI route (pid {self.process.pid}, port {self.port})")

    def _read_output(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip()
            self._tail.append(line)
            self.emit(f"[{CHANNEL}] {line}")

    def check(self) -> None:
        """Called from the supervision loop: announce readiness; LaunchError when the route died."""
        if self.process is None:
            return
        code = self.process.poll()
        if code is not None:
            if self._reader is not None:
                self._reader.join(timeout=2)
            self.emit(f"tritongen: last {len(self._tail)} lines of {CHANNEL}:")
            for line in self._tail:
                self.emit(f"  {line}")
            how = f"on signal {-code}" if code < 0 else f"with code {code}"
            raise LaunchError(
                f"the OpenAI route (pid {self.process.pid}) exited {how}",
                hint="Its last log lines are above; fix the cause and launch again.",
            )
        now = time.monotonic()
        if self.ready or now < self._next_probe:
            return
        self._next_probe = now + PROBE_EVERY_S
        if _healthy(f"http://{_probe_host(self.host)}:{self.port}/health"):
            self.ready = True
            host = "localhost" if self.host in ("0.0.0.0", "::", "127.0.0.1") else self.host
            self.emit(
                f"tritongen: OpenAI route ready in {now - self._started:.1f} s: http://{host}:{self.port}/v1 "
                "(chat/completions, completions, models)"
            )
        elif now - self._started > READY_TIMEOUT_S:
            raise LaunchError(f"the OpenAI route was not healthy after {READY_TIMEOUT_S:g} s")

    def stop(self, grace: float) -> None:
        """SIGTERM (uvicorn finishes open responses), then SIGKILL after `grace` seconds."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=max(grace, 0.5))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if self._reader is not None:
            self._reader.join(timeout=5)


def _probe_host(host: str) -> str:
    return {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "[::1]"}.get(
        host, f"[{host}]" if ":" in host else host
    )


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
