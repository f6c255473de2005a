"""`tritongen infer` against the llmapi target: the same command, upstream's llmapi request contract.

Offline: the shared contract description (`tritongen.http.contract`) names every infer option as the
rendered llmapi model declares it, and `StreamedText` turns cumulative streamed text into deltas. With a
real tritonserver (marker `server`): tests/test_llmapi.py's module-scoped deployment (the SmolLM2
checkpoint rendered with `--target llmapi`, checked and started with `tritongen launch`) and its
in-process greedy reference, asked through `tritongen infer` as a user would.
"""

from __future__ import annotations

import pytest
import test_llmapi
from test_client import run_cli

from tritongen.client import GenerateOptions, InferClient
from tritongen.http import INPUT_NAMES, ModelContract, StreamedText
from tritongen.render.llmapi_contract import CONTRACTS
from tritongen.testing.launch import Launch

# tests/test_llmapi.py's fixtures, shared: render -> check -> launch of SmolLM2 (module-scoped: started
# once for this module) and transformers' greedy generation in this process.
launched, reference = test_llmapi.launched, test_llmapi.reference

PROMPT = test_llmapi.PROMPT


def _llmapi(version: str) -> ModelContract:
    """The contract probe_model reads from a rendered llmapi model's config."""
    contract = CONTRACTS[version]
    return ModelContract("tensorrt_llm", {t.name: t.optional for t in contract.inputs}, contract.output_names)


# -- the contract, offline ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", sorted(CONTRACTS))
def test_every_infer_option_has_its_llmapi_name(version: str) -> None:
    contract = _llmapi(version)
    assert contract.llmapi
    names = {option: contract.input_for(option) for option in INPUT_NAMES}
    assert names == {
        "max_tokens": "sampling_param_max_tokens",
        "stream": "streaming",
        "temperature": "sampling_param_temperature",
        "top_k": "sampling_param_top_k",
        "top_p": "sampling_param_top_p",
        "seed": "sampling_param_seed",
        "stop": "sampling_param_stop",
        "min_tokens": None,
    }
    assert set(contract.generation_fields(7, streaming=True)) <= set(contract.inputs)  # Triton takes them all
    assert contract.generation_fields(7, streaming=True) == {
        "sampling_param_max_tokens": 7,
        "sampling_param_exclude_input_from_output": True,  # the answer alone, as the ensemble streams it
        "streaming": True,
    }


def test_bench_sends_the_same_fields_as_infer() -> None:
    """One contract description: the bench's request fields are infer's (plus what only the bench fills)."""
    from tritongen.bench.client import shape_requests

    contract = _llmapi("1.2")
    shape = shape_requests(contract, "127.0.0.1:1", "generate_stream", max_tokens=4, min_tokens=4)
    assert shape.fields == contract.generation_fields(4, streaming=True)
    assert "min_tokens" in shape.notes[0]  # the llmapi model cannot force output lengths


def test_the_ensemble_keeps_its_names_and_is_not_taken_for_llmapi() -> None:
    latest = ModelContract(
        "ensemble", {"text_input": False, "max_tokens": False, "stream": True, "seed": True}
    )
    assert not latest.llmapi
    assert latest.generation_fields(5, streaming=False) == {"max_tokens": 5, "stream": False}
    hidden = ModelContract("ensemble", {"text_input": False, "max_tokens": False})  # config not readable
    assert hidden.generation_fields(5, streaming=True) == {"max_tokens": 5, "stream": True}
    assert hidden.generation_fields(5, streaming=False) == {"max_tokens": 5}


# -- cumulative -> delta, offline ----------------------------------------------------------------------------


def _deltas(texts: list[str], stop: tuple[str, ...] = ()) -> list[str]:
    streamed = StreamedText(cumulative=True, stop=stop)
    return [streamed.delta(text) for text in texts] + [streamed.finish()]


def test_delta_streams_pass_through() -> None:
    streamed = StreamedText(cumulative=False, stop=(" b",))
    assert [streamed.delta(t) for t in ("a", " b", "\ufffd")] == ["a", " b", "\ufffd"]
    assert streamed.finish() == ""


def test_cumulative_text_becomes_its_new_text() -> None:
    assert _deltas(["The", "The capital", "The capital", "The capital of"]) == [
        "The",
        " capital",
        "",  # a response that added nothing (e.g. a token that decodes to nothing yet)
        " of",
        "",
    ]


