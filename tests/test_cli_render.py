"""`tritongen render / check / explain` through the real entry point: exit codes, one-line messages, files."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tritongen.testing.cli import run
from tritongen.testing.engines import CORPUS_DIR, make_engine_dir, make_tokenizer_dir, modern_config


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tokenizer_dir(tmp_path_factory.mktemp("tokenizer"))


@pytest.fixture
def engine(tmp_path: Path) -> Path:
    return make_engine_dir(
        tmp_path / "engines", modern_config("0.19.0", tp=2, max_batch_size=8), name="llama"
    )


@pytest.fixture
def rendered(engine: Path, tokenizer: Path, tmp_path: Path) -> Path:
    result = run("render", "--engine", engine, "--tokenizer", tokenizer, "--output", tmp_path / "repo")
    assert result.code == 0, result.err
    return tmp_path / "repo"


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(root).as_posix(): (
            p.read_bytes() if p.is_file() and not p.is_symlink() else b"",
            p.lstat().st_mtime_ns,
        )
        for p in sorted(root.rglob("*"))
    }


def test_render_prints_where_what_and_next(
    engine: Path, tokenizer: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("render", "--engine", engine, "--tokenizer", tokenizer)
    assert result.code == 0, result.err
    assert "create    tensorrt_llm/config.pbtxt" in result.out
    assert (
        "Rendered model_repos/llama (backend 0.19.0, latest layout, world size 2: tp 2 x pp 1)." in result.out
    )
    assert result.out.rstrip().endswith("Next: tritongen launch model_repos/llama")
    assert (tmp_path / "model_repos" / "llama" / "tritongen.json").is_file()
    again = run("render", "--engine", engine, "--tokenizer", tokenizer)
    assert again.code == 0 and "Up to date: model_repos/llama" in again.out and "create" not in again.out


def test_dry_run_lists_statuses_and_writes_nothing(engine: Path, tokenizer: Path, tmp_path: Path) -> None:
    result = run(
        "render", "--engine", engine, "--tokenizer", tokenizer, "--output", tmp_path / "repo", "--dry-run"
    )
    assert result.code == 0
    assert "  create    ensemble/config.pbtxt" in result.out and "Dry run: would render" in result.out
    assert not (tmp_path / "repo").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--set", "max_beam_widht=2"),
            "error: --set max_beam_widht=2: unknown parameter 'max_beam_widht'. Did you mean max_beam_width?",
        ),
        (
            ("--set", "max_beam_width=two"),
            "error: --set max_beam_width=two: 'max_beam_width' expects a whole number >= 0, got 'two'.",
        ),
        (
            ("--set", "decoupled_mode=maybe"),
            "error: --set decoupled_mode=maybe: 'decoupled_mode' expects true or false (also 1/0, yes/no), got 'maybe'.",
        ),
        (("--set", "medusa_choices"), "error: --set medusa_choices: expected KEY=VALUE."),
        (
            ("--backend-version", "0.8", "--set", "lookahead_window_size=4"),
            (
                "error: --set lookahead_window_size=4: 'lookahead_window_size' does not exist in backend 0.8.0 (it exists "
                "in tensorrt_llm 0.19.0 and later)."
            ),
        ),
        (("--backend-version", "banana"), "error: 'banana' is not a version number."),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    engine: Path, tokenizer: Path, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = run("render", "--engine", engine, "--tokenizer", tokenizer, "--output", tmp_path / "repo", *args)
    assert result.code == 2
    assert result.err.startswith(message) and result.err.count("\n") == 1
    assert not (tmp_path / "repo").exists()


def test_output_is_a_file_exits_5(engine: Path, tokenizer: Path, tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("x")
    result = run("render", "--engine", engine, "--tokenizer", tokenizer, "--output", tmp_path / "taken")
    assert result.code == 5 and result.err.startswith(
        f"error: {tmp_path / 'taken'} is a file, not a directory."
    )
    below = run(
        "render", "--engine", engine, "--tokenizer", tokenizer, "--output", tmp_path / "taken" / "repo"
    )
    assert below.code == 5 and "is a file, so" in below.err
    assert (tmp_path / "taken").read_text() == "x"


def test_existing_output_without_force_exits_5_and_is_untouched(
    rendered: Path, engine: Path, tokenizer: Path
) -> None:
    before = snapshot(rendered)
    result = run(
        "render",
        "--engine",
        engine,
        "--tokenizer",
        tokenizer,
        "--output",
        rendered,
        "--set",
        "kv_cache_free_gpu_mem_fraction=0.5",
    )
    assert result.code == 5
    assert "exists and 2 of its files would change; use --force to replace it." in result.err
    assert snapshot(rendered) == before
    forced = run(
        "render",
        "--engine",
        engine,
        "--tokenizer",
        tokenizer,
        "--output",
        rendered,
        "--set",
        "kv_cache_free_gpu_mem_fraction=0.5",
        "--force",
    )
    assert forced.code == 0 and "overwrite tensorrt_llm/config.pbtxt" in forced.out


def test_not_writable_exits_5(engine: Path, tokenizer: Path) -> None:
    try:
        tempfile.mkdtemp(dir="/sys")
    except OSError:
        pass
    else:
        pytest.skip("/sys is writable here")
    result = run("render", "--engine", engine, "--tokenizer", tokenizer, "--output", "/sys/tritongen-repo")
    assert result.code == 5 and result.err.startswith("error: /sys is not writable")
    assert not Path("/sys/tritongen-repo").exists()


def test_engine_and_tokenizer_errors(tmp_path: Path, engine: Path) -> None:
    missing = run("render", "--engine", tmp_path / "nope", "--output", tmp_path / "repo")
    assert missing.code == 3 and "does not exist" in missing.err
    no_tokenizer = run("render", "--engine", engine, "--output", tmp_path / "repo")
    assert no_tokenizer.code == 4 and "no tokenizer in" in no_tokenizer.err
    assert not (tmp_path / "repo").exists()


def test_validation_error_exits_6_and_writes_nothing(engine: Path, tokenizer: Path, tmp_path: Path) -> None:
    result = run(
        "render",
        "--engine",
        engine,
        "--tokenizer",
        tokenizer,
        "--output",
        tmp_path / "repo",
        "--set",
        "max_tokens_in_paged_kv_cache=10",
    )
    assert result.code == 6 and "nothing was written" in result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["engines"]


def test_config_file_and_no_streaming(engine: Path, tokenizer: Path, tmp_path: Path) -> None:
    config = tmp_path / "values.yaml"
    config.write_text("tensorrt_llm:\n  kv_cache_free_gpu_mem_fraction: 0.6\n", encoding="utf-8")
    result = run(
        "render",
        "--engine",
        engine,
        "--tokenizer",
        tokenizer,
        "--output",
        tmp_path / "repo",
        "--config",
        config,
        "--no-streaming",
    )
    assert result.code == 0, result.err
    text = (tmp_path / "repo" / "tensorrt_llm" / "config.pbtxt").read_text()
    assert "decoupled: false" in text and 'string_value: "0.6"' in text
    explained = run("explain", tmp_path / "repo", "kv_cache_free_gpu_mem_fraction")
    assert (
        explained.code == 0
        and f"file    --config {config}: tensorrt_llm.kv_cache_free_gpu_mem_fraction" in explained.out
    )


def test_explain_table_and_one_parameter(rendered: Path) -> None:
    table = run("explain", rendered)
    assert table.code == 0
    lines = table.out.splitlines()
    assert "backend 0.19.0 (latest layout, trtllm runtime)" in lines[0]
    assert lines[2].split() == ["MODEL", "PARAMETER", "VALUE", "SOURCE", "REASON"]
    assert any(
        line.split()[:4] == ["tensorrt_llm", "enable_kv_cache_reuse", "true", "engine"] for line in lines
    )
    one = run("explain", rendered, "triton_max_batch_size")
    rows = one.out.splitlines()[3:]
    assert [row.split()[:4] for row in rows] == [
        [model, "triton_max_batch_size", "8", "engine"]
        for model in ("preprocessing", "tensorrt_llm", "postprocessing", "ensemble", "tensorrt_llm_bls")
    ]
    assert run("explain", rendered, "gpt_model_type").out.count("batching_strategy") == 1  # the key works too


def test_explain_errors(rendered: Path, tmp_path: Path) -> None:
    unknown = run("explain", rendered, "max_batch_sise")
    assert unknown.code == 2 and "Did you mean" in unknown.err
    bare = run("explain", tmp_path)
    assert bare.code == 2 and "has no tritongen.json" in bare.err


def test_check_clean_repository(rendered: Path) -> None:
    result = run("check", rendered, "--no-tokenizer")
    assert result.code == 0 and result.out.rstrip().endswith(": OK"), result.out


def test_check_errors_and_warnings(rendered: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(rendered, broken, symlinks=True)
    config = broken / "tensorrt_llm" / "config.pbtxt"
    text = config.read_text()
    assert 'string_value: "0.9"' in text
    config.write_text(text.replace('string_value: "0.9"', 'string_value: "1.5"'))
    result = run("check", broken, "--no-tokenizer")
    assert result.code == 6
    assert result.out.startswith("1 error(s):\n  tensorrt_llm/config.pbtxt:")
    assert "[kv_cache_free_gpu_mem_fraction] 1.5 is outside (0, 1]" in result.out
    assert result.err.startswith(f"error: {broken} has 1 errors.")


def test_check_warnings_pass_unless_strict(tmp_path: Path) -> None:
    repo = tmp_path / "filled"
    shutil.copytree(CORPUS_DIR / "filled_repos" / "tlntin-qwen1.5-7b-v0.8", repo)
    for model in repo.iterdir():
        (model / "1").mkdir(exist_ok=True)
    relaxed = run("check", repo, "--no-tokenizer")
    assert relaxed.code == 0 and "warning(s):" in relaxed.out and "(warnings only)" in relaxed.out
    strict = run("check", repo, "--no-tokenizer", "--strict")
    assert strict.code == 6 and "warnings (--strict)" in strict.err


def test_help_lists_the_options() -> None:
    result = run("render", "--help")
    assert result.code == 0
    for option in (
        "--engine",
        "--output",
        "--tokenizer",
        "--backend-version",
        "--set",
        "--config",
        "--placement",
        "--force",
        "--dry-run",
        "--tp",
        "--pp",
        "--no-streaming",
    ):
        assert option in result.out
    assert os.environ.get("COLUMNS") is None or result.out


def test_render_writes_cluster_files_and_stays_idempotent(
    engine: Path, tokenizer: Path, tmp_path: Path
) -> None:
    import subprocess

    import yaml

    repo = tmp_path / "repo"
    first = run(
        "render",
        "--engine",
        engine,
        "--tokenizer",
        tokenizer,
        "--output",
        repo,
        "--slurm",
        "--k8s",
        "--image",
        "nvcr.io/nvidia/tritonserver:25.05-trtllm-python-py3",
    )
    assert first.code == 0, first.err
    script, manifest = repo / "tritongen.slurm.sh", repo / "tritongen.lws.yaml"
    assert "srun --mpi=pmix" in script.read_text() and "--ntasks=2" in script.read_text()
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    lws = yaml.safe_load(manifest.read_text())
    assert lws["kind"] == "LeaderWorkerSet"
    assert "/v2/health/ready" in manifest.read_text()
    again = run("render", "--engine", engine, "--tokenizer", tokenizer, "--output", repo)
    assert again.code == 0, again.err
    assert "Up to date" in again.out
    assert script.is_file() and manifest.is_file()


def test_check_against_another_engine_directory(engine: Path, rendered: Path, tmp_path: Path) -> None:
    other = make_engine_dir(tmp_path / "other", modern_config("0.19.0", tp=2, max_batch_size=4), name="llama")
    result = run("check", rendered, "--no-tokenizer", "--engine", other)
    assert result.code == 0, result.out + result.err
    assert "max_batch_size 8 is above the engine's 4" in result.out
    missing = run("check", rendered, "--engine", tmp_path / "nowhere")
    assert missing.code == 2


def test_k8s_without_image_fails_before_writing(engine: Path, tokenizer: Path, tmp_path: Path) -> None:
    result = run(
        "render", "--engine", engine, "--tokenizer", tokenizer, "--output", tmp_path / "repo", "--k8s"
    )
    assert result.code == 2
    assert "--k8s needs --image" in result.err
    assert not (tmp_path / "repo").exists()


def test_rendered_repository_is_readable_by_other_users(rendered: Path) -> None:
    """Not mkdtemp's 0700: a tritonserver running as another user must read the repository."""
    umask = os.umask(0o022)
    os.umask(umask)
    assert rendered.stat().st_mode & 0o777 == 0o777 & ~umask
