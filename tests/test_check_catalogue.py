"""`check` and `render --set` judge values by one definition (the catalogue); `check` survives hostile files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tritongen.check import check_repository
from tritongen.check.rules import RULES
from tritongen.engine import EngineSpec, read_engine
from tritongen.errors import UsageError
from tritongen.render.catalogue import CATALOGUE
from tritongen.render.catalogue_types import Param
from tritongen.render.overrides import parse_set
from tritongen.render.pbtxt import pbtxt_string
from tritongen.render.plan import build_plan
from tritongen.testing.engines import make_engine_dir, make_tokenizer_dir, modern_config
from tritongen.testing.render_cases import make_checkpoint_dir

# Entries with allowed values that sit in Triton-parsed header fields: the backend name and tensor data
# types are typed by Triton's ModelConfig protobuf, not by a `parameters` string, so check does not judge
# them as parameters. Listed so that a new restricted entry cannot slip out of the comparison below.
HEADER_RESTRICTED = {
    "triton_backend",
    "encoder_input_features_data_type",
    "logits_datatype",
    "prompt_embedding_table_data_type",
}


def _restricted(param: Param) -> bool:
    return param.choices is not None or param.bounds is not None or not param.may_be_empty


JUDGED = [p for p in CATALOGUE if _restricted(p) and not p.header]


def _candidates(param: Param) -> list[str]:
    """Every allowed value, near misses of them, and values no entry allows."""
    values = ["", " ", "bogus", "static_batch", "0", "0.5", "1", "1.0001", "-1", "abc", "nan", "inf"]
    for choice in param.choices or ():
        values += [choice, choice.upper(), choice.capitalize(), choice + "x"]
    return sorted(set(values))


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, EngineSpec]:
    base = tmp_path_factory.mktemp("specs")
    engine = make_engine_dir(base, modern_config("0.19.0", max_batch_size=8), name="llama")
    return {"trtllm": read_engine(engine), "torch": read_engine(make_checkpoint_dir(base))}


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tokenizer_dir(tmp_path_factory.mktemp("tokenizer"))


def _render_refuses(param: Param, value: str, spec: EngineSpec, tokenizer: Path) -> bool:
    """What `tritongen render --set MODEL.NAME=VALUE` does with the value: parse, resolve, type, plan."""
    try:
        build_plan(
            spec,
            backend_version=str(param.since),
            tokenizer_dir=tokenizer,
            overrides=[parse_set(f"{param.model}.{param.name}={value}")],
        )
    except UsageError:
        return True
    return False


def _check_refuses(param: Param, value: str, repo: Path) -> bool:
    """What `tritongen check` says of a repository whose model holds that value."""
    runtime = "torch" if param.runtime == "torch" else "trtllm"
    parameters = {param.parameter_key: value}
    if param.model == "tensorrt_llm" and runtime == "torch":
        backend = "python"
        parameters = {"gpt_model_path": "/nowhere", "torch_dtype": "auto", **parameters}
    else:
        backend = "tensorrtllm" if param.model == "tensorrt_llm" else "python"
    block = "\n".join(
        f"parameters {{ key: {pbtxt_string(k)} value {{ string_value: {pbtxt_string(v)} }} }}"
        for k, v in parameters.items()
    )
    (repo / param.model / "1").mkdir(parents=True, exist_ok=True)
    (repo / param.model / "config.pbtxt").write_text(
        f'name: "{param.model}"\nbackend: "{backend}"\nmax_batch_size: 8\n'
        f"model_transaction_policy {{ decoupled: true }}\n{block}\n",
        encoding="utf-8",
    )
    report = check_repository(repo, load_tokenizer=False)
    return any(f.param == param.parameter_key for f in report.errors)


def test_every_restricted_entry_is_compared() -> None:
    header = {p.name for p in CATALOGUE if p.header and (p.choices is not None or p.bounds is not None)}
    assert header == HEADER_RESTRICTED
    names = {p.name for p in JUDGED}
    assert {
        "batching_strategy",
        "batch_scheduler_policy",
        "kv_cache_free_gpu_mem_fraction",
        "tokenizer_type",
        "decoding_mode",
        "torch_dtype",
    } <= names


@pytest.mark.parametrize("param", JUDGED, ids=lambda p: f"{p.model}.{p.name}@{p.since}")
def test_check_refuses_exactly_what_render_set_refuses(
    param: Param, specs: dict[str, EngineSpec], tokenizer: Path, tmp_path: Path
) -> None:
    spec = specs["torch" if param.runtime == "torch" else "trtllm"]
    disagreements = []
    agreed: set[bool] = set()
    for number, value in enumerate(_candidates(param)):
        render = _render_refuses(param, value, spec, tokenizer)
        check = _check_refuses(param, value, tmp_path / str(number))
        if render == check:
            agreed.add(render)
        else:
            disagreements.append((value, "render refuses" if render else "check refuses"))
    assert disagreements == []
    assert agreed == {True, False}  # both agreed on some refusals and on some acceptances


def test_static_batch_is_refused_by_both(
    specs: dict[str, EngineSpec], tokenizer: Path, tmp_path: Path
) -> None:
    """The disagreement that started this: check used to accept a policy render refused."""
    [policy] = [p for p in JUDGED if p.name == "batch_scheduler_policy"]
    assert _render_refuses(policy, "static_batch", specs["trtllm"], tokenizer)
    assert _check_refuses(policy, "static_batch", tmp_path)
    [finding] = check_repository(tmp_path, load_tokenizer=False).errors
    assert finding.message == "'static_batch' is not one of guaranteed_no_evict, max_utilization"


def test_every_catalogue_default_is_an_allowed_value() -> None:
    """What render writes when nobody overrides it passes the test check applies."""
    refused = [
        f"{p.model}.{p.name}@{p.since}"
        for p in CATALOGUE
        if p.default is not None and not p.admits(p.default)
    ]
    assert refused == []


def test_rules_are_plain_functions_listed_once() -> None:
    assert len(set(RULES)) == len(RULES)
    assert all(rule.__doc__ for rule in RULES)


# -- hostile repositories --------------------------------------------------------------------------

HUGE = 600_000


def _hostile_repo(root: Path) -> Path:
    """Giant values wherever a repository's text can reach a message."""
    long = "x" * HUGE
    models = {
        "tensorrt_llm": (
            f'name: "tensorrt_llm"\nbackend: "tensorrtllm"\nmax_batch_size: 8\n'
            f'parameters {{ key: "batch_scheduler_policy" value {{ string_value: "{long}" }} }}\n'
            f'parameters {{ key: "gpt_model_type" value {{ string_value: "{long}" }} }}\n'
            f'parameters {{ key: "gpt_model_path" value {{ string_value: "{long}" }} }}\n'
            f'parameters {{ key: "kv_cache_free_gpu_mem_fraction" value {{ string_value: "{"9" * 5000}" }} }}\n'
            f'parameters {{ key: "max_beam_width" value {{ string_value: "${{{long}}}" }} }}\n'
        ),
        "preprocessing": (
            f'name: "{long}"\nbackend: "python"\nmax_batch_size: 4\n'
            f'input [ {{ name: "{long}" data_type: TYPE_INT32 dims: [ 1 ] }},'
            f' {{ name: "{long}" data_type: TYPE_INT32 dims: [ 1 ] }} ]\n'
            f'parameters {{ key: "tokenizer_dir" value {{ string_value: "{long}" }} }}\n'
            f'parameters {{ key: "add_special_tokens" value {{ string_value: "{long}" }} }}\n'
        ),
        "postprocessing": f'name: "postprocessing"\nbackend: "python"\nmax_batch_size: {long}\n',
        "ensemble": (
            f'name: "ensemble"\nplatform: "ensemble"\nmax_batch_size: 8\n'
            f'output [ {{ name: "{long}" data_type: TYPE_STRING dims: [ 1 ] }} ]\n'
            f'ensemble_scheduling {{ step [ {{ model_name: "{long}" model_version: -1 '
            f'input_map {{ key: "{long}" value: "{long}" }} }} ] }}\n'
        ),
        "odd": f'name: "odd"\nbackend: "python"\n{long}: 1\n',
    }
    for name, text in models.items():
        (root / name).mkdir(parents=True)
        (root / name / "config.pbtxt").write_text(text, encoding="utf-8")
    return root


