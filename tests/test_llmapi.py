"""The llmapi target: upstream's one-model LLM-API repository, rendered, checked, launched and served.

Offline: the tensor contract per TensorRT-LLM version (facts recorded from upstream's config.pbtxt at a
named commit), rendering (config.pbtxt parses as ModelConfig, model.yaml, decoupled in both places,
overrides, explain), golden repositories, `check` on rendered and hand-made repositories, and the request
contract by import. With a real tritonserver (marker `server`): render -> check -> `tritongen launch` ->
upstream's README request bodies, greedy equality with in-process generation, streaming, stop words,
seeds, cancellation with `stop` + `triton-request-id`, and bad requests.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
import yaml

from tritongen.check.validate import check_repository
from tritongen.errors import UsageError
from tritongen.render.llmapi import render_llmapi
from tritongen.render.llmapi_contract import COMMIT_1_2, COMMIT_MAIN, CONTRACTS, contract_for
from tritongen.runtime.llmapi.contract import (
    DEFAULT_MAX_TOKENS,
    LlmUpdate,
    RequestError,
    is_stop_request,
    parse_request,
    response_arrays,
)
from tritongen.testing.engines import make_engine_dir, modern_config
from tritongen.testing.launch import Launch, leftovers, run_cli
from tritongen.testing.llmapi_cases import LLMAPI_CASES, llmapi_snapshot, render_llmapi_case
from tritongen.testing.render_cases import make_checkpoint_dir, parse_config, read_golden
from tritongen.versions import Version

# -- the contract, as read from upstream's config.pbtxt --------------------------------------------------

# NVIDIA/TensorRT-LLM triton_backend/all_models/llmapi/tensorrt_llm/config.pbtxt, in file order.
UPSTREAM_1_2_INPUTS = [
    ("text_input", "TYPE_STRING", [-1], False),
    ("streaming", "TYPE_BOOL", [1], True),
    ("sampling_param_best_of", "TYPE_INT32", [1], True),
    ("sampling_param_temperature", "TYPE_FP32", [1], True),
    ("sampling_param_top_k", "TYPE_INT32", [1], True),
    ("sampling_param_top_p", "TYPE_FP32", [1], True),
    ("sampling_param_frequency_penalty", "TYPE_FP32", [1], True),
    ("sampling_param_presence_penalty", "TYPE_FP32", [1], True),
    ("sampling_param_max_tokens", "TYPE_INT32", [1], True),
    ("sampling_param_stop", "TYPE_STRING", [-1], True),
    ("sampling_param_seed", "TYPE_UINT64", [1], True),
    ("sampling_param_exclude_input_from_output", "TYPE_BOOL", [1], True),
    ("sampling_param_return_perf_metrics", "TYPE_BOOL", [1], True),
    ("return_finish_reason", "TYPE_BOOL", [1], True),
    ("return_stop_reason", "TYPE_BOOL", [1], True),
    ("return_cumulative_logprob", "TYPE_BOOL", [1], True),
    ("stop", "TYPE_BOOL", [1], True),
]
UPSTREAM_MAIN_EXTRA_INPUTS = [  # @ 0a710573: image_url after text_input, LoRA at the end
    ("image_url", "TYPE_STRING", [-1], True),
    ("lora_id", "TYPE_UINT64", [1], True),
    ("lora_name", "TYPE_STRING", [1], True),
    ("lora_path", "TYPE_STRING", [1], True),
    ("lora_ckpt_source", "TYPE_STRING", [1], True),
]
UPSTREAM_OUTPUTS = [
    ("text_output", "TYPE_STRING", [-1]),
    ("finish_reason", "TYPE_STRING", [-1]),
    ("stop_reason", "TYPE_STRING", [-1]),
    ("cumulative_logprob", "TYPE_FP32", [-1]),
    ("kv_cache_reused_block", "TYPE_INT32", [-1]),
    ("kv_cache_missed_block", "TYPE_INT32", [-1]),
    ("kv_cache_alloc_new_blocks", "TYPE_INT32", [-1]),
    ("kv_cache_alloc_total_blocks", "TYPE_INT32", [-1]),
    ("kv_cache_hit_rate", "TYPE_FP32", [-1]),
    ("arrival_time_ns", "TYPE_INT64", [1]),
    ("first_scheduled_time_ns", "TYPE_INT64", [1]),
    ("first_token_time_ns", "TYPE_INT64", [1]),
    ("last_token_time_ns", "TYPE_INT64", [1]),
    ("acceptance_rate", "TYPE_FP32", [1]),
    ("total_accepted_draft_tokens", "TYPE_INT32", [1]),
    ("total_draft_tokens", "TYPE_INT32", [1]),
]


def _rendered_tensors(
    repo: Path,
) -> tuple[list[tuple[str, str, list[int], bool]], list[tuple[str, str, list[int]]]]:
    config = parse_config(repo / "tensorrt_llm" / "config.pbtxt")
    enum = type(config).DESCRIPTOR.fields_by_name["input"].message_type.fields_by_name["data_type"].enum_type
    name = {value.number: value.name for value in enum.values}
    inputs = [(t.name, name[t.data_type], list(t.dims), t.optional) for t in config.input]
    outputs = [(t.name, name[t.data_type], list(t.dims)) for t in config.output]
    return inputs, outputs


@pytest.mark.parametrize(
    ("version", "contract", "commit"),
    [("1.0", "1.2", COMMIT_1_2), ("1.1.0", "1.2", COMMIT_1_2), ("1.2.1", "1.2", COMMIT_1_2),
     ("1.3.0rc24", "main", COMMIT_MAIN), ("1.4", "main", COMMIT_MAIN)],
)  # fmt: skip
def test_each_version_renders_exactly_upstreams_tensors(version, contract, commit, tmp_path):
    assert contract_for(Version.parse(version)).name == contract
    result = render_llmapi(make_checkpoint_dir(tmp_path), output=tmp_path / "repo", backend_version=version)
    inputs, outputs = _rendered_tensors(result.output)
    expected = list(UPSTREAM_1_2_INPUTS)
    if contract == "main":
        expected = [
            expected[0],
            UPSTREAM_MAIN_EXTRA_INPUTS[0],
            *expected[1:],
            *UPSTREAM_MAIN_EXTRA_INPUTS[1:],
        ]
    assert inputs == expected
    assert outputs == UPSTREAM_OUTPUTS
    manifest = json.loads((result.output / "tritongen.json").read_text())
    assert manifest["contract"] == {"name": contract, "trtllm_commit": commit}
    assert commit[:8] in (result.output / "tensorrt_llm" / "config.pbtxt").read_text()


def test_versions_before_the_llmapi_model_are_refused(tmp_path):
    with pytest.raises(UsageError, match=r"1\.0 or later"):
        render_llmapi(make_checkpoint_dir(tmp_path), output=tmp_path / "repo", backend_version="0.19")
    assert set(CONTRACTS) == {"1.2", "main"}


# -- render ---------------------------------------------------------------------------------------------


def _model_yaml(repo: Path) -> dict:
    return yaml.safe_load((repo / "tensorrt_llm" / "1" / "model.yaml").read_text())


@pytest.mark.parametrize("streaming", [True, False])
def test_decoupled_is_written_in_both_places_and_triton_batch_stays_0(streaming, tmp_path):
    repo = render_llmapi(make_checkpoint_dir(tmp_path), output=tmp_path / "repo", streaming=streaming).output
    config = parse_config(repo / "tensorrt_llm" / "config.pbtxt")
    data = _model_yaml(repo)
    assert config.model_transaction_policy.decoupled is streaming
    assert data["triton_config"] == {
        "max_batch_size": 0,
        "decoupled": streaming,
        "cancellation_check_period_ms": 100,
    }
    assert config.max_batch_size == 0 and config.backend == "python" and config.name == "tensorrt_llm"
    assert data["model"] == str(tmp_path / "checkpoint") and data["backend"] == "pytorch"
    assert data["max_seq_len"] == 512 and data["tensor_parallel_size"] == 1
    assert sorted(p.name for p in repo.iterdir()) == ["tensorrt_llm", "tritongen.json"]
    for path in repo.rglob("*"):  # nothing unfilled anywhere, the copied model code included
        if path.is_file():
            assert "${" not in path.read_text() and "{{" not in path.read_text(), path


def test_overrides_flags_win_over_the_trtllm_serve_config_file_and_explain_says_so(tmp_path):
    config = tmp_path / "serve.yaml"
    config.write_text(
        "max_batch_size: 4\nkv_cache_config:\n  free_gpu_memory_fraction: 0.6\n  enable_block_reuse: false\n"
    )
    repo = render_llmapi(make_checkpoint_dir(tmp_path), output=tmp_path / "repo", config_file=config,
                         sets=("max_batch_size=8", "dtype=float32"), tp_size=2).output  # fmt: skip
    data = _model_yaml(repo)
    assert data["max_batch_size"] == 8 and data["dtype"] == "float32" and data["tensor_parallel_size"] == 2
    assert data["kv_cache_config"] == {"free_gpu_memory_fraction": 0.6, "enable_block_reuse": False}
    explained = run_cli(["explain", str(repo), "max_batch_size"], os.environ)
    assert explained.returncode == 0
    assert "--set max_batch_size=8" in explained.stdout
    parameters = json.loads((repo / "tritongen.json").read_text())["parameters"]["tensorrt_llm"]
    assert parameters["kv_cache_config.enable_block_reuse"]["source"] == "file"
    assert parameters["tensor_parallel_size"]["source"] == "flag"
    assert json.loads((repo / "tritongen.json").read_text())["engine"]["world_size"] == 2


@pytest.mark.parametrize(
    ("sets", "message"),
    [(("max_bach_size=8",), "Did you mean max_batch_size"),
     (("kv_cache_config.free_gpu_memory_fractio=0.5",), "kv_cache_config.free_gpu_memory_fraction"),
     (("max_batch_size=many",), "must be int"),
     (("triton_config.max_batch_size=8",), "must be 0"),
     (("backend=tensorrt",), "must be pytorch"),
     (("triton_config.multimodal=true",), "image_url")],
)  # fmt: skip
def test_bad_overrides_are_one_line_usage_errors(sets, message, tmp_path):
    checkpoint = make_checkpoint_dir(tmp_path)
    result = run_cli(["render", "--engine", str(checkpoint), "--target", "llmapi", "--output", str(tmp_path / "r"),
                      *(f"--set={s}" for s in sets)], os.environ)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "r").exists()


def test_an_engine_directory_is_refused_with_one_line(tmp_path):
    engine = make_engine_dir(tmp_path / "engines", modern_config("1.2.0"), name="llama")
    result = run_cli(["render", "--engine", str(engine), "--target", "llmapi"], os.environ)
    assert result.returncode == 2
    assert "is a TensorRT engine" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_trtllm_serve_config_is_model_yaml_without_triton_config(tmp_path):
    serve = tmp_path / "serve.yaml"
    result = run_cli(["render", "--engine", str(make_checkpoint_dir(tmp_path)), "--target", "llmapi", "--output",
                      str(tmp_path / "repo"), "--emit-trtllm-serve-config", str(serve)], os.environ)  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = _model_yaml(tmp_path / "repo")
    emitted = yaml.safe_load(serve.read_text())
    assert emitted == {k: v for k, v in data.items() if k not in ("triton_config", "model", "backend")}
    assert "trtllm-serve " + data["model"] in serve.read_text()


def test_rerender_is_identical_and_a_change_needs_force(tmp_path):
    checkpoint = make_checkpoint_dir(tmp_path)
    first = render_llmapi(checkpoint, output=tmp_path / "repo")
    assert first.written
    again = render_llmapi(checkpoint, output=tmp_path / "repo")
    assert not again.written and all(s.status == "identical" for s in again.files)
    with pytest.raises(Exception, match="--force"):
        render_llmapi(checkpoint, output=tmp_path / "repo", sets=("max_batch_size=2",))
    assert render_llmapi(checkpoint, output=tmp_path / "repo", sets=("max_batch_size=2",), force=True).written


@pytest.mark.parametrize("case", sorted(LLMAPI_CASES))
def test_golden_repositories(case, tmp_path):
    base = tmp_path.resolve()
    result = render_llmapi_case(case, base)
    assert llmapi_snapshot(result.output, base) == read_golden(case)


# -- check ----------------------------------------------------------------------------------------------


def _errors(repo: Path) -> list[str]:
    return [str(f) for f in check_repository(repo, load_tokenizer=False).errors]


def _warnings(repo: Path) -> list[str]:
    return [str(f) for f in check_repository(repo, load_tokenizer=False).warnings]


@pytest.fixture
def rendered(tmp_path: Path) -> Path:
    return render_llmapi(make_checkpoint_dir(tmp_path), output=tmp_path / "repo").output


def test_check_passes_a_rendered_repository(rendered):
    assert _errors(rendered) == [] and _warnings(rendered) == []


def test_check_finds_decoupled_disagreeing_with_model_yaml(rendered):
    yaml_path = rendered / "tensorrt_llm" / "1" / "model.yaml"
    yaml_path.write_text(yaml_path.read_text().replace("decoupled: true", "decoupled: false"))
    assert any("model_transaction_policy" in e and "make them agree" in e for e in _errors(rendered))


def test_check_finds_a_triton_batch_size_and_a_missing_model_yaml(rendered):
    config = rendered / "tensorrt_llm" / "config.pbtxt"
    config.write_text(config.read_text().replace("max_batch_size: 0", "max_batch_size: 8"))
    assert any("must be 0" in e for e in _errors(rendered))
    (rendered / "tensorrt_llm" / "1" / "model.yaml").unlink()
    assert any("model.yaml" in e and "does not exist" in e for e in _errors(rendered))


def test_check_finds_tensors_that_differ_from_the_rendered_version(rendered):
    config = rendered / "tensorrt_llm" / "config.pbtxt"
    config.write_text(config.read_text().replace('"sampling_param_seed"', '"random_seed"'))
    assert any("random_seed" in e and "sampling_param_seed" in e for e in _errors(rendered))


def test_check_a_hand_made_upstream_repository(rendered):
    """Upstream's own layout: no manifest and no model_transaction_policy (auto-complete sets it)."""
    (rendered / "tritongen.json").unlink()
    config = rendered / "tensorrt_llm" / "config.pbtxt"
    text = config.read_text()
    start = text.index("model_transaction_policy")
    config.write_text(text[:start] + text[text.index("}", start) + 1 :])
    assert _errors(rendered) == []
    assert any("--disable-auto-complete-config" in w for w in _warnings(rendered))
    yaml_path = rendered / "tensorrt_llm" / "1" / "model.yaml"
    yaml_path.write_text(yaml_path.read_text().replace(str(rendered.parent / "checkpoint"), "/nowhere/model"))
    assert any("/nowhere/model does not exist" in w for w in _warnings(rendered))


