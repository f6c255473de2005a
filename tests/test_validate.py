"""`check_repository` on the real hand-filled repositories of the corpus and on planted defects."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from tritongen.check.validate import check_repository, parse_model_config
from tritongen.errors import ValidationError
from tritongen.testing import CORPUS
from tritongen.testing.filled_repos import copy_filled_repo

FILLED = CORPUS / "filled_repos"
FILLED_REPOS = sorted(p.name for p in FILLED.iterdir())
# The first 13 (SOURCES.md section B): every one loads and serves as far as its files go. The ten of
# section E were collected for their consequences; tests/test_check_consequences.py judges all of them.
ORIGINAL_REPOS = [
    "codota-dolphin-mistral-7b-v0.8dev",
    "codota-starchat-15b-v0.8dev",
    "codota-starfish-v0.8dev",
    "hayleyhu-llama2-70b-v0.6",
    "incognito124-wsc2025-gemma3-1b-handwritten",
    "ishandhanani-phi2-v0.5tpl",
    "jacob0226-llama3.1-70b-fp8-tp4-v0.14",
    "markmotrin-llama2-7b-lora-v0.15",
    "mnansary-llama3.1-8b-v0.19",
    "npuichigo-baichuan-v0.6",
    "sfc-zhwang-llama2-7b-v0.5",
    "tamaghnadutta-vicuna7b-medusa-v0.12tpl",
    "tlntin-qwen1.5-7b-v0.8",
]

# Leftover ${...} in tensorrt_llm/config.pbtxt, as counted by corpus/SOURCES.md (section B).
UNFILLED_IN_TENSORRT_LLM = {
    "hayleyhu-llama2-70b-v0.6": 7,
    "npuichigo-baichuan-v0.6": 5,
    "tlntin-qwen1.5-7b-v0.8": 5,
    "jacob0226-llama3.1-70b-fp8-tp4-v0.14": 29,
    "tamaghnadutta-vicuna7b-medusa-v0.12tpl": 25,
    "markmotrin-llama2-7b-lora-v0.15": 31,
    "mnansary-llama3.1-8b-v0.19": 37,
}
# Repositories whose models disagree on max_batch_size (SOURCES.md: B4, B8, B10).
DISAGREEING_BATCH = {
    "codota-starfish-v0.8dev",
    "tlntin-qwen1.5-7b-v0.8",
    "tamaghnadutta-vicuna7b-medusa-v0.12tpl",
}


def test_corpus_is_present() -> None:
    assert len(ORIGINAL_REPOS) == 13 and set(ORIGINAL_REPOS) <= set(FILLED_REPOS)
    assert len(FILLED_REPOS) == 23


@pytest.mark.parametrize("name", ORIGINAL_REPOS)
def test_every_filled_config_parses_and_has_no_false_errors(name: str, tmp_path: Path) -> None:
    """Every real repository loads in Triton as far as its files go, so check reports no error."""
    report = check_repository(copy_filled_repo(name, tmp_path), load_tokenizer=False)
    assert report.errors == [], [str(f) for f in report.errors]


@pytest.mark.parametrize("name", sorted(UNFILLED_IN_TENSORRT_LLM))
def test_leftover_placeholders_are_reported_with_line_and_name(name: str, tmp_path: Path) -> None:
    repo = copy_filled_repo(name, tmp_path)
    report = check_repository(repo, load_tokenizer=False)
    unfilled = [
        f for f in report.warnings if f.file == "tensorrt_llm/config.pbtxt" and "never filled" in f.message
    ]
    assert len(unfilled) == UNFILLED_IN_TENSORRT_LLM[name]
    lines = (repo / "tensorrt_llm" / "config.pbtxt").read_text().splitlines()
    for finding in unfilled:
        assert finding.line is not None
        assert f"${{{finding.param}}}" in lines[finding.line - 1]


@pytest.mark.parametrize("name", FILLED_REPOS)
def test_disagreeing_batch_sizes_are_reported_exactly_where_they_exist(name: str, tmp_path: Path) -> None:
    report = check_repository(copy_filled_repo(name, tmp_path), load_tokenizer=False)
    flagged = any("differs between models" in f.message for f in report.warnings)
    assert flagged == (name in DISAGREEING_BATCH)


def test_duplicate_ensemble_output_of_v019_is_a_warning(tmp_path: Path) -> None:
    report = check_repository(copy_filled_repo("mnansary-llama3.1-8b-v0.19", tmp_path), load_tokenizer=False)
    duplicates = [f for f in report.warnings if "declared twice" in f.message]
    assert [f.param for f in duplicates] == ["kv_cache_alloc_total_blocks"]


def test_medusa_without_choices_is_reported(tmp_path: Path) -> None:
    report = check_repository(
        copy_filled_repo("tamaghnadutta-vicuna7b-medusa-v0.12tpl", tmp_path), load_tokenizer=False
    )
    assert any(
        f.param == "medusa_choices" and "decoding_mode is medusa" in f.message for f in report.warnings
    )


def test_hub_id_tokenizer_dir_is_reported(tmp_path: Path) -> None:
    report = check_repository(copy_filled_repo("hayleyhu-llama2-70b-v0.6", tmp_path), load_tokenizer=False)
    hub = [f for f in report.warnings if f.param == "tokenizer_dir" and "Hugging Face Hub" in f.message]
    assert {f.file for f in hub} == {"preprocessing/config.pbtxt", "postprocessing/config.pbtxt"}


# -- planted defects --------------------------------------------------------------------------------


def _edit(repo: Path, model: str, old: str, new: str, count: int = 1) -> None:
    path = repo / model / "config.pbtxt"
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, count))


def test_placeholder_in_header_position_is_an_error_with_line(tmp_path: Path) -> None:
    repo = copy_filled_repo("codota-starchat-15b-v0.8dev", tmp_path)
    _edit(repo, "ensemble", "max_batch_size: 10", "max_batch_size: ${triton_max_batch_size}")
    report = check_repository(repo, load_tokenizer=False)
    [error] = report.errors
    assert error.file == "ensemble/config.pbtxt"
    assert error.param == "triton_max_batch_size"
    assert error.line is not None
    line = (repo / "ensemble" / "config.pbtxt").read_text().splitlines()[error.line - 1]
    assert "${triton_max_batch_size}" in line


def test_unfilled_fatal_parameter_is_an_error(tmp_path: Path) -> None:
    repo = copy_filled_repo("codota-starchat-15b-v0.8dev", tmp_path)
    text = (repo / "tensorrt_llm" / "config.pbtxt").read_text()
    engine_path = re.search(r'key: "gpt_model_path"\s*value: \{\s*string_value: "([^"]*)"', text)
    assert engine_path
    _edit(repo, "tensorrt_llm", f'"{engine_path.group(1)}"', '"${engine_dir}"')
    report = check_repository(repo, load_tokenizer=False)
    assert [f.param for f in report.errors] == ["engine_dir"]


def test_unparsable_config_names_line_and_column(tmp_path: Path) -> None:
    repo = copy_filled_repo("codota-starchat-15b-v0.8dev", tmp_path)
    _edit(repo, "postprocessing", 'backend: "python"', 'backend "python" ]')
    report = check_repository(repo, load_tokenizer=False)
    [error] = [f for f in report.errors if f.file == "postprocessing/config.pbtxt"]
    assert error.line is not None and "column" in error.message
    # The ensemble that uses it is reported too, as unloadable, not as a pile of wiring errors.
    assert [f.message for f in report.errors if f.file == "ensemble/config.pbtxt"] == [
        "step model 'postprocessing' has an invalid config"
    ]


def test_ensemble_batch_above_a_step_is_an_error(tmp_path: Path) -> None:
    repo = copy_filled_repo("codota-starchat-15b-v0.8dev", tmp_path)
    _edit(repo, "ensemble", "max_batch_size: 10", "max_batch_size: 64")
    report = check_repository(repo, load_tokenizer=False)
    assert report.errors
    assert all(f.param == "max_batch_size" and "refuses" in f.message for f in report.errors)


def test_ensemble_type_mismatch_is_an_error(tmp_path: Path) -> None:
    repo = copy_filled_repo("codota-starchat-15b-v0.8dev", tmp_path)
    config = parse_model_config((repo / "preprocessing" / "config.pbtxt").read_text())
    assert any(t.name == "REQUEST_OUTPUT_LEN" for t in config.input)
    text = (repo / "preprocessing" / "config.pbtxt").read_text()
    patched = re.sub(r'(name: "REQUEST_OUTPUT_LEN"\s*data_type: )TYPE_INT32', r"\1TYPE_FP32", text, count=1)
    assert patched != text
    (repo / "preprocessing" / "config.pbtxt").write_text(patched)
    report = check_repository(repo, load_tokenizer=False)
    assert any("expects TYPE_FP32" in f.message for f in report.errors), [str(f) for f in report.errors]


def test_missing_step_model_and_unknown_tensor_are_errors(tmp_path: Path) -> None:
    repo = copy_filled_repo("codota-starchat-15b-v0.8dev", tmp_path)
    shutil.rmtree(repo / "postprocessing")
    _edit(repo, "ensemble", 'key: "QUERY"', 'key: "QUERY_TEXT"')
    report = check_repository(repo, load_tokenizer=False)
    messages = [f.message for f in report.errors]
    assert any("'postprocessing' does not exist" in m for m in messages)
    assert any("'QUERY_TEXT'" in m for m in messages)
    assert any("required input 'QUERY'" in m for m in messages)


def test_name_mismatch_is_an_error(tmp_path: Path) -> None:
    repo = copy_filled_repo("codota-starchat-15b-v0.8dev", tmp_path)
    (repo / "postprocessing").rename(repo / "detokenizer")
    report = check_repository(repo, load_tokenizer=False)
    assert any(f.file == "detokenizer/config.pbtxt" and f.param == "name" for f in report.errors)


def test_bad_batching_strategy_and_fraction_are_errors(tmp_path: Path) -> None:
    repo = copy_filled_repo("codota-starchat-15b-v0.8dev", tmp_path)
    _edit(repo, "tensorrt_llm", '"inflight_fused_batching"', '"inflight_fused"')
    report = check_repository(repo, load_tokenizer=False)
    assert [f.param for f in report.errors] == ["gpt_model_type"]


def test_leftover_jinja_marker_is_an_error(tmp_path: Path) -> None:
    repo = copy_filled_repo("codota-starchat-15b-v0.8dev", tmp_path)
    _edit(repo, "postprocessing", 'backend: "python"', 'backend: "python"\n# {{ oops }}\nname: "{{ oops }}"')
    report = check_repository(repo, load_tokenizer=False)
    assert any("Jinja" in f.message for f in report.errors)


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        check_repository(tmp_path / "missing")
    report = check_repository(tmp_path)
    assert [f.message for f in report.errors] == [
        "no model directories with a config.pbtxt: this is not a Triton model repository"
    ]


def test_warning_and_error_counts_are_stable_across_the_corpus(tmp_path: Path) -> None:
    """A summary of what check finds in the wild, so a change in behaviour is visible in review."""
    totals: Counter[str] = Counter()
    for name in ORIGINAL_REPOS:
        report = check_repository(copy_filled_repo(name, tmp_path / "c"), load_tokenizer=False)
        totals["errors"] += len(report.errors)
        totals["placeholders"] += sum("never filled" in f.message for f in report.warnings)
        shutil.rmtree(tmp_path / "c")
    assert totals["errors"] == 0
    assert totals["placeholders"] >= sum(UNFILLED_IN_TENSORRT_LLM.values())


# -- repositories checked against the engine they were filled for (check --engine) -----------------

ENGINE_PAIRS = {
    # repository: (engine, the warnings about the engine/config mismatch that must be reported)
    "sfc-zhwang-llama2-7b-v0.5": (
        "llama2-7b-tp4-v0.5",
        {"max_batch_size 128 is above the engine's 8", "V1 (static batching) on an engine that supports"},
    ),
    "codota-dolphin-mistral-7b-v0.8dev": (
        "mistral-7b-fp16-tp1-b64-v0.8dev",
        {"max_batch_size 1 is below the engine's 64"},
    ),
    "codota-starchat-15b-v0.8dev": ("starchat-15b-gpt-mqa-v0.8dev", set()),
}


@pytest.mark.parametrize("name", sorted(ENGINE_PAIRS))
def test_engine_lints_against_the_paired_corpus_engine(name: str, tmp_path: Path) -> None:
    from tritongen.testing.engines import corpus_engine_dir

    engine_name, expected = ENGINE_PAIRS[name]
    engine = corpus_engine_dir(engine_name, tmp_path / "engines")
    report = check_repository(copy_filled_repo(name, tmp_path), engine_dir=engine, load_tokenizer=False)
    assert report.errors == []
    about_engine = {
        f.message for f in report.warnings if "engine" in f.message and "on this machine" not in f.message
    }
    for fragment in expected:
        assert any(fragment in message for message in about_engine), (fragment, about_engine)
    assert len(about_engine) == len(expected), about_engine
    for finding in report.warnings:
        if finding.param == "max_batch_size" and "engine" in finding.message:
            assert finding.line is not None


def test_kv_cache_reuse_without_paged_context_fmha_is_an_error(tmp_path: Path) -> None:
    from tritongen.testing.engines import corpus_engine_dir

    repo = copy_filled_repo("codota-starchat-15b-v0.8dev", tmp_path)
    engine = corpus_engine_dir("starchat-15b-gpt-mqa-v0.8dev", tmp_path / "engines")
    text = (repo / "tensorrt_llm" / "config.pbtxt").read_text()
    patched = re.sub(r'(key: "enable_kv_cache_reuse"\s*value: \{\s*string_value: )"[^"]*"', r'\1"true"', text)
    assert patched != text
    (repo / "tensorrt_llm" / "config.pbtxt").write_text(patched)
    report = check_repository(repo, engine_dir=engine, load_tokenizer=False)
    assert [f.param for f in report.errors] == ["enable_kv_cache_reuse"]


def test_engine_with_missing_rank_files_is_an_error(tmp_path: Path) -> None:
    from tritongen.testing.engines import corpus_engine_dir

    repo = copy_filled_repo("codota-starchat-15b-v0.8dev", tmp_path)
    engine = corpus_engine_dir("starchat-15b-gpt-mqa-v0.8dev", tmp_path / "engines")
    for rank_file in engine.glob("*.engine"):
        rank_file.unlink()
    report = check_repository(repo, engine_dir=engine, load_tokenizer=False)
    assert [f.param for f in report.errors] == ["gpt_model_path"]
    assert "rank" in report.errors[0].message


def test_unparsable_step_does_not_crash_the_wiring_check(tmp_path: Path) -> None:
    repo = copy_filled_repo("codota-starchat-15b-v0.8dev", tmp_path)
    _edit(repo, "tensorrt_llm", "max_batch_size: 10", "max_batch_size: ${triton_max_batch_size}")
    report = check_repository(repo, load_tokenizer=False)
    assert {f.file for f in report.errors} == {"tensorrt_llm/config.pbtxt", "ensemble/config.pbtxt"}
