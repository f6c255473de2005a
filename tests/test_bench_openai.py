"""`tritongen bench --api openai`: the sweep against an OpenAI-compatible server.

The parsing tests read streams recorded from the real route (tests/fixtures/bench/openai/, curl against
`tritongen openai` in front of the rendered SmolLM2 deployment). The server tests drive the real route
the same way, reusing tests/test_openai.py's fixtures: a real tritonserver serving SmolLM2 on CPU and
`python -m tritongen openai` in front of it, at small sizes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import smollm2_fixture
import test_openai
from click.testing import CliRunner
from test_openai import Route

from tritongen.bench import BenchConfig
from tritongen.bench.openai_api import USAGE_FIELD, OpenAIRecord, OpenAIShape, shape_openai_requests
from tritongen.bench.tokens import CHUNKS, TokenCounter
from tritongen.cli import cli, main
from tritongen.errors import ServerRequestError, UsageError
from tritongen.http import decode_sse_line
from tritongen.testing.ports import free_ports
from tritongen.testing.server import RunningServer

RECORDED = Path(__file__).parent / "fixtures" / "bench" / "openai"

# tests/test_openai.py's fixtures, shared: the rendered SmolLM2 checkpoint and repository, a tritonserver
# serving it, and `tritongen openai` in front of that (module-scoped: started once for this module).
smollm2_checkpoint_dir = smollm2_fixture.smollm2_checkpoint_dir
repository, triton, route = test_openai.repository, test_openai.triton, test_openai.route


def replay(name: str, record: OpenAIRecord, step_s: float = 0.01) -> OpenAIRecord:
    """Feed a recorded stream into `record`, one event every `step_s` seconds after its start."""
    now = record.start_s
    for line in (RECORDED / name).read_bytes().splitlines():
        payload = decode_sse_line(line)
        if payload is not None:
            now += step_s
            record.take_payload(payload, now)
    record.finish(now)
    return record


# -- the pieces, on recorded streams -----------------------------------------------------------------------


def test_a_recorded_chat_stream_gives_ttft_itl_text_and_the_servers_usage() -> None:
    record = replay("route_chat_usage.sse", OpenAIRecord(index=0, streaming=True, start_s=10.0))
    assert record.ok and record.events == 8  # role, 5 text chunks, finish, usage ([DONE] is no event)
    assert record.text == "The capital of France is" and record.finish_reason == "length"
    # The role-only first chunk carries no token: TTFT is the first text chunk's (the second event).
    assert record.ttft_s == pytest.approx(0.02) and record.itl_s == pytest.approx(0.01)
    assert len(record.chunk_times_s) == 5 and record.e2e_s == pytest.approx(0.08)
    assert (record.server_tokens, record.prompt_tokens) == (5, 37)
    assert record.usage == {"prompt_tokens": 37, "completion_tokens": 5, "total_tokens": 42}
    assert TokenCounter().count(record) == (5, f"server:{USAGE_FIELD}")


def test_a_stream_without_usage_is_counted_by_its_text_chunks() -> None:
    record = replay("route_completions.sse", OpenAIRecord(index=0, streaming=True, start_s=0.0))
    assert record.ok and record.text == " the primary colours of" and record.finish_reason == "length"
    assert record.server_tokens is None and record.prompt_tokens is None
    assert TokenCounter().count(record) == (4, CHUNKS)  # the finish chunk's empty text is no token


def test_errors_in_the_body_or_the_stream_fail_the_request_in_one_line() -> None:
    refused = OpenAIRecord(index=0, streaming=True, start_s=0.0)
    body = b'{"error":{"message":"The model \'gpt-4\' does not exist","type":"invalid_request_error"}}'
    refused.fail_with_body(404, body)
    assert refused.error == "HTTP 404: The model 'gpt-4' does not exist"
    broken = OpenAIRecord(index=0, streaming=True, start_s=0.0)
    broken.take_payload({"choices": [{"index": 0, "delta": {"content": "Hi"}}]}, 0.1)
    broken.take_payload({"error": {"message": "upstream\nfailed", "type": "server_error"}}, 0.2)
    assert broken.error == "upstream failed"
    plain = OpenAIRecord(index=0, streaming=True, start_s=0.0)
    plain.fail_with_body(502, b"Bad Gateway")
    assert plain.error == "HTTP 502: Bad Gateway"
    silent = OpenAIRecord(index=0, streaming=True, start_s=0.0)
    silent.finish(1.0)
    assert silent.error == "the response carried no stream chunk"
    empty = OpenAIRecord(index=0, streaming=True, start_s=0.0)  # finished at once: no text, no failure
    empty.take_payload({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}, 0.1)
    empty.finish(0.1)
    assert empty.ok and empty.ttft_s is None and empty.finish_reason == "stop"


def test_request_bodies_for_chat_and_completions() -> None:
    chat = shape_openai_requests("127.0.0.1:9000/", "m", "chat", 16, {"temperature": 0})
    assert chat.target == "http://127.0.0.1:9000/v1/chat/completions" and chat.streaming
    assert chat.body("Hi") == {
        "model": "m",
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 16,
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0,
    }
    completions = shape_openai_requests("http://h:1", "m", "completions", 4)
    assert completions.target == "http://h:1/v1/completions"
    assert completions.body("Once")["prompt"] == "Once" and "messages" not in completions.body("Once")
    assert isinstance(completions.new_record(3, 1.0), OpenAIRecord)
    assert isinstance(chat, OpenAIShape)
    with pytest.raises(UsageError, match="streamed"):
        shape_openai_requests("h:1", "m", "chat", 4, {"stream": False})


def test_settings_that_do_not_fit_the_api_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="--endpoint generate_stream is not an endpoint of --api openai"):
        BenchConfig(api="openai", model=None)
    with pytest.raises(UsageError, match="--endpoint chat is not an endpoint of --api triton"):
        BenchConfig(endpoint="chat")
    with pytest.raises(UsageError, match="no OpenAI API field"):
        BenchConfig(api="openai", endpoint="chat", max_tokens=8, min_tokens=8)
    with pytest.raises(UsageError, match="--model is required"):
        BenchConfig(model=None)
    runner = CliRunner()
    result = runner.invoke(cli, ["bench", "--api", "openai", "--ignore-eos"])
    assert isinstance(result.exception, UsageError) and "OpenAI API field" in result.exception.message


def test_an_unreachable_openai_server_exits_8_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    (port,) = free_ports(1)
    with pytest.raises(SystemExit) as exited:
        main(["bench", "--api", "openai", "--url", f"127.0.0.1:{port}", "--concurrency", "1", "--quiet"])
    assert exited.value.code == 8
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"error: cannot reach the server at http://127.0.0.1:{port}"
    )


# -- the real route ----------------------------------------------------------------------------------------


def bench(route: Route, tmp_path: Path, *args: str) -> tuple[str, dict[str, Any]]:
    """`tritongen bench --api openai` against the route: its table and its JSON document."""
    out = tmp_path / f"bench-{time.monotonic_ns()}.json"
    argv = ["bench", "--api", "openai", "--url", route.base, "--warmup", "1", "--quiet", "--json", str(out)]
    result = CliRunner().invoke(cli, [*argv, *args])
    assert result.exit_code == 0, result.output
    return result.stdout, json.loads(out.read_text())


@pytest.mark.server
@pytest.mark.parametrize(("endpoint", "client"), [("chat", "asyncio"), ("completions", "threads")])
def test_a_sweep_through_the_route_counts_tokens_from_its_usage(
    route: Route,
    repository: Path,
    tmp_path: Path,
    endpoint: str,
    client: str,
) -> None:
    args = ["--endpoint", endpoint, "--client", client, "--concurrency", "1,2", "--requests", "4"]
    table, document = bench(route, tmp_path, *args, "--max-tokens", "6", "--field", "temperature=0")
    assert f"output tokens counted by: server:{USAGE_FIELD}" in table
    assert document["server"]["model"] == repository.name == document["server"]["listed_models"][0]
    assert document["server"]["request_fields"]["stream_options"] == {"include_usage": True}
    assert document["config"]["api"] == "openai" and document["notes"] == []
    for level in document["levels"]:
        assert (level["succeeded"], level["failed"]) == (4, 0), level["first_errors"]
        assert 4 <= level["output_tokens"] <= 4 * 6 and level["output_tokens_per_s"] > 0
        # A raw completion may end at once (end-of-sequence first): no text, so no TTFT, yet no failure.
        answered = level["ttft_ms"]["count"]
        assert answered == 4 if endpoint == "chat" else 1 <= answered <= 4
        assert level["ttft_ms"]["p50"] <= level["e2e_ms"]["p50"]
        assert level["itl_ms"]["p50"] > 0 and level["token_count_method"] == f"server:{USAGE_FIELD}"


@pytest.mark.server
def test_without_usage_chunks_tokens_are_counted_and_the_run_says_so(
    route: Route,
    tmp_path: Path,
) -> None:
    no_usage = 'stream_options={"include_usage": false}'  # the route then sends no usage chunk
    table, document = bench(route, tmp_path, "--concurrency", "2", "--requests", "4", "--max-tokens", "5",
                            "--field", no_usage, "--field", "temperature=0")  # fmt: skip
    (level,) = document["levels"]
    assert level["failed"] == 0 and level["token_count_method"] == CHUNKS
    assert 4 <= level["output_tokens"] <= 4 * 5
    assert "stream_options.include_usage not honoured" in document["notes"][0]
    assert f"output tokens counted by: {CHUNKS}" in table


@pytest.mark.server
def test_a_model_the_route_does_not_serve_fails_the_warm_up_with_its_message(
    route: Route,
    triton: RunningServer,
) -> None:
    config = BenchConfig(url=route.base, api="openai", endpoint="chat", model="gpt-4", concurrency=(1,),
                         requests=2, warmup_requests=1, show_progress=False)  # fmt: skip
    from tritongen.bench import run_bench

    with pytest.raises(ServerRequestError, match="HTTP 404: The model 'gpt-4' does not exist"):
        run_bench(config)
    # Triton's own port is no OpenAI server: one line that says so, naming --api triton.
    with pytest.raises(ServerRequestError, match="without a model list") as caught:
        run_bench(BenchConfig(url=triton.base_url, api="openai", endpoint="chat", model=None,
                              concurrency=(1,), show_progress=False))  # fmt: skip
    assert "--api triton" in caught.value.one_line()