def test_launch_runs_one_tritonserver_where_the_llm_spawns_its_ranks(tmp_path, monkeypatch):
    from tritongen.launch import repository
    from tritongen.runtime.llmapi import config

    repo = render_llmapi(make_checkpoint_dir(tmp_path), output=tmp_path / "repo", tp_size=2).output
    monkeypatch.setattr(config, "tensorrt_llm_available", lambda: True)  # TensorRT-LLM's LLM spawns them
    facts = repository.inspect_repository(repo)
    assert (facts.world_size, facts.trtllm_models, facts.llmapi_world_size) == (1, (), 2)
    assert "the LLM spawns its 2 rank(s)" in facts.world_size_source


def test_launch_dry_run_without_tensorrt_llm_runs_a_tritonserver_per_rank(tmp_path):
    repo = render_llmapi(make_checkpoint_dir(tmp_path), output=tmp_path / "repo", tp_size=2).output
    result = run_cli(["launch", str(repo), "--dry-run"], os.environ)
    assert result.returncode == 0, result.stderr
    assert (
        "# world size: 2 (from tensorrt_llm/1/model.yaml tp x pp, served by the torch runtime"
        in result.stdout
    )
    assert "mpirun" in result.stdout and result.stdout.count("--load-model=tensorrt_llm") == 1  # rank 1
    mismatch = run_cli(["launch", str(repo), "--dry-run", "--world-size", "3"], os.environ)
    assert mismatch.returncode == 7
    single = render_llmapi(make_checkpoint_dir(tmp_path / "one"), output=tmp_path / "one" / "repo").output
    commands = [line for line in run_cli(["launch", str(single), "--dry-run"], os.environ).stdout.splitlines()
                if not line.startswith(("#", "export"))]  # fmt: skip
    assert (
        len(commands) == 1 and "mpirun" not in commands[0] and "--disable-auto-complete-config" in commands[0]
    )


