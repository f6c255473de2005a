"""serving-faults: what real clients do to a running SmolLM2 deployment (the torch runtime).

1. disconnects: clients that leave after their first token, several at once, on every path; the
   tokens the runtime generates after the last client left are counted (its
   `tritongen_torch_generated_tokens_total` metric). The BLS (HTTP generate_stream, gRPC streams,
   gRPC non-streaming) and the `tensorrt_llm` model itself must stop within a step or two. The ensemble
   is measured and reported, not judged: Triton 2.51's ensemble does not pass a cancellation on to
   its steps, so its generation runs to the end (docs: use the BLS for cancellable requests).
2. hostile-batch: seeded sampling requests run alone, then again while requests with a NaN
   temperature, an end_id outside the vocabulary with min_tokens, a NaN repetition_penalty or a
   negative min_tokens arrive; each seeded request's text must be the same, and every hostile one
   must get an error.
3. oversized: an over-long prompt (megabytes) is refused with a 400 quickly, and the deployment
   keeps answering.

Each trial is a separate pass/fail line of the `PartResult`; the figures hold the token counts.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import requests

from tritongen.testing.reliability.report import PartResult, keep_failure

PROMPT = "Write a very long story about a dragon who learns to cook, with many chapters."
LONG_OUTPUT = 300  # tokens a disconnected client asked for: what would be generated if nothing stopped
# Tokens a stopped request may still generate after its client left: the step in flight, the next one
# while the stop travels (BLS -> stop request -> runtime), and one cancellation poll of 100 ms.
AFTER_DISCONNECT_ALLOWED = 8
CANCELLABLE = ("bls-http-stream", "bls-grpc-stream", "bls-grpc-whole", "llm-grpc-stream")
NOT_PROPAGATED = ("ensemble-grpc-stream",)  # Triton 2.51: measured and reported, not judged
GENERATED_METRIC = "tritongen_torch_generated_tokens_total"

# BLS inputs by name -> (numpy type, Triton type)
BLS_TYPES: dict[str, tuple[Any, str]] = {
    "text_input": (np.object_, "BYTES"),
    "max_tokens": (np.int32, "INT32"),
    "stream": (np.bool_, "BOOL"),
    "end_id": (np.int32, "INT32"),
    "min_tokens": (np.int32, "INT32"),
    "top_k": (np.int32, "INT32"),
    "top_p": (np.float32, "FP32"),
    "temperature": (np.float32, "FP32"),
    "repetition_penalty": (np.float32, "FP32"),
    "seed": (np.uint64, "UINT64"),
    "input_ids": (np.int32, "INT32"),
    "input_lengths": (np.int32, "INT32"),
    "request_output_len": (np.int32, "INT32"),
    "streaming": (np.bool_, "BOOL"),
}
SEEDED = {"top_k": 40, "top_p": 0.9, "temperature": 1.1, "end_id": -1}
HOSTILE: dict[str, dict[str, Any]] = {
    "nan-temperature": {"temperature": float("nan"), "top_p": 0.9},
    "end-id-outside-vocabulary": {"end_id": 1 << 20, "min_tokens": 4},
    "nan-repetition-penalty": {"repetition_penalty": float("nan")},
    "negative-min-tokens": {"min_tokens": -3},
}


@dataclass(frozen=True)
class Endpoints:
    """Where the deployment answers (host:port for HTTP and gRPC, the metrics URL)."""

    http: str
    grpc: str
    metrics_url: str

    @classmethod
    def on_ports(cls, http: int, grpc: int, metrics: int) -> Endpoints:
        return cls(f"127.0.0.1:{http}", f"127.0.0.1:{grpc}", f"http://127.0.0.1:{metrics}/metrics")


@dataclass
class Reply:
    """One gRPC request's responses: text (or output ids), the error, the time to the first response."""

    texts: list[str] = field(default_factory=list)
    error: str | None = None
    first_s: float | None = None


def prompt_ids() -> list[int]:
    """PROMPT as token ids of the SmolLM2 tokenizer (for requests to `tensorrt_llm` itself)."""
    from transformers import AutoTokenizer

    from tritongen.testing.smollm2 import smollm2_checkpoint

    return list(AutoTokenizer.from_pretrained(str(smollm2_checkpoint()))(PROMPT)["input_ids"])


def generated_tokens(endpoints: Endpoints) -> float:
    """The torch runtime's count of generated tokens."""
    text = requests.get(endpoints.metrics_url, timeout=10).text
    match = re.search(rf'^{GENERATED_METRIC}{{model="tensorrt_llm"}} ([0-9.e+]+)$', text, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"{GENERATED_METRIC} is not among the metrics of {endpoints.metrics_url}")
    return float(match.group(1))


def settled_tokens(endpoints: Endpoints, quiet_s: float = 1.5, limit_s: float = 120) -> float:
    """The generated-token count once it stops moving (metrics refresh every 100 ms)."""
    deadline = time.monotonic() + limit_s
    last = generated_tokens(endpoints)
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = generated_tokens(endpoints)
        if now == last:
            return now
        last = now
    return last


