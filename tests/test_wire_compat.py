"""Wire compatibility with upstream's own clients: every tensor they read, by name, type and shape.

Upstream's client scripts (tensorrtllm_backend's `end_to_end_grpc_client.py`,
`inflight_batcher_llm_client.py`, `tools/inflight_batcher_llm/end_to_end_test.py`) cannot be fetched in
CI, so these tests make the requests those scripts make and assert what they rely on:
- `text_output` (ensemble, BLS) and postprocessing's `OUTPUT` are one flat array of batch x beam texts
  per response, shape [1] for one beam: the scripts read `output[0].decode("utf-8")`. Upstream returns
  it so in every version (v0.5's config says [-1, -1] but its model sends it flat too).
- preprocessing returns every output upstream's returns for that version, whatever the request:
  latest (v0.11+) always sends DECODER_INPUT_ID (one pad id per row) and REQUEST_DECODER_INPUT_LEN (1),
  EMBEDDING_BIAS ([rows, 0] without bias words) and empty [rows, 2, 0] word lists; never the
  multimodal outputs for a text request, and OUT_PROMPT_TABLE_EXTRA_IDS only when asked with
  PROMPT_TABLE_EXTRA_ID. end_to_end_test.py feeds DECODER_INPUT_ID to `tensorrt_llm` as
  decoder_input_ids, which a decoder-only engine (and the torch runtime) ignores.
- The gRPC stream carries both streamed and whole answers (the scripts use it for both).
Per generation: the stand-in servers (fixtures/python_models/servers.py) for latest, v0.8 and v0.5,
and the real SmolLM2 on the torch runtime (latest), decoupled and not.
"""

from __future__ import annotations

import queue
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from fixtures.python_models import servers
from numpy.typing import NDArray
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

from tritongen.runtime.torch_runtime.contract import GenerationRequest, ResponseCursor, response_arrays
from tritongen.testing.server import RunningServer, shared_server
from tritongen.testing.smollm2 import smollm2_checkpoint

server = pytest.mark.server  # the tests that start tritonserver

# What upstream's preprocessing returns for a text request, per contract version.
PREPROCESSING_OUTPUTS = {
    "v0.5": {"INPUT_ID", "REQUEST_INPUT_LEN", "BAD_WORDS_IDS", "STOP_WORDS_IDS", "REQUEST_OUTPUT_LEN"},
    "v0.8": {
        "INPUT_ID", "REQUEST_INPUT_LEN", "BAD_WORDS_IDS", "STOP_WORDS_IDS", "REQUEST_OUTPUT_LEN",
        "EMBEDDING_BIAS", "OUT_END_ID", "OUT_PAD_ID",
    },
    "latest": {
        "INPUT_ID", "REQUEST_INPUT_LEN", "DECODER_INPUT_ID", "REQUEST_DECODER_INPUT_LEN", "BAD_WORDS_IDS",
        "STOP_WORDS_IDS", "REQUEST_OUTPUT_LEN", "EMBEDDING_BIAS", "OUT_END_ID", "OUT_PAD_ID",
    },
}  # fmt: skip
# Model names of each generation in the stand-in servers (v0.5's live beside v0.8's in `compat`).
NAMES = {
    "latest": {"pre": "preprocessing", "post": "postprocessing", "ensemble": "ensemble"},
    "v0.8": {"pre": "preprocessing", "post": "postprocessing", "ensemble": "ensemble"},
    "v0.5": {"pre": "preprocessing_v05", "post": "postprocessing_v05", "ensemble": "ensemble_v05"},
}
PROMPT = "Born in north-east France, Soyer trained as a"


# -- servers ---------------------------------------------------------------------------------------------


def stand_in(version: str) -> RunningServer:
    return servers.latest_server() if version == "latest" else servers.compat_server()


@pytest.fixture(scope="module")
def smollm2_streaming() -> RunningServer:
    """`tritongen render` of the SmolLM2 checkpoint (decoupled, the default), the torch runtime."""
    return servers.rendered_smollm2_server()


@pytest.fixture(scope="module")
def smollm2_plain() -> RunningServer:
    """The same rendered with --no-streaming: what end_to_end_test.py needs (plain ModelInfer)."""
    from tritongen.render.pipeline import render_engine

    def build(directory: Path) -> Path:
        output = directory / "smollm2"
        # One instance each: the default non-decoupled BLS count (the max batch size) is many processes.
        sets = ["bls_instance_count=1", "preprocessing_instance_count=1", "postprocessing_instance_count=1"]
        render_engine(smollm2_checkpoint(), output=output, sets=sets, streaming=False)
        return output

    return shared_server("smollm2-rendered-plain", build)