def test_preflight_names_the_known_traps(tmp_path, monkeypatch):
    from tritongen.errors import LaunchError
    from tritongen.launch import llmapi_preflight

    repo = render_llmapi(make_checkpoint_dir(tmp_path), output=tmp_path / "repo", pp_size=2).output
    with pytest.raises(LaunchError, match=r"tp x pp = 2, but this Python has no TensorRT-LLM"):
        llmapi_preflight.llmapi_problems(repo, 2, multi_host=False, env=os.environ)
    assert llmapi_preflight.llmapi_problems(repo, 2, multi_host=False, env=os.environ, strict=False)
    # Where TensorRT-LLM 1.3 and the openai of the 26.07 container are installed, with no trtllm-llmapi-launch:
    versions = {"tensorrt_llm": "1.3.0", "openai": "1.107.3"}
    monkeypatch.setattr(llmapi_preflight, "_installed", versions.get)
    warnings = llmapi_preflight.llmapi_problems(repo, 2, multi_host=False, env=os.environ)
    assert any('"main" llmapi tensors' in w and "--backend-version 1.3.0" in w for w in warnings)
    assert any("openai 1.107.3" in w and "pip install -U openai" in w for w in warnings)
    with pytest.raises(LaunchError, match="trtllm-llmapi-launch"):
        llmapi_preflight.llmapi_problems(repo, 2, multi_host=True, env={"PATH": str(tmp_path)})


