"""The reliability suite: load, faults, fuzzed engine directories and fuzzed requests, each bounded.

Shared by tests/test_reliability.py (the reduced sizes, under `@pytest.mark.reliability`) and
scripts/reliability.py (a table and a JSON document; `--full` for the full sizes). Every part returns
a `PartResult`: how many trials or requests, how many passed and failed, the key figures, and the
first failures described well enough to reproduce them.

1. load: the real SmolLM2 stack (`tritongen render` + `tritongen launch`), mixed ensemble/BLS and
   streaming/non-streaming requests, 10% closed by the client midway; every other request must get
   exactly one complete answer carrying its own `id`; server memory (RSS of tritonserver and its
   Python-backend stubs, from /proc) before and after.
2. faults: world size 2 under mpirun (the tiny launch fixture), `kill -9` of a random rank at a random
   moment under load; `tritongen launch` must exit non-zero within 10 s and leave no process behind.
3. engine-fuzz: hypothesis-mutated `config.json` files and directory layouts through the real CLI;
   never a traceback, only documented exit codes, never a partial write.
4. request-fuzz: hypothesis-generated malformed generate/generate_stream bodies against the real stack;
   the server stays up and ready, no 5xx but Triton's known front-end parse errors, and valid requests
   keep working.

Ports: 24000-24999 (loopback). Sizes: `QUICK` (CI) or `FULL`; `TRITONGEN_RELIABILITY=quick|full`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import math
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

from launch_support import CLI, Launch, leftovers, make_repo

from tritongen.launch import procs
from tritongen.launch.command import Ports
from tritongen.launch.preflight import port_is_free

MODE_ENV = "TRITONGEN_RELIABILITY"
PORT_RANGE = (24000, 24999)
PARTS = ("load", "faults", "engine-fuzz", "request-fuzz")
DOCUMENTED_RENDER_CODES = (0, 2, 3, 4, 5, 6)
CASE_TIMEOUT_S = 60.0  # one engine-fuzz case (render takes well under a second)
FAILURES_KEPT = 20
SERVER_PROCESS_NAMES = ("tritonserver", "triton_python_b")  # /proc comm is cut at 15 characters


# --------------------------------------------------------------------------------------------------
# Sizes and results


@dataclass(frozen=True)
class Sizes:
    """How much each part does."""

    mode: str
    load_requests: int
    load_concurrency: int
    fault_trials: int  # on the tiny launch fixture
    fault_torch_trials: int  # on a tiny random-weight checkpoint served by the real torch runtime at tp 2
    engine_examples: int
    request_examples: int
    engine_subprocess_every: int  # every Nth engine example runs `tritongen` as a subprocess


QUICK = Sizes("quick", load_requests=200, load_concurrency=16, fault_trials=3, fault_torch_trials=1,
              engine_examples=100,
              request_examples=100, engine_subprocess_every=25)
FULL = Sizes("full", load_requests=2000, load_concurrency=32, fault_trials=20, fault_torch_trials=10,
             engine_examples=500,
             request_examples=500, engine_subprocess_every=25)


def sizes_for(mode: str) -> Sizes:
    if mode not in ("quick", "full"):
        raise ValueError(f"mode must be quick or full, not {mode!r}")
    return QUICK if mode == "quick" else FULL


def mode_from_env(default: str) -> str:
    """TRITONGEN_RELIABILITY=quick|full, else `default`."""
    value = os.environ.get(MODE_ENV, "").strip().lower()
    return value if value in ("quick", "full") else default


@dataclass
class PartResult:
    """What one part did and found."""

    part: str
    mode: str
    unit: str  # "requests", "trials", "examples"
    trials: int
    passed: int
    failed: int
    ok: bool
    duration_s: float
    figures: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # the first FAILURES_KEPT, each reproducible
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def explain(self) -> str:
        """The figures and the first failures, for an assertion message."""
        lines = [f"{self.part}: {self.passed}/{self.trials} {self.unit} passed, ok={self.ok}",
                 f"figures: {json.dumps(self.figures, default=str)}"]
        lines += [f"failure: {failure}" for failure in self.failures]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def _keep(failures: list[str], text: str) -> None:
    if len(failures) < FAILURES_KEPT:
        failures.append(text)


def key_figures(result: PartResult) -> str:
    """The one-line summary of a part's figures, as the table shows it."""
    f = result.figures
    if result.part == "load":
        return (f"errors {f.get('errors')}, lost {f.get('lost')}, duplicated {f.get('duplicated')}, "
                f"misrouted {f.get('misrouted')}, incomplete {f.get('incomplete')}, "
                f"cancelled {f.get('cancelled')}/{f.get('cancel_planned')}, "
                f"crossed {f.get('crossed')}, diverged {f.get('text_diverged')}, memory growth {_pct(f.get('memory_growth_pct'))}, "
                f"{_num(f.get('requests_per_s'))} req/s")
    if result.part == "faults":
        return (f"targets {f.get('targets')}, kill->exit median {_num(f.get('kill_to_exit_median_s'))} s, "
                f"max {_num(f.get('kill_to_exit_max_s'))} s, exit codes {f.get('exit_codes')}, "
                f"leftover processes {f.get('leftover_processes')}, "
                f"requests served during trials {f.get('requests_served')}")
    if result.part == "engine-fuzz":
        return (f"exit codes {f.get('exit_codes')}, tracebacks {f.get('tracebacks')}, "
                f"undocumented codes {f.get('undocumented_codes')}, partial writes {f.get('partial_writes')}, "
                f"temp dirs left {f.get('temporary_dirs_left')}, subprocess runs {f.get('subprocess_runs')}")
    if result.part == "request-fuzz":
        return (f"HTTP {f.get('status_codes')}, 5xx known front-end parse {f.get('known_5xx_total')} "
                f"{f.get('known_5xx_by_kind')}, 5xx other {f.get('unexpected_5xx')}, "
                f"no response {f.get('no_response')}, health checks {f.get('health_checks_passed')}/"
                f"{f.get('health_checks')}, server alive {f.get('server_alive_at_end')}")
    return json.dumps(f, default=str)


def _num(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, (int, float)) else "-"


def _pct(value: object) -> str:
    return f"{value:+.1f}%" if isinstance(value, (int, float)) else "-"


def format_table(results: Sequence[PartResult]) -> str:
    """One row per part: part, mode, trials, passed, failed, verdict, key figures (wrapped)."""
    header = ("part", "mode", "trials", "passed", "failed", "verdict", "time", "key figures")
    rows = [
        (r.part, r.mode, f"{r.trials} {r.unit}", str(r.passed), str(r.failed), "PASS" if r.ok else "FAIL",
         f"{r.duration_s:.0f} s", key_figures(r))
        for r in results
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header) - 1)]
    lines = []
    for row in (header, *rows):
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Ports, processes, memory


def free_ports(rng: random.Random | None = None) -> Ports:
    """Three consecutive free loopback ports in 24000-24999 (random start: parallel runs coexist)."""
    rng = rng or random.Random()
    low, high = PORT_RANGE
    for _ in range(300):
        http = rng.randrange(low, high - 2)
        if all(port_is_free("127.0.0.1", port) for port in (http, http + 1, http + 2)):
            return Ports(http, http + 1, http + 2)
    raise RuntimeError(f"no three free ports in {low}-{high}")


def port_flags(ports: Ports) -> list[str]:
    return ["--http-port", str(ports.http), "--grpc-port", str(ports.grpc), "--metrics-port", str(ports.metrics)]


def rss_bytes(pid: int) -> int:
    """Resident set size of one process, from /proc/<pid>/status (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def server_processes(root_pid: int) -> list[procs.Proc]:
    """tritonserver and Python-backend stub processes below `root_pid` (a launcher), alive."""
    table = procs.process_table()
    return [p for p in procs.descendants(table, root_pid) if p.alive and p.name in SERVER_PROCESS_NAMES]


def server_memory(root_pid: int) -> dict[str, Any]:
    """RSS of the server tree below `root_pid`: total and per process."""
    members = server_processes(root_pid)
    per = {f"{p.name}:{p.pid}": rss_bytes(p.pid) for p in members}
    return {"rss_bytes": sum(per.values()), "processes": len(per), "per_process": per}


def alive_of(snapshot: Sequence[procs.Proc]) -> list[procs.Proc]:
    """Those processes of `snapshot` still alive (same pid and start time, not a zombie)."""
    return [p for p in snapshot if procs.is_same_process(p.pid, p.start)]


def kill_processes(pids: Sequence[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


# --------------------------------------------------------------------------------------------------
# The real serving stack: render + launch SmolLM2


def smollm2_checkpoint() -> Path:
    """The SmolLM2-135M-Instruct example, built once per machine (reused from the cache)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from tritongen.example import build_smollm2
    from tritongen.launch.server import cache_dir

    return build_smollm2(cache_dir() / "examples" / "smollm2")


