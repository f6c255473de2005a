"""`tritongen openai`: the OpenAI-compatible route, driven by the official `openai` client and by curl.

A real tritonserver serves a `tritongen render`ed SmolLM2 repository (ensemble, BLS, torch runtime) on
CPU; the route runs as the real CLI (`python -m tritongen openai`, uvicorn) in front of it. Answers are
compared with what the deployment's own generate endpoint says for the same text, usage with the
tokenizer's counts, and cancellation with the torch runtime's generated-token counter. The first tests
need no server: the translation and stop-string pieces, on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
import requests
from openai_checks import (
    CHAT,
    bad_input_is_a_400_and_the_next_request_works,
    streamed_deltas_join_to_the_whole_answer,
)
from smollm2_fixture import render_repository, smollm2_checkpoint_dir  # noqa: F401

from tritongen.openai.generation import StopScanner
from tritongen.openai.protocol import RouteError
from tritongen.openai.targets import Sampling, target_for
from tritongen.testing.ports import free_ports
from tritongen.testing.server import RunningServer, running_server

QUESTION = "What is the capital of France?"
COUNTING = "1, 2, 3, 4, 5, 6,"  # greedy SmolLM2 keeps counting: a generation that does not end by itself


# -- the pieces, without a server ------------------------------------------------------------------------


def config(*names: str, optional: bool = True, platform: str = "") -> dict[str, Any]:
    return {"platform": platform, "input": [{"name": n, "optional": optional} for n in names]}


def test_stop_scanner_never_shows_a_stop_string() -> None:
    scanner = StopScanner(("STOP", "\n\n"))
    shown = [scanner.push(piece) for piece in ("Hello S", "T", "O", "Pped")]
    assert shown == ["Hello ", "", "", ""] and scanner.hit  # the generation ends at the hit
    partial = StopScanner(("STOP",))
    assert partial.push("a ST") == "a " and partial.push("x") == "STx" and not partial.hit
    assert partial.push("ends S") == "ends " and partial.flush() == "S"
    assert StopScanner(()).push("STOP") == "STOP"


def test_tensor_target_uses_the_names_each_contract_declares() -> None:
    latest = target_for(
        "ensemble",
        config(
            "text_input",
            "max_tokens",
            "seed",
            "temperature",
            "top_p",
            "top_k",
            "stream",
            "stop_words",
            platform="ensemble",
        ),
        decoupled=True,
    )
    body = latest.body("Hi", Sampling(max_tokens=3, temperature=0.5, seed=7, stop=("x",)), stream=True)
    assert body["seed"] == 7 and body["top_p"] == 1.0 and body["temperature"] == 0.5 and "top_k" not in body
    assert body["stop_words"] == ["x"] and body["stream"] is True and body["apply_chat_template"] is False
    v08 = target_for(
        "ensemble",
        config("text_input", "max_tokens", "random_seed", "top_p", "top_k", platform="ensemble"),
        decoupled=False,
    )
    sampled = v08.body("Hi", Sampling(max_tokens=3, seed=7), stream=True)
    assert sampled["random_seed"] == 7 and "seed" not in sampled and "stream" not in sampled
    assert v08.body("Hi", Sampling(max_tokens=3, temperature=0), stream=False)["top_k"] == 1
    v05 = target_for(
        "ensemble",
        {
            "platform": "ensemble",
            "input": [
                {"name": "text_input"},
                {"name": "max_tokens"},
                {"name": "bad_words"},
                {"name": "stop_words"},
                {"name": "top_p", "optional": True},
            ],
        },
        decoupled=False,
    )
    assert v05.body("Hi", Sampling(max_tokens=3, temperature=0), stream=False)["bad_words"] == [""]
    with pytest.raises(RouteError, match="'presence_penalty' is not supported by this deployment"):
        v05.body("Hi", Sampling(max_tokens=3, presence_penalty=1.0), stream=False)


def test_llmapi_target_sends_sampling_params_and_turns_cumulative_text_into_deltas() -> None:
    llmapi = target_for(
        "tensorrt_llm",
        config(
            "text_input",
            "streaming",
            "sampling_param_max_tokens",
            "sampling_param_exclude_input_from_output",
            "sampling_param_top_k",
            "sampling_param_top_p",
            "sampling_param_seed",
            "sampling_param_stop",
            "stop",
        ),
        decoupled=True,
    )
    body = llmapi.body("Hi", Sampling(max_tokens=5, temperature=0, stop=("!",)), stream=True)
    assert body["sampling_param_max_tokens"] == 5 and body["sampling_param_top_k"] == 1
    assert body["streaming"] is True and body["sampling_param_exclude_input_from_output"] is True
    assert body["sampling_param_stop"] == ["!"]
    assert llmapi.abandon(body) == ("tensorrt_llm", {"id": body["id"], "text_input": [""], "stop": True})
    reader = llmapi.reader()
    assert [reader.feed({"text_output": t}) for t in ("Hel", "Hello", "Hello, wo", "Hello, world")] == [
        "Hel",
        "lo",
        ", wo",
        "rld",
    ]
    with pytest.raises(RouteError, match="'temperature' is not supported"):  # no such input declared
        llmapi.body("Hi", Sampling(max_tokens=5, temperature=0.7), stream=True)


# -- a real deployment -------------------------------------------------------------------------------------


@dataclass
class Route:
    """A `tritongen openai` process and where to reach it."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, **options: Any) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.base}/v1", api_key="unused", max_retries=0, **options)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def openai_route(triton_url: str, log_path: Path, *flags: str) -> Iterator[Route]:
    """`tritongen openai` in front of `triton_url` until the block ends; it must then exit 0 on SIGTERM."""
    (port,) = free_ports(1)
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    argv = [sys.executable, "-m", "tritongen", "openai", "--url", triton_url, "--port", str(port), *flags]
    with open(log_path, "wb") as sink:
        process = subprocess.Popen(
            argv, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    route = Route(process, port, log_path)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, f"tritongen openai exited {process.returncode}:\n{route.log()}"
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{route.base}/health", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, f"the route was not healthy in 120 s:\n{route.log()}"
            time.sleep(0.3)
        yield route
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    assert process.returncode == 0, route.log()
    assert "Traceback" not in route.log(), route.log()


@pytest.fixture(scope="module")
def repository(smollm2_checkpoint_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    return render_repository(
        smollm2_checkpoint_dir,
        tmp_path_factory.mktemp("openai") / "smollm2",
        settings=("max_input_len=256", "max_seq_len=512", "torch_dtype=float32", "device=cpu"),
    )


@pytest.fixture(scope="module")
def triton(repository: Path) -> Iterator[RunningServer]:
    with running_server(repository, repository.parent / "tritonserver.log") as server:
        yield server


@pytest.fixture(scope="module")
def route(triton: RunningServer, repository: Path) -> Iterator[Route]:
    with openai_route(triton.http_url, repository.parent / "route.log", "--repository", str(repository)) as r:
        yield r


@pytest.fixture(scope="module")
def bls_route(triton: RunningServer, repository: Path) -> Iterator[Route]:
    flags = ("--repository", str(repository), "--model-name", "tensorrt_llm_bls")
    with openai_route(triton.http_url, repository.parent / "bls-route.log", *flags) as r:
        yield r


@pytest.fixture(scope="module")
def tokenizer(smollm2_checkpoint_dir: Path) -> Any:  # noqa: F811
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm2_checkpoint_dir)


def ensemble_generate(triton: RunningServer, text: str, max_tokens: int, **extra: Any) -> dict[str, Any]:
    """The deployment's own greedy answer (top_k 1), straight from Triton."""
    body = {
        "text_input": text,
        "max_tokens": max_tokens,
        "top_k": 1,
        "return_num_output_tokens": True,
        **extra,
    }
    reply = requests.post(f"{triton.base_url}/v2/models/ensemble/generate", json=body, timeout=120)
    assert reply.status_code == 200, reply.text
    return reply.json()  # type: ignore[no-any-return]


def chat_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    return list(
        tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)["input_ids"]
    )