def test_no_finding_repeats_a_giant_value(tmp_path: Path) -> None:
    report = check_repository(_hostile_repo(tmp_path / "repo"), load_tokenizer=False)
    assert report.errors and report.warnings
    assert max(len(str(finding)) for finding in report.findings) < 1200
    params = {finding.param for finding in report.errors}
    assert {"batch_scheduler_policy", "gpt_model_type", "name", "kv_cache_free_gpu_mem_fraction"} <= params
    assert any("(600000 characters)" in finding.message for finding in report.findings)


def test_check_command_prints_no_giant_line(tmp_path: Path) -> None:
    repo = _hostile_repo(tmp_path / "repo")
    done = subprocess.run(
        [sys.executable, "-m", "tritongen", "check", str(repo), "--no-tokenizer"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 6, done.stderr
    lines = (done.stdout + done.stderr).splitlines()
    assert len(lines) > 5
    assert max(len(line) for line in lines) < 1200


def test_manifest_notes_a_rebuilt_engine_and_survives_a_hostile_one(tokenizer: Path, tmp_path: Path) -> None:
    from tritongen.render.pipeline import render_engine

    engine = make_engine_dir(tmp_path / "engines", modern_config("0.19.0", max_batch_size=8), name="llama")
    repo = render_engine(engine, output=tmp_path / "repo", tokenizer=tokenizer).output
    assert not [
        f for f in check_repository(repo, load_tokenizer=False).findings if f.file == "tritongen.json"
    ]
    (engine / "config.json").write_text((engine / "config.json").read_text() + "\n")
    [changed] = [
        f for f in check_repository(repo, load_tokenizer=False).warnings if f.file == "tritongen.json"
    ]
    assert "changed since this repository was rendered" in changed.message
    for hostile in (
        '{"engine": {"path": "' + "x" * HUGE + '", "config_sha256": "0"}}',
        '{"engine": [1]}',
        "[]",
    ):
        (repo / "tritongen.json").write_text(hostile)
        findings = [
            f for f in check_repository(repo, load_tokenizer=False).findings if f.file == "tritongen.json"
        ]
        assert all(len(str(f)) < 1200 for f in findings)
    assert [f.message for f in findings] == ["the tritongen manifest is unreadable; re-render to restore it"]