def cli_env() -> dict[str, str]:
    """The environment of every `tritongen` this suite runs: offline, and tritongen's cache made explicit."""
    from tritongen.launch.server import cache_dir

    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
            "TRITONGEN_CACHE_DIR": str(cache_dir())}


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
        return self.launcher_alive() and any(p.name == "tritonserver" for p in server_processes(self.process.pid))

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
    done = subprocess.run([*CLI, *argv], env=cli_env(), capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"tritongen render failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return ["tritongen", *argv]


@contextlib.contextmanager
def serving_stack(work: Path, *, ready_timeout_s: float = 300, rng: random.Random | None = None,
                  checkpoint: Path | None = None) -> Iterator[ServingStack]:
    """Render and launch the real SmolLM2 stack under `work`; stop it (SIGINT) and check it is all gone."""
    work.mkdir(parents=True, exist_ok=True)
    repo = work / "smollm2-repo"
    render_command = render_smollm2(repo, checkpoint)
    stack: ServingStack | None = None
    for attempt in range(3):
        ports = free_ports(rng)
        log_path = work / f"launch-{attempt}.log"
        argv = ["launch", str(repo), *port_flags(ports)]
        started = time.monotonic()
        with open(log_path, "wb") as log:
            process = subprocess.Popen([*CLI, *argv], env=cli_env(), stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
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


# --------------------------------------------------------------------------------------------------
# 1. load


LOAD_PROMPTS = (
    "Write a long story about a lighthouse keeper who finds a map.",
    "Explain in detail how a bicycle gear system works.",
    "Describe the water cycle to a ten-year-old, step by step.",
    "List many ideas for a rainy afternoon at home and explain each one.",
    "Write a detailed recipe for vegetable soup.",
    "Tell me about the history of the printing press.",
    "Compose a poem about autumn leaves and the wind.",
    "Explain why the sky looks blue during the day.",
    "Give detailed advice for learning to play the guitar.",
    "Describe a busy market in a small town in the morning.",
    "Explain how a computer stores numbers in memory.",
    "Write a letter to a friend about a trip to the mountains.",
)
LOAD_MAX_TOKENS = (8, 16)
CANCEL_FRACTION = 0.10
BLS_FRACTION = 0.25
STREAM_FRACTION = 0.5
MEMORY_GROWTH_LIMIT_PCT = 10.0
LOAD_TIMEOUT_S = 300.0
IDLE_LIMIT_S = 60.0  # after the load the server must go idle within this (no generation left running)
IDLE_CPU_FRACTION = 0.2


@dataclass(frozen=True)
class LoadRequest:
    """One planned request."""

    index: int
    rid: str
    model: str
    streaming: bool
    cancel: bool
    max_tokens: int
    prompt: str
    cancel_after_events: int = 1  # streaming: close after this many events
    cancel_after_s: float = 0.2  # non-streaming: close after this long

    @property
    def endpoint(self) -> str:
        return "generate_stream" if self.streaming else "generate"

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.rid, "text_input": self.prompt, "max_tokens": self.max_tokens,
                                "min_tokens": self.max_tokens, "return_num_output_tokens": True}
        if self.streaming:
            body["stream"] = True
        return body

    def describe(self) -> str:
        kind = "stream" if self.streaming else "generate"
        return f"#{self.index} id={self.rid} {self.model}/{kind} max_tokens={self.max_tokens}"


@dataclass
class LoadOutcome:
    """What came back for one request, and the verdict on it."""

    request: LoadRequest
    verdict: str = "ok"  # ok, cancelled, error, lost, incomplete, duplicated, misrouted, crossed
    status: int | None = None
    events: int = 0
    counts: list[int] = field(default_factory=list)
    text: str = ""
    detail: str = ""
    seconds: float = 0.0
    completed_before_cancel: bool = False


def plan_load(count: int, rng: random.Random, token: str) -> list[LoadRequest]:
    """`count` requests: 10% cancelled (exactly), a quarter to the BLS, half streaming, mixed lengths."""
    cancelled = set(rng.sample(range(count), round(count * CANCEL_FRACTION)))
    plan = []
    for index in range(count):
        plan.append(LoadRequest(
            index=index,
            rid=f"rel-{token}-{index}",
            model="tensorrt_llm_bls" if rng.random() < BLS_FRACTION else "ensemble",
            streaming=rng.random() < STREAM_FRACTION,
            cancel=index in cancelled,
            max_tokens=rng.choice(LOAD_MAX_TOKENS),
            prompt=rng.choice(LOAD_PROMPTS),
            cancel_after_events=rng.choice((1, 2)),
            cancel_after_s=rng.uniform(0.05, 0.8),
        ))
    return plan


async def _send_load(session: Any, base_url: str, request: LoadRequest, timeout_s: float) -> LoadOutcome:
    import aiohttp

    from tritongen.bench.client import decode_sse_line

    outcome = LoadOutcome(request)
    url = f"{base_url}/v2/models/{request.model}/{request.endpoint}"
    started = time.perf_counter()
    payloads: list[dict[str, Any]] = []
    cut_short = False

    async def exchange() -> None:
        nonlocal cut_short
        async with session.post(url, json=request.body(),
                                timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
            outcome.status = response.status
            if response.status != 200:
                outcome.detail = (await response.read())[:300].decode(errors="replace")
                return
            if not request.streaming:
                raw = await response.read()
                try:
                    payloads.append(json.loads(raw))
                except ValueError:
                    payloads.append({"error": f"unparsable body: {raw[:200]!r}"})
                return
            async for line in response.content:
                payload = decode_sse_line(line.rstrip(b"\r\n"))
                if payload is None:
                    continue
                payloads.append(payload)
                if request.cancel and len(payloads) >= request.cancel_after_events:
                    cut_short = True
                    response.close()  # the client goes away midway: the connection is closed
                    return

    try:
        if request.cancel and not request.streaming:
            try:
                await asyncio.wait_for(exchange(), timeout=request.cancel_after_s)
            except asyncio.TimeoutError:
                cut_short = True  # cancelling the task closes its connection
        else:
            await exchange()
    except asyncio.TimeoutError:
        outcome.verdict, outcome.detail = "lost", f"no complete answer within {timeout_s:g} s"
    except aiohttp.ClientPayloadError as error:
        outcome.verdict, outcome.detail = "lost", f"the stream was cut: {error}"
    except aiohttp.ClientError as error:
        outcome.verdict, outcome.detail = "lost", f"{type(error).__name__}: {error}"
    outcome.seconds = time.perf_counter() - started
    outcome.events = len(payloads)
    if outcome.verdict != "ok":
        return outcome
    if cut_short:
        outcome.verdict = "cancelled"
        return outcome
    outcome.completed_before_cancel = request.cancel
    _judge(outcome, payloads)
    return outcome


def _judge(outcome: LoadOutcome, payloads: list[dict[str, Any]]) -> None:
    """Exactly one complete answer, carrying this request's id: the verdict on a finished request."""
    request = outcome.request
    if outcome.status != 200:
        outcome.verdict, outcome.detail = "error", f"HTTP {outcome.status}: {outcome.detail}"
        return
    if not payloads:
        outcome.verdict, outcome.detail = "lost", "HTTP 200 without any response object"
        return
    for payload in payloads:
        if not isinstance(payload, dict) or "error" in payload:
            outcome.verdict, outcome.detail = "error", str(payload)[:300]
            return
        if payload.get("id") != request.rid:
            outcome.verdict, outcome.detail = "misrouted", f"a response carried id {payload.get('id')!r}"
            return
    counts = [_count(payload.get("num_output_tokens")) for payload in payloads]
    outcome.counts = [c for c in counts if c is not None]
    outcome.text = "".join(_text(payload.get("text_output", "")) for payload in payloads)
    if len(outcome.counts) != len(payloads):
        outcome.verdict, outcome.detail = "error", "a response lacks num_output_tokens"
        return
    if request.streaming and any(b <= a for a, b in zip(outcome.counts, outcome.counts[1:], strict=False)):
        outcome.verdict, outcome.detail = "duplicated", f"token counts not increasing: {outcome.counts}"
        return
    if outcome.counts[-1] != request.max_tokens:
        outcome.verdict = "incomplete"
        outcome.detail = f"the last response has {outcome.counts[-1]} of {request.max_tokens} tokens"
        return
    if not outcome.text:
        outcome.verdict, outcome.detail = "incomplete", "empty text_output"


def _count(value: object) -> int | None:
    if isinstance(value, list) and value:
        value = value[0]
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object) -> str:
    if isinstance(value, list):
        return "".join(_text(item) for item in value)
    return value if isinstance(value, str) else str(value)


async def _run_requests(base_url: str, plan: Sequence[LoadRequest], concurrency: int,
                        timeout_s: float) -> tuple[list[LoadOutcome], float]:
    import aiohttp

    queue = list(reversed(plan))
    outcomes: list[LoadOutcome] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while queue:
                request = queue.pop()
                outcomes.append(await _send_load(session, base_url, request, timeout_s))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return sorted(outcomes, key=lambda o: o.request.index), wall


def run_requests(base_url: str, plan: Sequence[LoadRequest], concurrency: int,
                 timeout_s: float = LOAD_TIMEOUT_S) -> tuple[list[LoadOutcome], float]:
    """Send `plan` with `concurrency` streams on a private event loop; (outcomes, wall seconds)."""
    return asyncio.run(_run_requests(base_url, plan, concurrency, timeout_s))


def references(base_url: str, max_tokens: int = max(LOAD_MAX_TOKENS)) -> dict[str, str]:
    """The unbatched answer to every prompt (the longest length asked for; greedy decoding is deterministic,
    so a shorter answer is a prefix of it), one request at a time."""
    plan = [LoadRequest(i, f"ref-{i}", "ensemble", False, False, max_tokens, prompt)
            for i, prompt in enumerate(LOAD_PROMPTS)]
    outcomes, _ = run_requests(base_url, plan, 1)
    bad = [o for o in outcomes if o.verdict != "ok"]
    if bad:
        raise RuntimeError(f"reference request {bad[0].request.describe()} failed: {bad[0].verdict} {bad[0].detail}")
    return {o.request.prompt: o.text for o in outcomes}


def _matches(text: str, reference: str, max_tokens: int) -> bool:
    return text == reference or (max_tokens < max(LOAD_MAX_TOKENS) and reference.startswith(text))


def tree_cpu_s(root_pid: int) -> float:
    """CPU seconds (user + system) of the server processes below `root_pid`, from /proc/<pid>/stat."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for proc in server_processes(root_pid):
        try:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except (OSError, ValueError, IndexError):
            continue
    return total


def seconds_to_idle(stack: ServingStack, limit_s: float = IDLE_LIMIT_S, window_s: float = 1.0) -> float | None:
    """Seconds until the server uses under IDLE_CPU_FRACTION of a core over `window_s`; None if never."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        before = tree_cpu_s(stack.process.pid)
        time.sleep(window_s)
        if tree_cpu_s(stack.process.pid) - before < IDLE_CPU_FRACTION * window_s:
            return round(time.monotonic() - started, 1)
    return None


def metrics_counts(stack: ServingStack) -> dict[str, float]:
    """Triton's per-model success/failure counters (`nv_inference_request_*`), for the report."""
    import requests

    try:
        text = requests.get(f"http://127.0.0.1:{stack.ports.metrics}/metrics", timeout=5).text
    except requests.RequestException:
        return {}
    found: dict[str, float] = {}
    for line in text.splitlines():
        match = re.match(r'nv_inference_request_(success|failure)\{(?:[^}]*,)?model="([^"]+)"[^}]*\} (\S+)', line)
        if match:
            key = f"{match.group(2)}.{match.group(1)}"
            found[key] = found.get(key, 0.0) + float(match.group(3))
    return found


def run_load(stack: ServingStack, *, requests: int, concurrency: int, seed: int = 0,
             mode: str = "quick", progress: Callable[[str], None] | None = None) -> PartResult:
    """Part 1 against a running stack."""
    say = progress or (lambda _: None)
    started = time.monotonic()
    rng = random.Random(seed)
    say("load: reference answers (one at a time)")
    reference = references(stack.base_url)
    say(f"load: warm-up ({2 * concurrency} requests at concurrency {concurrency})")
    warm_plan = [r for r in plan_load(2 * concurrency, random.Random(seed + 1), f"warm{seed}") if not r.cancel]
    run_requests(stack.base_url, warm_plan, concurrency)
    time.sleep(1.0)
    memory_before = stack.memory()
    metrics_before = metrics_counts(stack)
    log_tracebacks_before = stack.log().count("Traceback")
    plan = plan_load(requests, rng, f"{seed}-{os.getpid()}")
    say(f"load: {requests} requests at concurrency {concurrency} "
        f"({sum(r.cancel for r in plan)} cancelled by the client)")
    outcomes, wall = run_requests(stack.base_url, plan, concurrency)
    idle_after_s = seconds_to_idle(stack)  # cancelled generations must stop, not spin on
    memory_after = stack.memory()
    metrics_after = metrics_counts(stack)
    log_tracebacks = stack.log().count("Traceback") - log_tracebacks_before

    verdicts: Counter[str] = Counter()
    failures: list[str] = []
    answered: Counter[int] = Counter()
    diverged = 0
    divergences: list[str] = []
    for outcome in outcomes:
        answered[outcome.request.index] += 1
        if outcome.verdict == "ok":
            expected = reference.get(outcome.request.prompt)
            n = outcome.request.max_tokens
            if expected is not None and not _matches(outcome.text, expected, n):
                # Another prompt's answer is cross-talk between sequences (a failure); anything else is a
                # numeric divergence of batched decoding from the unbatched answer (reported only).
                crossed = [prompt for prompt, text in reference.items()
                           if prompt != outcome.request.prompt and _matches(outcome.text, text, n)]
                if crossed:
                    outcome.verdict = "crossed"
                    outcome.detail = f"got the answer to {crossed[0]!r}: {outcome.text!r}"
                else:
                    diverged += 1
                    if len(divergences) < 5:
                        divergences.append(f"{outcome.request.describe()}: {outcome.text!r} vs {expected!r}")
        verdicts[outcome.verdict] += 1
        if outcome.verdict not in ("ok", "cancelled"):
            _keep(failures, f"{outcome.request.describe()}: {outcome.verdict}: {outcome.detail}")
    missing = [r.index for r in plan if answered[r.index] == 0]
    twice = [index for index, n in answered.items() if n > 1]
    for index in missing:
        _keep(failures, f"{plan[index].describe()}: no outcome at all")
    before, after = memory_before["rss_bytes"], memory_after["rss_bytes"]
    growth = 100.0 * (after - before) / before if before else None
    completed = [o for o in outcomes if o.verdict != "cancelled"]
    judged_bad = sum(n for verdict, n in verdicts.items() if verdict not in ("ok", "cancelled"))
    figures: dict[str, Any] = {
        "requests": requests,
        "concurrency": concurrency,
        "ensemble": sum(r.model == "ensemble" for r in plan),
        "bls": sum(r.model == "tensorrt_llm_bls" for r in plan),
        "streaming": sum(r.streaming for r in plan),
        "cancel_planned": sum(r.cancel for r in plan),
        "cancelled": verdicts["cancelled"],
        "cancel_completed_first": sum(o.completed_before_cancel for o in outcomes),
        "completed": len(completed),
        "ok": verdicts["ok"],
        "errors": verdicts["error"],
        "lost": verdicts["lost"] + len(missing),
        "duplicated": verdicts["duplicated"] + len(twice),
        "misrouted": verdicts["misrouted"],
        "incomplete": verdicts["incomplete"],
        "crossed": verdicts["crossed"],
        "text_diverged": diverged,
        "text_divergences": divergences,
        "wall_s": round(wall, 2),
        "requests_per_s": round(len(completed) / wall, 2) if wall else None,
        "latency_p50_s": round(statistics.median(o.seconds for o in completed), 3) if completed else None,
        "latency_max_s": round(max(o.seconds for o in completed), 3) if completed else None,
        "rss_before_bytes": before,
        "rss_after_bytes": after,
        "memory_growth_pct": round(growth, 2) if growth is not None else None,
        "server_processes": memory_after["processes"],
        "rss_per_process_after": memory_after["per_process"],
        "server_log_tracebacks": log_tracebacks,
        "seconds_to_idle_after_load": idle_after_s,
        "triton_metrics_delta": {k: metrics_after.get(k, 0.0) - metrics_before.get(k, 0.0)
                                 for k in sorted(set(metrics_before) | set(metrics_after))},
    }
    notes = []
    memory_ok = growth is not None and growth < MEMORY_GROWTH_LIMIT_PCT
    if not memory_ok:
        notes.append(f"server RSS grew {growth}% (limit {MEMORY_GROWTH_LIMIT_PCT}%)")
    if log_tracebacks:
        notes.append(f"the server log gained {log_tracebacks} 'Traceback' line(s) during the load")
    alive = stack.server_alive()
    if not alive:
        notes.append("the server died during the load")
    if idle_after_s is None:
        notes.append(f"the server was still busy {IDLE_LIMIT_S:g} s after the last request (runaway generation?)")
    bad = judged_bad + len(missing)
    passed = requests - bad
    return PartResult("load", mode, "requests", requests, passed, bad,
                      ok=bad == 0 and memory_ok and alive and idle_after_s is not None,
                      duration_s=time.monotonic() - started,
                      figures=figures, failures=failures, notes=notes)


# --------------------------------------------------------------------------------------------------
# 2. faults


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
                response = session.post(url, json={"text_input": f"fault load {index}", "max_tokens": 8},
                                        timeout=5)
                counts["ok" if response.status_code == 200 else f"http {response.status_code}"] += 1
            except requests.RequestException:
                counts["no response"] += 1
                stop.wait(0.05)


def _launch_members(launcher_pid: int, repo: Path) -> list[procs.Proc]:
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
        from engine_fixtures import make_hf_checkpoint

        self.checkpoint = work / "tiny-checkpoint"
        if not (self.checkpoint / "config.json").is_file():
            make_hf_checkpoint(self.checkpoint)

    def __call__(self, directory: Path) -> Path:
        repo = directory / "torch_tp2"
        argv = ["render", "--engine", str(self.checkpoint), "--output", str(repo), "--tp", "2", "--set",
                "device=cpu"]
        done = subprocess.run([*CLI, *argv], env=cli_env(), capture_output=True, text=True, timeout=300,
                              check=False)
        if done.returncode != 0:
            raise RuntimeError(f"tritongen render --tp 2 failed ({done.returncode}): {done.stderr[-2000:]}")
        return repo


def one_fault_trial(index: int, work: Path, rng: random.Random, max_delay_s: float, *, rank: int | None = None,
                    load_threads: int = 2, make: Callable[[Path], Path] = fixture_repo,
                    target: str = "fixture") -> dict[str, Any]:
    """Launch world size 2, put it under load, kill -9 a random rank at a random moment; what happened."""
    directory = work / f"trial{index}"
    directory.mkdir(parents=True)
    repo = make(directory)
    env = cli_env()
    ports = free_ports(rng)
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
        threads = [threading.Thread(target=_fault_load, args=(ports, stop, counts), daemon=True)
                   for _ in range(load_threads)]
        for thread in threads:
            thread.start()
        delay = rng.uniform(0, max_delay_s)
        time.sleep(delay)
        rank = rng.choice([0, 1]) if rank is None else rank
        victim = launch.rank_pid(rank)
        snapshot = _launch_members(launch.process.pid, repo)
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
        record.update({
            "delay_s": round(delay, 2), "rank": rank, "victim_pid": victim, "exit_code": code,
            "kill_to_exit_s": round(seconds, 3), "processes_before_kill": len(snapshot),
            "leftovers": {str(pid): name for pid, name in left.items()},
            "rank_named": f"rank {rank} (pid {victim})" in launch.output(),
            "requests_served": served_before_kill,
        })
        record["passed"] = code not in (None, 0) and seconds <= EXIT_WITHIN_S and not left
    except Exception as error:  # noqa: BLE001 (a trial that could not run is a failed trial, with its reason)
        record.update({"passed": False, "error": f"{type(error).__name__}: {error}",
                       "log_tail": launch.output()[-2000:]})
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        record["load_counts"] = dict(counts)
        launch.kill()
    if not record["passed"]:
        record.setdefault("log_tail", launch.output()[-2000:])
    return record


def run_faults(work: Path, *, trials: int, torch_trials: int = 0, seed: int = 0, max_delay_s: float = 3.0,
               mode: str = "quick", progress: Callable[[str], None] | None = None) -> PartResult:
    """Part 2: `trials` kill -9 trials on the tiny fixture, then `torch_trials` on the real torch runtime."""
    say = progress or (lambda _: None)
    started = time.monotonic()
    work.mkdir(parents=True, exist_ok=True)
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
        say(f"faults: trial {index + 1}/{trials} ({target}): rank {record.get('rank')} killed after "
            f"{record.get('delay_s')} s: exit {record.get('exit_code')} in {record.get('kill_to_exit_s')} s, "
            f"{len(record.get('leftovers', {}))} left -> {'ok' if record['passed'] else 'FAIL'}")
        if not record["passed"]:
            _keep(failures, "trial {trial} ({target}): rank {rank} kill after {delay} s: exit {code} after "
                  "{secs} s, leftovers {left}{err}; log: {tail}".format(
                      trial=index, target=target, rank=record.get("rank"), delay=record.get("delay_s"),
                      code=record.get("exit_code"), secs=record.get("kill_to_exit_s"),
                      left=record.get("leftovers"), err=f", {record['error']}" if "error" in record else "",
                      tail=record.get("log_tail", "")[-600:].replace("\n", " | ")))
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
        if any("ready_s" in r for r in records) else None,
        "kill_to_exit_by_target": {
            target: {"median_s": round(statistics.median(values), 3), "max_s": round(max(values), 3)}
            for target in ("fixture", "torch-tp2")
            if (values := [r["kill_to_exit_s"] for r in records if r.get("target") == target and "kill_to_exit_s" in r])
        },
        "trials_detail": [{k: v for k, v in r.items() if k != "log_tail"} for r in records],
    }
    return PartResult("faults", mode, "trials", trials, passed, trials - passed, ok=passed == trials,
                      duration_s=time.monotonic() - started, figures=figures, failures=failures)