def generated_tokens(triton: RunningServer) -> float:
    text = requests.get(f"http://127.0.0.1:{triton.metrics_port}/metrics", timeout=10).text
    line = next(
        line for line in text.splitlines() if line.startswith("tritongen_torch_generated_tokens_total")
    )
    return float(line.split()[-1])


def settled_tokens(triton: RunningServer, timeout_s: float = 30) -> float:
    """The generated-token counter once it stops moving (nothing is generating any more)."""
    deadline = time.monotonic() + timeout_s
    last = generated_tokens(triton)
    while True:
        time.sleep(1.5)
        now = generated_tokens(triton)
        if now == last:
            return now
        assert time.monotonic() < deadline, "tokens are still being generated"
        last = now


@pytest.mark.server
def test_models_and_health(route: Route, repository: Path) -> None:
    client = route.client()
    assert [m.id for m in client.models.list().data] == [repository.name]
    assert client.models.retrieve(repository.name).owned_by == "tritongen"
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.models.retrieve("gpt-4")
    assert requests.get(f"{route.base}/health", timeout=5).json() == {"status": "ok"}


@pytest.mark.server
def test_greedy_chat_equals_the_ensembles_greedy_generate(
    route: Route, triton: RunningServer, tokenizer
) -> None:
    messages = [{"role": "user", "content": QUESTION}]
    reply = route.client().chat.completions.create(
        model="smollm2",
        messages=messages,
        temperature=0,
        max_tokens=24,
        user="ignored",  # type: ignore[arg-type]
    )
    expected = ensemble_generate(triton, QUESTION, 24)  # the preprocessing model templates it the same way
    choice = reply.choices[0]
    assert choice.message.content == expected["text_output"] and choice.message.role == "assistant"
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == len(chat_ids(tokenizer, messages))
    assert reply.usage.completion_tokens == expected["num_output_tokens"]
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert choice.finish_reason == ("length" if expected["num_output_tokens"] == 24 else "stop")
    assert reply.object == "chat.completion" and reply.model == "smollm2"


