"""The torch runtime (`tensorrt_llm` on the Python backend) against real tritonserver and the real SmolLM2.

Two servers are started once for the module from `tritongen render`ed repositories (only the
`tensorrt_llm` model loaded): a decoupled one (gRPC streaming, HTTP generate endpoints) and a
non-decoupled one (HTTP infer). Every greedy result is compared token for token with in-process
`transformers` greedy generation of the same checkpoint, sent as chat-templated token ids.
"""

from __future__ import annotations

import contextlib
import json
import queue
import re
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil
import pytest
import requests
import torch
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from smollm2_fixture import render_repository, serve_tensorrt_llm, smollm2_checkpoint_dir  # noqa: F401
from transformers import AutoModelForCausalLM, AutoTokenizer
from tritonclient.utils import InferenceServerException

from tritongen.runtime.torch_runtime.contract import (
    GenerationRequest,
    ModelLimits,
    RequestError,
    ResponseCursor,
    SamplingParams,
    parse_request,
    response_arrays,
)
from tritongen.runtime.torch_runtime.sampling import Row, TokenChooser, choose_next_tokens
from tritongen.runtime.torch_runtime.settings import SettingsError, read_settings

server = pytest.mark.server  # the tests that start tritonserver

MAX_INPUT_LEN = 256
MAX_SEQ_LEN = 512
EOS = 2  # <|im_end|>
QUESTIONS = (
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Explain gravity to a child.",
    "List three primary colors.",
    "Tell me a joke about cats.",
    "What is 2+2?",
    "Name a fruit that is yellow.",
    "Describe a rainy day.",
    "Why is the sky blue?",
    "Give me a tip for studying.",
    "What do bees make?",
    "How many legs does a spider have?",
    "Suggest a name for a dog.",
    "What is the opposite of hot?",
    "Say hello in Spanish.",
    "What colour is grass?",
)
BOOL_INPUTS = {
    "streaming", "exclude_input_in_output", "return_log_probs", "stop", "return_context_logits",
    "return_num_input_tokens", "return_num_output_tokens", "return_perf_metrics",
}  # fmt: skip
FLOAT_INPUTS = {"temperature", "runtime_top_p", "repetition_penalty", "presence_penalty", "frequency_penalty"}
UINT64_INPUTS = {"seed", "random_seed"}


# -- fixtures ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizer(smollm2_checkpoint_dir: Path):  # noqa: F811
    return AutoTokenizer.from_pretrained(smollm2_checkpoint_dir)


@pytest.fixture(scope="module")
def reference(smollm2_checkpoint_dir: Path):  # noqa: F811
    """In-process transformers on the same checkpoint: greedy continuations and log-probabilities."""
    return Reference(AutoModelForCausalLM.from_pretrained(smollm2_checkpoint_dir, dtype=torch.float32).eval())


@pytest.fixture(scope="module")
def prompts(tokenizer) -> list[list[int]]:
    return [chat_ids(tokenizer, question) for question in QUESTIONS]