# --------------------------------------------------------------------------------------------------
# 3. engine-fuzz: mutated config.json files and directory layouts through the real `tritongen render`


@dataclass(frozen=True)
class EngineBase:
    """A config.json to start from, and the rank (or weight) files beside it."""

    name: str
    config_text: str
    files: tuple[str, ...]


@dataclass
class EngineExample:
    """One generated case: everything needed to rebuild it (kept as JSON beside a failure)."""

    base: str
    config_ops: list[str]
    config_bytes: bytes
    layout: list[str]
    layout_seed: int
    engine_name: str
    tokenizer: str
    output: str
    flags: list[str]
    config_file: bytes | None = None  # --config YAML content

    def describe(self) -> str:
        return (f"base={self.base} ops={self.config_ops} layout={self.layout} engine_name={self.engine_name!r} "
                f"tokenizer={self.tokenizer} output={self.output} flags={self.flags}")


def engine_bases() -> list[EngineBase]:
    """The corpus engines (every layout TensorRT-LLM wrote), synthetic ones and two checkpoints."""
    from engine_fixtures import (
        CORPUS_DIR,
        CORPUS_ENGINES,
        SYNTHETIC_DIR,
        legacy_config,
        modern_config,
        rank_file_names,
        trtllm_build_config,
    )

    bases = []
    for name in CORPUS_ENGINES:
        path = CORPUS_DIR / "engines" / name / "config.json"
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            bases.append(EngineBase(name, text, tuple(rank_file_names(json.loads(text)))))
    synthetic = {
        "legacy-0.5": legacy_config(flavor="0.5"),
        "legacy-0.7-tp2": legacy_config(flavor="0.7", tp=2),
        "legacy-0.8": legacy_config(flavor="0.8", max_beam_width=2),
        "trtllm-build-0.9": trtllm_build_config(version="0.9.0"),
        "modern-0.19": modern_config("0.19.0"),
        "modern-1.2-tp2": modern_config("1.2.0", tp=2, max_batch_size=64),
        "modern-1.1-pp2": modern_config("1.1.0", pp=2),
        "modern-medusa": modern_config("0.19.0", speculative="medusa"),
    }
    for name, config in synthetic.items():
        bases.append(EngineBase(name, json.dumps(config, indent=4), tuple(rank_file_names(config))))
    hf = SYNTHETIC_DIR / "smollm2-135m-hf" / "config.json"
    if hf.is_file():
        bases.append(EngineBase("hf-smollm2", hf.read_text(encoding="utf-8"), ("model.safetensors",)))
    checkpoint = SYNTHETIC_DIR / "trtllm-checkpoint" / "config.json"
    if checkpoint.is_file():
        bases.append(EngineBase("trtllm-checkpoint", checkpoint.read_text(encoding="utf-8"), ("rank0.safetensors",)))
    return bases