@pytest.mark.server
def test_length_limit_and_usage_match_the_tokenizer(route: Route, tokenizer) -> None:
    messages = [
        {"role": "system", "content": "You answer in French."},
        {"role": "user", "content": "Say hello."},
        {"role": "assistant", "content": "Bonjour !"},
        {"role": "user", "content": "Now count to ten, slowly, with words."},
    ]
    reply = route.client().chat.completions.create(
        model="smollm2",
        messages=messages,
        temperature=0,
        max_completion_tokens=5,  # type: ignore[arg-type]
    )
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 5
    assert reply.usage.prompt_tokens == len(chat_ids(tokenizer, messages))  # system prompt and turns included
    content = reply.choices[0].message.content or ""
    assert len(tokenizer(content, add_special_tokens=False)["input_ids"]) == 5


@pytest.mark.server
def test_streamed_deltas_join_to_the_non_streamed_answer(route: Route) -> None:
    client = route.client()
    _, chunks = streamed_deltas_join_to_the_whole_answer(client)
    joined = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert all(c.usage is None for c in chunks[:-1])
    plain = list(client.chat.completions.create(**CHAT, stream=True))
    assert (
        all(c.usage is None for c in plain)
        and "".join(c.choices[0].delta.content or "" for c in plain) == joined
    )


@pytest.mark.server
def test_completions_stream_echo_and_stop(route: Route, triton: RunningServer) -> None:
    client = route.client()
    prompt = "The three primary colours are"
    expected = ensemble_generate(triton, prompt, 12, apply_chat_template=False)["text_output"]
    reply = client.completions.create(model="smollm2", prompt=prompt, max_tokens=12, temperature=0)
    assert reply.choices[0].text == expected and reply.object == "text_completion"
    streamed = client.completions.create(
        model="smollm2", prompt=prompt, max_tokens=12, temperature=0, stream=True
    )
    assert "".join(c.choices[0].text for c in streamed) == expected
    echoed = client.completions.create(
        model="smollm2", prompt=prompt, max_tokens=12, temperature=0, echo=True
    )
    assert echoed.choices[0].text == prompt + expected
    # A stop string ends the answer before it, in one piece and in deltas alike.
    stop = expected.split()[2]
    cut = expected[: expected.index(stop)]
    stopped = client.completions.create(
        model="smollm2", prompt=prompt, max_tokens=12, temperature=0, stop=[stop]
    )
    assert stopped.choices[0].text == cut and stopped.choices[0].finish_reason == "stop"
    pieces = client.completions.create(
        model="smollm2", prompt=prompt, max_tokens=12, temperature=0, stop=stop, stream=True
    )
    texts = [c.choices[0].text for c in pieces]
    assert "".join(texts) == cut and all(stop not in t for t in texts)


