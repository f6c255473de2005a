"""`tritongen openai` in front of the llmapi target, driven by the official `openai` client.

One `tritongen launch`ed llmapi SmolLM2 repository (float32 on CPU, the `tensorrt_llm` Python model) and one
route in front of it serve the whole module. Answers are compared with the llmapi model's own greedy
`generate` of the same chat-templated text, usage with the tokenizer's counts. The llmapi model has no
generated-token counter, so cancellation is read from the CPU time the server's processes spend: a
generation that goes on after the client left keeps them busy.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import psutil
import pytest
import requests
from openai_checks import (
    bad_input_is_a_400_and_the_next_request_works,
    streamed_deltas_join_to_the_whole_answer,
)
from smollm2_fixture import smollm2_checkpoint_dir  # noqa: F401
from test_openai import Route, openai_route

from tritongen.openai.generation import StopScanner
from tritongen.openai.targets import target_for
from tritongen.testing.launch import Launch, leftovers, run_cli

QUESTION = "What is the capital of France?"
COUNTING = "1, 2, 3, 4, 5, 6,"  # greedy SmolLM2 keeps counting: a generation that does not end by itself


@pytest.fixture(scope="module")
def launched(smollm2_checkpoint_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launch]:  # noqa: F811
    root = tmp_path_factory.mktemp("openai-llmapi")
    rendered = run_cli(["render", "--engine", str(smollm2_checkpoint_dir), "--target", "llmapi", "--output",
                        str(root / "smollm2"), "--set", "dtype=float32", "--set", "max_seq_len=512"], os.environ)  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr
    launch = Launch.start(root / "smollm2", os.environ, root / "launch.log")
    try:
        launch.wait_ready(timeout=240)
        yield launch
        launch.signal(signal.SIGINT)
        code, _ = launch.wait(timeout=60)
        assert code == 0, launch.output()[-3000:]
        assert leftovers(root / "smollm2") == []
    finally:
        launch.kill()


@pytest.fixture(scope="module")
def route(launched: Launch) -> Iterator[Route]:
    flags = ("--repository", str(launched.repo))
    with openai_route(f"127.0.0.1:{launched.ports.http}", launched.repo.parent / "route.log", *flags) as r:
        yield r


@pytest.fixture(scope="module")
def tokenizer(smollm2_checkpoint_dir: Path) -> Any:  # noqa: F811
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm2_checkpoint_dir)


def llmapi_generate(launched: Launch, text: str, max_tokens: int) -> str:
    """The llmapi model's own greedy answer to `text`, straight from Triton."""
    body = {
        "text_input": text,
        "sampling_param_max_tokens": max_tokens,
        "sampling_param_top_k": 1,
        "sampling_param_exclude_input_from_output": True,
    }
    url = f"http://127.0.0.1:{launched.ports.http}/v2/models/tensorrt_llm/generate"
    reply = requests.post(url, json=body, timeout=120)
    assert reply.status_code == 200, reply.text
    return str(reply.json()["text_output"])


def chat_text(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    return str(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))