# -- clients, as upstream's scripts call them ---------------------------------------------------------------


def http_infer(
    server: RunningServer, model: str, inputs: dict[str, NDArray[Any]], outputs: list[str] | None = None
) -> dict[str, NDArray[Any]]:
    """tritonclient.http `infer` (end_to_end_test.py's default protocol); every output sent back."""
    client = httpclient.InferenceServerClient(server.http_url, network_timeout=300)
    tensors = []
    for name, value in inputs.items():
        tensor = httpclient.InferInput(name, list(value.shape), np_to_triton_dtype(value.dtype))
        tensor.set_data_from_numpy(value)
        tensors.append(tensor)
    requested = None if outputs is None else [httpclient.InferRequestedOutput(name) for name in outputs]
    result = client.infer(model, tensors, outputs=requested)
    return {o["name"]: result.as_numpy(o["name"]) for o in result.get_response()["outputs"]}


def grpc_stream(
    server: RunningServer, model: str, inputs: dict[str, NDArray[Any]], outputs: list[str]
) -> list[grpcclient.InferResult]:
    """start_stream / async_stream_infer / stop_stream, as end_to_end_grpc_client.py does; every
    response, in order (an error fails the test, as it would have to be read by the user)."""
    results: queue.Queue[Any] = queue.Queue()
    client = grpcclient.InferenceServerClient(server.grpc_url)
    tensors = []
    for name, value in inputs.items():
        tensor = grpcclient.InferInput(name, list(value.shape), np_to_triton_dtype(value.dtype))
        tensor.set_data_from_numpy(value)
        tensors.append(tensor)
    client.start_stream(callback=lambda result, error: results.put(error or result))
    try:
        client.async_stream_infer(
            model, tensors, outputs=[grpcclient.InferRequestedOutput(n) for n in outputs], request_id="7"
        )
    finally:
        client.stop_stream()  # waits until the server closed the stream
        client.close()
    answers = []
    while not results.empty():
        answer = results.get()
        assert not isinstance(answer, InferenceServerException), answer
        answers.append(answer)
    assert answers
    return answers


def client_inputs(prompt: str, max_tokens: int, streaming: bool) -> dict[str, NDArray[Any]]:
    """The tensors end_to_end_grpc_client.py's prepare_inputs sends by default."""
    return {
        "text_input": np.array([[prompt]]).astype(object),
        "max_tokens": np.array([[max_tokens]], dtype=np.int32),
        "stream": np.array([[streaming]], dtype=bool),
        "beam_width": np.array([[1]], dtype=np.int32),
        "temperature": np.array([[1.0]], dtype=np.float32),
    }


def e2e_inputs(prompt: str, max_tokens: int, user_names: bool = False) -> dict[str, NDArray[Any]]:
    """end_to_end_test.py's tensors, to preprocessing (or, `user_names`, to the ensemble and BLS)."""
    names = ("text_input", "max_tokens", "bad_words", "stop_words") if user_names else (
        "QUERY", "REQUEST_OUTPUT_LEN", "BAD_WORDS_DICT", "STOP_WORDS_DICT"
    )  # fmt: skip
    values = (
        np.array([[prompt]]).astype(object),
        np.ones_like([[prompt]]).astype(np.int32) * max_tokens,
        np.array([[""]], dtype=object),
        np.array([[""]], dtype=object),
    )
    return dict(zip(names, values, strict=True))


def first_text(output: NDArray[Any]) -> str:
    """What every upstream script does with text_output / OUTPUT."""
    return str(output[0].decode("utf-8"))


# -- per generation, on the stand-in servers ----------------------------------------------------------------