@pytest.mark.server
def test_sampling_options_are_honoured(route: Route) -> None:
    client = route.client()
    request: dict[str, Any] = {
        "model": "smollm2",
        "prompt": "Once upon a time",
        "max_tokens": 12,
        "temperature": 1.0,
        "top_p": 0.95,
        "presence_penalty": 0.5,
        "frequency_penalty": 0.5,
    }
    first = client.completions.create(**request, seed=11).choices[0].text
    assert client.completions.create(**request, seed=11).choices[0].text == first  # seeded: repeatable
    others = {client.completions.create(**request, seed=seed).choices[0].text for seed in (1, 2, 3)}
    assert len(others | {first}) > 1  # sampled, not greedy: seeds differ


BAD_REQUESTS = [
    ({"n": 2}, "n > 1 is not supported"),
    (
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]},
        "'tools' are not supported",
    ),
    ({"response_format": {"type": "json_object"}}, "response_format 'json_object' is not supported"),
    ({"logprobs": True}, "'logprobs' is not supported"),
    ({"temperature": 3}, "Invalid value for 'temperature'"),
    ({"max_tokens": 0}, "Invalid value for 'max_tokens'"),
    ({"max_tokens": 600}, "maximum context length is 512 tokens"),
    ({"messages": []}, "Invalid value for 'messages'"),
    ({"messages": [{"role": "robot", "content": "Hi"}]}, "Invalid value for 'messages.0.role'"),
    (
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
        "content part of type 'image_url' is not supported",
    ),
    ({"stop": ["a", "b", "c", "d", "e"]}, "'stop' takes at most 4 sequences"),
    ({"extra_body": {"best_of": 3}}, "Unrecognized request argument supplied: best_of"),
    ({"messages": [{"role": "user", "content": "word " * 300}]}, "the deployment rejected the request"),
]


@pytest.mark.server
@pytest.mark.parametrize(("change", "message"), BAD_REQUESTS, ids=[m for _, m in BAD_REQUESTS])
def test_bad_input_is_a_400_and_the_next_request_works(
    route: Route, change: dict[str, Any], message: str
) -> None:
    bad_input_is_a_400_and_the_next_request_works(route.client(), change, message)


@pytest.mark.server
def test_malformed_bodies_and_unknown_models(route: Route) -> None:
    url = f"{route.base}/v1/chat/completions"
    for raw in (b"not json", b"[1, 2]", b""):
        reply = requests.post(url, data=raw, headers={"content-type": "application/json"}, timeout=10)
        assert reply.status_code == 400 and reply.json()["error"]["type"] == "invalid_request_error"
    with pytest.raises(openai.NotFoundError, match="model 'gpt-4' does not exist"):
        route.client().chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "Hi"}])
    reply = requests.get(f"{route.base}/v1/nothing", timeout=10)
    assert reply.status_code == 404 and set(reply.json()["error"]) == {"message", "type", "param", "code"}
    reply = requests.post(
        f"{route.base}/v1/completions", json={"model": "smollm2", "prompt": ["a", "b"]}, timeout=10
    )
    assert reply.status_code == 400 and "one prompt per request" in reply.json()["error"]["message"]


@pytest.mark.server
def test_the_bls_target_answers_as_the_ensemble(bls_route: Route, triton: RunningServer) -> None:
    assert "tensorrt_llm_bls 'tensorrt_llm_bls'" in bls_route.log()
    reply = bls_route.client().chat.completions.create(
        model="tensorrt_llm_bls",
        messages=[{"role": "user", "content": QUESTION}],
        temperature=0,
        max_tokens=16,
    )
    assert reply.choices[0].message.content == ensemble_generate(triton, QUESTION, 16)["text_output"]
    chunks = bls_route.client().chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": QUESTION}],
        temperature=0,
        max_tokens=16,
        stream=True,
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == reply.choices[0].message.content


