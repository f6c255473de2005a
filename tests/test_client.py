"""`tritongen infer` against a real tritonserver (the stand-in deployment of test_python_models)."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from fixtures.python_models import servers
from server_fixtures import RunningServer, free_ports

from tritongen.cli import main
from tritongen.client import GenerateOptions, InferClient
from tritongen.errors import ServerRequestError
from tritongen.http import server_sent_events

pytestmark = pytest.mark.server


def run_cli(*args: str) -> tuple[int, str, str]:
    """`tritongen ARGS` through `main` (where errors become exit codes) with CliRunner's capture."""
    code = -1
    with CliRunner().isolation() as (out, err, _):
        try:
            main(list(args))
        except SystemExit as exit_info:
            code = exit_info.code if isinstance(exit_info.code, int) else 1
    return code, out.getvalue().decode(), err.getvalue().decode()


def templated_ids(tokenizer: Any, prompt: str) -> list[int]:
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_infer_prints_the_answer(latest: RunningServer, smollm2: Any) -> None:
    code, out, err = run_cli("infer", "--prompt", "Hi", "--max-tokens", "5", "--url", latest.http_url)
    prompt = templated_ids(smollm2, "Hi")
    assert (code, err) == (0, "")
    # The stand-in echoes the (chat-templated) prompt; a non-streamed answer includes the prompt.
    assert out == smollm2.decode(prompt + prompt[:5]) + "\n"


def test_infer_streams_the_answer(latest: RunningServer, smollm2: Any) -> None:
    code, out, err = run_cli(
        "infer", "--prompt", "Hi", "--max-tokens", "5", "--stream", "--url", latest.http_url
    )
    assert (code, err) == (0, "")
    assert out == smollm2.decode(templated_ids(smollm2, "Hi")[:5]) + "\n"


def test_infer_through_the_bls_with_a_stop_word(latest: RunningServer, smollm2: Any) -> None:
    args = ["--model", "tensorrt_llm_bls", "--stop", " helpful", "--temperature", "0.5", "--top-k", "3"]
    code, out, _ = run_cli(
        "infer", "-p", "Hi", "--max-tokens", "40", "--stream", "--url", latest.http_url, *args
    )
    assert code == 0
    assert out.endswith(" helpful\n") and "assistant" not in out


def test_options_take_each_contract_versions_names(compat: RunningServer) -> None:
    """v0.8 names the seed random_seed; the client asks the model which name it takes."""
    body = InferClient(compat.http_url, "ensemble").request_body(
        "Hi", GenerateOptions(seed=7, stop=("x",)), stream=False
    )
    assert body["random_seed"] == 7 and "seed" not in body
    assert body["stop_words"] == ["x"]
    v05 = InferClient(compat.http_url, "ensemble_v05").request_body("Hi", GenerateOptions(), stream=False)
    assert v05["bad_words"] == [""] and v05["stop_words"] == [""]  # required in v0.5


def test_v05_deployment_answers(compat: RunningServer) -> None:
    code, out, err = run_cli(
        "infer",
        "-p",
        "Hello world",
        "--max-tokens",
        "2",
        "--model",
        "ensemble_v05",
        "--url",
        compat.http_url,
    )
    assert (code, err) == (0, "")
    assert out.startswith("Hello world")


def test_unreachable_server_is_one_line_and_exit_8() -> None:
    (port,) = free_ports(1)
    code, out, err = run_cli("infer", "-p", "Hi", "--url", f"127.0.0.1:{port}")
    assert code == 8 and out == ""
    assert err.startswith(f"error: cannot reach the server at http://127.0.0.1:{port}")  # as bench says
    assert "tritongen launch" in err and err.count("\n") == 1


def test_server_error_is_one_line_and_exit_8(latest: RunningServer) -> None:
    code, _, err = run_cli("infer", "-p", "word " * 250, "--url", latest.http_url)
    assert code == 8
    assert "accepts at most 200 input tokens (max_input_len)" in err and err.count("\n") == 1


def test_unknown_model_is_exit_8(latest: RunningServer) -> None:
    code, _, err = run_cli("infer", "-p", "Hi", "--model", "nope", "--url", latest.http_url)
    assert code == 8 and "nope" in err


def test_stream_errors_raise(latest: RunningServer) -> None:
    client = InferClient(latest.http_url, "ensemble")
    with pytest.raises(ServerRequestError, match="max_input_len"):
        list(client.stream("word " * 250, GenerateOptions(max_tokens=3)))


def test_bad_max_tokens_is_a_usage_error() -> None:
    code, _, err = run_cli("infer", "-p", "Hi", "--max-tokens", "0")
    assert code == 2 and "--max-tokens" in err


def test_server_sent_events_parse_data_lines() -> None:
    lines = [b'data: {"text_output": "a"}', b"", b": comment", b'data: {"error": "boom"}']
    assert list(server_sent_events(iter(lines))) == [{"text_output": "a"}, {"error": "boom"}]


def test_infer_streams_a_real_answer() -> None:
    """The rendered SmolLM2 deployment (torch runtime), greedy enough to be stable."""
    server = servers.rendered_smollm2_server()
    code, out, err = run_cli("infer", "-p", "What is the capital of France?", "--top-k", "1", "--max-tokens", "20",
        "--stream", "--url", server.http_url,
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert "Paris" in out