@server
@pytest.mark.parametrize("version", ["latest", "v0.8", "v0.5"])
def test_preprocessing_returns_upstreams_outputs(version: str) -> None:
    server, names = stand_in(version), NAMES[version]
    inputs = e2e_inputs(PROMPT, 12)
    if version == "v0.5":
        inputs["REQUEST_OUTPUT_LEN"] = inputs["REQUEST_OUTPUT_LEN"].astype(np.uint32)
    outputs = http_infer(server, names["pre"], inputs)
    assert set(outputs) == PREPROCESSING_OUTPUTS[version]
    prompt_len = outputs["INPUT_ID"].shape[1]
    assert outputs["INPUT_ID"].shape == (1, prompt_len) and prompt_len > 0
    assert outputs["REQUEST_INPUT_LEN"].tolist() == [[prompt_len]]
    assert outputs["REQUEST_OUTPUT_LEN"].tolist() == [[12]]
    # [[""]] (what the scripts send for none): no ids, padded to one column, as upstream pads
    assert outputs["BAD_WORDS_IDS"].tolist() == outputs["STOP_WORDS_IDS"].tolist() == [[[0], [-1]]]
    if version != "v0.5":  # v0.5 requires the word lists; without them the lists are empty
        inputs.pop("BAD_WORDS_DICT"), inputs.pop("STOP_WORDS_DICT")
        bare = http_infer(server, names["pre"], inputs)
        assert set(bare) == PREPROCESSING_OUTPUTS[version]
        assert bare["BAD_WORDS_IDS"].shape == bare["STOP_WORDS_IDS"].shape == (1, 2, 0)
    if version != "v0.5":
        assert outputs["EMBEDDING_BIAS"].shape == (1, 0)
        assert outputs["OUT_END_ID"].shape == outputs["OUT_PAD_ID"].shape == (1, 1)
    if version == "latest":
        # one pad id per row, length 1: upstream's placeholder for decoder-only engines
        assert outputs["DECODER_INPUT_ID"].tolist() == outputs["OUT_PAD_ID"].tolist()
        assert outputs["DECODER_INPUT_ID"].dtype == np.int32
        assert outputs["REQUEST_DECODER_INPUT_LEN"].tolist() == [[1]]


@server
def test_latest_preprocessing_adds_prompt_table_ids_only_when_asked() -> None:
    inputs = {**e2e_inputs(PROMPT, 4), "PROMPT_TABLE_EXTRA_ID": np.array([[3]], dtype=np.uint64)}
    outputs = http_infer(stand_in("latest"), "preprocessing", inputs)
    assert set(outputs) == PREPROCESSING_OUTPUTS["latest"] | {"OUT_PROMPT_TABLE_EXTRA_IDS"}
    # no id of a text prompt is beyond the vocabulary: no prompt-table position
    assert outputs["OUT_PROMPT_TABLE_EXTRA_IDS"].shape == outputs["INPUT_ID"].shape
    assert not outputs["OUT_PROMPT_TABLE_EXTRA_IDS"].any()


@server
@pytest.mark.parametrize("version", ["latest", "v0.8", "v0.5"])
def test_postprocessing_output_is_flat_batch_times_beams(version: str) -> None:
    server, names = stand_in(version), NAMES[version]
    inputs = e2e_inputs("one two", 3)
    if version == "v0.5":
        inputs["REQUEST_OUTPUT_LEN"] = inputs["REQUEST_OUTPUT_LEN"].astype(np.uint32)
    ids = http_infer(server, names["pre"], inputs)["INPUT_ID"].astype(np.int32)  # [1, n]: one sequence
    extra: dict[str, NDArray[Any]] = {}
    if version == "v0.8":  # v0.8 declares the log-prob pass-throughs as required inputs
        extra = {
            "CUM_LOG_PROBS": np.zeros((1, 1), np.float32),
            "OUTPUT_LOG_PROBS": np.zeros((1, 1, 1), np.float32),
        }
    single = {"TOKENS_BATCH": ids[np.newaxis], **extra}  # [batch 1, beam 1, n] as tensorrt_llm sends it
    if version != "v0.5":
        single["SEQUENCE_LENGTH"] = np.array([[ids.shape[1]]], dtype=np.int32)
    output = http_infer(server, names["post"], single)["OUTPUT"]
    assert output.shape == (1,)
    assert "one two" in first_text(output)  # latest's preprocessing applies SmolLM2's chat template
    if version == "v0.5":
        return
    # two rows of two beams each -> four texts, row-major, as upstream's loop appends them
    two_by_two = {
        "TOKENS_BATCH": np.repeat(np.repeat(ids[np.newaxis], 2, axis=0), 2, axis=1),
        "SEQUENCE_LENGTH": np.full((2, 2), ids.shape[1], dtype=np.int32),
    }
    if extra:
        two_by_two |= {
            "CUM_LOG_PROBS": np.zeros((2, 2), np.float32),
            "OUTPUT_LOG_PROBS": np.zeros((2, 2, 1), np.float32),
        }
    output = http_infer(server, names["post"], two_by_two)["OUTPUT"]
    assert output.shape == (4,)
    assert {text.decode("utf-8") for text in output} == {first_text(output)}