INTERESTING_KEYS = (
    "version", "pretrained_config", "build_config", "builder_config", "plugin_config", "mapping", "tp_size",
    "pp_size", "cp_size", "world_size", "gpus_per_node", "architecture", "architectures", "dtype",
    "logits_dtype", "max_batch_size", "max_beam_width", "max_input_len", "max_seq_len", "max_output_len",
    "max_num_tokens", "num_attention_heads", "num_key_value_heads", "num_heads", "num_kv_heads", "hidden_size",
    "vocab_size", "kv_cache_type", "paged_kv_cache", "use_paged_context_fmha", "gather_context_logits",
    "gather_generation_logits", "speculative_decoding_mode", "max_draft_len", "lora_config", "quantization",
    "quant_algo", "kv_cache_quant_algo", "tensor_parallel", "pipeline_parallel", "name", "precision",
    "max_prompt_embedding_table_size", "torch_dtype", "model_type", "num_hidden_layers", "eos_token_id",
)
INTERESTING_STRINGS = (
    "", " ", "float16", "bfloat16", "float32", "fp8", "int8", "int4", "PAGED", "paged", "CONTINUOUS", "disabled",
    "llama", "LlamaForCausalLM", "MedusaForCausalLM", "1.2.0", "0.5.0", "0.19.0", "99.0", "0.4", "1.2.0rc6.post3",
    "abc", "None", "null", "true", "-1", "1e309", "\u0000", "é", "🙂", "\ud7ff", "../../etc/passwd", "${x}", "{{ x }}",
    "a" * 10_000,
)
BOUNDARY_INTS = (0, 1, -1, 2, 3, 7, 8, 64, 2**31 - 1, 2**31, -(2**31) - 1, 2**32 + 8, 2**63 - 1, -(2**63), 2**64,
                 10**30)


def _json_values() -> Any:
    from hypothesis import strategies as st

    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.sampled_from(BOUNDARY_INTS),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(INTERESTING_STRINGS),
        st.text(max_size=24),
    )
    return st.recursive(scalars, lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(INTERESTING_KEYS), st.text(max_size=8)), children, max_size=4),
    ), max_leaves=8)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        for key, child in value.items():
            found.append((*prefix, key))
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.append((*prefix, index))
            found += _paths(child, (*prefix, index))
    return found


def _containers(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every dict in `value` (the root included)."""
    found = [prefix] if isinstance(value, dict) else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _containers(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _containers(child, (*prefix, index))
    return found


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


def _retyped(value: Any) -> Any:
    """The same information in another JSON type (what a hand-edited file gets wrong)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return int(value) if value.lstrip("-").isdigit() else [value]
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, dict):
        return list(value.values())
    return 0


LAYOUT_OPS = (
    "truncate-config", "binary-config", "empty-config", "bom-config", "invalid-utf8-config", "no-config",
    "config-is-dir", "config-dangling-symlink", "config-symlink-loop", "drop-file", "extra-rank-file",
    "file-is-dir", "empty-files", "engine-is-file", "engine-missing", "engine-empty-dir", "nested-config",
    "deep-json", "huge-config", "duplicate-keys", "trailing-garbage", "engine-symlink",
)
TOKENIZER_SCENARIOS = ("tiny", "engine", "missing", "empty-dir", "file", "corrupt-json", "fuzzed-config",
                       "smollm2")
OUTPUT_SCENARIOS = ("new", "nested-new", "existing-render", "existing-other", "existing-empty", "file",
                    "symlink-to-render", "inside-engine", "is-engine")
SET_VALUES = (
    "max_batch_size=8", "tensorrt_llm.max_beam_width=2", "decoupled_mode=false", "batching_strategy=v1",
    "kv_cache_free_gpu_mem_fraction=0.5", "kv_cache_free_gpu_mem_fraction=2", "preprocessing.tokenizer_dir=/x",
    "bogus=1", "=", "a.b.c=1", "triton_max_batch_size=-3", "max_seq_len=abc", "tp_size=0", "ensemble.decoupled_mode=",
    "max_queue_delay_microseconds=1e9", "tensorrt_llm.gpu_device_ids=0,1", "engine_dir=", "${x}={{y}}",
)