def _tensors(values: dict[str, Any]) -> list[Any]:
    import tritonclient.grpc as grpcclient

    tensors = []
    for name, value in values.items():
        numpy_type, triton_type = BLS_TYPES[name]
        if numpy_type is np.object_:
            array = np.array([[str(value).encode()]], dtype=np.object_)
        else:
            array = np.array(value if isinstance(value, list) else [value], dtype=numpy_type).reshape(1, -1)
        tensor = grpcclient.InferInput(name, list(array.shape), triton_type)
        tensor.set_data_from_numpy(array)
        tensors.append(tensor)
    return tensors


@contextlib.contextmanager
def grpc_stream(endpoints: Endpoints, model: str, values: dict[str, Any]) -> Iterator[tuple[Reply, Any, Any]]:
    """Send one request on its own gRPC stream; yields (reply, first-response event, done event). Leaving
    the block cancels the stream (the client going away) unless it is done."""
    import tritonclient.grpc as grpcclient

    reply, first, done = Reply(), threading.Event(), threading.Event()
    started = time.monotonic()

    def on_response(result: Any, error: Any) -> None:
        if error is not None:
            reply.error = str(error)
            done.set()
            return
        if reply.first_s is None:
            reply.first_s = time.monotonic() - started
        for name in ("text_output", "output_ids"):
            with contextlib.suppress(Exception):
                array = result.as_numpy(name)
                if array is not None:
                    reply.texts.append(
                        "".join(v.decode() if isinstance(v, bytes) else str(v) for v in array.reshape(-1))
                    )
        first.set()
        if result.get_response().parameters["triton_final_response"].bool_param:
            done.set()

    client = grpcclient.InferenceServerClient(endpoints.grpc)
    client.start_stream(callback=on_response)
    try:
        client.async_stream_infer(model, _tensors(values), enable_empty_final_response=True)
        yield reply, first, done
    finally:
        client.stop_stream(cancel_requests=not done.is_set())
        client.close()


def grpc_request(endpoints: Endpoints, model: str, values: dict[str, Any], timeout_s: float = 240) -> Reply:
    with grpc_stream(endpoints, model, values) as (reply, _, done):
        if not done.wait(timeout_s):
            reply.error = f"no final response within {timeout_s} s"
    return reply


# -- 1. disconnects --------------------------------------------------------------------------------------


def _leave_after_first(endpoints: Endpoints, kind: str, prompt_ids: list[int]) -> None:
    """One client of `kind` that goes away after its first response (or 1.5 s, for a whole answer)."""
    if kind == "bls-http-stream":
        body = {"text_input": PROMPT, "max_tokens": LONG_OUTPUT, "end_id": -1, "stream": True}
        url = f"http://{endpoints.http}/v2/models/tensorrt_llm_bls/generate_stream"
        with requests.post(url, json=body, stream=True, timeout=120) as answer:
            for line in answer.iter_lines():
                if line.startswith(b"data:"):
                    break
        return
    if kind == "llm-grpc-stream":
        model = "tensorrt_llm"
        values: dict[str, Any] = {"input_ids": prompt_ids, "input_lengths": len(prompt_ids),
                                  "request_output_len": LONG_OUTPUT, "end_id": -1, "streaming": True}  # fmt: skip
    else:
        model = "ensemble" if kind.startswith("ensemble") else "tensorrt_llm_bls"
        values = {
            "text_input": PROMPT,
            "max_tokens": LONG_OUTPUT,
            "end_id": -1,
            "stream": kind != "bls-grpc-whole",
        }
    with grpc_stream(endpoints, model, values) as (_, first, _done):
        first.wait(1.5 if kind == "bls-grpc-whole" else 120)