@server
def test_v05_ensemble_text_output_is_flat_over_http_infer() -> None:
    """end_to_end_test.py's plain client.infer on the ensemble; v0.5's LLM is never decoupled (latest's
    non-decoupled deployment is covered on the torch runtime below)."""
    inputs = e2e_inputs(PROMPT, 6, user_names=True)
    inputs["max_tokens"] = inputs["max_tokens"].astype(np.uint32)
    output = http_infer(stand_in("v0.5"), "ensemble_v05", inputs, outputs=["text_output"])["text_output"]
    assert output.shape == (1,) and output.dtype == np.object_
    assert PROMPT in first_text(output)  # the stand-in echoes the prompt


@server
@pytest.mark.parametrize("version", ["latest", "v0.8"])
def test_ensemble_and_bls_over_the_grpc_stream(version: str) -> None:
    """end_to_end_grpc_client.py, streaming or not, ensemble and --model-name tensorrt_llm_bls: every
    response's text_output has shape [1]; the streamed pieces join to the completion the whole answer
    (prompt + completion) ends with. v0.8's BLS is not decoupled in the stand-in set: no streaming."""
    server = stand_in(version)
    for model in ("ensemble", "tensorrt_llm_bls"):
        whole = grpc_stream(server, model, client_inputs(PROMPT, 6, False), ["text_output"])
        assert len(whole) == 1 and whole[0].as_numpy("text_output").shape == (1,), model
        whole_text = first_text(whole[0].as_numpy("text_output"))
        assert PROMPT in whole_text, model
        if version == "v0.8" and model == "tensorrt_llm_bls":
            continue  # a non-decoupled BLS refuses stream=true (upstream's too)
        chunks = grpc_stream(server, model, client_inputs(PROMPT, 6, True), ["text_output"])
        assert len(chunks) > 1 and all(c.as_numpy("text_output").shape == (1,) for c in chunks), model
        streamed = "".join(first_text(c.as_numpy("text_output")) for c in chunks)
        assert streamed and whole_text.endswith(streamed), (model, streamed, whole_text)


@server
def test_http_generate_text_output_is_a_string() -> None:
    """The generate endpoints turn the one-element text_output into a JSON string, not a list."""
    server = stand_in("latest")
    for model in ("ensemble", "tensorrt_llm_bls"):
        body = {"text_input": PROMPT, "max_tokens": 6}
        answer = requests.post(f"{server.base_url}/v2/models/{model}/generate", json=body, timeout=120)
        assert answer.status_code == 200 and isinstance(answer.json()["text_output"], str)
        streamed = requests.post(
            f"{server.base_url}/v2/models/{model}/generate_stream", json={**body, "stream": True}, timeout=120
        )
        events = [line for line in streamed.text.splitlines() if line.startswith("data:")]
        assert events and all('"text_output":"' in event for event in events), events[:2]


# -- the real thing: SmolLM2 on the torch runtime -----------------------------------------------------------


@server
def test_end_to_end_test_flow_on_the_torch_runtime(smollm2_plain: RunningServer) -> None:
    """tools/inflight_batcher_llm/end_to_end_test.py (ensemble and --test-bls), step by step: the three
    models by hand (DECODER_INPUT_ID resent as decoder_input_ids), then the ensemble and the BLS, whose
    text_output must equal postprocessing's OUTPUT exactly (`assert output0 == ensemble_output`)."""
    server = smollm2_plain
    pre = http_infer(server, "preprocessing", e2e_inputs(PROMPT, 8))
    llm_inputs = {
        "input_ids": pre["INPUT_ID"],
        "decoder_input_ids": pre["DECODER_INPUT_ID"],
        "input_lengths": pre["REQUEST_INPUT_LEN"],
        "request_output_len": pre["REQUEST_OUTPUT_LEN"],
        "end_id": pre["OUT_END_ID"],
        "pad_id": pre["OUT_PAD_ID"],
    }
    llm = http_infer(server, "tensorrt_llm", llm_inputs)
    output_ids, lengths = llm["output_ids"].astype(np.int32), llm["sequence_length"]
    assert output_ids.shape[:2] == (1, 1) and lengths.shape == (1, 1)
    output0 = http_infer(server, "postprocessing", {"TOKENS_BATCH": output_ids, "SEQUENCE_LENGTH": lengths})[
        "OUTPUT"
    ]
    assert output0.shape == (1,)
    for model in ("ensemble", "tensorrt_llm_bls"):
        answer = http_infer(server, model, e2e_inputs(PROMPT, 8, user_names=True), outputs=["text_output"])
        assert answer["text_output"].shape == (1,), model
        assert answer["text_output"].tolist() == output0.tolist(), model
    assert first_text(output0)