def engine_example_strategy(bases: Sequence[EngineBase]) -> Any:
    from hypothesis import strategies as st

    wild = _json_values()
    plausible = st.sampled_from((0, 1, 2, 3, 4, 8, 16, 64, 128, 256, 1024, 4096, True, False, None, "float16",
                                 "bfloat16", "float32", "fp8", "PAGED", "paged", "llama", "LlamaForCausalLM",
                                 "1.2.0", "0.19.0", "0.8.0"))
    values = st.one_of(plausible, wild)

    @st.composite
    def build(draw: Any) -> EngineExample:
        # Shape decisions (which base, which mutations, which flags) with plain probabilities from a
        # hypothesis-seeded Random: hypothesis' own draws lean on the smallest choice. Values come from
        # hypothesis strategies, which is where its edge cases (NaN, huge, unicode, nesting) pay off.
        rnd = draw(st.randoms(use_true_random=True))
        base = rnd.choice(list(bases))
        config: Any = json.loads(base.config_text)
        ops: list[str] = []
        for _ in range(rnd.choice((0, 0, 0, 1, 1, 1, 2, 2, 3, 4))):
            kind = rnd.choice(("set", "set", "set", "delete", "delete", "add", "retype", "replace-root"))
            paths = _paths(config)
            if kind == "replace-root" or not paths:
                config = draw(values)
                ops.append(f"root={json.dumps(config, allow_nan=True)[:60]}")
                continue
            if kind == "add":
                where = rnd.choice(_containers(config) or [()])
                if not isinstance(_at(config, where), dict):
                    continue
                key = rnd.choice(INTERESTING_KEYS) if rnd.random() < 0.7 else draw(st.text(max_size=8))
                value = draw(values)
                _at(config, where)[key] = value
                ops.append(f"add {'.'.join(map(str, (*where, key)))}={json.dumps(value, allow_nan=True)[:40]}")
                continue
            interesting = [p for p in paths if p[-1] in INTERESTING_KEYS]
            path = rnd.choice(interesting if interesting and rnd.random() < 0.6 else paths)
            parent = _at(config, path[:-1])
            if kind == "delete":
                del parent[path[-1]]
                ops.append(f"delete {'.'.join(map(str, path))}")
            elif kind == "retype":
                parent[path[-1]] = _retyped(parent[path[-1]])
                ops.append(f"retype {'.'.join(map(str, path))}")
            else:
                value = draw(values)
                parent[path[-1]] = value
                ops.append(f"set {'.'.join(map(str, path))}={json.dumps(value, allow_nan=True)[:40]}")
        text = json.dumps(config, indent=rnd.choice((None, 2, 4)), allow_nan=True, ensure_ascii=rnd.random() < 0.5)
        layout = [rnd.choice(LAYOUT_OPS) for _ in range(rnd.choice((0, 0, 0, 0, 0, 1, 1, 2)))]
        flags: list[str] = []
        config_file = None
        if rnd.random() < 0.3:
            flags.append("--force")
        if rnd.random() < 0.08:
            flags.append("--dry-run")
        for _ in range(rnd.choice((0,) * 8 + (1, 2))):
            flags += ["--set", rnd.choice(SET_VALUES) if rnd.random() < 0.8 else draw(st.text(max_size=16))]
        if rnd.random() < 0.06:
            flags += ["--backend-version", rnd.choice(("0.5", "0.8", "0.12", "0.19", "1.2", "1.1.0", "2.0", "x", ""))]
        if rnd.random() < 0.15:
            flags += ["--placement", rnd.choice(("symlink", "hardlink", "copy", "copy", "reference", "bogus"))]
        if rnd.random() < 0.05:
            flags += [rnd.choice(("--tp", "--pp")), str(rnd.choice((0, 1, 2, 3, -1, 9)))]
        if rnd.random() < 0.08:
            flags.append(rnd.choice(("--no-streaming", "--slurm", "--k8s")))
        if rnd.random() < 0.06:
            choice = rnd.random()
            if choice < 0.4:
                content = json.dumps(draw(values), allow_nan=True)
            elif choice < 0.8:
                content = rnd.choice(("max_batch_size: 4\n", "tensorrt_llm: {max_beam_width: x}\n", "- a\n- b\n",
                                      "{{{", "bogus: 1\n", "preprocessing: 3\n", "a: !!python/object:os.system x\n",
                                      "max_beam_width: [1, 2]\n", "ensemble: {decoupled_mode: .nan}\n"))
            else:
                content = draw(st.text(max_size=40))
            config_file = content.encode("utf-8", errors="surrogatepass")
        tokenizer = rnd.choice(TOKENIZER_SCENARIOS) if rnd.random() < 0.25 else "tiny"
        output = rnd.choice(OUTPUT_SCENARIOS) if rnd.random() < 0.5 else "new"
        return EngineExample(
            base=base.name,
            config_ops=ops,
            config_bytes=text.encode("utf-8", errors="surrogatepass"),
            layout=layout,
            layout_seed=rnd.randrange(2**32),
            engine_name=rnd.choice(("engine",) * 6 + ("my engine", "ëngine-ü", "-engine", "engine.d")),
            tokenizer=tokenizer,
            output=output,
            flags=flags,
            config_file=config_file,
        )

    return build()


def generate_examples(strategy: Any, count: int, seed: int) -> list[Any]:
    """`count` examples drawn by hypothesis (generation only: no shrinking, no database)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    found: list[Any] = []
    attempt = 0
    while len(found) < count and attempt < 10:
        @settings(max_examples=count - len(found), database=None, deadline=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @hypothesis_seed(seed + attempt)
        @given(strategy)
        def collect(example: Any) -> None:
            found.append(example)

        collect()
        attempt += 1
    return found[:count]


def _snapshot(path: Path) -> Any:
    """Everything under `path`, byte for byte (links as their targets), or None when it does not exist."""
    if not os.path.lexists(path):
        return None
    if path.is_symlink():
        return ("link", os.readlink(path))
    if path.is_file():
        return ("file", path.read_bytes())
    if not path.is_dir():
        return ("other",)
    tree: dict[str, Any] = {}
    for root, dirs, files in os.walk(path, followlinks=False):
        rel_root = os.path.relpath(root, path)
        for name in dirs:
            full = Path(root) / name
            tree[str(Path(rel_root) / name)] = ("link", os.readlink(full)) if full.is_symlink() else ("dir",)
        for name in files:
            full = Path(root) / name
            if full.is_symlink():
                tree[str(Path(rel_root) / name)] = ("link", os.readlink(full))
            else:
                try:
                    tree[str(Path(rel_root) / name)] = ("file", full.read_bytes())
                except OSError as error:
                    tree[str(Path(rel_root) / name)] = ("unreadable", str(error))
    return ("dir", tree)


def _listing(directory: Path) -> set[str]:
    try:
        return set(os.listdir(directory))
    except OSError:
        return set()


@dataclass
class EngineFixtures:
    """What every engine-fuzz example shares: a tiny tokenizer and a previously rendered repository."""

    tokenizer: Path
    template_repo: Path
    smollm2_tokenizer: Path | None


def prepare_engine_fixtures(work: Path) -> EngineFixtures:
    from engine_fixtures import make_engine_dir, make_tokenizer_dir, modern_config

    tokenizer = make_tokenizer_dir(work / "tokenizer")
    engine = make_engine_dir(work / "template-engine", modern_config("0.19.0"), name="engine")
    template = work / "template-render"
    code, out, err, crash = run_cli_in_process(
        ["render", "--engine", str(engine), "--tokenizer", str(tokenizer), "--output", str(template)])
    if code != 0:
        raise RuntimeError(f"could not render the template repository ({code}): {out}{err}{crash}")
    smollm2 = None
    from tritongen.launch.server import cache_dir

    candidate = cache_dir() / "examples" / "smollm2"
    if (candidate / "tokenizer.json").is_file():
        smollm2 = candidate
    return EngineFixtures(tokenizer, template, smollm2)


class _CaseTimedOut(BaseException):
    """Raised by SIGALRM inside a case that hangs (a BaseException: main() must not swallow it)."""


def _time_out(signum: int, frame: object) -> None:
    raise _CaseTimedOut


def run_cli_in_process(argv: list[str], timeout_s: float = CASE_TIMEOUT_S) -> tuple[int, str, str, str | None]:
    """`tritongen.cli.main(argv)` in this process: (exit code, stdout, stderr, escaped traceback or None).

    A case still running after `timeout_s` (main thread only: SIGALRM) ends with code -1 and says so.
    """
    from tritongen.cli import main

    out, err = io.StringIO(), io.StringIO()
    escaped = None
    code = 0
    alarm = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGALRM, _time_out) if alarm else None
    if alarm:
        signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(argv)
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
            except Exception:  # noqa: BLE001 (what would have been a traceback: the finding itself)
                escaped = traceback.format_exc()
                code = 1
    except _CaseTimedOut:
        code = -1
        err.write(f"\n(reliability suite: still running after {timeout_s:g} s, stopped)")
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    if code == 130:
        raise KeyboardInterrupt
    return code, out.getvalue(), err.getvalue(), escaped


def build_engine_example(example: EngineExample, directory: Path, bases: dict[str, EngineBase]) -> Path:
    """Write the example's engine directory under `directory`; return the path to pass as --engine."""
    rng = random.Random(example.layout_seed)
    engine = directory / example.engine_name
    engine.mkdir(parents=True)
    config = engine / "config.json"
    config.write_bytes(example.config_bytes)
    base = bases[example.base]
    for position, name in enumerate(base.files):
        (engine / name).write_bytes(b"stand-in engine " + b"x" * position)
    files = list(base.files)
    for op in example.layout:
        if op == "truncate-config" and config.is_file():
            data = config.read_bytes()
            config.write_bytes(data[: rng.randrange(len(data) + 1)])
        elif op == "binary-config":
            _remove(config)
            config.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))))
        elif op == "empty-config":
            _remove(config)
            config.write_bytes(b"")
        elif op == "bom-config" and config.is_file():
            config.write_bytes(b"\xef\xbb\xbf" + config.read_bytes())
        elif op == "invalid-utf8-config" and config.is_file():
            data = config.read_bytes()
            cut = rng.randrange(len(data) + 1)
            config.write_bytes(data[:cut] + b"\xff\xfe\xc3" + data[cut:])
        elif op == "no-config":
            _remove(config)
        elif op == "config-is-dir":
            _remove(config)
            config.mkdir()
        elif op == "config-dangling-symlink":
            _remove(config)
            config.symlink_to(engine / "nowhere.json")
        elif op == "config-symlink-loop":
            _remove(config)
            config.symlink_to(config)
        elif op == "drop-file" and files:
            _remove(engine / files.pop(rng.randrange(len(files))))
        elif op == "extra-rank-file":
            (engine / f"rank{rng.randrange(1, 9)}.engine").write_bytes(b"extra")
        elif op == "file-is-dir" and files:
            victim = engine / rng.choice(files)
            _remove(victim)
            victim.mkdir()
        elif op == "empty-files":
            for name in files:
                if (engine / name).is_file():
                    (engine / name).write_bytes(b"")
        elif op == "engine-is-file":
            _remove(engine)
            engine.write_bytes(example.config_bytes)
            return engine
        elif op == "engine-missing":
            _remove(engine)
            return engine
        elif op == "engine-empty-dir":
            _remove(engine)
            engine.mkdir()
            return engine
        elif op == "nested-config":
            inner = engine / "inner"
            inner.mkdir(exist_ok=True)
            for child in list(engine.iterdir()):
                if child != inner:
                    child.rename(inner / child.name)
        elif op == "deep-json":
            depth = rng.choice((1000, 100_000))
            _remove(config)
            config.write_bytes(b'{"version": "1.2.0", "pretrained_config": ' + b"[" * depth + b"]" * depth + b"}")
        elif op == "huge-config" and config.is_file():
            config.write_bytes(config.read_bytes().rstrip()[:-1] + b', "padding": "' + b"x" * 5_000_000 + b'"}')
        elif op == "duplicate-keys" and config.is_file():
            data = config.read_bytes().lstrip()
            if data.startswith(b"{"):
                config.write_bytes(b'{"version": 1, "pretrained_config": [], ' + data[1:])
        elif op == "trailing-garbage" and config.is_file():
            config.write_bytes(config.read_bytes() + b"\n}garbage")
        elif op == "engine-symlink" and not engine.is_symlink():
            real = directory / f"{example.engine_name}.real"
            engine.rename(real)
            engine.symlink_to(real)
    return engine


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _prepare_tokenizer(scenario: str, directory: Path, fixtures: EngineFixtures, rng: random.Random) -> list[str]:
    if scenario == "engine":
        return []
    target = directory / "tokenizer"
    if scenario == "tiny":
        return ["--tokenizer", str(fixtures.tokenizer)]
    if scenario == "smollm2" and fixtures.smollm2_tokenizer is not None:
        return ["--tokenizer", str(fixtures.smollm2_tokenizer)]
    if scenario == "missing":
        return ["--tokenizer", str(target)]
    if scenario == "empty-dir":
        target.mkdir()
    elif scenario == "file":
        target.write_text("not a tokenizer")
    else:
        shutil.copytree(fixtures.tokenizer, target)
        if scenario == "corrupt-json":
            data = (target / "tokenizer.json").read_bytes()
            (target / "tokenizer.json").write_bytes(data[: rng.randrange(len(data))])
        elif scenario == "fuzzed-config":
            value: Any = rng.choice((None, 3, "x", [], {"eos_token": 5}, {"eos_token": {"content": None}},
                                {"chat_template": 7, "bos_token": []}, {"tokenizer_class": "Nope"}))
            (target / "tokenizer_config.json").write_text(json.dumps(value))
    return ["--tokenizer", str(target)]