# -- the request contract, by import ---------------------------------------------------------------------


def _getter(**tensors):
    arrays = {k: np.array(v if isinstance(v, list) else [v]) for k, v in tensors.items()}
    return arrays.get


def test_request_defaults_follow_upstream():
    request = parse_request(_getter(text_input=[b"Hello"]), decoupled=True)
    assert request.prompt == "Hello" and not request.streaming
    assert request.sampling.max_tokens == DEFAULT_MAX_TOKENS
    assert request.sampling.exclude_input_from_output is False  # upstream echoes the prompt by default
    assert request.sampling.as_kwargs() == {"max_tokens": 32, "exclude_input_from_output": False,
                                            "return_perf_metrics": False}  # fmt: skip


def test_request_sampling_params_and_outputs():
    request = parse_request(
        _getter(text_input=[b"Hi"], sampling_param_max_tokens=np.int32(5), sampling_param_top_k=np.int32(1),
                sampling_param_stop=[b"\n", b"."], sampling_param_seed=np.uint64(7), return_finish_reason=True,
                return_cumulative_logprob=True, sampling_param_return_perf_metrics=True),
        decoupled=False,
    )  # fmt: skip
    assert request.sampling.stop == ("\n", ".") and request.sampling.seed == 7 and request.sampling.top_k == 1
    update = LlmUpdate("Hi there", finished=True, finish_reason="stop", cumulative_logprob=-1.5,
                       metrics={"kv_cache_hit_rate": 0.0, "arrival_time_ns": 12})  # fmt: skip
    arrays = response_arrays(request, update, {"text_output", "finish_reason", "cumulative_logprob",
                                               "kv_cache_hit_rate", "arrival_time_ns"})  # fmt: skip
    assert {k: v.tolist() for k, v in arrays.items()} == {
        "text_output": [b"Hi there"], "finish_reason": [b"stop"], "cumulative_logprob": [b"-1.5"],
        "kv_cache_hit_rate": [b"0.0"], "arrival_time_ns": [b"12"],
    }  # fmt: skip
    assert "stop_reason" not in arrays  # not asked for