def disconnect_trial(
    endpoints: Endpoints, kind: str, clients: int, prompt_ids: list[int]
) -> dict[str, float]:
    """`clients` clients of `kind` at once, each leaving after its first token: tokens generated while they
    were there, and after the last one left."""
    before = settled_tokens(endpoints)
    threads = [
        threading.Thread(target=_leave_after_first, args=(endpoints, kind, prompt_ids))
        for _ in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    left = generated_tokens(endpoints)
    settled = settled_tokens(endpoints)
    return {"clients": clients, "before_leaving": left - before, "after_leaving": settled - left}


# -- 2. hostile requests in the batch --------------------------------------------------------------------


def hostile_batch_trial(endpoints: Endpoints, seeds: list[int], max_tokens: int = 16) -> list[str]:
    """Seeded BLS requests alone, then with every HOSTILE request arriving meanwhile: the problems found."""
    problems: list[str] = []

    def seeded(seed: int) -> dict[str, Any]:
        return {"text_input": PROMPT, "max_tokens": max_tokens, "seed": seed, **SEEDED}

    alone = {seed: grpc_request(endpoints, "tensorrt_llm_bls", seeded(seed)) for seed in seeds}
    results: dict[int, Reply] = {}
    hostile: dict[str, Reply] = {}

    def run_seeded(seed: int) -> None:
        results[seed] = grpc_request(endpoints, "tensorrt_llm_bls", seeded(seed))

    def run_hostile(name: str) -> None:
        inputs = {"text_input": PROMPT, "max_tokens": max_tokens, **SEEDED, **HOSTILE[name]}
        hostile[name] = grpc_request(endpoints, "tensorrt_llm_bls", inputs)

    threads = [threading.Thread(target=run_seeded, args=(seed,)) for seed in seeds]
    threads += [threading.Thread(target=run_hostile, args=(name,)) for name in HOSTILE]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    for seed in seeds:
        if alone[seed].error or seed not in results or results[seed].error:
            problems.append(f"seed {seed}: error {alone[seed].error or results.get(seed, Reply()).error}")
        elif "".join(results[seed].texts) != "".join(alone[seed].texts):
            problems.append(f"seed {seed}: text changed by the hostile requests in the batch")
    for name in HOSTILE:
        if name not in hostile or hostile[name].error is None:
            problems.append(f"hostile {name}: served instead of refused")
    return problems


# -- 3. oversized input ----------------------------------------------------------------------------------


def oversized_trial(endpoints: Endpoints, model: str, megabytes: int, limit_s: float) -> str | None:
    """An over-long prompt of `megabytes` MB: a 400 within `limit_s`, then a normal request works."""
    started = time.monotonic()
    answer = requests.post(
        f"http://{endpoints.http}/v2/models/{model}/generate",
        json={"text_input": "word " * (megabytes * 200_000), "max_tokens": 4},
        timeout=120,
    )
    elapsed = time.monotonic() - started
    if answer.status_code != 400:
        return f"{model} {megabytes} MB: HTTP {answer.status_code} {answer.text[:200]}"
    if elapsed > limit_s:
        return f"{model} {megabytes} MB: refused after {elapsed:.1f} s (limit {limit_s} s)"
    after = requests.post(
        f"http://{endpoints.http}/v2/models/{model}/generate",
        json={"text_input": "Hi", "max_tokens": 2},
        timeout=120,
    )
    if after.status_code != 200:
        return f"{model}: a normal request after the oversized one got HTTP {after.status_code}"
    return None


# -- the part --------------------------------------------------------------------------------------------


def run_serving_faults(
    endpoints: Endpoints,
    prompt_ids: list[int],
    *,
    disconnect_clients: int,
    hostile_seeds: int,
    oversized_mb: int,
    mode: str,
    progress: Callable[[str], None] | None = None,
) -> PartResult:
    """Every trial above once: disconnects on each path, the hostile batch, the oversized prompts."""
    say = progress or (lambda _: None)
    started = time.monotonic()
    failures: list[str] = []
    figures: dict[str, Any] = {}
    trials = passed = 0
    for kind in (*CANCELLABLE, *NOT_PROPAGATED):
        say(f"serving-faults: {disconnect_clients} {kind} clients leaving after their first token")
        counts = disconnect_trial(endpoints, kind, disconnect_clients, prompt_ids)
        figures[f"after_disconnect_{kind}"] = counts["after_leaving"]
        if kind in NOT_PROPAGATED:
            continue
        trials += 1
        if counts["after_leaving"] <= AFTER_DISCONNECT_ALLOWED * disconnect_clients:
            passed += 1
        else:
            keep_failure(failures, f"{kind}: {counts['after_leaving']:.0f} tokens generated after "
                                   f"{disconnect_clients} clients left (allowed {AFTER_DISCONNECT_ALLOWED} each)")  # fmt: skip
    say("serving-faults: seeded requests with hostile ones in the batch")
    problems = hostile_batch_trial(endpoints, seeds=list(range(1, hostile_seeds + 1)))
    trials += 1
    passed += not problems
    for problem in problems:
        keep_failure(failures, f"hostile-batch: {problem}")
    for model in ("ensemble", "tensorrt_llm_bls"):
        say(f"serving-faults: {oversized_mb} MB prompt to {model}")
        trials += 1
        refused = oversized_trial(endpoints, model, oversized_mb, limit_s=5.0)
        passed += refused is None
        if refused:
            keep_failure(failures, f"oversized: {refused}")
    return PartResult(
        part="serving-faults",
        mode=mode,
        unit="trials",
        trials=trials,
        passed=passed,
        failed=trials - passed,
        ok=passed == trials,
        duration_s=round(time.monotonic() - started, 1),
        figures=figures,
        failures=failures,
        notes=[
            (
                "ensemble: Triton 2.51 does not forward a client's cancellation to the ensemble's steps; "
                "the after_disconnect_ensemble figure is what that costs (use tensorrt_llm_bls to cancel)"
            )
        ],
    )