def _prepare_output(scenario: str, directory: Path, engine: Path, fixtures: EngineFixtures) -> Path:
    out_parent = directory / "out"
    out_parent.mkdir()
    output = out_parent / "repo"
    if scenario == "nested-new":
        output = out_parent / "a" / "b" / "repo"
    elif scenario == "existing-render":
        shutil.copytree(fixtures.template_repo, output, symlinks=True)
    elif scenario == "existing-other":
        output.mkdir()
        (output / "notes.txt").write_text("keep me")
    elif scenario == "existing-empty":
        output.mkdir()
    elif scenario == "file":
        output.write_text("a file where the repository should go")
    elif scenario == "symlink-to-render":
        real = out_parent / "real-repo"
        shutil.copytree(fixtures.template_repo, real, symlinks=True)
        output.symlink_to(real)
    elif scenario == "inside-engine":
        output = engine / "repo" if engine.is_dir() else output
    elif scenario == "is-engine":
        output = engine
    return output


def run_engine_example(example: EngineExample, directory: Path, bases: dict[str, EngineBase],
                       fixtures: EngineFixtures, via_subprocess: bool) -> dict[str, Any]:
    """Build the case, run `tritongen render`, and check the promises; returns the record."""
    rng = random.Random(example.layout_seed + 1)
    directory.mkdir(parents=True)
    engine = build_engine_example(example, directory, bases)
    argv = ["render", "--engine", str(engine), *_prepare_tokenizer(example.tokenizer, directory, fixtures, rng)]
    output = _prepare_output(example.output, directory, engine, fixtures)
    argv += ["--output", str(output), *example.flags]
    if example.config_file is not None:
        overrides = directory / "overrides.yaml"
        overrides.write_bytes(example.config_file)
        argv += ["--config", str(overrides)]
    real_output = output.resolve() if output.is_symlink() else output
    parents = {output.parent, real_output.parent}
    before_listing = {parent: _listing(parent) for parent in parents}
    before_output = _snapshot(output)
    before_real = _snapshot(real_output) if real_output != output else None
    engine_files = _snapshot(engine) if example.output not in ("inside-engine", "is-engine") else None

    started = time.perf_counter()
    if via_subprocess:
        try:
            done = subprocess.run([*CLI, *argv], env=cli_env(), capture_output=True, text=True,
                                  timeout=CASE_TIMEOUT_S, check=False)
            code, out, err, escaped = done.returncode, done.stdout, done.stderr, None
        except subprocess.TimeoutExpired:
            code, out, err, escaped = -1, "", f"(reliability suite: still running after {CASE_TIMEOUT_S:g} s, killed)", None
    else:
        code, out, err, escaped = run_cli_in_process(argv)
    seconds = time.perf_counter() - started

    problems: list[str] = []
    if escaped is not None:
        problems.append(f"an exception escaped main(): {escaped.strip().splitlines()[-1]}")
    if "Traceback" in err or "Traceback" in out:
        problems.append("a traceback was printed")
    if code == -1:
        problems.append(f"tritongen render hung: still running after {CASE_TIMEOUT_S:g} s")
    elif code not in DOCUMENTED_RENDER_CODES:
        problems.append(f"exit code {code} is not a documented render exit code")
    dry_run = "--dry-run" in example.flags
    wrote = code == 0 and not dry_run
    partial = False
    changed = _snapshot(output) != before_output or (
        before_real is not None and _snapshot(real_output) != before_real)
    if not wrote and changed:
        partial = True
        problems.append("the output changed although nothing was to be written")
    left = []
    for parent, listing in before_listing.items():
        new = _listing(parent) - listing
        if wrote:
            new -= {real_output.name, output.name}
        left += sorted(new)
    if left:
        problems.append(f"new entries beside the output: {left}")
    if engine_files is not None and _snapshot(engine) != engine_files:
        problems.append("the engine directory was modified")
    if wrote:
        missing = [name for name in ("tritongen.json", "ensemble/config.pbtxt", "tensorrt_llm/config.pbtxt",
                                     "preprocessing/config.pbtxt", "postprocessing/config.pbtxt")
                   if not (real_output / name).is_file()]
        if missing:
            problems.append(f"exit 0 but the repository lacks {missing}")
    message = (err.strip().splitlines() or [""])[-1][:240]
    return {
        "code": code, "seconds": round(seconds, 3), "problems": problems, "partial": partial,
        "temporary_left": len(left), "traceback": escaped is not None or "Traceback" in err + out,
        "message": message, "argv": argv, "subprocess": via_subprocess,
        "escaped": escaped[-3000:] if escaped else None,
    }


def run_engine_fuzz(work: Path, *, examples: int, seed: int = 0, subprocess_every: int = 25,
                    mode: str = "quick", progress: Callable[[str], None] | None = None) -> PartResult:
    """Part 3: `examples` generated engine directories through `tritongen render`."""
    say = progress or (lambda _: None)
    started = time.monotonic()
    work.mkdir(parents=True, exist_ok=True)
    bases_list = engine_bases()
    bases = {base.name: base for base in bases_list}
    fixtures = prepare_engine_fixtures(work / "fixtures")
    say(f"engine-fuzz: generating {examples} examples from {len(bases)} base configs")
    cases = generate_examples(engine_example_strategy(bases_list), examples, seed)
    codes: Counter[str] = Counter()
    failures: list[str] = []
    records = []
    kept = 0
    failed_dir = work / "failures"
    for index, example in enumerate(cases):
        directory = work / "cases" / f"ex{index}"
        via_subprocess = subprocess_every > 0 and index % subprocess_every == subprocess_every - 1
        try:
            record = run_engine_example(example, directory, bases, fixtures, via_subprocess)
        except Exception as error:  # noqa: BLE001 (a case this harness cannot build is reported, not fatal)
            record = {"code": None, "seconds": 0.0, "problems": [f"harness error (not tritongen): {error!r}"],
                      "partial": False, "temporary_left": 0, "traceback": False, "message": "", "argv": [],
                      "subprocess": via_subprocess, "escaped": traceback.format_exc()[-3000:]}
        codes[str(record["code"])] += 1
        records.append(record)
        if record["problems"]:
            if kept < FAILURES_KEPT:  # keep the case (and how to rerun it) for a look afterwards
                kept += 1
                target = failed_dir / f"ex{index}"
                shutil.move(str(directory), str(target))
                (target / "example.json").write_text(json.dumps({
                    **asdict(example), "config_bytes": example.config_bytes.decode("utf-8", "replace")[:20000],
                    "config_file": example.config_file.decode("utf-8", "replace") if example.config_file else None,
                    "record": record}, indent=2, default=str))
            _keep(failures, f"example {index} ({example.describe()}): exit {record['code']}: "
                  f"{'; '.join(record['problems'])}; stderr: {record['message']}")
        shutil.rmtree(directory, ignore_errors=True)
        if (index + 1) % 50 == 0:
            say(f"engine-fuzz: {index + 1}/{len(cases)} examples, {len(failures)} failed so far")
    shutil.rmtree(work / "cases", ignore_errors=True)
    failed = sum(bool(r["problems"]) for r in records)
    figures = {
        "examples": len(cases),
        "bases": len(bases),
        "exit_codes": dict(sorted(codes.items())),
        "tracebacks": sum(r["traceback"] for r in records),
        "undocumented_codes": sum(r["code"] not in DOCUMENTED_RENDER_CODES for r in records),
        "partial_writes": sum(r["partial"] for r in records),
        "temporary_dirs_left": sum(r["temporary_left"] for r in records),
        "subprocess_runs": sum(r["subprocess"] for r in records),
        "render_median_s": round(statistics.median(r["seconds"] for r in records), 3) if records else None,
        "layout_ops": dict(Counter(op for case in cases for op in case.layout)),
        "output_scenarios": dict(Counter(case.output for case in cases)),
        "tokenizer_scenarios": dict(Counter(case.tokenizer for case in cases)),
        "messages": dict(Counter(re.sub(r"/\S+", "PATH", r["message"])[:100] for r in records).most_common(15)),
    }
    notes = []
    if len(cases) < examples:
        notes.append(f"hypothesis produced {len(cases)} of the {examples} examples asked for")
    if kept:
        notes.append(f"failing cases kept under {failed_dir}")
    return PartResult("engine-fuzz", mode, "examples", len(cases), len(cases) - failed, failed,
                      ok=failed == 0 and len(cases) >= examples, duration_s=time.monotonic() - started,
                      figures=figures, failures=failures, notes=notes)


# --------------------------------------------------------------------------------------------------
# 4. request-fuzz: malformed generate / generate_stream bodies against the real stack