def test_a_character_still_missing_bytes_waits_for_them() -> None:
    # "é" split across two tokens: the first decodes as U+FFFD, which must not be printed.
    assert _deltas(["caf\ufffd", "café", "café \ufffd\ufffd"]) == ["caf", "é", " ", "\ufffd\ufffd"]
    # The last response is shown whole: a plain answer cut at the same token ends the same way.


def test_the_start_of_a_stop_word_waits_until_it_is_settled() -> None:
    # The final response drops the stop word whose first tokens earlier responses showed.
    assert _deltas(["I am", "I am a", "I am a help", "I am a helpf", "I am a"], stop=(" helpful",)) == [
        "I am",
        " a",
        "",
        "",
        "",
        "",
    ]
    # Text that only began like the stop word is released once it goes elsewhere ...
    assert "".join(_deltas(["I am a help", "I am a helper"], stop=(" helpful",))) == "I am a helper"
    # ... or at the end of the stream.
    assert _deltas(["I am a help"], stop=(" helpful",)) == ["I am a", " help"]


def test_text_that_rewrites_what_was_shown_adds_nothing() -> None:
    assert _deltas(["abc", "abd", "abcd"]) == ["abc", "", "d", ""]


# -- against the launched llmapi deployment ------------------------------------------------------------------


def _infer(launch: Launch, *args: str) -> tuple[int, str, str]:
    return run_cli("infer", "--url", f"127.0.0.1:{launch.ports.http}", "-p", PROMPT, *args)


@pytest.mark.server
def test_plain_answer_is_the_greedy_text_and_the_llmapi_model_is_picked(launched, reference) -> None:
    """No --model: the deployment has no ensemble, so infer takes its llmapi tensorrt_llm."""
    code, out, err = _infer(launched, "--max-tokens", "16", "--top-k", "1")
    assert (code, err) == (0, "")
    assert out == reference(PROMPT, 16) + "\n"  # the answer alone: the prompt is not echoed


@pytest.mark.server
def test_streamed_deltas_join_to_the_plain_answer(launched, reference) -> None:
    client = InferClient(f"127.0.0.1:{launched.ports.http}", "tensorrt_llm")
    pieces = list(client.stream(PROMPT, GenerateOptions(max_tokens=16)))
    assert client.contract().llmapi and len(pieces) > 2
    assert "".join(pieces) == reference(PROMPT, 16)  # deltas, not cumulative chunks
    code, out, err = _infer(launched, "--model", "tensorrt_llm", "--max-tokens", "16", "--stream")
    assert (code, err) == (0, "")
    assert out == reference(PROMPT, 16) + "\n"


@pytest.mark.server
def test_max_tokens_is_honoured(launched, reference) -> None:
    body = InferClient(f"127.0.0.1:{launched.ports.http}").request_body(
        PROMPT, GenerateOptions(max_tokens=3, seed=5, stop=("x",)), stream=False
    )
    assert body["sampling_param_max_tokens"] == 3 and "max_tokens" not in body
    assert body["sampling_param_seed"] == 5 and body["sampling_param_stop"] == ["x"]
    for stream in ((), ("--stream",)):
        code, out, err = _infer(launched, "--max-tokens", "3", *stream)
        assert (code, err) == (0, "")
        assert out == reference(PROMPT, 3) + "\n"


@pytest.mark.server
def test_a_stop_word_ends_plain_and_streamed_answers_alike(launched, reference) -> None:
    full = reference(PROMPT, 16)
    word = next(w for w in full.split(" ")[2:] if w.isalpha())  # a word the greedy continuation reaches
    outputs = [_infer(launched, "--max-tokens", "16", "--stop", " " + word, *s) for s in ((), ("--stream",))]
    assert outputs[0] == outputs[1]
    code, out, err = outputs[0]
    assert (code, err) == (0, "")
    assert full.startswith(out.rstrip("\n")) and word not in out.split()


@pytest.mark.server
@pytest.mark.parametrize("stream", [(), ("--stream",)])
def test_a_bad_request_is_one_line_and_exit_8(launched, stream) -> None:
    code, out, err = run_cli(
        "infer", "--url", f"127.0.0.1:{launched.ports.http}", "-p", "word " * 1100, *stream
    )
    assert code == 8 and out == ""
    assert "model 'tensorrt_llm'" in err and "leaves no room within max_seq_len 1024" in err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.server
def test_a_model_named_on_the_command_line_is_not_replaced(launched) -> None:
    """Only the default falls back to the llmapi model: `--model ensemble` means that model."""
    code, out, err = _infer(launched, "--model", "ensemble")
    assert code == 8 and out == ""
    assert "model 'ensemble' is not ready" in err and "Ready models there: tensorrt_llm." in err