@server
@pytest.mark.parametrize("model", ["ensemble", "tensorrt_llm_bls"])
def test_grpc_client_flow_on_the_torch_runtime(smollm2_streaming: RunningServer, model: str) -> None:
    """end_to_end_grpc_client.py against the default (decoupled) deployment: streamed chunks, each a
    [1] text_output, join to the completion the non-streamed answer ends with."""
    whole = grpc_stream(smollm2_streaming, model, client_inputs(PROMPT, 10, False), ["text_output"])
    assert len(whole) == 1 and whole[0].as_numpy("text_output").shape == (1,)
    chunks = grpc_stream(smollm2_streaming, model, client_inputs(PROMPT, 10, True), ["text_output"])
    assert all(chunk.as_numpy("text_output").shape == (1,) for chunk in chunks)
    streamed = "".join(first_text(chunk.as_numpy("text_output")) for chunk in chunks)
    assert streamed and first_text(whole[0].as_numpy("text_output")).endswith(streamed)


@server
def test_direct_client_flow_on_the_torch_runtime(smollm2_streaming: RunningServer) -> None:
    """inflight_batcher_llm_client.py --streaming: tensorrt_llm's output_ids [1, 1, new tokens] and
    sequence_length [1, 1] per response, read as `output_ids[0][0]` and `sequence_length[0][0]`."""
    inputs = {
        "input_ids": np.array([[1, 2, 3, 4]], dtype=np.int32),
        "input_lengths": np.array([[4]], dtype=np.int32),
        "request_output_len": np.array([[5]], dtype=np.int32),
        "streaming": np.array([[True]], dtype=bool),
        "decoder_input_ids": np.array([[0]], dtype=np.int32),  # what upstream's preprocessing sends
    }
    answers = grpc_stream(smollm2_streaming, "tensorrt_llm", inputs, ["output_ids", "sequence_length"])
    tokens = []
    for answer in answers:
        ids, length = answer.as_numpy("output_ids"), answer.as_numpy("sequence_length")
        assert ids.ndim == 3 and ids.shape[:2] == (1, 1) and length.shape == (1, 1)
        tokens += list(ids[0][0][: length[0][0]])
    assert len(tokens) == 5


PERF_METRICS = (
    "kv_cache_alloc_new_blocks", "kv_cache_reused_blocks", "kv_cache_alloc_total_blocks", "arrival_time_ns",
    "first_scheduled_time_ns", "first_token_time_ns", "last_token_time_ns", "acceptance_rate",
    "total_accepted_draft_tokens", "total_draft_tokens",
)  # fmt: skip


def test_perf_metrics_ride_on_every_streamed_response() -> None:
    """end_to_end_grpc_client.py --streaming --return-perf-metrics reads `[0][0]` of each metric on every
    response (TRT-LLM sends them on each), not only on the last."""
    declared = {name: np.dtype(np.int64) for name in PERF_METRICS} | {"output_ids": np.dtype(np.int32)}
    request = GenerationRequest(
        prompt=(5, 6), max_new_tokens=4, end_id=2, pad_id=2, streaming=True, return_perf_metrics=True
    )
    cursor = ResponseCursor(request, arrival_ns=10)
    for now_ns, tokens in ((20, [7]), (30, [7, 8]), (40, [7, 8, 9])):
        arrays = response_arrays(cursor, tokens, [], now_ns=now_ns, declared=declared)
        assert all(arrays[name].shape == (1, 1) for name in PERF_METRICS), now_ns
        assert arrays["last_token_time_ns"][0][0] == now_ns and arrays["arrival_time_ns"][0][0] == 10
