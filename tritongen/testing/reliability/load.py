"""Part 1, load: the real SmolLM2 stack under mixed ensemble/BLS, streaming/non-streaming requests.

10% are closed by the client midway; every other request must get exactly one complete answer carrying
its own `id`; server memory (RSS of tritonserver and its Python-backend stubs) is measured before and
after, and the server must go idle once the load is over.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tritongen.testing.reliability.machine import server_processes
from tritongen.testing.reliability.report import PartResult, keep_failure
from tritongen.testing.reliability.stack import ServingStack

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
        body: dict[str, Any] = {
            "id": self.rid,
            "text_input": self.prompt,
            "max_tokens": self.max_tokens,
            "min_tokens": self.max_tokens,
            "return_num_output_tokens": True,
        }
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
        plan.append(
            LoadRequest(
                index=index,
                rid=f"rel-{token}-{index}",
                model="tensorrt_llm_bls" if rng.random() < BLS_FRACTION else "ensemble",
                streaming=rng.random() < STREAM_FRACTION,
                cancel=index in cancelled,
                max_tokens=rng.choice(LOAD_MAX_TOKENS),
                prompt=rng.choice(LOAD_PROMPTS),
                cancel_after_events=rng.choice((1, 2)),
                cancel_after_s=rng.uniform(0.05, 0.8),
            )
        )
    return plan


async def _read_answer(
    response: Any, request: LoadRequest, outcome: LoadOutcome, payloads: list[dict[str, Any]]
) -> bool:
    """Read the answer into `payloads`; True where the client cut a stream short (a cancelled request)."""
    from tritongen.http import decode_sse_line

    outcome.status = response.status
    if response.status != 200:
        outcome.detail = (await response.read())[:300].decode(errors="replace")
        return False
    if not request.streaming:
        raw = await response.read()
        try:
            payloads.append(json.loads(raw))
        except ValueError:
            payloads.append({"error": f"unparsable body: {raw[:200]!r}"})
        return False
    async for line in response.content:
        payload = decode_sse_line(line.rstrip(b"\r\n"))
        if payload is None:
            continue
        payloads.append(payload)
        if request.cancel and len(payloads) >= request.cancel_after_events:
            response.close()  # the client goes away midway: the connection is closed
            return True
    return False


async def _exchange(
    session: Any,
    url: str,
    request: LoadRequest,
    outcome: LoadOutcome,
    payloads: list[dict[str, Any]],
    timeout_s: float,
) -> bool:
    """POST the request and read its answer; True where the client cut it short.

    A cancelled non-streaming request is abandoned after `cancel_after_s` (cancelling the task closes
    its connection); a cancelled streaming one after `cancel_after_events` events.
    """
    import aiohttp

    async def post() -> bool:
        async with session.post(
            url, json=request.body(), timeout=aiohttp.ClientTimeout(total=timeout_s)
        ) as response:
            return await _read_answer(response, request, outcome, payloads)

    if request.cancel and not request.streaming:
        try:
            return await asyncio.wait_for(post(), timeout=request.cancel_after_s)
        except asyncio.TimeoutError:
            return True
    return await post()


async def _send_load(session: Any, base_url: str, request: LoadRequest, timeout_s: float) -> LoadOutcome:
    import aiohttp

    outcome = LoadOutcome(request)
    url = f"{base_url}/v2/models/{request.model}/{request.endpoint}"
    started = time.perf_counter()
    payloads: list[dict[str, Any]] = []
    cut_short = False
    try:
        cut_short = await _exchange(session, url, request, outcome, payloads, timeout_s)
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


async def _run_requests(
    base_url: str, plan: Sequence[LoadRequest], concurrency: int, timeout_s: float
) -> tuple[list[LoadOutcome], float]:
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


def run_requests(
    base_url: str, plan: Sequence[LoadRequest], concurrency: int, timeout_s: float = LOAD_TIMEOUT_S
) -> tuple[list[LoadOutcome], float]:
    """Send `plan` with `concurrency` streams on a private event loop; (outcomes, wall seconds)."""
    return asyncio.run(_run_requests(base_url, plan, concurrency, timeout_s))


def references(base_url: str, max_tokens: int = max(LOAD_MAX_TOKENS)) -> dict[str, str]:
    """The unbatched answer to every prompt (the longest length asked for; greedy decoding is deterministic,
    so a shorter answer is a prefix of it), one request at a time."""
    plan = [
        LoadRequest(i, f"ref-{i}", "ensemble", False, False, max_tokens, prompt)
        for i, prompt in enumerate(LOAD_PROMPTS)
    ]
    outcomes, _ = run_requests(base_url, plan, 1)
    bad = [o for o in outcomes if o.verdict != "ok"]
    if bad:
        raise RuntimeError(
            f"reference request {bad[0].request.describe()} failed: {bad[0].verdict} {bad[0].detail}"
        )
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


def seconds_to_idle(
    stack: ServingStack, limit_s: float = IDLE_LIMIT_S, window_s: float = 1.0
) -> float | None:
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
        match = re.match(
            r'nv_inference_request_(success|failure)\{(?:[^}]*,)?model="([^"]+)"[^}]*\} (\S+)', line
        )
        if match:
            key = f"{match.group(2)}.{match.group(1)}"
            found[key] = found.get(key, 0.0) + float(match.group(3))
    return found


def _check_text(outcome: LoadOutcome, reference: dict[str, str]) -> str | None:
    """Compare a complete answer with the unbatched one; the divergence to report, or None.

    Another prompt's answer is cross-talk between sequences: a failure (the verdict becomes "crossed").
    Any other difference is a numeric divergence of batched decoding from the unbatched answer, which is
    reported only.
    """
    expected = reference.get(outcome.request.prompt)
    n = outcome.request.max_tokens
    if expected is None or _matches(outcome.text, expected, n):
        return None
    crossed = [
        prompt
        for prompt, text in reference.items()
        if prompt != outcome.request.prompt and _matches(outcome.text, text, n)
    ]
    if crossed:
        outcome.verdict = "crossed"
        outcome.detail = f"got the answer to {crossed[0]!r}: {outcome.text!r}"
        return None
    return f"{outcome.request.describe()}: {outcome.text!r} vs {expected!r}"


def run_load(
    stack: ServingStack,
    *,
    requests: int,
    concurrency: int,
    seed: int = 0,
    mode: str = "quick",
    progress: Callable[[str], None] | None = None,
) -> PartResult:
    """Part 1 against a running stack."""
    say = progress or (lambda _: None)
    started = time.monotonic()
    rng = random.Random(seed)
    say("load: reference answers (one at a time)")
    reference = references(stack.base_url)
    say(f"load: warm-up ({2 * concurrency} requests at concurrency {concurrency})")
    warm_plan = [
        r for r in plan_load(2 * concurrency, random.Random(seed + 1), f"warm{seed}") if not r.cancel
    ]
    run_requests(stack.base_url, warm_plan, concurrency)
    time.sleep(1.0)
    memory_before = stack.memory()
    metrics_before = metrics_counts(stack)
    log_tracebacks_before = stack.log().count("Traceback")
    plan = plan_load(requests, rng, f"{seed}-{os.getpid()}")
    say(
        f"load: {requests} requests at concurrency {concurrency} "
        f"({sum(r.cancel for r in plan)} cancelled by the client)"
    )
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
        if outcome.verdict == "ok" and (divergence := _check_text(outcome, reference)) is not None:
            diverged += 1
            if len(divergences) < 5:
                divergences.append(divergence)
        verdicts[outcome.verdict] += 1
        if outcome.verdict not in ("ok", "cancelled"):
            keep_failure(failures, f"{outcome.request.describe()}: {outcome.verdict}: {outcome.detail}")
    missing = [r.index for r in plan if answered[r.index] == 0]
    twice = [index for index, n in answered.items() if n > 1]
    for index in missing:
        keep_failure(failures, f"{plan[index].describe()}: no outcome at all")
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
        "triton_metrics_delta": {
            k: metrics_after.get(k, 0.0) - metrics_before.get(k, 0.0)
            for k in sorted(set(metrics_before) | set(metrics_after))
        },
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
        notes.append(
            f"the server was still busy {IDLE_LIMIT_S:g} s after the last request (runaway generation?)"
        )
    bad = judged_bad + len(missing)
    passed = requests - bad
    return PartResult(
        "load",
        mode,
        "requests",
        requests,
        passed,
        bad,
        ok=bad == 0 and memory_ok and alive and idle_after_s is not None,
        duration_s=time.monotonic() - started,
        figures=figures,
        failures=failures,
        notes=notes,
    )