@pytest.fixture(scope="module")
def streaming_server(smollm2_checkpoint_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator:  # noqa: F811
    root = tmp_path_factory.mktemp("torch-runtime-decoupled")
    repository = render_repository(
        smollm2_checkpoint_dir,
        root / "repository",
        settings=(f"max_input_len={MAX_INPUT_LEN}", f"max_seq_len={MAX_SEQ_LEN}", "torch_dtype=float32",
                  "device=cpu", "triton_max_batch_size=16"),
    )  # fmt: skip
    with serve_tensorrt_llm(repository, root / "server.log") as server:
        yield server


@pytest.fixture(scope="module")
def plain_server(smollm2_checkpoint_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator:  # noqa: F811
    root = tmp_path_factory.mktemp("torch-runtime-not-decoupled")
    repository = render_repository(
        smollm2_checkpoint_dir,
        root / "repository",
        decoupled=False,
        settings=(f"max_input_len={MAX_INPUT_LEN}", f"max_seq_len={MAX_SEQ_LEN}", "torch_dtype=float32",
                  "device=cpu", "triton_max_batch_size=4", "exclude_input_in_output=false"),
    )  # fmt: skip
    with serve_tensorrt_llm(repository, root / "server.log") as server:
        yield server


# -- helpers -------------------------------------------------------------------------------------------


def chat_ids(tokenizer, question: str) -> list[int]:
    """Token ids of `question` through the chat template, as the preprocessing model sends them."""
    messages = [{"role": "user", "content": question}]
    return list(
        tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)["input_ids"]
    )


class Reference:
    """Greedy results of in-process `generate`, cached per (prompt, length)."""

    def __init__(self, model) -> None:
        self.model = model
        self.cache: dict[tuple[tuple[int, ...], int, int], list[int]] = {}

    def greedy(self, prompt: list[int], new_tokens: int, end_id: int = EOS) -> list[int]:
        key = (tuple(prompt), new_tokens, end_id)
        if key not in self.cache:
            with torch.no_grad():
                output = self.model.generate(
                    torch.tensor([prompt]),
                    attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                    max_new_tokens=new_tokens,
                    do_sample=False,
                    eos_token_id=end_id if end_id >= 0 else None,
                    pad_token_id=EOS,
                )
            tokens = output[0, len(prompt) :].tolist()
            self.cache[key] = tokens[:-1] if tokens and tokens[-1] == end_id else tokens
        return self.cache[key]

    def log_probs(self, prompt: list[int], generated: list[int]) -> np.ndarray:
        """log p(token | everything before it) for each generated token."""
        with torch.no_grad():
            logits = self.model(torch.tensor([prompt + generated])).logits[0].float()
        steps = torch.log_softmax(logits[len(prompt) - 1 : len(prompt) + len(generated) - 1], dim=-1)
        return steps.gather(1, torch.tensor(generated).unsqueeze(1)).squeeze(1).numpy()


def triton_inputs(client_module, prompt: list[int], output_len: int, **optional) -> list:
    """The tensorrt_llm request tensors; `optional` inputs are typed by name."""
    tensors = []

    def add(name: str, value: np.ndarray, datatype: str) -> None:
        tensor = client_module.InferInput(name, list(value.shape), datatype)
        tensor.set_data_from_numpy(value)
        tensors.append(tensor)

    add("input_ids", np.array([prompt], dtype=np.int32), "INT32")
    add("input_lengths", np.array([[len(prompt)]], dtype=np.int32), "INT32")
    add("request_output_len", np.array([[output_len]], dtype=np.int32), "INT32")
    for name, value in optional.items():
        if isinstance(value, np.ndarray):
            add(name, value.astype(np.int32)[np.newaxis], "INT32")
        elif name in BOOL_INPUTS:
            add(name, np.array([[value]], dtype=bool), "BOOL")
        elif name in FLOAT_INPUTS:
            add(name, np.array([[value]], dtype=np.float32), "FP32")
        elif name in UINT64_INPUTS:
            add(name, np.array([[value]], dtype=np.uint64), "UINT64")
        else:
            add(name, np.array([[value]], dtype=np.int32), "INT32")
    return tensors


def stop_words(*words: list[int]) -> np.ndarray:
    """The [2, N] stop_words_list format: concatenated ids, then cumulative end offsets padded with -1."""
    ids = [token for word in words for token in word]
    offsets = list(np.cumsum([len(word) for word in words]))
    return np.array([ids, offsets + [-1] * (len(ids) - len(offsets))], dtype=np.int32)


@dataclass
class Reply:
    """All responses of one request, joined."""

    responses: list = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def tokens(self) -> list[int]:
        return [t for r in self.responses for t in r.as_numpy("output_ids")[0, 0].tolist()]

    def joined(self, name: str) -> np.ndarray:
        return np.concatenate([r.as_numpy(name).reshape(-1) for r in self.responses])


def grpc_requests(server, batch: dict[str, dict], timeout_s: float = 240) -> dict[str, Reply]:
    """Send every request of `batch` ({request_id: inputs kwargs}) on one gRPC stream; gather the replies."""
    replies = {request_id: Reply() for request_id in batch}
    finished: queue.Queue[str] = queue.Queue()
    started = time.monotonic()

    def on_response(result, error) -> None:
        if error is not None:  # errors carry no request id: only send one request per stream to test them
            only = next(iter(replies))
            replies[only].error = str(error)
            finished.put(only)
            return
        request_id = result.get_response().id
        replies[request_id].responses.append(result)
        if result.get_response().parameters["triton_final_response"].bool_param:
            replies[request_id].seconds = time.monotonic() - started
            finished.put(request_id)

    client = grpcclient.InferenceServerClient(server.grpc_url)
    client.start_stream(callback=on_response)
    try:
        for request_id, kwargs in batch.items():
            kwargs = dict(kwargs)
            prompt, output_len = kwargs.pop("prompt"), kwargs.pop("output_len")
            client.async_stream_infer(
                "tensorrt_llm", triton_inputs(grpcclient, prompt, output_len, **kwargs), request_id=request_id
            )
        for _ in batch:
            finished.get(timeout=timeout_s)
    finally:
        client.stop_stream()
        client.close()
    return replies


def grpc_request(server, prompt: list[int], output_len: int, **optional) -> Reply:
    return grpc_requests(server, {"only": {"prompt": prompt, "output_len": output_len, **optional}})["only"]


def metric(server, name: str) -> float:
    """A tritongen_torch_* metric of the tensorrt_llm model from the metrics endpoint."""
    text = requests.get(server.metrics_url, timeout=5).text
    match = re.search(rf'^{name}{{model="tensorrt_llm"}} ([0-9.e+]+)$', text, re.MULTILINE)
    assert match, f"{name} not in the metrics:\n{text[-2000:]}"
    return float(match.group(1))


# -- greedy parity -------------------------------------------------------------------------------------


@server
def test_greedy_output_equals_in_process_generate(streaming_server, prompts, reference) -> None:
    for prompt in prompts[:3]:
        reply = grpc_request(streaming_server, prompt, 32, exclude_input_in_output=True, end_id=EOS)
        assert reply.error is None
        assert reply.tokens == reference.greedy(prompt, 32)
        assert reply.responses[-1].as_numpy("sequence_length").tolist() == [[len(reply.tokens)]]


@server
def test_default_end_id_is_the_checkpoint_eos(streaming_server, prompts, reference) -> None:
    reply = grpc_request(streaming_server, prompts[0], 64, exclude_input_in_output=True)
    expected = reference.greedy(prompts[0], 64)
    assert len(expected) < 64, "the reference answer should end with EOS well before 64 tokens"
    assert reply.tokens == expected


@server
def test_streaming_responses_join_to_the_non_streaming_result(streaming_server, prompts, reference) -> None:
    streamed = grpc_request(streaming_server, prompts[1], 24, streaming=True, end_id=EOS)
    whole = grpc_request(
        streaming_server, prompts[1], 24, streaming=False, exclude_input_in_output=True, end_id=EOS
    )
    assert streamed.tokens == whole.tokens == reference.greedy(prompts[1], 24)
    assert len(streamed.responses) > 1, "streaming sends tokens as they come"
    assert len(whole.responses) == 1


@server
def test_http_generate_endpoint_on_the_decoupled_model(streaming_server, prompts, reference) -> None:
    body = {
        "input_ids": prompts[2],
        "input_lengths": len(prompts[2]),
        "request_output_len": 16,
        "end_id": EOS,
    }
    answer = requests.post(
        f"http://{streaming_server.http_url}/v2/models/tensorrt_llm/generate", json=body, timeout=120
    )
    assert answer.status_code == 200, answer.text
    payload = answer.json()
    # The rendered default is exclude_input_in_output=true: only the completion comes back.
    expected = reference.greedy(prompts[2], 16)
    assert payload["output_ids"] == expected
    assert payload["sequence_length"] == len(expected)


@server
def test_http_generate_stream_endpoint_sends_one_event_per_token(
    streaming_server, prompts, reference
) -> None:
    body = {"input_ids": prompts[2], "input_lengths": len(prompts[2]), "request_output_len": 8, "end_id": -1,
            "streaming": True}  # fmt: skip
    url = f"http://{streaming_server.http_url}/v2/models/tensorrt_llm/generate_stream"
    with requests.post(url, json=body, stream=True, timeout=120) as answer:
        assert answer.status_code == 200, answer.text
        events = [
            json.loads(line[len(b"data: ") :]) for line in answer.iter_lines() if line.startswith(b"data: ")
        ]
    assert all("error" not in event for event in events), events
    tokens = [token for event in events for token in np.atleast_1d(event["output_ids"]).tolist()]
    assert tokens == reference.greedy(prompts[2], 8, end_id=-1)
    assert len(events) > 1, "streaming sends tokens as they come (grouped only when the client lags)"


@server
def test_http_infer_on_the_non_decoupled_model(plain_server, prompts, reference) -> None:
    client = httpclient.InferenceServerClient(plain_server.http_url, network_timeout=240)
    result = client.infer("tensorrt_llm", triton_inputs(httpclient, prompts[3], 20, end_id=EOS))
    expected = reference.greedy(prompts[3], 20)
    # That server is rendered with exclude_input_in_output=false: the prompt comes first.
    assert result.as_numpy("output_ids")[0, 0].tolist() == prompts[3] + expected
    assert result.as_numpy("sequence_length").tolist() == [[len(prompts[3]) + len(expected)]]


@server
def test_non_decoupled_model_refuses_streaming(plain_server, prompts) -> None:
    client = httpclient.InferenceServerClient(plain_server.http_url, network_timeout=60)
    with pytest.raises(
        InferenceServerException, match="Streaming is only supported if model is deployed using decoupled"
    ):
        client.infer("tensorrt_llm", triton_inputs(httpclient, prompts[0], 4, streaming=True))


# -- request options -----------------------------------------------------------------------------------


@server
def test_request_output_len_is_respected(streaming_server, prompts) -> None:
    reply = grpc_request(streaming_server, prompts[2], 5, exclude_input_in_output=True, end_id=-1)
    assert len(reply.tokens) == 5


@server
def test_end_id_stops_generation_and_is_not_returned(streaming_server, prompts, reference) -> None:
    expected = reference.greedy(prompts[2], 24, end_id=-1)
    end_at = next(i for i in range(3, len(expected)) if expected[i] not in expected[:i])
    reply = grpc_request(
        streaming_server, prompts[2], 24, exclude_input_in_output=True, end_id=expected[end_at]
    )
    assert reply.tokens == expected[:end_at]


@server
def test_stop_words_stop_generation_and_are_returned(streaming_server, prompts, reference) -> None:
    expected = reference.greedy(prompts[1], 32)
    word = expected[6:8]
    first = next(i for i in range(len(expected) - 1) if expected[i : i + 2] == word)
    other_word = [0, 1]  # <|endoftext|> <|im_start|>: never generated here
    reply = grpc_request(
        streaming_server, prompts[1], 32, exclude_input_in_output=True, end_id=EOS,
        stop_words_list=stop_words(other_word, word),
    )  # fmt: skip
    assert reply.tokens == expected[: first + 2]


@server
def test_exclude_input_in_output_per_request(streaming_server, plain_server, prompts, reference) -> None:
    expected = reference.greedy(prompts[5], 8)
    with_prompt = grpc_request(streaming_server, prompts[5], 8, exclude_input_in_output=False, end_id=EOS)
    assert with_prompt.tokens == prompts[5] + expected
    client = httpclient.InferenceServerClient(plain_server.http_url, network_timeout=120)
    result = client.infer(
        "tensorrt_llm", triton_inputs(httpclient, prompts[5], 8, exclude_input_in_output=True)
    )
    assert result.as_numpy("output_ids")[0, 0].tolist() == expected


@server
def test_min_tokens_holds_back_the_end_token(streaming_server, prompts, reference) -> None:
    short = reference.greedy(prompts[0], 64)
    reply = grpc_request(
        streaming_server, prompts[0], 64, exclude_input_in_output=True, end_id=EOS, min_tokens=len(short) + 6
    )
    assert len(reply.tokens) >= len(short) + 6
    assert reply.tokens[: len(short)] == short


@server
def test_bad_words_are_never_generated_and_token_counts_are_returned(
    streaming_server, prompts, reference
) -> None:
    expected = reference.greedy(prompts[3], 8, end_id=-1)
    banned = [expected[0]]
    reply = grpc_request(
        streaming_server, prompts[3], 8, exclude_input_in_output=True, end_id=-1,
        bad_words_list=stop_words(banned), return_num_input_tokens=True, return_num_output_tokens=True,
    )  # fmt: skip
    assert len(reply.tokens) == 8 and banned[0] not in reply.tokens
    result = reply.responses[-1]
    assert result.as_numpy("num_input_tokens").tolist() == [[len(prompts[3])]]
    assert result.as_numpy("num_output_tokens").tolist() == [[8]]


@server
def test_seeded_sampling_is_reproducible(streaming_server, prompts) -> None:
    sampling = {"runtime_top_k": 50, "runtime_top_p": 0.95, "temperature": 1.2, "exclude_input_in_output": True,
                "end_id": -1}  # fmt: skip
    first = grpc_request(streaming_server, prompts[7], 24, seed=1234, **sampling)
    again = grpc_request(streaming_server, prompts[7], 24, seed=1234, **sampling)
    other = grpc_request(streaming_server, prompts[7], 24, seed=99, **sampling)
    assert len(first.tokens) == 24
    assert first.tokens == again.tokens
    assert other.tokens != first.tokens


@server
def test_log_probs_match_in_process_log_softmax(streaming_server, prompts, reference) -> None:
    reply = grpc_request(
        streaming_server, prompts[4], 12, exclude_input_in_output=True, end_id=-1, return_log_probs=True
    )
    result = reply.responses[-1]
    output_log_probs = result.as_numpy("output_log_probs")
    assert output_log_probs.shape == (1, 1, 12)
    expected = reference.log_probs(prompts[4], reply.tokens)
    np.testing.assert_allclose(output_log_probs[0, 0], expected, atol=2e-3)
    assert (output_log_probs <= 0).all()
    np.testing.assert_allclose(result.as_numpy("cum_log_probs")[0, 0], expected.sum(), atol=1e-2)


@server
def test_streamed_log_probs_follow_the_tokens(streaming_server, prompts, reference) -> None:
    reply = grpc_request(streaming_server, prompts[4], 6, streaming=True, end_id=-1, return_log_probs=True)
    np.testing.assert_allclose(
        reply.joined("output_log_probs"), reference.log_probs(prompts[4], reply.tokens), atol=2e-3
    )


# -- concurrency ---------------------------------------------------------------------------------------


@server
def test_sixteen_concurrent_requests_each_match_their_own_greedy_result(
    streaming_server, prompts, reference
) -> None:
    batch = {
        f"q{i}": {"prompt": prompt, "output_len": 24, "exclude_input_in_output": True, "end_id": EOS,
                  "streaming": i % 2 == 0}
        for i, prompt in enumerate(prompts)
    }  # fmt: skip
    replies = grpc_requests(streaming_server, batch)
    for i, prompt in enumerate(prompts):
        assert replies[f"q{i}"].tokens == reference.greedy(prompt, 24), f"request {i}"


@server
def test_sixteen_concurrent_requests_are_batched(streaming_server, prompts) -> None:
    """In-flight batching: 16 concurrent requests take far less than 16 times one request."""
    one = grpc_request(streaming_server, prompts[0], 32, exclude_input_in_output=True, end_id=-1)
    batch = {f"b{i}": {"prompt": p, "output_len": 32, "end_id": -1} for i, p in enumerate(prompts)}
    started = time.monotonic()
    grpc_requests(streaming_server, batch)
    assert time.monotonic() - started < 8 * one.seconds


# -- one request cannot change another's answer --------------------------------------------------------

SEEDED = {"runtime_top_k": 40, "runtime_top_p": 0.9, "temperature": 1.1, "exclude_input_in_output": True,
          "end_id": -1}  # fmt: skip
HOSTILE = {
    "nan temperature": {"temperature": float("nan"), "runtime_top_p": 0.9},
    "end_id outside the vocabulary with min_tokens": {"end_id": 1 << 20, "min_tokens": 4},
    "nan repetition_penalty": {"repetition_penalty": float("nan")},
    "negative min_tokens": {"min_tokens": -3},
    "every token banned by embedding_bias": {"embedding_bias": -np.inf, "runtime_top_p": 0.9},
}


def hostile_request(server, prompt: list[int], **optional) -> str | None:
    """One hostile request on its own gRPC stream; its error message (None when it was served)."""
    bias = optional.pop("embedding_bias", None)
    tensors = triton_inputs(grpcclient, prompt, 8, **optional)
    if bias is not None:  # a whole-vocabulary row of `bias`
        values = np.full((1, 49152), bias, dtype=np.float32)
        tensor = grpcclient.InferInput("embedding_bias", list(values.shape), "FP32")
        tensor.set_data_from_numpy(values)
        tensors.append(tensor)
    errors: queue.Queue[str | None] = queue.Queue()

    def on_response(result, error) -> None:
        if error is not None:
            errors.put(str(error))
        elif result.get_response().parameters["triton_final_response"].bool_param:
            errors.put(None)

    client = grpcclient.InferenceServerClient(server.grpc_url)
    client.start_stream(callback=on_response)
    try:
        client.async_stream_infer("tensorrt_llm", tensors)
        return errors.get(timeout=120)
    finally:
        client.stop_stream()
        client.close()


@server
def test_hostile_sampling_inputs_fail_alone_and_seeded_requests_keep_their_tokens(
    streaming_server, prompts
) -> None:
    """A mixed batch: seeded sampling requests (one with bad words and min_tokens) run while hostile
    requests arrive again and again; each seeded request's tokens equal its tokens when run alone."""
    good = {
        "s1": {"prompt": prompts[8], "output_len": 20, "seed": 7, **SEEDED},
        "s2": {"prompt": prompts[9], "output_len": 20, "seed": 8, "streaming": True, **SEEDED},
        "s3": {"prompt": prompts[10], "output_len": 20, "seed": 9, "min_tokens": 12, "bad_words_list":
               stop_words([28], [30]), **SEEDED, "end_id": EOS},
    }  # fmt: skip
    alone = {
        name: grpc_requests(streaming_server, {name: kwargs})[name].tokens for name, kwargs in good.items()
    }
    errors: dict[str, list[str | None]] = {name: [] for name in HOSTILE}
    done = threading.Event()

    def attack() -> None:
        while not done.is_set():
            for name, inputs in HOSTILE.items():
                errors[name].append(hostile_request(streaming_server, prompts[11], **dict(inputs)))

    attacker = threading.Thread(target=attack)
    attacker.start()
    try:
        time.sleep(0.5)
        mixed = grpc_requests(streaming_server, good)
    finally:
        done.set()
        attacker.join(timeout=120)
    for name in good:
        assert mixed[name].error is None
        assert mixed[name].tokens == alone[name], f"{name} changed by the hostile requests"
    assert len(alone["s3"]) >= 12 and not {28, 30} & set(alone["s3"]), "min_tokens and bad words held"
    for name, messages in errors.items():
        assert messages and all(message is not None for message in messages), f"{name} was served"
    assert all("outside the vocabulary" in m for m in errors["end_id outside the vocabulary with min_tokens"])
    assert all("decoding this request failed" in m for m in errors["every token banned by embedding_bias"])
    assert all("temperature must be a finite number" in m for m in errors["nan temperature"])
    body = {
        "input_ids": prompts[5],
        "input_lengths": len(prompts[5]),
        "request_output_len": 4,
        "end_id": 1 << 20,
    }
    answer = requests.post(
        f"http://{streaming_server.http_url}/v2/models/tensorrt_llm/generate", json=body, timeout=120
    )
    assert answer.status_code == 400 and "outside the vocabulary" in answer.text, "the client's mistake: 400"
    assert grpc_request(streaming_server, prompts[5], 4, end_id=-1).error is None


# -- errors and cancellation ---------------------------------------------------------------------------


@server
def test_prompt_longer_than_max_input_len_is_refused_and_the_next_request_works(
    streaming_server, prompts
) -> None:
    too_long = (prompts[0] * (MAX_INPUT_LEN // len(prompts[0]) + 1))[: MAX_INPUT_LEN + 1]
    reply = grpc_request(streaming_server, too_long, 4)
    assert reply.error is not None and f"more than max_input_len {MAX_INPUT_LEN}" in reply.error
    assert grpc_request(streaming_server, prompts[5], 4, end_id=-1).error is None


@server
@pytest.mark.parametrize("output_len", [0, -3])
def test_request_output_len_below_one_is_refused(streaming_server, prompts, output_len: int) -> None:
    reply = grpc_request(streaming_server, prompts[5], output_len)
    assert reply.error is not None and "request_output_len must be at least 1" in reply.error


@server
def test_unsupported_beam_search_is_refused(streaming_server, prompts) -> None:
    reply = grpc_request(streaming_server, prompts[5], 4, beam_width=2)
    assert reply.error is not None and "beam_width 2 is not supported" in reply.error


@server
def test_client_cancellation_stops_generation_and_the_server_keeps_serving(streaming_server, prompts) -> None:
    tokens_before = metric(streaming_server, "tritongen_torch_generated_tokens_total")
    got_tokens = threading.Event()
    client = grpcclient.InferenceServerClient(streaming_server.grpc_url)
    client.start_stream(callback=lambda result, error: got_tokens.set())
    long_request = triton_inputs(grpcclient, prompts[6], 400, streaming=True, end_id=-1)
    client.async_stream_infer("tensorrt_llm", long_request, request_id="to-cancel")
    assert got_tokens.wait(120)
    client.stop_stream(cancel_requests=True)
    client.close()

    # Generation stops: the token counter settles far below the 400 tokens asked for.
    deadline = time.monotonic() + 15
    settled = metric(streaming_server, "tritongen_torch_generated_tokens_total")
    while True:
        time.sleep(1.0)
        now = metric(streaming_server, "tritongen_torch_generated_tokens_total")
        if now == settled:
            break
        assert time.monotonic() < deadline, "the cancelled request is still generating"
        settled = now
    assert settled - tokens_before < 100
    assert metric(streaming_server, "tritongen_torch_active_requests") == 0
    assert "cancelled by the client" in streaming_server.log()
    assert grpc_request(streaming_server, prompts[5], 4, end_id=-1).error is None


@server
def test_stop_input_ends_the_request_with_what_it_has(streaming_server, prompts) -> None:
    replies: list = []
    first_token, final = threading.Event(), threading.Event()

    def on_response(result, error) -> None:
        replies.append((result, error))
        first_token.set()
        if result is not None and result.get_response().parameters["triton_final_response"].bool_param:
            final.set()

    client = grpcclient.InferenceServerClient(streaming_server.grpc_url)
    client.start_stream(callback=on_response)
    try:
        started = time.monotonic()
        client.async_stream_infer(
            "tensorrt_llm",
            triton_inputs(grpcclient, prompts[6], 400, streaming=True, end_id=-1),
            request_id="long",
        )
        assert first_token.wait(120)
        client.async_stream_infer(
            "tensorrt_llm", triton_inputs(grpcclient, [1], 1, stop=True), request_id="long"
        )
        assert final.wait(60)
    finally:
        client.stop_stream()
        client.close()
    tokens = [
        t for result, error in replies if error is None for t in result.as_numpy("output_ids")[0, 0].tolist()
    ]
    assert all(error is None for _, error in replies)
    assert 1 <= len(tokens) < 400
    assert time.monotonic() - started < 60


# -- tensor parallelism -------------------------------------------------------------------------------


def _rank_stubs(launcher_pid: int) -> dict[int, psutil.Process]:
    """The Python-backend stub running the tensorrt_llm model of each MPI rank, by rank."""
    stubs = {}
    for child in psutil.Process(launcher_pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "triton_python_backend_stub" in " ".join(child.cmdline()[:1]):
                stubs[int(child.environ()["OMPI_COMM_WORLD_RANK"])] = child
    return stubs


@server
@pytest.mark.mpi
@pytest.mark.skipif(shutil.which("mpirun") is None, reason="needs mpirun")
def test_tensor_parallel_ranks_match_one_rank_and_exit_with_rank_0(
    smollm2_checkpoint_dir: Path,  # noqa: F811
    tmp_path: Path,
    prompts,
    reference,
) -> None:
    """tp_size 3 (SmolLM2's 9 heads / 3 KV heads split evenly; 2 would not): same greedy tokens as one rank."""
    repository = render_repository(
        smollm2_checkpoint_dir,
        tmp_path / "repository",
        settings=("max_input_len=128", "max_seq_len=192", "torch_dtype=float32", "device=cpu",
                  "triton_max_batch_size=4", "tp_size=3"),
    )  # fmt: skip
    with serve_tensorrt_llm(repository, tmp_path / "server.log", world_size=3) as tp_server:
        batch = {f"tp{i}": {"prompt": prompts[i], "output_len": 12, "end_id": EOS} for i in range(2)}
        replies = grpc_requests(tp_server, batch)
        for i in range(2):
            assert replies[f"tp{i}"].tokens == reference.greedy(prompts[i], 12)
        assert tp_server.log().count("Started GRPCInferenceService") == 1, "only rank 0 opens the ports"

        stubs = _rank_stubs(tp_server.process.pid)
        assert sorted(stubs) == [0, 1, 2]
        stubs[0].kill()  # rank 0's model process dies; the other ranks' model processes must follow
        _, alive = psutil.wait_procs([stubs[1], stubs[2]], timeout=90)
        assert not alive, "ranks > 0 must exit when rank 0 goes away"
        assert tp_server.log().count("rank 0 is gone, exiting") == 2


# -- the runtime's pure parts, in-process (no server) ---------------------------------------------------

LIMITS = ModelLimits(
    vocab_size=100, max_input_len=8, max_seq_len=16, eos_id=2, pad_id=2, exclude_input_in_output=False,
    decoupled=True,
)  # fmt: skip


def parse(**tensors) -> GenerationRequest:
    """parse_request on tensors shaped as Triton delivers them (a leading batch dimension of 1)."""
    arrays = {"input_ids": np.array([[5, 6, 7]], dtype=np.int32), "request_output_len": np.array([4])}
    arrays.update({name: np.asarray(value) for name, value in tensors.items()})
    return parse_request(arrays.get, LIMITS)


def test_word_lists_decode_from_ids_and_cumulative_offsets() -> None:
    request = parse(stop_words_list=np.array([[[9, 10, 11, 12], [2, 3, -1, -1]]], dtype=np.int32))
    assert request.stop_sequences == ((9, 10), (11,))
    with pytest.raises(RequestError, match="offset 5 out of order"):
        parse(stop_words_list=np.array([[[9, 10], [5, -1]]], dtype=np.int32))


def test_request_defaults_and_legacy_input_names() -> None:
    request = parse(random_seed=np.array([7], dtype=np.uint64), min_length=np.array([3]))
    assert (request.end_id, request.pad_id, request.max_new_tokens) == (2, 2, 4)
    assert request.sampling.seed == 7 and request.sampling.min_tokens == 3
    assert request.sampling.greedy, "no top-k/top-p asked for: greedy, as in TensorRT-LLM"
    assert not parse(runtime_top_p=np.array([0.9], dtype=np.float32)).sampling.greedy


def test_output_length_is_clamped_to_max_seq_len() -> None:
    request = parse(request_output_len=np.array([100]))
    assert (request.requested_output_len, request.max_new_tokens) == (100, 16 - 3)


@pytest.mark.parametrize(
    ("tensors", "message"),
    [
        ({"input_ids": np.array([[1] * 9], dtype=np.int32)}, "more than max_input_len 8"),
        ({"input_ids": np.array([[1, 100]], dtype=np.int32)}, "outside the vocabulary"),
        ({"request_output_len": np.array([0])}, "at least 1"),
        ({"input_lengths": np.array([4])}, "does not fit input_ids"),
        ({"lora_task_id": np.array([1], dtype=np.uint64)}, "lora_task_id is not supported"),
        ({"runtime_top_p": np.array([1.5], dtype=np.float32)}, "runtime_top_p must be within"),
        ({"embedding_bias": np.ones((1, 3), dtype=np.float32)}, "the vocabulary has 100"),
        ({"temperature": np.array([np.nan], dtype=np.float32)}, "temperature must be a finite number"),
        ({"temperature": np.array([np.inf], dtype=np.float32)}, "temperature must be a finite number"),
        ({"repetition_penalty": np.array([np.nan], dtype=np.float32)}, "repetition_penalty must be a finite"),
        ({"presence_penalty": np.array([-np.inf], dtype=np.float32)}, "presence_penalty must be a finite"),
        ({"frequency_penalty": np.array([np.nan], dtype=np.float32)}, "frequency_penalty must be a finite"),
        ({"runtime_top_p": np.array([np.nan], dtype=np.float32)}, "runtime_top_p must be a finite"),
        ({"end_id": np.array([100]), "min_tokens": np.array([3])}, "end_id 100 is outside the vocabulary"),
        ({"pad_id": np.array([1 << 30])}, "pad_id 1073741824 is outside the vocabulary"),
        ({"min_tokens": np.array([-1])}, "min_tokens must not be negative"),
        ({"min_length": np.array([-2])}, "min_length must not be negative"),
        ({"embedding_bias": np.full((1, 100), np.nan, dtype=np.float32)}, "embedding_bias holds NaN"),
        ({"embedding_bias": np.full((1, 100), np.inf, dtype=np.float32)}, "embedding_bias holds NaN"),
    ],
)
def test_bad_requests_get_a_clear_message(tensors: dict, message: str) -> None:
    with pytest.raises(RequestError, match=message):
        parse(**tensors)


def test_settings_treat_empty_and_unfilled_values_as_unset(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    base = {"gpt_model_path": str(tmp_path), "max_input_len": "${max_input_len}", "torch_dtype": ""}
    settings = read_settings(base, decoupled=True, config_max_batch_size=8, model_max_positions=2048)
    assert (settings.max_input_len, settings.max_seq_len, settings.torch_dtype) == (None, 2048, "auto")
    assert settings.max_batch_size == 8
    with pytest.raises(SettingsError, match="torch_dtype must be one of"):
        read_settings(
            {**base, "torch_dtype": "int4"}, decoupled=True, config_max_batch_size=8, model_max_positions=None
        )
    with pytest.raises(SettingsError, match=r"holds no config\.json"):
        read_settings({"gpt_model_path": str(tmp_path / "nope")}, decoupled=True, config_max_batch_size=1,
                      model_max_positions=None)  # fmt: skip


def chooser(**sampling) -> TokenChooser:
    request = GenerationRequest(
        prompt=(1,), max_new_tokens=8, end_id=3, pad_id=3, sampling=SamplingParams(**sampling)
    )
    return TokenChooser.for_request(request)


def test_greedy_rows_and_min_tokens() -> None:
    scores = torch.tensor([[0.0, 1.0, 0.0, 5.0], [0.0, 1.0, 0.0, 5.0]])
    rows = [Row(chooser(), [1], []), Row(chooser(min_tokens=2), [1], [])]
    tokens, _ = choose_next_tokens(scores, rows)
    assert tokens.tolist() == [3, 1], "min_tokens holds back end_id (3) for the second row only"


def test_seeded_sampling_does_not_depend_on_the_rest_of_the_batch() -> None:
    logits = torch.log_softmax(torch.randn(50, generator=torch.Generator().manual_seed(0)), dim=-1)

    def draw(batch_size: int) -> list[int]:
        rows = [Row(chooser(top_k=0, top_p=1.0, seed=11), [1], [])] + [
            Row(chooser(top_k=0, top_p=1.0, seed=100 + i), [1], []) for i in range(batch_size - 1)
        ]
        drawn = []
        for _ in range(10):
            tokens, _ = choose_next_tokens(logits.repeat(batch_size, 1), rows)
            drawn.append(int(tokens[0]))
        return drawn

    assert draw(1) == draw(4)
    assert len(set(draw(1))) > 1, "sampling from a spread distribution should not always pick one token"


def test_a_failing_row_does_not_change_the_other_rows_of_the_batch() -> None:
    """Rows whose decoding fails (built past the request checks) fail alone: the seeded sampling rows,
    min_tokens and bad words of the others draw exactly what they draw in a batch of their own."""
    logits = torch.log_softmax(torch.randn(50, generator=torch.Generator().manual_seed(1)), dim=-1)

    def good_rows() -> list[Row]:
        banned = TokenChooser.for_request(
            GenerationRequest(prompt=(1,), max_new_tokens=8, end_id=3, pad_id=3, bad_sequences=((7,), (9,)),
                              sampling=SamplingParams(top_p=1.0, temperature=0.8, seed=5, min_tokens=9))
        )  # fmt: skip
        return [Row(chooser(top_k=0, top_p=1.0, seed=11), [1], []), Row(banned, [1], [])]

    hostile = [
        Row(chooser(top_k=0, top_p=1.0, seed=1, temperature=float("nan")), [1], []),
        Row(TokenChooser.for_request(
            GenerationRequest(prompt=(1,), max_new_tokens=8, end_id=10_000, pad_id=3,
                              sampling=SamplingParams(min_tokens=4))), [1], []),
        Row(TokenChooser.for_request(
            GenerationRequest(prompt=(1,), max_new_tokens=8, end_id=3, pad_id=3,
                              embedding_bias=(-float("inf"),) * 50, sampling=SamplingParams(top_p=0.5))), [1], []),
    ]  # fmt: skip

    def draw(rows: list[Row], steps: int = 12) -> tuple[list[list[int]], set[int]]:
        drawn: list[list[int]] = [[] for _ in rows]
        failed: set[int] = set()
        for _ in range(steps):
            tokens, _ = choose_next_tokens(
                logits.repeat(len(rows), 1), rows, on_failure=lambda index, error: failed.add(index)
            )
            for index, token in enumerate(tokens.tolist()):
                drawn[index].append(token)
        return drawn, failed

    alone, failed_alone = draw(good_rows())
    mixed, failed_mixed = draw([hostile[0], *good_rows()[:1], hostile[1], good_rows()[1], hostile[2]])
    assert failed_alone == set() and failed_mixed == {0, 2, 4}
    assert [mixed[1], mixed[3]] == alone
    assert not {7, 9} & set(alone[1]) and 3 not in alone[1], "bad words and min_tokens still hold"
    with pytest.raises(IndexError):  # without a failure handler the error is the caller's
        choose_next_tokens(logits.repeat(1, 1), [hostile[1]])


def test_repetition_penalty_and_log_probs() -> None:
    scores = torch.tensor([[2.0, 1.9, 0.0, -1.0]])
    request = GenerationRequest(
        prompt=(0,), max_new_tokens=4, end_id=-1, pad_id=0, return_log_probs=True,
        sampling=SamplingParams(repetition_penalty=2.0),
    )  # fmt: skip
    tokens, log_probs = choose_next_tokens(scores.clone(), [Row(TokenChooser.for_request(request), [0], [])])
    assert tokens.tolist() == [1], "token 0 was seen in the prompt: its logit is halved below token 1's"
    expected = torch.log_softmax(torch.tensor([1.0, 1.9, 0.0, -1.0]), dim=-1)[1]
    assert float(log_probs[0]) == pytest.approx(float(expected), abs=1e-6)


def test_streamed_responses_carry_only_new_tokens() -> None:
    declared = {"output_ids": np.dtype(np.int32), "sequence_length": np.dtype(np.int32)}
    request = GenerationRequest(prompt=(5, 6), max_new_tokens=4, end_id=2, pad_id=2, streaming=True)
    cursor = ResponseCursor(request, arrival_ns=0)
    first = response_arrays(cursor, [7, 8], [], now_ns=1, declared=declared)
    second = response_arrays(cursor, [7, 8, 9], [], now_ns=2, declared=declared)
    assert first["output_ids"].tolist() == [[[7, 8]]] and second["output_ids"].tolist() == [[[9]]]
    assert set(second) == set(declared), "only outputs the config declares are produced"
    whole = ResponseCursor(
        GenerationRequest(prompt=(5, 6), max_new_tokens=4, end_id=2, pad_id=2), arrival_ns=0
    )
    assert response_arrays(whole, [7], [], now_ns=1, declared=declared)["output_ids"].tolist() == [
        [[5, 6, 7]]
    ]
