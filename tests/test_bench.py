"""`tritongen bench` and the pipeline-overhead measurement, against a real tritonserver.

The server runs tests/fixtures/bench/repo: an `ensemble` and a `tensorrt_llm_bls` over `fake_llm`, a
decoupled stand-in LLM whose output is a pure function of the prompt (mirrored by `expected_tokens`).
The ensemble reports `num_output_tokens`; the BLS model does not, so both counting paths are exercised.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import requests
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from tritongen.bench import BenchConfig, PipelineConfig, measure_pipeline_overhead, run_bench
from tritongen.bench.client import RequestRecord, shape_requests
from tritongen.bench.config import parse_concurrency
from tritongen.bench.server_cpu import find_server_pid, tree_cpu_seconds
from tritongen.bench.stats import percentile, summarize
from tritongen.bench.tokens import CHUNKS, TOKENIZER, WORDS
from tritongen.cli import cli, main
from tritongen.errors import ServerRequestError, UsageError
from tritongen.http import ModelContract, decode_sse_line
from tritongen.launch.server import find_tritonserver

FIXTURE_REPO = Path(__file__).parent / "fixtures" / "bench" / "repo"
WORD_TOKENIZER = FIXTURE_REPO.parent / "word_tokenizer"  # one token per fake_llm word
PORT_RANGE = (23000, 23999)
READY_TIMEOUT_S = float(os.environ.get("TRITONGEN_TEST_READY_TIMEOUT", "240"))
PROMPTS = ("What is the capital of France?", "Write a haiku.", "Count to five.", "Explain TCP.")


def expected_tokens(prompt: str, max_tokens: int, min_tokens: int = 0) -> int:
    """How many words fake_llm answers `prompt` with (mirrors planned_words in its model.py)."""
    seed = sum(prompt.encode("utf-8"))
    return min(max_tokens, max(3 + seed % 5, min_tokens))


def expected_total(prompts: tuple[str, ...], requests: int, max_tokens: int, min_tokens: int = 0) -> int:
    return sum(expected_tokens(prompts[i % len(prompts)], max_tokens, min_tokens) for i in range(requests))


# ---------------------------------------------------------------------------------------- the server


@dataclass
class FixtureServer:
    process: subprocess.Popen[bytes]
    http_port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _start(repo: Path, log_path: Path) -> FixtureServer:
    triton = find_tritonserver()
    for _ in range(5):
        ports = [p for p in random.sample(range(*PORT_RANGE), 40) if _free(p)][:3]
        command = [
            str(triton.binary),
            f"--model-repository={repo}",
            *triton.server_args(),
            f"--http-port={ports[0]}",
            f"--grpc-port={ports[1]}",
            f"--metrics-port={ports[2]}",
            "--http-address=127.0.0.1",
            "--grpc-address=127.0.0.1",
            "--metrics-address=127.0.0.1",
            "--disable-auto-complete-config",
            f"--backend-config=python,shm-region-prefix-name=tgbench{os.getpid()}_{ports[0]}_",
        ]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=triton.environment(),
                start_new_session=True,
            )
        server = FixtureServer(process, ports[0], log_path)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{server.url}/v2/health/ready", timeout=2).status_code == 200:
                    return server
            time.sleep(0.3)
        _stop(server)
        log_text = log_path.read_text(errors="replace")
        if "already in use" not in log_text:
            raise RuntimeError(f"the bench fixture server did not become ready:\n{log_text[-4000:]}")
    raise RuntimeError("no free ports for the bench fixture server")


def _stop(server: FixtureServer) -> None:
    if server.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGINT)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FixtureServer]:
    workdir = tmp_path_factory.mktemp("bench")
    repo = workdir / "repo"
    shutil.copytree(FIXTURE_REPO, repo, ignore=shutil.ignore_patterns("__pycache__"))
    running = _start(repo, workdir / "tritonserver.log")
    try:
        yield running
    finally:
        _stop(running)


def quick_config(server: FixtureServer, **overrides: object) -> BenchConfig:
    settings: dict[str, object] = {
        "url": server.url,
        "concurrency": (1, 2),
        "requests": 8,
        "max_tokens": 6,
        "warmup_requests": 2,
        "prompts": PROMPTS,
        "show_progress": False,
        "timeout_s": 30.0,
    }
    settings.update(overrides)
    return BenchConfig(**settings)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------- pure pieces


@given(
    st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=60),
    st.floats(min_value=0, max_value=100),
)
def test_percentile_matches_numpy(samples: list[float], q: float) -> None:
    assert percentile(samples, q) == pytest.approx(float(np.percentile(samples, q)), rel=1e-9, abs=1e-6)


def test_summarize_reports_the_usual_percentiles() -> None:
    samples = [float(v) for v in range(1, 101)]
    summary = summarize(samples)
    assert summary is not None
    assert (summary.p50, summary.p90, summary.p99) == pytest.approx(
        [float(np.percentile(samples, q)) for q in (50, 90, 99)]
    )
    assert (summary.minimum, summary.maximum, summary.count) == (1.0, 100.0, 100)
    assert summarize([]) is None


def test_sse_lines_decode_to_payloads_and_errors() -> None:
    assert decode_sse_line(b'data: {"text_output": "hi"}') == {"text_output": "hi"}
    assert decode_sse_line(b"") is None
    assert decode_sse_line(b": keep-alive comment") is None
    assert decode_sse_line(b'data: {"error": "boom"}') == {"error": "boom"}
    assert "unparsable" in decode_sse_line(b"data: {not json")["error"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("counts", "total"),
    [([1, 1, 1, 1], 4), ([2, 1, 3], 6), ([1, 2, 3, 4], 4), ([3, 5, 8], 8), ([5], 5)],
    ids=["deltas", "uneven-deltas", "running-total", "uneven-running-total", "one-chunk"],
)
def test_streamed_server_counts_are_read_as_deltas_or_running_totals(counts: list[int], total: int) -> None:
    record = RequestRecord(index=0, streaming=True, start_s=0.0)
    for step, count in enumerate(counts, start=1):
        record.take_payload({"text_output": "x", "num_output_tokens": [count]}, step / 10)
    assert record.server_tokens == total and record.server_token_field == "num_output_tokens"


def test_a_stream_record_times_its_chunks_and_stops_at_an_error() -> None:
    record = RequestRecord(index=0, streaming=True, start_s=0.0)
    record.take_payload({"text_output": " a"}, 0.1)
    record.take_payload({"text_output": " b"}, 0.3)
    assert (record.text, record.ttft_s, record.itl_s) == (" a b", 0.1, pytest.approx(0.2))
    assert record.server_tokens is None
    record.take_payload({"error": "went wrong"}, 0.4)
    assert not record.ok and record.error == "went wrong"


def test_optional_inputs_are_sent_only_when_the_model_declares_them() -> None:
    modern = ModelContract(
        "m", {"text_input": False, "max_tokens": False, "stream": True, "min_tokens": True}, ()
    )
    shape = shape_requests(modern, "127.0.0.1:1", "generate_stream", max_tokens=8, min_tokens=8)
    assert shape.body("hi") == {"text_input": "hi", "max_tokens": 8, "stream": True, "min_tokens": 8}
    assert shape.target == "http://127.0.0.1:1/v2/models/m/generate_stream"

    bare = ModelContract("m", {"text_input": False, "max_tokens": False}, ())
    shape = shape_requests(bare, "127.0.0.1:1", "generate", max_tokens=8, min_tokens=8)
    assert shape.body("hi") == {"text_input": "hi", "max_tokens": 8}
    assert "min_tokens" in shape.notes[0]

    v05 = ModelContract(
        "m", {"text_input": False, "max_tokens": False, "bad_words": False, "stop_words": False}, ()
    )
    assert shape_requests(v05, "x:1", "generate", 4).fields == {
        "max_tokens": 4,
        "bad_words": "",
        "stop_words": "",
    }

    needy = ModelContract("m", {"text_input": False, "max_tokens": False, "image": False}, ())
    with pytest.raises(UsageError, match="image"):
        shape_requests(needy, "x:1", "generate", 4)


def test_bad_settings_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        parse_concurrency("1,two")
    with pytest.raises(UsageError):
        parse_concurrency("0")
    with pytest.raises(UsageError):
        BenchConfig(requests=4, duration_s=2.0)
    with pytest.raises(UsageError):
        BenchConfig(max_tokens=4, min_tokens=5)
    assert parse_concurrency("1, 2,4") == (1, 2, 4)


# ------------------------------------------------------------------------------- against the server


@pytest.mark.server
@pytest.mark.parametrize("client", ["asyncio", "threads"])
@pytest.mark.parametrize("endpoint", ["generate_stream", "generate"])
@pytest.mark.parametrize("model", ["ensemble", "tensorrt_llm_bls"])
def test_a_short_sweep_gives_sane_figures(
    server: FixtureServer, model: str, endpoint: str, client: str
) -> None:
    result = run_bench(quick_config(server, model=model, endpoint=endpoint, client=client))

    assert [level.concurrency for level in result.levels] == [1, 2]
    expected_method = {
        ("ensemble", "generate_stream"): "server:num_output_tokens",
        ("ensemble", "generate"): "server:num_output_tokens",
        ("tensorrt_llm_bls", "generate_stream"): CHUNKS,
        ("tensorrt_llm_bls", "generate"): WORDS,
    }[(model, endpoint)]
    for level in result.levels:
        assert (level.succeeded, level.failed, level.first_errors) == (8, 0, ())
        assert level.output_tokens == expected_total(PROMPTS, 8, max_tokens=6)
        assert level.token_count_method == expected_method
        assert level.requests_per_s > 0 and level.output_tokens_per_s > level.requests_per_s
        assert level.e2e_ms is not None and level.e2e_ms.minimum > 0
        if endpoint == "generate_stream":
            assert level.ttft_ms is not None and level.itl_ms is not None
            assert level.ttft_ms.p50 <= level.e2e_ms.p50 and level.ttft_ms.maximum <= level.e2e_ms.maximum
        else:
            assert level.ttft_ms is None and level.itl_ms is None


@pytest.mark.server
@pytest.mark.parametrize("model", ["ensemble", "tensorrt_llm_bls"])
def test_ignore_eos_forces_every_output_to_max_tokens(server: FixtureServer, model: str) -> None:
    natural = run_bench(quick_config(server, model=model, max_tokens=7, concurrency=(2,)))
    forced = run_bench(quick_config(server, model=model, max_tokens=7, min_tokens=7, concurrency=(2,)))
    assert natural.levels[0].mean_output_tokens < 7
    assert forced.levels[0].output_tokens == 8 * 7
    assert forced.server["request_fields"]["min_tokens"] == 7


@pytest.mark.server
@pytest.mark.parametrize("client", ["asyncio", "threads"])
def test_a_duration_bound_level_runs_for_about_that_long(server: FixtureServer, client: str) -> None:
    result = run_bench(quick_config(server, requests=None, duration_s=0.5, concurrency=(2,), client=client))
    level = result.levels[0]
    assert level.failed == 0 and level.succeeded >= 4
    assert 0.5 <= level.wall_s < 0.5 + 5  # the requests in flight at the deadline are finished
    assert result.config["duration_s"] == 0.5


@pytest.mark.server
def test_a_tokenizer_counts_generate_output(server: FixtureServer) -> None:
    result = run_bench(
        quick_config(server, model="tensorrt_llm_bls", endpoint="generate", tokenizer_dir=WORD_TOKENIZER)
    )
    assert result.levels[0].token_count_method == TOKENIZER
    assert result.levels[0].output_tokens == expected_total(PROMPTS, 8, max_tokens=6)


@pytest.mark.server
@pytest.mark.parametrize("endpoint", ["generate_stream", "generate"])
def test_an_error_in_the_stream_counts_as_a_failed_request(server: FixtureServer, endpoint: str) -> None:
    prompts = ("a healthy prompt", "this one breaks [[fail-after:2]]")
    result = run_bench(
        quick_config(server, endpoint=endpoint, prompts=prompts, max_tokens=8, min_tokens=8, concurrency=(1,))
    )
    level = result.levels[0]
    assert (level.succeeded, level.failed) == (4, 4)
    assert len(level.first_errors) == 1 and "stand-in failure after 2 words" in level.first_errors[0]
    assert level.output_tokens == 4 * 8  # the failed requests' two streamed words are not counted


@pytest.mark.server
def test_when_every_warmup_request_fails_the_run_stops_with_the_reason(server: FixtureServer) -> None:
    with pytest.raises(ServerRequestError, match="stand-in failure after 0 words"):
        run_bench(quick_config(server, prompts=("[[fail-after:0]]",)))


@pytest.mark.server
def test_a_missing_model_is_a_clear_error(server: FixtureServer) -> None:
    with pytest.raises(ServerRequestError) as caught:
        run_bench(quick_config(server, model="no_such_model"))
    line = caught.value.one_line()
    assert "model 'no_such_model' is not ready" in line and "ensemble" in line and "\n" not in line
    assert caught.value.exit_code == 8


def test_an_unreachable_server_exits_8_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    port = next(p for p in range(*PORT_RANGE) if _free(p))
    args = ["bench", "--url", f"http://127.0.0.1:{port}", "--concurrency", "1", "--quiet"]

    result = CliRunner().invoke(cli, args)
    assert isinstance(result.exception, ServerRequestError) and result.exception.exit_code == 8

    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 8
    error_lines = capsys.readouterr().err.strip().splitlines()
    assert len(error_lines) == 1 and error_lines[0].startswith(
        f"error: cannot reach the server at http://127.0.0.1:{port}"
    )


@pytest.mark.server
def test_the_cli_prints_a_table_and_writes_json_and_png(server: FixtureServer, tmp_path: Path) -> None:
    prompts_file = tmp_path / "prompts.txt"
    prompts_file.write_text("\n".join(PROMPTS) + "\n")
    json_path, png_path = tmp_path / "out" / "bench.json", tmp_path / "out" / "bench.png"
    args = ["bench", "--url", server.url, "--concurrency", "1,2", "--requests", "6", "--max-tokens", "5"]
    args += [
        "--prompts",
        str(prompts_file),
        "--warmup",
        "1",
        "--json",
        str(json_path),
        "--plot",
        str(png_path),
    ]

    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    header, *rows = [line for line in result.stdout.splitlines() if line.strip()][:3]
    assert header.split()[:3] == ["conc", "ok", "err"] and len(rows) == 2
    assert len({len(header), *(len(row) for row in rows)}) == 1  # aligned columns

    document = json.loads(json_path.read_text())
    assert {"schema", "config", "server", "environment", "notes", "levels"} <= set(document)
    assert {"host", "cpu_cores", "tritongen_version", "timestamp"} <= set(document["environment"])
    assert document["config"]["prompts"] == {"source": str(prompts_file), "count": len(PROMPTS)}
    level = document["levels"][0]
    assert {
        "ttft_ms",
        "itl_ms",
        "e2e_ms",
        "output_tokens_per_s",
        "requests_per_s",
        "failed",
        "first_errors",
    } <= set(level)
    assert {"p50", "p90", "p99"} <= set(level["ttft_ms"])
    assert level["token_count_method"] == "server:num_output_tokens"
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png_path.stat().st_size > 10_000


@pytest.mark.server
def test_pipeline_overhead_measures_server_cpu_per_request(server: FixtureServer) -> None:
    assert find_server_pid(server.url) == server.process.pid
    rows = []
    result = measure_pipeline_overhead(
        PipelineConfig(url=server.url, concurrency=(1, 4), requests=40, warmup_requests=4), on_row=rows.append
    )
    assert [(row.model, row.concurrency) for row in result.rows] == [
        ("ensemble", 1),
        ("ensemble", 4),
        ("tensorrt_llm_bls", 1),
        ("tensorrt_llm_bls", 4),
    ]
    assert rows == result.rows and result.server_pid == server.process.pid
    assert result.processes_measured >= 3  # tritonserver and one stub per Python model
    for row in result.rows:
        assert (row.requests, row.failed) == (40, 0)
        assert row.requests_per_s > 0 and row.server_cpu_ms_per_request > 0
    assert tree_cpu_seconds(server.process.pid) > 0


@pytest.mark.server
def test_the_pipeline_script_prints_its_table(server: FixtureServer, tmp_path: Path) -> None:
    script = Path(__file__).parent.parent / "scripts" / "bench_pipeline.py"
    json_path = tmp_path / "pipeline.json"
    command = [sys.executable, str(script), "--url", server.url, "--requests", "20", "--warmup", "2"]
    completed = subprocess.run(
        [*command, "--json", str(json_path)], check=False, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr
    assert "server CPU ms/req" in completed.stdout and "tensorrt_llm_bls" in completed.stdout
    assert len(json.loads(json_path.read_text())["rows"]) == 4