# Triton 2.51's HTTP front end answers some malformed bodies with HTTP 500 before any model sees them.
# They are known upstream behaviour, counted apart (by kind) and not failures; any other 5xx is one.
# "Unable to parse '<key>'" is the documented one (a JSON value of the wrong type for input or field <key>:
# 'data' for an input tensor, 'id' for the request id, ...); the others are its siblings in the same
# request parser (http_server.cc), reached by a non-string value for a string input, by a body that is not
# JSON, by JSON that is not an object, by a `parameters` that is not an object, and by a field name with a
# NUL character in it (the name is cut at the NUL, then looked up).
KNOWN_FRONTEND_5XX = (
    ("unable-to-parse-bytes", "Unable to parse JSON bytes array"),
    ("invalid-json", "failed to parse the request JSON buffer"),
    ("not-an-object", "attempt to get members for non-object"),
    ("parameters-not-object", "Expected JSON object for keyword: 'parameters'"),
    ("nul-in-field-name", "was not found in the JSON"),
)
UNABLE_TO_PARSE = re.compile(r"Unable to parse '([^']{1,40})'")


def frontend_5xx_kind(message: str) -> str | None:
    """The known Triton front-end parse error this HTTP 500 body is, or None."""
    match = UNABLE_TO_PARSE.search(message)
    if match:
        return f"unable-to-parse-{match.group(1)}" if match.group(1) in ("data", "id") else "unable-to-parse-other"
    return next((name for name, text in KNOWN_FRONTEND_5XX if text in message), None)


REQUEST_FIELDS = (
    "text_input", "max_tokens", "min_tokens", "stream", "temperature", "top_k", "top_p", "seed", "beam_width",
    "num_return_sequences", "end_id", "pad_id", "bad_words", "stop_words", "exclude_input_in_output",
    "return_log_probs", "return_num_output_tokens", "return_num_input_tokens", "length_penalty",
    "repetition_penalty", "presence_penalty", "frequency_penalty", "return_context_logits",
    "return_generation_logits", "return_perf_metrics", "lora_task_id", "embedding_bias_words",
    "embedding_bias_weights", "decoder_text_input", "guided_decoding_guide_type", "guided_decoding_guide",
    "image_url_input", "prompt_table_extra_id", "id", "parameters", "model_name", "inputs",
)
# max_tokens/min_tokens values that never ask for a long generation: small, invalid, or wrapping (Triton
# reads JSON integers into INT32) to small or invalid values. Everything else is rejected or tiny.
SAFE_TOKEN_COUNTS = (-(2**31) - 1, -5, -1, 0, 1, 2, 4, 8, 16, 2**31 - 1, 2**31, 2**32, 2**32 + 8, 2**63 - 1,
                     -(2**63), 2**64, 10**30, 4065, 4096, 10**9)
HEALTH_EVERY = 25
FUZZ_TIMEOUT_S = 180.0
FUZZ_CONCURRENCY = 4
KNOWN_CRASH_DEPTH = 100_000  # Triton 2.51 SIGSEGVs on text_input nested this deep (see docs/reliability.md)
MAX_FUZZ_NESTING = 10_000  # deeper nesting in the random bodies would hit that known crash every run


@dataclass
class FuzzRequest:
    """One malformed (or merely odd) request."""

    model: str
    endpoint: str
    kind: str
    body: bytes

    def describe(self) -> str:
        shown = self.body[:160].decode("utf-8", "backslashreplace")
        more = f"... ({len(self.body)} bytes)" if len(self.body) > 160 else ""
        return f"{self.model}/{self.endpoint} [{self.kind}] {shown}{more}"


INT_FIELDS = ("top_k", "beam_width", "num_return_sequences", "end_id", "pad_id", "lora_task_id",
              "prompt_table_extra_id")
FLOAT_FIELDS = ("temperature", "top_p", "length_penalty", "repetition_penalty", "presence_penalty",
                "frequency_penalty")
BOOL_FIELDS = ("stream", "exclude_input_in_output", "return_log_probs", "return_num_output_tokens",
               "return_num_input_tokens", "return_context_logits", "return_generation_logits", "return_perf_metrics")
STRING_FIELDS = ("text_input", "decoder_text_input", "bad_words", "stop_words", "guided_decoding_guide_type",
                 "guided_decoding_guide", "image_url_input", "embedding_bias_words")


def _typed_value(field_name: str) -> Any:
    """A value of the type the input expects (so it reaches tritongen's models), odd in its content."""
    from hypothesis import strategies as st

    if field_name in ("max_tokens", "min_tokens"):
        return st.one_of(st.sampled_from(SAFE_TOKEN_COUNTS), st.integers(-3, 16))
    if field_name in INT_FIELDS:
        return st.one_of(st.integers(-10, 100_000), st.sampled_from(BOUNDARY_INTS))
    if field_name in FLOAT_FIELDS:
        return st.one_of(st.floats(-1e6, 1e6), st.sampled_from((0.0, 1.0, -1.0, 1e-45, 3.4e38, 1e300, 2.0)))
    if field_name == "seed":
        return st.integers(0, 2**64 - 1)
    if field_name in BOOL_FIELDS:
        return st.booleans()
    if field_name == "embedding_bias_weights":
        return st.one_of(st.floats(-100, 100), st.lists(st.floats(-100, 100), max_size=4))
    return st.one_of(st.text(max_size=40), st.lists(st.text(max_size=10), max_size=4),
                     st.sampled_from(("", " ", "<|im_end|>", "\u0000", "🙂", "json", "regex", "a" * 5000)))


def _fuzz_value(field_name: str, rnd: random.Random) -> Any:
    """Mostly well-typed odd values, sometimes anything at all (token counts always stay short)."""
    from hypothesis import strategies as st

    if field_name in ("max_tokens", "min_tokens"):
        return st.one_of(_typed_value(field_name),
                         st.sampled_from(("8", "", None, True, 8.5, [8], [8, 8], {"a": 8}, "NaN", [])))
    return _typed_value(field_name) if rnd.random() < 0.8 else _json_values()