def count(tokenizer: Any, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def server_cpu_seconds(launched: Launch) -> float:
    """CPU time of the launch and every process under it (tritonserver, the Python model's stub)."""
    root = psutil.Process(launched.process.pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def goes_idle(launched: Launch, within_s: float) -> bool:
    """Whether the server's processes stop computing (under 0.3 s of CPU in a 2 s window) in time."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        before = server_cpu_seconds(launched)
        time.sleep(2)
        if server_cpu_seconds(launched) - before < 0.3:
            return True
    return False


def test_the_llmapi_reader_never_shows_what_its_final_text_drops() -> None:
    """The llmapi model streams the first tokens of a stop string (and half-decoded characters) before its
    final response drops them; the route's delta and stop-string hold-back together never show them."""
    config = {
        "input": [
            {"name": n, "optional": True} for n in ("text_input", "streaming", "sampling_param_max_tokens")
        ]
    }
    target = target_for("tensorrt_llm", config, decoupled=True)
    reader, scanner = target.reader(("Paris",)), StopScanner(("Paris",))
    events = ["The capital", "The capital is Par", "The capital is Pa\ufffd", "The capital is "]
    shown = [scanner.push(reader.feed({"text_output": [text]})) for text in events]
    assert "".join(shown) + scanner.push(reader.finish()) + scanner.flush() == "The capital is "
    assert not any("P" in piece for piece in shown)
    plain = target.reader()  # no stop string: a trailing half character waits for its last byte
    assert [plain.feed({"text_output": t}) for t in ("caf", "caf\ufffd", "café")] == ["caf", "", "é"]
    assert plain.finish() == ""


@pytest.mark.server
def test_models_list_the_llmapi_repository(route: Route, launched: Launch) -> None:
    assert "llmapi 'tensorrt_llm'" in route.log()
    client = route.client()
    assert [m.id for m in client.models.list().data] == [launched.repo.name]
    assert client.models.retrieve(launched.repo.name).owned_by == "tritongen"
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.models.retrieve("gpt-4")


@pytest.mark.server
def test_greedy_chat_equals_the_models_greedy_generate_and_usage_is_the_tokenizers(
    route: Route, launched: Launch, tokenizer: Any
) -> None:
    messages = [{"role": "user", "content": QUESTION}]
    reply = route.client().chat.completions.create(
        model="smollm2",
        messages=messages,  # type: ignore[arg-type]
        temperature=0,
        max_tokens=24,
    )
    expected = llmapi_generate(launched, chat_text(tokenizer, messages), 24)
    choice = reply.choices[0]
    assert choice.message.content == expected and choice.message.role == "assistant"
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == len(
        tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)["input_ids"]
    )
    assert reply.usage.completion_tokens == count(tokenizer, expected)
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert choice.finish_reason == ("length" if reply.usage.completion_tokens == 24 else "stop")


@pytest.mark.server
def test_streamed_deltas_join_to_the_non_streamed_answer(route: Route) -> None:
    streamed_deltas_join_to_the_whole_answer(route.client())


@pytest.mark.server
def test_completions_and_stop_strings(route: Route, launched: Launch) -> None:
    client = route.client()
    prompt = "The three primary colours are"
    expected = llmapi_generate(launched, prompt, 12)
    reply = client.completions.create(model="smollm2", prompt=prompt, max_tokens=12, temperature=0)
    assert reply.choices[0].text == expected and reply.object == "text_completion"
    streamed = client.completions.create(
        model="smollm2", prompt=prompt, max_tokens=12, temperature=0, stream=True
    )
    assert "".join(c.choices[0].text for c in streamed) == expected
    # A stop string ends the answer before it, in one piece and in deltas alike (the llmapi model also
    # stops on it, and its cumulative stream shows the stop string's first tokens before dropping them).
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
    # A stop string of several tokens: the model streams its first tokens before it matches.
    long_stop = " ".join(expected.split()[2:5])
    long_cut = expected[: expected.index(long_stop)]
    pieces = client.completions.create(
        model="smollm2", prompt=prompt, max_tokens=12, temperature=0, stop=long_stop, stream=True
    )
    texts = [c.choices[0].text for c in pieces]
    assert "".join(texts) == long_cut, texts


@pytest.mark.server
def test_seeded_sampling_is_repeatable(route: Route) -> None:
    client = route.client()
    request: dict[str, Any] = {
        "model": "smollm2",
        "prompt": "Once upon a time",
        "max_tokens": 12,
        "temperature": 1.0,
        "top_p": 0.95,
    }
    first = client.completions.create(**request, seed=11).choices[0].text
    assert client.completions.create(**request, seed=11).choices[0].text == first
    others = {client.completions.create(**request, seed=seed).choices[0].text for seed in (1, 2, 3)}
    assert len(others | {first}) > 1  # sampled, not greedy: seeds differ


@pytest.mark.server
@pytest.mark.parametrize(
    ("change", "message"),
    [({"max_tokens": 0}, "Invalid value for 'max_tokens'"),
     ({"max_tokens": 600}, "maximum context length is 512 tokens"),
     ({"n": 2}, "n > 1 is not supported"),
     ({"messages": [{"role": "robot", "content": "Hi"}]}, "Invalid value for 'messages.0.role'")],
)  # fmt: skip
def test_bad_input_is_a_400_and_the_next_request_works(
    route: Route, change: dict[str, Any], message: str
) -> None:
    bad_input_is_a_400_and_the_next_request_works(route.client(), change, message)


@pytest.mark.server
def test_a_client_that_disconnects_cancels_the_generation(route: Route, launched: Launch) -> None:
    client = route.client()
    assert goes_idle(launched, within_s=60), "the server is busy before the test started"
    # The measure itself: a generation nobody cancels keeps the server busy (ended here with llmapi's
    # own stop request for its id).
    url = f"http://127.0.0.1:{launched.ports.http}/v2/models/tensorrt_llm/generate"
    control = threading.Thread(
        target=requests.post,
        args=(url,),
        kwargs={"json": {"id": "control", "text_input": COUNTING, "sampling_param_max_tokens": 400,
                         "sampling_param_top_k": 1}, "timeout": 300},
    )  # fmt: skip
    control.start()
    time.sleep(1)
    assert not goes_idle(launched, within_s=6), "an uncancelled generation did not show as CPU time"
    stopped = requests.post(url, json={"id": "control", "text_input": "", "stop": True}, timeout=30)
    assert stopped.status_code == 200, stopped.text
    control.join(timeout=60)
    assert not control.is_alive() and goes_idle(launched, within_s=20)
    for streaming in (True, False):
        started = time.monotonic()
        if streaming:
            stream = client.completions.create(
                model="smollm2", prompt=COUNTING, max_tokens=400, temperature=0, stream=True
            )
            for index, _ in enumerate(stream):
                if index == 3:
                    break
            stream.close()
        else:
            with pytest.raises(openai.APITimeoutError):
                client.with_options(timeout=2.0).completions.create(
                    model="smollm2", prompt=COUNTING, max_tokens=400, temperature=0
                )
        # 400 tokens take SmolLM2 on these CPU cores well over a minute: idle within 20 s means
        # Triton cancelled the request and the llmapi model stopped generating.
        assert goes_idle(launched, within_s=20), f"still generating {time.monotonic() - started:.0f} s later"
    reply = client.completions.create(model="smollm2", prompt="Hello", max_tokens=2)
    assert reply.choices[0].text  # and the deployment keeps serving
