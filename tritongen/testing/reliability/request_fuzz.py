"""Part 4, request-fuzz: malformed generate/generate_stream bodies against the real stack.

The server stays up and ready, no 5xx but Triton's known front-end parse errors, and valid requests
keep working.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tritongen.testing.reliability.engine_fuzz import BOUNDARY_INTS, generate_examples, json_values
from tritongen.testing.reliability.load import LOAD_PROMPTS, LoadRequest, run_requests
from tritongen.testing.reliability.report import PartResult, keep_failure
from tritongen.testing.reliability.stack import ServingStack

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
        return (
            f"unable-to-parse-{match.group(1)}"
            if match.group(1) in ("data", "id")
            else "unable-to-parse-other"
        )
    return next((name for name, text in KNOWN_FRONTEND_5XX if text in message), None)


REQUEST_FIELDS = (
    "text_input",
    "max_tokens",
    "min_tokens",
    "stream",
    "temperature",
    "top_k",
    "top_p",
    "seed",
    "beam_width",
    "num_return_sequences",
    "end_id",
    "pad_id",
    "bad_words",
    "stop_words",
    "exclude_input_in_output",
    "return_log_probs",
    "return_num_output_tokens",
    "return_num_input_tokens",
    "length_penalty",
    "repetition_penalty",
    "presence_penalty",
    "frequency_penalty",
    "return_context_logits",
    "return_generation_logits",
    "return_perf_metrics",
    "lora_task_id",
    "embedding_bias_words",
    "embedding_bias_weights",
    "decoder_text_input",
    "guided_decoding_guide_type",
    "guided_decoding_guide",
    "image_url_input",
    "prompt_table_extra_id",
    "id",
    "parameters",
    "model_name",
    "inputs",
)
# max_tokens/min_tokens values that never ask for a long generation: small, invalid, or wrapping (Triton
# reads JSON integers into INT32) to small or invalid values. Everything else is rejected or tiny.
SAFE_TOKEN_COUNTS = (
    -(2**31) - 1,
    -5,
    -1,
    0,
    1,
    2,
    4,
    8,
    16,
    2**31 - 1,
    2**31,
    2**32,
    2**32 + 8,
    2**63 - 1,
    -(2**63),
    2**64,
    10**30,
    4065,
    4096,
    10**9,
)
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


INT_FIELDS = (
    "top_k",
    "beam_width",
    "num_return_sequences",
    "end_id",
    "pad_id",
    "lora_task_id",
    "prompt_table_extra_id",
)
FLOAT_FIELDS = (
    "temperature",
    "top_p",
    "length_penalty",
    "repetition_penalty",
    "presence_penalty",
    "frequency_penalty",
)
BOOL_FIELDS = (
    "stream",
    "exclude_input_in_output",
    "return_log_probs",
    "return_num_output_tokens",
    "return_num_input_tokens",
    "return_context_logits",
    "return_generation_logits",
    "return_perf_metrics",
)
STRING_FIELDS = (
    "text_input",
    "decoder_text_input",
    "bad_words",
    "stop_words",
    "guided_decoding_guide_type",
    "guided_decoding_guide",
    "image_url_input",
    "embedding_bias_words",
)


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
    return st.one_of(
        st.text(max_size=40),
        st.lists(st.text(max_size=10), max_size=4),
        st.sampled_from(("", " ", "<|im_end|>", "\u0000", "🙂", "json", "regex", "a" * 5000)),
    )


def _fuzz_value(field_name: str, rnd: random.Random) -> Any:
    """Mostly well-typed odd values, sometimes anything at all (token counts always stay short)."""
    from hypothesis import strategies as st

    if field_name in ("max_tokens", "min_tokens"):
        return st.one_of(
            _typed_value(field_name),
            st.sampled_from(("8", "", None, True, 8.5, [8], [8, 8], {"a": 8}, "NaN", [])),
        )
    return _typed_value(field_name) if rnd.random() < 0.8 else json_values()


PROMPTS = (
    "Hello",
    "What is 2+2?",
    "hi",
    " ",
    "\u0000",
    "🙂" * 3,
    "<|im_end|>",
    "{{ raise_exception('x') }}",
    "<s></s>",
)
BODY_KINDS = (
    ("mutated",) * 10
    + ("random-json",) * 2
    + ("bytes",) * 2
    + ("huge",)
    + ("unicode",) * 2
    + ("nested",)
    + ("extra-fields",) * 2
    + ("empty",)
)
# Escapes spliced raw into text_input: lone surrogates, NUL, a truncated \u, JSON-invalid escapes.
BAD_ESCAPES = (
    "\\ud800",
    "\\udfff",
    "\\u0000",
    "\\uffff",
    "\\ud83d\\ude00",
    "\\ud83d",
    "\u2028",
    "\\x41",
    "\\",
    "é",
    "\\u00",
)
BROKEN_BODIES = (
    b"{",
    b"}",
    b"[",
    b'{"text_input": "hi", "max_tokens": 4',
    b'{"text_input": "hi", "max_tokens": 4} trailing',
    b'{"text_input": "hi", "max_tokens": 4, "text_input": "dup"}',
    b'\xff\xfe{"text_input": "hi", "max_tokens": 4}',
    b'{"text_input": "h\xffi", "max_tokens": 4}',
    b'{"text_input": "hi", "max_tokens": 0x10}',
    b"{'text_input': 'hi', 'max_tokens': 4}",
    b"null",
    b"true",
    b"0",
    b'""',
    b'{"text_input": "hi", "max_tokens": 4, "stream": NaN}',
    b'{"text_input": "hi", "max_tokens": 4e0}',
    b'{"text_input": "hi", "max_tokens": -0}',
)


@dataclass
class _BodyDraw:
    """What a body builder draws from: hypothesis for values, the shape Random, the target and kind chosen."""

    draw: Any
    rnd: random.Random
    endpoint: str
    kind: str


def _prompts() -> Any:
    from hypothesis import strategies as st

    return st.one_of(st.sampled_from(PROMPTS), st.text(max_size=60))


def _mutate_fields(draw: Any, rnd: random.Random, fields: dict[str, Any]) -> None:
    """Drop a field, or set one (known or made up) to a fuzzed value."""
    from hypothesis import strategies as st

    name = rnd.choice(REQUEST_FIELDS) if rnd.random() < 0.85 else draw(st.text(max_size=12))
    if rnd.random() < 0.2:
        fields.pop(rnd.choice(sorted(fields) or ["x"]), None)
    else:
        fields[name] = draw(_fuzz_value(name, rnd))


def _fields_body(case: _BodyDraw) -> bytes:
    """A plausible request, then mutated fields, made-up extra fields, or a bad escape in the prompt."""
    from hypothesis import strategies as st

    fields: dict[str, Any] = {"text_input": case.draw(_prompts()), "max_tokens": case.rnd.randint(1, 8)}
    if case.endpoint == "generate_stream" and case.rnd.random() < 0.5:
        fields["stream"] = True
    operations = case.rnd.choice((1, 1, 2, 2, 3, 4)) if case.kind == "mutated" else 0
    for _ in range(operations):
        _mutate_fields(case.draw, case.rnd, fields)
    if case.kind == "extra-fields":
        for _ in range(case.rnd.randint(1, 6)):
            fields[case.draw(st.text(min_size=1, max_size=12))] = case.draw(json_values())
    text = json.dumps(fields, allow_nan=True, ensure_ascii=case.rnd.random() < 0.5)
    if case.kind == "unicode":
        escape = case.rnd.choice(BAD_ESCAPES)
        text = json.dumps({**fields, "text_input": "A"}).replace('"A"', f'"A{escape}"', 1)
    return text.encode("utf-8", errors="surrogatepass")


def _random_json_body(case: _BodyDraw) -> bytes:
    return json.dumps(case.draw(json_values()), allow_nan=True).encode("utf-8", errors="surrogatepass")


def _bytes_body(case: _BodyDraw) -> bytes:
    from hypothesis import strategies as st

    return case.draw(st.binary(max_size=200)) if case.rnd.random() < 0.4 else case.rnd.choice(BROKEN_BODIES)


def _huge_body(case: _BodyDraw) -> bytes:
    size = case.rnd.choice((100_000, 1_000_000, 2_000_000))
    where = case.rnd.choice(("text_input", "bad_words", "extra", "many-fields", "array"))
    fields: dict[str, Any] = {"text_input": "hi", "max_tokens": 4}
    if where == "many-fields":
        fields.update({f"f{i}": i for i in range(size // 20)})
    elif where == "array":
        fields["text_input"] = ["x"] * (size // 4)
    else:
        fields[where] = "x" * size
    return json.dumps(fields).encode()


def _nested_body(case: _BodyDraw) -> bytes:
    depth = case.rnd.choice((10, 100, 1000, MAX_FUZZ_NESTING))
    where = case.rnd.choice(("text_input", "max_tokens", "extra", "root"))
    leaf = "4" if where == "max_tokens" else '"a"'
    nested = ("[" * depth + leaf + "]" * depth).encode()
    if where == "root":
        return nested
    if where == "text_input":
        return b'{"max_tokens": 4, "text_input": ' + nested + b"}"
    if where == "max_tokens":
        return b'{"text_input": "hi", "max_tokens": ' + nested + b"}"
    return b'{"text_input": "hi", "max_tokens": 4, "extra": ' + nested + b"}"


def _empty_body(case: _BodyDraw) -> bytes:
    return case.rnd.choice((b"", b" ", b"\n", b"{}", b"[]"))


# How each body kind is made.
BODY_BUILDERS: dict[str, Callable[[_BodyDraw], bytes]] = {
    "mutated": _fields_body,
    "extra-fields": _fields_body,
    "unicode": _fields_body,
    "random-json": _random_json_body,
    "bytes": _bytes_body,
    "huge": _huge_body,
    "nested": _nested_body,
    "empty": _empty_body,
}


def request_strategy() -> Any:
    from hypothesis import strategies as st

    @st.composite
    def build(draw: Any) -> FuzzRequest:
        rnd = draw(st.randoms(use_true_random=True))  # shape decisions; values from hypothesis strategies
        model = rnd.choice(("ensemble", "tensorrt_llm_bls"))
        endpoint = rnd.choice(("generate", "generate_stream"))
        kind = rnd.choice(BODY_KINDS)
        return FuzzRequest(model, endpoint, kind, BODY_BUILDERS[kind](_BodyDraw(draw, rnd, endpoint, kind)))

    return build()


@dataclass
class FuzzOutcome:
    request: FuzzRequest
    status: int | None
    message: str
    seconds: float
    verdict: str  # "ok", "rejected", "known-5xx:<kind>", "unexpected-5xx", "no-response"


def send_fuzz(
    session: Any, base_url: str, request: FuzzRequest, timeout_s: float = FUZZ_TIMEOUT_S
) -> FuzzOutcome:
    import requests

    url = f"{base_url}/v2/models/{request.model}/{request.endpoint}"
    started = time.perf_counter()
    try:
        with session.post(
            url,
            data=request.body,
            headers={"Content-Type": "application/json"},
            timeout=(10, timeout_s),
            stream=True,
        ) as response:
            content = b""
            for chunk in response.iter_content(chunk_size=65536):
                if len(content) < 4096:
                    content += chunk
            status = response.status_code
    except requests.RequestException as error:
        return FuzzOutcome(
            request,
            None,
            f"{type(error).__name__}: {error}"[:300],
            time.perf_counter() - started,
            "no-response",
        )
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


def probe_the_known_crash(stack: ServingStack) -> dict[str, Any]:
    """Send the one body Triton 2.51 is known to crash on (--probe-known-crash): does the server survive?"""
    import requests

    probe = FuzzRequest(
        "ensemble",
        "generate",
        "known-crash",
        b'{"max_tokens": 4, "text_input": '
        + b"[" * KNOWN_CRASH_DEPTH
        + b'"a"'
        + b"]" * KNOWN_CRASH_DEPTH
        + b"}",
    )
    with requests.Session() as session:
        outcome = send_fuzz(session, stack.base_url, probe, timeout_s=60)
    time.sleep(2)
    return {
        "depth": KNOWN_CRASH_DEPTH,
        "status": outcome.status,
        "verdict": outcome.verdict,
        "server_alive_after": stack.server_alive(),
    }


def run_request_fuzz(
    stack: ServingStack,
    *,
    examples: int,
    seed: int = 0,
    mode: str = "quick",
    concurrency: int = FUZZ_CONCURRENCY,
    probe_known_crash: bool = False,
    progress: Callable[[str], None] | None = None,
) -> PartResult:
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
                    keep_failure(
                        failures,
                        f"{outcome.request.describe()} -> {outcome.verdict} "
                        f"HTTP {outcome.status}: {outcome.message[:200]}",
                    )
            checks += 1
            problems = health_check(stack, f"{seed}-{start}")
            if problems:
                keep_failure(
                    failures,
                    f"health check after body {start + len(batch)}: {'; '.join(problems)}; "
                    f"the bodies just before: {[o.request.describe()[:120] for o in batch_outcomes[-5:]]}",
                )
                if not stack.server_alive():
                    dead = True
                    break
            else:
                passed_checks += 1
    known_crash = probe_the_known_crash(stack) if probe_known_crash and not dead else None
    final_problems = health_check(stack, f"{seed}-final") if not dead else ["the server died"]
    checks += 1
    if final_problems:
        keep_failure(failures, f"final health check: {'; '.join(final_problems)}")
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
        "rejection_messages": dict(
            Counter(
                re.sub(r"\d+", "N", o.message)[:90] for o in outcomes if o.verdict == "rejected"
            ).most_common(12)
        ),
        "known_crash_probe": known_crash,
    }
    notes = [f"Triton front-end HTTP 500 parse errors are counted apart, by kind: {known}"] if known else []
    if known_crash is not None:
        notes.append(
            f"--probe-known-crash: text_input nested {KNOWN_CRASH_DEPTH} deep -> "
            f"{known_crash['verdict']}; server alive afterwards: {known_crash['server_alive_after']} "
            "(Triton 2.51 is known to crash here)"
        )
    if len(cases) < examples:
        notes.append(f"hypothesis produced {len(cases)} of the {examples} bodies asked for")
    failed = bad + (checks - passed_checks)
    return PartResult(
        "request-fuzz",
        mode,
        "requests",
        len(cases),
        len(cases) - bad,
        bad,
        ok=failed == 0 and alive and not dead and len(cases) >= examples,
        duration_s=time.monotonic() - started,
        figures=figures,
        failures=failures,
        notes=notes,
    )