@pytest.mark.parametrize(
    ("tensors", "message"),
    [({}, "text_input is required"),
     ({"text_input": [b"a", b"b"]}, "one prompt"),
     ({"text_input": [b"a"], "sampling_param_max_tokens": np.int32(0)}, "at least 1"),
     ({"text_input": [b"a"], "sampling_param_top_p": np.float32(1.5)}, "top_p"),
     ({"text_input": [b"a"], "streaming": True}, "decoupled"),
     ({"text_input": [b"a"], "lora_id": np.uint64(1)}, "together")],
)  # fmt: skip
def test_bad_requests_name_the_problem(tensors, message):
    with pytest.raises(RequestError, match=message):
        parse_request(_getter(**tensors), decoupled=False)


def test_stop_request_is_recognised():
    assert is_stop_request(_getter(text_input=[b""], stop=True))
    assert not is_stop_request(_getter(text_input=[b"x"]))


# -- served by a real tritonserver through `tritongen launch` --------------------------------------------

PROMPT = "The capital of France is"
COUNTING = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10,"  # greedy goes on counting: it does not end by itself


@pytest.fixture(scope="module")
def launched(smollm2_checkpoint_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launch]:
    """render -> check -> launch, as a user would, with float32 so greedy matches in-process transformers."""
    root = tmp_path_factory.mktemp("llmapi")
    rendered = run_cli(["render", "--engine", str(smollm2_checkpoint_dir), "--target", "llmapi", "--output",
                        str(root / "repo"), "--set", "dtype=float32", "--set", "max_seq_len=1024"], os.environ)  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr
    checked = run_cli(["check", str(root / "repo")], os.environ, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    launch = Launch.start(root / "repo", os.environ, root / "launch.log")
    try:
        launch.wait_ready(timeout=240)
        yield launch
        launch.signal(signal.SIGINT)  # as Ctrl-C: everything stops, nothing of the launch is left behind
        code, _ = launch.wait(timeout=60)
        assert code == 0, launch.output()[-3000:]
        assert leftovers(root / "repo") == []
    finally:
        launch.kill()


def _url(launch: Launch, endpoint: str) -> str:
    return f"http://127.0.0.1:{launch.ports.http}/v2/models/tensorrt_llm/{endpoint}"


def _stream(launch: Launch, body: dict, headers: dict | None = None) -> list[dict]:
    response = requests.post(_url(launch, "generate_stream"), json=body, headers=headers, timeout=120)
    assert response.status_code == 200, response.text
    return [
        json.loads(line[len("data: ") :]) for line in response.text.splitlines() if line.startswith("data: ")
    ]


@pytest.fixture(scope="module")
def reference(smollm2_checkpoint_dir: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_checkpoint_dir)
    model = AutoModelForCausalLM.from_pretrained(smollm2_checkpoint_dir, dtype=torch.float32).eval()

    def greedy(prompt: str, new_tokens: int) -> str:
        ids = tokenizer(prompt, return_tensors="pt")
        with torch.no_grad():
            output = model.generate(**ids, max_new_tokens=new_tokens, do_sample=False,
                                    pad_token_id=tokenizer.eos_token_id)  # fmt: skip
        return tokenizer.decode(output[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)

    return greedy


@pytest.mark.server
def test_upstream_readme_bodies_answer(launched):
    plain = requests.post(_url(launched, "generate"), json={"text_input": PROMPT, "sampling_param_max_tokens": 8},
                          timeout=120)  # fmt: skip
    assert plain.status_code == 200, plain.text
    body = plain.json()
    assert body["model_name"] == "tensorrt_llm" and body["text_output"].startswith(
        PROMPT
    )  # echoed by default
    chunks = _stream(
        launched, {"text_input": "Count to three:", "sampling_param_max_tokens": 10, "streaming": True}
    )
    assert len(chunks) > 2
    texts = [c["text_output"] for c in chunks]
    assert all(
        later.startswith(earlier) for earlier, later in itertools.pairwise(texts)
    )  # cumulative, as upstream
    excluded = requests.post(_url(launched, "generate"), json={"text_input": PROMPT, "sampling_param_max_tokens": 8,
                             "sampling_param_exclude_input_from_output": True}, timeout=120).json()  # fmt: skip
    assert body["text_output"] == PROMPT + excluded["text_output"]
    metrics = requests.post(_url(launched, "generate"), json={"text_input": PROMPT, "sampling_param_max_tokens": 4,
                            "sampling_param_return_perf_metrics": True}, timeout=120).json()  # fmt: skip
    assert int(metrics["first_token_time_ns"]) >= int(metrics["arrival_time_ns"]) > 0
    assert float(metrics["kv_cache_hit_rate"]) == 0.0


@pytest.mark.server
def test_greedy_equals_in_process_generation_and_streaming_ends_the_same(launched, reference):
    body = {"text_input": PROMPT, "sampling_param_max_tokens": 16, "sampling_param_top_k": 1,
            "sampling_param_exclude_input_from_output": True, "return_finish_reason": True}  # fmt: skip
    whole = requests.post(_url(launched, "generate"), json=body, timeout=120).json()
    assert whole["text_output"] == reference(PROMPT, 16)
    assert whole["finish_reason"] == "length"
    streamed = _stream(launched, {**body, "streaming": True})
    assert streamed[-1]["text_output"] == whole["text_output"]


@pytest.mark.server
def test_stop_words_end_the_text_before_them(launched, reference):
    full = reference(PROMPT, 16)
    word = next(w for w in full.split(" ")[2:] if w.isalpha())  # a word the greedy continuation reaches
    body = {"text_input": PROMPT, "sampling_param_max_tokens": 16, "sampling_param_exclude_input_from_output": True,
            "sampling_param_stop": [" " + word], "return_finish_reason": True, "return_stop_reason": True}  # fmt: skip
    answer = requests.post(_url(launched, "generate"), json=body, timeout=120).json()
    assert answer["finish_reason"] == "stop" and answer["stop_reason"] == " " + word
    assert full.startswith(answer["text_output"]) and len(answer["text_output"]) < len(full)
    assert word not in answer["text_output"].split()


@pytest.mark.server
def test_seed_makes_sampling_repeatable(launched):
    def sample(seed: int) -> str:
        body = {"text_input": "Once upon a time", "sampling_param_max_tokens": 12, "sampling_param_top_k": 50,
                "sampling_param_temperature": 1.5, "sampling_param_seed": seed,
                "sampling_param_exclude_input_from_output": True}  # fmt: skip
        return requests.post(_url(launched, "generate"), json=body, timeout=120).json()["text_output"]

    first = sample(11)
    assert sample(11) == first
    assert any(sample(seed) != first for seed in (12, 13, 14))


@pytest.mark.server
def test_stop_with_the_same_request_id_cancels_a_running_stream(launched):
    chunks: list[dict] = []

    def long_stream() -> None:
        chunks.extend(_stream(launched, {"text_input": COUNTING, "streaming": True, "sampling_param_max_tokens": 1000,
                                         "sampling_param_top_k": 1, "return_finish_reason": True,
                                         "id": "story-1"}))  # fmt: skip

    thread = threading.Thread(target=long_stream)
    thread.start()
    time.sleep(3)
    # The Triton request id: the generate body's "id" (Triton 2.51, the bundled server); newer servers also
    # take upstream's `triton-request-id` header.
    stop = requests.post(_url(launched, "generate"), json={"text_input": "", "stop": True, "id": "story-1"},
                         timeout=30)  # fmt: skip
    assert stop.status_code == 200, stop.text
    thread.join(timeout=60)
    assert not thread.is_alive() and chunks
    assert chunks[-1]["finish_reason"] == "cancelled", chunks[-1]
    assert len(chunks) < 1000
    no_id = requests.post(_url(launched, "generate"), json={"text_input": "", "stop": True}, timeout=30)
    assert no_id.status_code == 400 and "request id" in no_id.text


@pytest.mark.server
@pytest.mark.parametrize(
    "body",
    [{"sampling_param_max_tokens": 4},
     {"text_input": PROMPT, "sampling_param_max_tokens": 0},
     {"text_input": PROMPT, "sampling_param_top_p": 3.0},
     {"text_input": PROMPT, "max_tokens": 4},  # the ensemble's name: not an input of the llmapi model
     {"text_input": PROMPT, "sampling_param_best_of": 2}],
)  # fmt: skip
def test_bad_requests_are_4xx_and_the_next_request_is_fine(launched, body):
    bad = requests.post(_url(launched, "generate"), json=body, timeout=60)
    assert 400 <= bad.status_code < 500, bad.text
    if "max_tokens" in body:  # named with its llmapi name, not silently ignored (32 tokens) as upstream does
        assert "max_tokens -> sampling_param_max_tokens" in bad.text
    good = requests.post(_url(launched, "generate"), json={"text_input": PROMPT, "sampling_param_max_tokens": 2},
                         timeout=60)  # fmt: skip
    assert good.status_code == 200 and good.json()["text_output"].startswith(PROMPT)


def test_the_ensembles_request_names_are_refused_with_their_llmapi_names():
    from tritongen.runtime.llmapi.contract import check_parameters

    check_parameters({"priority": 1})  # anything else passes
    with pytest.raises(RequestError, match="max_tokens -> sampling_param_max_tokens; stream -> streaming"):
        check_parameters({"max_tokens": 64, "stream": True})
    with pytest.raises(RequestError, match=r"end_id \(no llmapi equivalent\)"):
        check_parameters({"end_id": 2})


@pytest.mark.server
@pytest.mark.mpi
def test_world_size_2_under_mpirun_answers_as_world_size_1(smollm2_checkpoint_dir, tmp_path):
    """Without TensorRT-LLM, tp 2 runs the torch runtime on two tritonservers under mpirun (gloo)."""
    from tritongen.testing.engines import make_hf_checkpoint
    from tritongen.testing.ports import free_ports

    checkpoint = make_hf_checkpoint(tmp_path / "tiny", tokenizer_from=smollm2_checkpoint_dir, seed=3)
    answers = {}
    for tp in (1, 2):
        repo = render_llmapi(
            checkpoint, output=tmp_path / f"tp{tp}", tp_size=tp, sets=("dtype=float32",)
        ).output
        # A free rendezvous port: the default one clashes with any other multi-rank run on this machine.
        env = {**os.environ, "MASTER_PORT": str(free_ports(1)[0])}
        launch = Launch.start(repo, env, tmp_path / f"tp{tp}.log")
        try:
            launch.wait_ready(timeout=240)
            body = {"sampling_param_max_tokens": 8, "sampling_param_exclude_input_from_output": True}
            answers[tp] = [
                requests.post(
                    _url(launch, "generate"), json={"text_input": prompt, **body}, timeout=120
                ).json()
                for prompt in ("Hello there", "The sky is")
            ]
            streamed = _stream(launch, {"text_input": "The sky is", "streaming": True, **body})
            assert streamed[-1]["text_output"] == answers[tp][1]["text_output"]
        finally:
            launch.kill()
        if tp == 2:
            assert "mpirun" in launch.output()
    assert all("text_output" in answer for answer in answers[1]), answers
    assert answers[2] == answers[1]


def test_slurm_script_runs_every_llm_rank_under_trtllm_llmapi_launch(tmp_path):
    checkpoint = make_checkpoint_dir(tmp_path)
    out = tmp_path / "repo"
    base = ["render", "--engine", str(checkpoint), "--target", "llmapi", "--output", str(out), "--tp", "2"]
    result = run_cli([*base, "--slurm", "--gpus-per-node", "1", "--image", "nvcr.io/x:1"], os.environ)
    assert result.returncode == 0, result.stderr
    script = (out / "tritongen.slurm.sh").read_text()
    assert "#SBATCH --nodes=2" in script and "--ntasks=2" in script and "--ntasks-per-node=1" in script
    assert f"trtllm-llmapi-launch /opt/tritonserver/bin/tritonserver --model-repository={out}" in script
    assert "--container-image=nvcr.io/x:1" in script and "--load-model" not in script
    # --k8s too (tests/test_llmapi_cluster.py checks the manifest): one pod per node here.
    k8s = run_cli([*base, "--force", "--k8s", "--gpus-per-node", "1", "--image", "x"], os.environ)
    assert k8s.returncode == 0, k8s.stderr
    manifest = yaml.safe_load((out / "tritongen.lws.yaml").read_text())
    assert manifest["spec"]["leaderWorkerTemplate"]["size"] == 2


def test_check_finds_a_checkpoint_without_tokenizer_and_tokenizer_flag_fixes_it(tmp_path):
    checkpoint = make_checkpoint_dir(tmp_path)
    tokenizer = tmp_path / "tok"
    tokenizer.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (checkpoint / name).rename(tokenizer / name)
    for path in checkpoint.glob("*token*"):
        path.unlink()
    with pytest.raises(Exception, match="no tokenizer files"):  # render validates before writing anything
        render_llmapi(checkpoint, output=tmp_path / "repo")
    repo = render_llmapi(checkpoint, output=tmp_path / "repo", tokenizer=tokenizer).output
    assert _model_yaml(repo)["tokenizer"] == str(tokenizer) and _errors(repo) == []


def test_several_instances_on_one_machine_each_get_their_gpus(tmp_path):
    from tritongen.runtime.llmapi.config import ConfigError, instance_devices

    checkpoint = make_checkpoint_dir(tmp_path)
    sets = ("instance_count=2", "gpu_device_ids=0,1;2,3")
    repo = render_llmapi(checkpoint, output=tmp_path / "repo", tp_size=2, sets=sets).output
    config = parse_config(repo / "tensorrt_llm" / "config.pbtxt")
    assert config.instance_group[0].count == 2
    assert config.parameters["gpu_device_ids"].string_value == "0,1;2,3"
    assert "instance_count" not in _model_yaml(repo) and "gpu_device_ids" not in _model_yaml(repo)
    assert _errors(repo) == []
    with pytest.raises(UsageError, match="2 group"):  # one group per instance
        render_llmapi(checkpoint, output=tmp_path / "r2", sets=("instance_count=3", "gpu_device_ids=0;1"))
    with pytest.raises(UsageError, match=r"tp x pp = 2 GPU id"):
        render_llmapi(
            checkpoint, output=tmp_path / "r3", tp_size=2, sets=("instance_count=2", "gpu_device_ids=0;1")
        )
    text = (repo / "tensorrt_llm" / "config.pbtxt").read_text()
    (repo / "tensorrt_llm" / "config.pbtxt").write_text(text.replace("count: 2", "count: 3"))
    assert any("instance_group count is 3" in e for e in _errors(repo))
    assert instance_devices("0,1;2,3", "tensorrt_llm_0_1") == "2,3"
    assert instance_devices(None, "tensorrt_llm_0_0") is None
    with pytest.raises(ConfigError, match="no GPU group"):
        instance_devices("0", "tensorrt_llm_0_1")
