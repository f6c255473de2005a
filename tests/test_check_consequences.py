"""`check` states the consequence each value has in the backend release the repository was written for.

The real repositories (tests/corpus/filled_repos, 23 of them) were judged line by line against the
backend source of their release; tests/corpus/expected_findings.json holds that judgement, and check must
report exactly those errors and no-effect findings, nothing more. Planted defects cover each rule.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tritongen.check import check_repository
from tritongen.check._findings import CONSEQUENCES
from tritongen.testing import CORPUS
from tritongen.testing.filled_repos import copy_filled_repo

FILLED = CORPUS / "filled_repos"
EXPECTED = {
    k: v for k, v in json.loads((CORPUS / "expected_findings.json").read_text()).items() if k[0] != "_"
}
JUDGED = ("cannot_load", "requests_fail", "invalid", "no_effect")


def _edit(repo: Path, model: str, old: str, new: str) -> None:
    path = repo / model / "config.pbtxt"
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_every_repository_is_judged() -> None:
    assert sorted(EXPECTED) == sorted(p.name for p in FILLED.iterdir())
    assert (
        sum(1 for e in EXPECTED.values() for f in e["findings"] if f["consequence"] == "requests_fail") >= 4
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_findings_match_the_judgement(name: str, tmp_path: Path) -> None:
    """Every judged error is reported with its consequence, and nothing correct is reported as one."""
    report = check_repository(copy_filled_repo(name, tmp_path), load_tokenizer=False)
    found = sorted(
        (f.model, f.param or "", f.consequence) for f in report.findings if f.consequence in JUDGED
    )
    expected = sorted((f["model"], f["key"], f["consequence"]) for f in EXPECTED[name]["findings"])
    assert found == expected, [str(f) for f in report.findings if f.consequence in JUDGED]
    assert report.breaks_serving == any(CONSEQUENCES[c][0] == "error" for _, _, c in expected)
    assert report.version is not None
    assert (report.version.label if report.version.known else None) == EXPECTED[name]["version"]


def test_bls_model_name_placeholder_depends_on_the_release(tmp_path: Path) -> None:
    """v0.9-v0.12 call a model named '${tensorrt_llm_model_name}'; v0.13+ use tensorrt_llm."""
    old = check_repository(copy_filled_repo("sgl-project-tensorrt-demo-v0.9", tmp_path), load_tokenizer=False)
    [failing] = [f for f in old.errors if f.param == "tensorrt_llm_model_name"]
    assert failing.consequence == "requests_fail" and "every BLS request fails" in str(failing)
    assert failing.line is not None and failing.model == "tensorrt_llm_bls"
    new = check_repository(
        copy_filled_repo("jacob0226-llama3.1-70b-fp8-tp4-v0.14", tmp_path), load_tokenizer=False
    )
    [default] = [f for f in new.findings if f.param == "tensorrt_llm_model_name"]
    assert default.consequence == "default_used" and "'tensorrt_llm'" in default.effect


def test_shipped_model_py_decides_the_version(tmp_path: Path) -> None:
    """A v0.13+ BLS model.py (the `${...}`-aware reader) turns the same config into a default."""
    repo = copy_filled_repo("sgl-project-tensorrt-demo-v0.9", tmp_path)
    (repo / "tensorrt_llm_bls" / "1" / "model.py").write_text(
        "def get_valid_param_value(param, default_value=''):\n    ...\n"
    )
    report = check_repository(repo, load_tokenizer=False)
    assert not [f for f in report.errors if f.param == "tensorrt_llm_model_name"]
    assert report.version is not None and "model.py" in report.version.basis
    assert report.version.candidates[0].minor == 13


def test_non_decoupled_bls_in_front_of_decoupled_tensorrt_llm_fails_every_request(tmp_path: Path) -> None:
    repo = copy_filled_repo("tlntin-qwen1.5-7b-v0.8", tmp_path)
    _edit(repo, "tensorrt_llm_bls", "decoupled: True", "decoupled: False")
    [error] = check_repository(repo, load_tokenizer=False).errors
    assert (error.model, error.param, error.consequence) == ("tensorrt_llm_bls", "decoupled", "requests_fail")


def test_decoupled_bls_in_front_of_a_non_decoupled_model_only_fails_streaming(tmp_path: Path) -> None:
    repo = copy_filled_repo("tlntin-qwen1.5-7b-v0.8", tmp_path)
    _edit(repo, "tensorrt_llm", "decoupled: True", "decoupled: False")
    report = check_repository(repo, load_tokenizer=False)
    assert report.errors == []
    assert any(f.model == "tensorrt_llm_bls" and f.param == "decoupled" for f in report.warnings)


def test_accumulate_tokens_without_streaming_has_no_effect(tmp_path: Path) -> None:
    repo = copy_filled_repo("markmotrin-llama2-7b-lora-v0.15", tmp_path)
    _edit(repo, "tensorrt_llm_bls", '"${accumulate_tokens}"', '"true"')
    [finding] = [
        f for f in check_repository(repo, load_tokenizer=False).findings if f.param == "accumulate_tokens"
    ]
    assert finding.consequence == "no_effect"


def test_unfilled_backend_field_cannot_load(tmp_path: Path) -> None:
    repo = copy_filled_repo("mnansary-llama3.1-8b-v0.19", tmp_path)
    _edit(repo, "tensorrt_llm", 'backend: "tensorrtllm"', 'backend: "${triton_backend}"')
    report = check_repository(repo, load_tokenizer=False)
    [error] = [f for f in report.errors if f.param == "triton_backend"]
    assert error.consequence == "cannot_load" and error.model == "tensorrt_llm" and error.line is not None
    assert (
        "${triton_backend}"
        in (repo / "tensorrt_llm" / "config.pbtxt").read_text().splitlines()[error.line - 1]
    )


def test_max_utilization_is_overridden_only_where_the_release_does_it(tmp_path: Path) -> None:
    """v0.8-v0.11 keep max_utilization in decoupled mode when chunked context is on."""
    repo = copy_filled_repo("replicate-cog-triton-assets-v0.8", tmp_path)
    _edit(repo, "tensorrt_llm", '"${enable_chunked_context}"', '"true"')
    report = check_repository(repo, load_tokenizer=False)
    assert not [f for f in report.findings if f.param == "batch_scheduler_policy"]
    mnansary = copy_filled_repo("mnansary-llama3.1-8b-v0.19", tmp_path)
    _edit(mnansary, "tensorrt_llm", '"${batch_scheduler_policy}"', '"max_utilization"')
    assert not [
        f
        for f in check_repository(mnansary, load_tokenizer=False).findings
        if f.param == "batch_scheduler_policy"
    ]


def test_invalid_policy_says_what_replaces_it(tmp_path: Path) -> None:
    repo = copy_filled_repo("codota-starchat-15b-v0.8dev", tmp_path)
    _edit(repo, "tensorrt_llm", '"guaranteed_no_evict"', '"static_batch"')
    [error] = check_repository(repo, load_tokenizer=False).errors
    assert error.consequence == "invalid" and "replaced by guaranteed_no_evict" in str(error)


def test_unfilled_add_special_tokens_names_the_default_of_the_release(tmp_path: Path) -> None:
    old = check_repository(copy_filled_repo("replicate-cog-triton-v0.9", tmp_path), load_tokenizer=False)
    [finding] = [f for f in old.findings if f.param == "add_special_tokens"]
    assert "default false" in finding.effect and "BOS" in finding.effect
    new = check_repository(
        copy_filled_repo("markmotrin-llama2-7b-lora-v0.15", tmp_path), load_tokenizer=False
    )
    [finding] = [f for f in new.findings if f.param == "add_special_tokens"]
    assert "default true" in finding.effect


def test_placeholders_in_comments_are_not_findings(tmp_path: Path) -> None:
    repo = copy_filled_repo("sumo43-worker-v0.8", tmp_path)
    assert "#${triton_max_batch_size}" in (repo / "tensorrt_llm" / "config.pbtxt").read_text()
    report = check_repository(repo, load_tokenizer=False)
    assert not [f for f in report.findings if f.param in ("triton_max_batch_size", "decoupled_mode")]


def test_json_report_and_exit_code(tmp_path: Path) -> None:
    def run(name: str) -> tuple[int, dict[str, Any]]:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "tritongen",
                "check",
                str(copy_filled_repo(name, tmp_path)),
                "--no-tokenizer",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return done.returncode, json.loads(done.stdout)

    code, broken = run("reservellm-v0.10")
    assert code == 6 and broken["schema"] == 1 and broken["breaks_serving"] is True
    assert broken["version"] == {"assumed": "0.10", "basis": "template keys match 92%"}
    [failing] = [f for f in broken["findings"] if f["consequence"] == "requests_fail"]
    assert failing["model"] == "tensorrt_llm_bls" and failing["key"] == "tensorrt_llm_model_name"
    assert set(failing) == {
        "model",
        "file",
        "line",
        "key",
        "severity",
        "consequence",
        "effect",
        "message",
        "fix",
    }
    code, fine = run("waynehacking8-handwritten")
    assert code == 0 and fine["breaks_serving"] is False and fine["version"]["assumed"] is None


def test_a_key_the_release_reads_without_default_is_required(tmp_path: Path) -> None:
    """v0.19's C++ backend reads the guided-decoding keys without a fallback; v0.12-v0.18 preprocessing
    indexes visual_model_path. Removing one stops the model loading; a custom model.py decides itself."""
    repo = copy_filled_repo("mnansary-llama3.1-8b-v0.19", tmp_path)
    path = repo / "tensorrt_llm" / "config.pbtxt"
    text = path.read_text()
    start = text.index('key: "xgrammar_tokenizer_info_path"')
    block_start = text.rindex("parameters", 0, start)
    block_end = text.index("}\n}", start) + 3
    path.write_text(text[:block_start] + text[block_end:])
    [error] = check_repository(repo, load_tokenizer=False).errors
    assert (error.model, error.param, error.consequence) == (
        "tensorrt_llm",
        "xgrammar_tokenizer_info_path",
        "cannot_load",
    )
    tamaghna = copy_filled_repo("tamaghnadutta-vicuna7b-medusa-v0.12tpl", tmp_path)
    _edit(tamaghna, "preprocessing", 'key: "visual_model_path"', 'key: "vision_model_path"')
    [error] = check_repository(tamaghna, load_tokenizer=False).errors
    assert (error.model, error.param) == ("preprocessing", "visual_model_path")
    (tamaghna / "preprocessing" / "1" / "model.py").write_text("# a custom preprocessing model\n")
    assert check_repository(tamaghna, load_tokenizer=False).errors == []


def test_a_key_of_another_release_has_no_effect(tmp_path: Path) -> None:
    """worker_path is v0.9's; v0.10's model_state.cc swallows its own error about it, so it does nothing."""
    repo = copy_filled_repo("reservellm-v0.10", tmp_path)
    _edit(repo, "tensorrt_llm", 'key: "executor_worker_path"', 'key: "worker_path"')
    [finding] = [f for f in check_repository(repo, load_tokenizer=False).findings if f.param == "worker_path"]
    assert finding.consequence == "no_effect" and "v0.10" in finding.effect


def test_flags_upstream_does_not_recognise_say_what_replaces_them(tmp_path: Path) -> None:
    """v0.11+ preprocessing reads an unknown add_special_tokens as true; every BLS reads only
    true/yes/1/t as true, so 'y' silently becomes false."""
    repo = copy_filled_repo("markmotrin-llama2-7b-lora-v0.15", tmp_path)
    _edit(repo, "preprocessing", '"${add_special_tokens}"', '"on"')
    _edit(repo, "tensorrt_llm_bls", '"${accumulate_tokens}"', '"y"')
    _edit(repo, "tensorrt_llm_bls", "decoupled: false", "decoupled: true")
    _edit(repo, "tensorrt_llm", "decoupled: false", "decoupled: true")
    report = check_repository(repo, load_tokenizer=False)
    found = {(f.model, f.param): str(f) for f in report.errors}
    assert set(found) == {("preprocessing", "add_special_tokens"), ("tensorrt_llm_bls", "accumulate_tokens")}
    assert "invalid, replaced by true" in found["preprocessing", "add_special_tokens"]
    assert "invalid, replaced by false" in found["tensorrt_llm_bls", "accumulate_tokens"]
    assert all(f.consequence == "invalid" for f in report.errors)


@pytest.mark.parametrize("version", ["0.5", "0.7", "0.8", "0.9", "0.12", "0.13", "0.17", "0.19", "1.2"])
def test_every_rendered_release_is_recognised_and_clean(version: str, tmp_path: Path) -> None:
    """tritongen's own render of each release: detected as that release, and not one finding (its BLS
    ships its own model.py, which reads an empty model name as tensorrt_llm, unlike upstream's v0.9)."""
    from tritongen.render.pipeline import render_engine
    from tritongen.testing.engines import make_engine_dir, make_tokenizer_dir, modern_config
    from tritongen.versions import v

    engine = make_engine_dir(tmp_path / "engine", modern_config("0.19.0", max_batch_size=8), name="llama")
    tokenizer = make_tokenizer_dir(tmp_path / "tokenizer")
    repo = render_engine(
        engine, output=tmp_path / "repo", tokenizer=tokenizer, backend_version=version
    ).output
    report = check_repository(repo, load_tokenizer=False)
    assert [str(f) for f in report.findings] == []
    assert report.version is not None and report.version.known
    assert v(version) in report.version.candidates


def test_a_misspelt_backend_cannot_load(tmp_path: Path) -> None:
    repo = copy_filled_repo("codota-starchat-15b-v0.8dev", tmp_path)
    _edit(repo, "tensorrt_llm", 'backend: "tensorrtllm"', 'backend: "tensorrt_llm"')
    [error] = check_repository(repo, load_tokenizer=False).errors
    assert (error.model, error.param, error.consequence) == ("tensorrt_llm", "backend", "cannot_load")
    assert error.line == 28


def test_a_hash_inside_a_string_does_not_start_a_comment() -> None:
    from tritongen.check._load import code_of

    assert code_of("max_batch_size: 16 #${triton_max_batch_size}") == "max_batch_size: 16 "
    assert code_of('  string_value: "a#${x}" # ${y}') == '  string_value: "a#${x}" '
    assert code_of('  string_value: "say \\"#\\" ${x}"') == '  string_value: "say \\"#\\" ${x}"'
    assert code_of("# ${commented}") == ""