def request_strategy() -> Any:
    from hypothesis import strategies as st

    prompts = st.one_of(st.sampled_from(("Hello", "What is 2+2?", "hi", " ", "\u0000", "🙂" * 3, "<|im_end|>",
                                         "{{ raise_exception('x') }}", "<s></s>")), st.text(max_size=60))
    kinds = ("mutated",) * 10 + ("random-json",) * 2 + ("bytes",) * 2 + ("huge",) + ("unicode",) * 2 + (
        "nested",) + ("extra-fields",) * 2 + ("empty",)

    @st.composite
    def build(draw: Any) -> FuzzRequest:
        rnd = draw(st.randoms(use_true_random=True))  # shape decisions; values from hypothesis strategies
        model = rnd.choice(("ensemble", "tensorrt_llm_bls"))
        endpoint = rnd.choice(("generate", "generate_stream"))
        kind = rnd.choice(kinds)
        body: bytes
        if kind in ("mutated", "extra-fields", "unicode"):
            fields: dict[str, Any] = {"text_input": draw(prompts), "max_tokens": rnd.randint(1, 8)}
            if endpoint == "generate_stream" and rnd.random() < 0.5:
                fields["stream"] = True
            operations = rnd.choice((1, 1, 2, 2, 3, 4)) if kind == "mutated" else 0
            for _ in range(operations):
                name = rnd.choice(REQUEST_FIELDS) if rnd.random() < 0.85 else draw(st.text(max_size=12))
                if rnd.random() < 0.2:
                    fields.pop(rnd.choice(sorted(fields) or ["x"]), None)
                else:
                    fields[name] = draw(_fuzz_value(name, rnd))
            if kind == "extra-fields":
                for _ in range(rnd.randint(1, 6)):
                    fields[draw(st.text(min_size=1, max_size=12))] = draw(_json_values())
            text = json.dumps(fields, allow_nan=True, ensure_ascii=rnd.random() < 0.5)
            if kind == "unicode":
                escape = rnd.choice(("\\ud800", "\\udfff", "\\u0000", "\\uffff", "\\ud83d\\ude00", "\\ud83d",
                                     "\u2028", "\\x41", "\\", "é", "\\u00"))
                text = json.dumps({**fields, "text_input": "A"}).replace('"A"', f'"A{escape}"', 1)
            body = text.encode("utf-8", errors="surrogatepass")
        elif kind == "random-json":
            body = json.dumps(draw(_json_values()), allow_nan=True).encode("utf-8", errors="surrogatepass")
        elif kind == "bytes":
            body = draw(st.binary(max_size=200)) if rnd.random() < 0.4 else rnd.choice((
                b"{", b"}", b"[", b'{"text_input": "hi", "max_tokens": 4',
                b'{"text_input": "hi", "max_tokens": 4} trailing',
                b'{"text_input": "hi", "max_tokens": 4, "text_input": "dup"}',
                b'\xff\xfe{"text_input": "hi", "max_tokens": 4}', b'{"text_input": "h\xffi", "max_tokens": 4}',
                b'{"text_input": "hi", "max_tokens": 0x10}', b"{'text_input': 'hi', 'max_tokens': 4}", b"null",
                b"true", b"0", b'""', b'{"text_input": "hi", "max_tokens": 4, "stream": NaN}',
                b'{"text_input": "hi", "max_tokens": 4e0}', b'{"text_input": "hi", "max_tokens": -0}'))
        elif kind == "huge":
            size = rnd.choice((100_000, 1_000_000, 2_000_000))
            where = rnd.choice(("text_input", "bad_words", "extra", "many-fields", "array"))
            fields = {"text_input": "hi", "max_tokens": 4}
            if where == "many-fields":
                fields.update({f"f{i}": i for i in range(size // 20)})
            elif where == "array":
                fields["text_input"] = ["x"] * (size // 4)
            else:
                fields[where] = "x" * size
            body = json.dumps(fields).encode()
        elif kind == "nested":
            depth = rnd.choice((10, 100, 1000, MAX_FUZZ_NESTING))
            where = rnd.choice(("text_input", "max_tokens", "extra", "root"))
            leaf = "4" if where == "max_tokens" else '"a"'
            nested = "[" * depth + leaf + "]" * depth
            if where == "root":
                body = nested.encode()
            elif where == "text_input":
                body = b'{"max_tokens": 4, "text_input": ' + nested.encode() + b"}"
            else:
                body = f'{{"text_input": "hi", "max_tokens": 4, "{where}": {nested}}}'.encode()
                if where == "max_tokens":
                    body = b'{"text_input": "hi", "max_tokens": ' + nested.encode() + b"}"
        else:  # empty
            body = rnd.choice((b"", b" ", b"\n", b"{}", b"[]"))
        return FuzzRequest(model, endpoint, kind, body)

    return build()


@dataclass
class FuzzOutcome:
    request: FuzzRequest
    status: int | None
    message: str
    seconds: float
    verdict: str  # "ok", "rejected", "known-5xx:<kind>", "unexpected-5xx", "no-response"


def send_fuzz(session: Any, base_url: str, request: FuzzRequest, timeout_s: float = FUZZ_TIMEOUT_S) -> FuzzOutcome:
    import requests

    url = f"{base_url}/v2/models/{request.model}/{request.endpoint}"
    started = time.perf_counter()
    try:
        with session.post(url, data=request.body, headers={"Content-Type": "application/json"},
                          timeout=(10, timeout_s), stream=True) as response:
            content = b""
            for chunk in response.iter_content(chunk_size=65536):
                if len(content) < 4096:
                    content += chunk
            status = response.status_code
    except requests.RequestException as error:
        return FuzzOutcome(request, None, f"{type(error).__name__}: {error}"[:300],
                           time.perf_counter() - started, "no-response")
    seconds = time.perf_counter() - started
    message = content[:400].decode("utf-8", "replace")
    if status < 300:
        verdict = "ok"
    elif status < 500:
        verdict = "rejected"
    else:
        kind = frontend_5xx_kind(message)
        verdict = f"known-5xx:{kind}" if kind else "unexpected-5xx"
    return FuzzOutcome(request, status, message, seconds, verdict)


def valid_requests_work(base_url: str, token: str) -> list[str]:
    """A valid non-streaming ensemble request and a valid streaming BLS request; what went wrong."""
    plan = [
        LoadRequest(0, f"health-{token}-e", "ensemble", False, False, 8, LOAD_PROMPTS[0]),
        LoadRequest(1, f"health-{token}-b", "tensorrt_llm_bls", True, False, 8, LOAD_PROMPTS[1]),
    ]
    outcomes, _ = run_requests(base_url, plan, 2, timeout_s=120)
    return [f"{o.request.describe()}: {o.verdict}: {o.detail}" for o in outcomes if o.verdict != "ok"]


def health_check(stack: ServingStack, token: str) -> list[str]:
    problems = []
    if not stack.server_alive():
        problems.append("the server process is gone")
        return problems
    if not stack.health_ready():
        problems.append("/v2/health/ready is not 200")
    problems += valid_requests_work(stack.base_url, token)
    return problems


def run_request_fuzz(stack: ServingStack, *, examples: int, seed: int = 0, mode: str = "quick",
                     concurrency: int = FUZZ_CONCURRENCY, probe_known_crash: bool = False,
                     progress: Callable[[str], None] | None = None) -> PartResult:
    """Part 4 against a running stack: `examples` malformed bodies, a health check every HEALTH_EVERY."""
    import requests

    say = progress or (lambda _: None)
    started = time.monotonic()
    cases = generate_examples(request_strategy(), examples, seed)
    say(f"request-fuzz: {len(cases)} bodies at concurrency {concurrency}, health check every {HEALTH_EVERY}")
    log_tracebacks_before = stack.log().count("Traceback")
    outcomes: list[FuzzOutcome] = []
    failures: list[str] = []
    checks = passed_checks = 0
    sessions = threading.local()

    def send(request: FuzzRequest) -> FuzzOutcome:
        if not hasattr(sessions, "session"):
            sessions.session = requests.Session()
        return send_fuzz(sessions.session, stack.base_url, request)

    dead = False
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for start in range(0, len(cases), HEALTH_EVERY):
            batch = cases[start : start + HEALTH_EVERY]
            batch_outcomes = list(pool.map(send, batch))
            outcomes += batch_outcomes
            for outcome in batch_outcomes:
                if outcome.verdict in ("unexpected-5xx", "no-response"):
                    _keep(failures, f"{outcome.request.describe()} -> {outcome.verdict} "
                          f"HTTP {outcome.status}: {outcome.message[:200]}")
            checks += 1
            problems = health_check(stack, f"{seed}-{start}")
            if problems:
                _keep(failures, f"health check after body {start + len(batch)}: {'; '.join(problems)}; "
                      f"the bodies just before: {[o.request.describe()[:120] for o in batch_outcomes[-5:]]}")
                if not stack.server_alive():
                    dead = True
                    break
            else:
                passed_checks += 1
    known_crash: dict[str, Any] | None = None
    if probe_known_crash and not dead:
        probe = FuzzRequest("ensemble", "generate", "known-crash",
                            b'{"max_tokens": 4, "text_input": ' + b"[" * KNOWN_CRASH_DEPTH + b'"a"'
                            + b"]" * KNOWN_CRASH_DEPTH + b"}")
        with requests.Session() as session:
            outcome = send_fuzz(session, stack.base_url, probe, timeout_s=60)
        time.sleep(2)
        known_crash = {"depth": KNOWN_CRASH_DEPTH, "status": outcome.status, "verdict": outcome.verdict,
                       "server_alive_after": stack.server_alive()}
    final_problems = health_check(stack, f"{seed}-final") if not dead else ["the server died"]
    checks += 1
    if final_problems:
        _keep(failures, f"final health check: {'; '.join(final_problems)}")
    else:
        passed_checks += 1
    verdicts = Counter(o.verdict for o in outcomes)
    statuses = Counter(str(o.status) for o in outcomes)
    known = {k.split(":", 1)[1]: n for k, n in verdicts.items() if k.startswith("known-5xx:")}
    bad = sum(o.verdict in ("unexpected-5xx", "no-response") for o in outcomes)
    alive = stack.server_alive()
    figures: dict[str, Any] = {
        "bodies": len(cases),
        "sent": len(outcomes),
        "by_kind": dict(Counter(c.kind for c in cases)),
        "by_target": dict(Counter(f"{c.model}/{c.endpoint}" for c in cases)),
        "status_codes": dict(sorted(statuses.items())),
        "accepted_200": verdicts["ok"],
        "rejected_4xx": verdicts["rejected"],
        "known_5xx_total": sum(known.values()),
        "known_5xx_by_kind": known,
        "unexpected_5xx": verdicts["unexpected-5xx"],
        "no_response": verdicts["no-response"],
        "health_checks": checks,
        "health_checks_passed": passed_checks,
        "server_alive_at_end": alive,
        "slowest_s": round(max((o.seconds for o in outcomes), default=0.0), 2),
        "server_log_tracebacks": stack.log().count("Traceback") - log_tracebacks_before,
        "rejection_messages": dict(Counter(re.sub(r"\d+", "N", o.message)[:90] for o in outcomes
                                           if o.verdict == "rejected").most_common(12)),
        "known_crash_probe": known_crash,
    }
    notes = [f"Triton front-end HTTP 500 parse errors are counted apart, by kind: {known}"] if known else []
    if known_crash is not None:
        notes.append(f"--probe-known-crash: text_input nested {KNOWN_CRASH_DEPTH} deep -> "
                     f"{known_crash['verdict']}; server alive afterwards: {known_crash['server_alive_after']} "
                     "(Triton 2.51 is known to crash here)")
    if len(cases) < examples:
        notes.append(f"hypothesis produced {len(cases)} of the {examples} bodies asked for")
    failed = bad + (checks - passed_checks)
    return PartResult("request-fuzz", mode, "requests", len(cases), len(cases) - bad, bad,
                      ok=failed == 0 and alive and not dead and len(cases) >= examples,
                      duration_s=time.monotonic() - started, figures=figures, failures=failures, notes=notes)


# --------------------------------------------------------------------------------------------------
# Everything


def run_parts(parts: Sequence[str], sizes: Sizes, work: Path, *, seed: int = 0,
              probe_known_crash: bool = False, progress: Callable[[str], None] | None = None,
              on_result: Callable[[PartResult], None] | None = None) -> tuple[list[PartResult], dict[str, Any]]:
    """Run the chosen parts (one serving stack shared by load and request-fuzz); (results, run facts)."""
    say = progress or (lambda _: None)
    results: list[PartResult] = []
    facts: dict[str, Any] = {}

    def done(result: PartResult) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    if "engine-fuzz" in parts:
        done(run_engine_fuzz(work / "engine-fuzz", examples=sizes.engine_examples, seed=seed,
                             subprocess_every=sizes.engine_subprocess_every, mode=sizes.mode, progress=say))
    if "faults" in parts:
        done(run_faults(work / "faults", trials=sizes.fault_trials, torch_trials=sizes.fault_torch_trials, seed=seed,
                        mode=sizes.mode, progress=say))
    if "load" in parts or "request-fuzz" in parts:
        say("starting the SmolLM2 stack (tritongen render + tritongen launch)")
        with serving_stack(work / "stack", rng=random.Random(seed)) as stack:
            facts["stack"] = {"render": stack.render_command, "launch": stack.launch_command,
                              "ready_s": round(stack.ready_s, 1), "http_port": stack.ports.http}
            say(f"stack ready in {stack.ready_s:.1f} s on port {stack.ports.http}")
            if "load" in parts:
                done(run_load(stack, requests=sizes.load_requests, concurrency=sizes.load_concurrency, seed=seed,
                              mode=sizes.mode, progress=say))
            if "request-fuzz" in parts:
                done(run_request_fuzz(stack, examples=sizes.request_examples, seed=seed, mode=sizes.mode,
                                      probe_known_crash=probe_known_crash, progress=say))
        facts["stack"]["left_after_stop"] = leftovers(stack.repo)
    order = {name: i for i, name in enumerate(PARTS)}
    results.sort(key=lambda r: order.get(r.part, 99))
    return results, facts