@pytest.mark.server
@pytest.mark.parametrize("which", ["ensemble", "bls"])
def test_a_client_that_disconnects_cancels_the_generation(
    which: str, route: Route, bls_route: Route, triton: RunningServer
) -> None:
    client = (route if which == "ensemble" else bls_route).client()
    for streaming in (True, False):
        before = settled_tokens(triton)
        if streaming:
            stream = client.completions.create(
                model="smollm2", prompt=COUNTING, max_tokens=300, temperature=0, stream=True
            )
            for index, _ in enumerate(stream):
                if index == 3:
                    break
            stream.close()
        else:
            with pytest.raises(openai.APITimeoutError):
                client.with_options(timeout=2.0).completions.create(
                    model="smollm2", prompt=COUNTING, max_tokens=300, temperature=0
                )
        # Generation stops: the counter settles far below the 300 tokens asked for (SmolLM2 on 2 CPU
        # cores makes about 10-20 tokens a second).
        assert settled_tokens(triton) - before < 120, f"{which}, streaming={streaming}"
    reply = client.completions.create(model="smollm2", prompt="Hello", max_tokens=2)
    assert reply.choices[0].text  # and the deployment keeps serving


@pytest.mark.server
def test_64_concurrent_streams_lose_nothing(route: Route) -> None:
    async def one(client: openai.AsyncOpenAI, index: int) -> tuple[str, Any, int]:
        stream = await client.chat.completions.create(
            model="smollm2",
            messages=[{"role": "user", "content": f"Say the number {index}."}],
            max_tokens=4,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
        text, usage, finishes = "", None, 0
        async for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
                finishes += chunk.choices[0].finish_reason is not None
            else:
                usage = chunk.usage
        return text, usage, finishes

    async def run() -> list[tuple[str, Any, int]]:
        async with openai.AsyncOpenAI(
            base_url=f"{route.base}/v1", api_key="unused", max_retries=0, timeout=240
        ) as client:
            return await asyncio.gather(*(one(client, i) for i in range(64)))

    started = time.monotonic()
    results = asyncio.run(run())
    assert time.monotonic() - started < 240
    assert len(results) == 64
    for text, usage, finishes in results:
        assert text and finishes == 1
        assert usage is not None and 1 <= usage.completion_tokens <= 4 and usage.prompt_tokens > 10


@pytest.mark.server
@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_curl_sees_the_sse_wire_format(route: Route) -> None:
    body = {
        "model": "smollm2",
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 3,
        "stream": True,
    }
    result = subprocess.run(
        [
            "curl",
            "-sS",
            "-N",
            "-i",
            f"{route.base}/v1/chat/completions",
            "-H",
            "Content-Type: application/json",
            "-d",
            json.dumps(body),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    head, _, stream = result.stdout.replace("\r\n", "\n").partition("\n\n")
    assert head.startswith("HTTP/1.1 200") and "content-type: text/event-stream" in head.lower()
    events = stream.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    payloads = [json.loads(event.removeprefix("data: ")) for event in events[:-2]]
    assert all(event.startswith("data: {") for event in events[:-2])
    assert {p["object"] for p in payloads} == {"chat.completion.chunk"} and len(
        {p["id"] for p in payloads}
    ) == 1
    assert payloads[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    error = subprocess.run(
        [
            "curl",
            "-sS",
            "-w",
            "%{http_code}",
            f"{route.base}/v1/chat/completions",
            "-H",
            "Content-Type: application/json",
            "-d",
            '{"model": "smollm2"}',
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert error.endswith("400") and json.loads(error[:-3])["error"]["param"] == "messages"


def test_an_unreachable_server_is_one_line_and_exit_8(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    result = subprocess.run(
        [sys.executable, "-m", "tritongen", "openai", "--url", f"127.0.0.1:{port}", "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 8, result.stderr
    assert result.stderr.startswith(f"error: cannot reach tritonserver at http://127.0.0.1:{port}")
    assert result.stderr.count("\n") == 1 and result.stdout == ""


def tiny_repository(checkpoint_tokenizer: Path, directory: Path, tp: int) -> Path:
    """A tiny random-weight Llama with SmolLM2's tokenizer (chat template included), rendered for `tp`."""
    from tritongen.cli import main
    from tritongen.testing.engines import make_hf_checkpoint

    checkpoint = make_hf_checkpoint(directory / "tiny", tokenizer_from=checkpoint_tokenizer, seed=3)
    repository = directory / f"tiny_tp{tp}"
    with pytest.raises(SystemExit) as exit_info:
        main(["render", "--engine", str(checkpoint), "--output", str(repository), "--tp", str(tp),
              "--set", "torch_dtype=float32", "--set", "device=cpu", "--set", "triton_max_batch_size=4"])  # fmt: skip
    assert exit_info.value.code == 0
    return repository


def launched_route(launch: Any) -> tuple[Route, int]:
    """The route `launch --openai-port` started (its port and pid, from the launcher's own lines)."""
    launch.wait_for("tritongen: OpenAI route ready in", timeout=240)
    match = re.search(r"started the OpenAI route \(pid (\d+), port (\d+)\)", launch.output())
    assert match, launch.output()[-3000:]
    return Route(launch.process, int(match.group(2)), launch.log_path), int(match.group(1))


@pytest.mark.server
@pytest.mark.mpi
@pytest.mark.skipif(shutil.which("mpirun") is None, reason="needs mpirun")
def test_launch_with_openai_port_at_world_size_2(smollm2_checkpoint_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    """`tritongen launch --openai-port` of a tp 2 repository (two tritonservers under mpirun): the route
    answers as the ensemble does, its lines are prefixed, and a route that dies takes the launch down."""
    from tritongen.testing.launch import Launch, leftovers

    repository = tiny_repository(smollm2_checkpoint_dir, tmp_path, tp=2)
    (port,) = free_ports(1)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    launch = Launch.start(repository, env, tmp_path / "launch.log", "--openai-port", str(port))
    try:
        launch.wait_ready(timeout=240)
        assert "2 ranks" in launch.output() or "world size 2" in launch.output()
        route, pid = launched_route(launch)
        assert route.port == port
        client = route.client()
        messages = [{"role": "user", "content": QUESTION}]
        reply = client.chat.completions.create(
            model="tiny_tp2", messages=messages, temperature=0, max_tokens=12
        )  # type: ignore[arg-type]
        body = {"text_input": QUESTION, "max_tokens": 12, "top_k": 1}
        expected = requests.post(f"http://127.0.0.1:{launch.ports.http}/v2/models/ensemble/generate", json=body,
                                 timeout=120).json()["text_output"]  # fmt: skip
        assert reply.choices[0].message.content == expected
        chunks = client.chat.completions.create(model="tiny_tp2", messages=messages, temperature=0, max_tokens=12,  # type: ignore[arg-type]
                                                stream=True)  # fmt: skip
        assert "".join(c.choices[0].delta.content or "" for c in chunks) == expected
        assert "[openai] OpenAI route on http://" in launch.output()  # its own lines, prefixed like a rank's
        os.kill(pid, signal.SIGKILL)  # the route dies: the whole launch is torn down, exit 7
        code, _ = launch.wait(timeout=90)
        assert code == 7, launch.output()[-3000:]
        assert f"the OpenAI route (pid {pid}) exited on signal 9" in launch.output()
        assert leftovers(repository) == []
    finally:
        launch.kill()


@pytest.mark.server
def test_launch_with_openai_port_stops_cleanly(smollm2_checkpoint_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    from tritongen.testing.launch import Launch, leftovers

    repository = tiny_repository(smollm2_checkpoint_dir, tmp_path, tp=1)
    (port,) = free_ports(1)
    launch = Launch.start(repository, {**os.environ, "HF_HUB_OFFLINE": "1"}, tmp_path / "launch.log",
                          "--openai-port", str(port))  # fmt: skip
    try:
        route, pid = launched_route(launch)
        reply = route.client().completions.create(
            model="tiny_tp1", prompt="Hello", max_tokens=3, temperature=0
        )
        assert reply.usage is not None and reply.usage.completion_tokens >= 1
        launch.signal(signal.SIGINT)
        code, _ = launch.wait(timeout=90)
        assert code == 0, launch.output()[-3000:]
        assert "no process of the launch is left" in launch.output()
        assert leftovers(repository) == [] and not Path(f"/proc/{pid}").exists()
    finally:
        launch.kill()


def test_launch_refuses_a_busy_openai_port(tmp_path: Path) -> None:
    from tritongen.testing.launch import make_repo, run_cli

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(["launch", str(make_repo(tmp_path)), "--openai-port", str(port)], os.environ)
    assert result.returncode == 7, result.stderr
    assert f"--openai-port {port} is already in use" in result.stderr and result.stderr.count("\n") == 1
