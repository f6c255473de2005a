"""Rendering: golden repositories, Triton's ModelConfig, the tensor contract, safe writes, placements."""

from __future__ import annotations

import difflib
import errno
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tritongen.check.validate import check_repository
from tritongen.errors import OutputError, TritongenError, ValidationError
from tritongen.render.pipeline import RenderResult, render_engine
from tritongen.render.placement import ENGINE_SUBPATH
from tritongen.runtime.layout import MODELS as RUNTIME_MODELS
from tritongen.runtime.layout import model_files
from tritongen.testing.engines import (
    CORPUS_ENGINES,
    corpus_engine_dir,
    make_engine_dir,
    make_tokenizer_dir,
    modern_config,
)
from tritongen.testing.render_cases import (
    GOLDEN_CASES,
    parameters,
    parse_config,
    read_golden,
    render_case,
    snapshot,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tokenizer_dir(tmp_path_factory.mktemp("tokenizer"))


@pytest.fixture
def modern_engine(tmp_path: Path) -> Path:
    return make_engine_dir(tmp_path / "engines", modern_config("1.2.0", max_batch_size=8))


def state(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and mtime (symlinks as their target), for "untouched" assertions."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            found[path.relative_to(root).as_posix()] = (os.readlink(path).encode(), path.lstat().st_mtime_ns)
        elif path.is_file():
            found[path.relative_to(root).as_posix()] = (path.read_bytes(), path.stat().st_mtime_ns)
    return found


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".tritongen-" in p.name or ".old-" in p.name)


# -- golden repositories ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_golden(case: str, tmp_path: Path) -> None:
    base = tmp_path.resolve()
    result = render_case(case, base)
    rendered, golden = snapshot(result.output, base), read_golden(case)
    assert sorted(rendered) == sorted(golden), "run scripts/update_golden.py after a deliberate change"
    for rel, text in rendered.items():
        if text != golden[rel]:
            diff = "".join(
                difflib.unified_diff(
                    golden[rel].splitlines(True),
                    text.splitlines(True),
                    f"golden/{case}/{rel}",
                    f"rendered/{rel}",
                    n=2,
                )
            )
            pytest.fail(
                f"{case}/{rel} differs from its golden file (scripts/update_golden.py regenerates it "
                f"after a deliberate change):\n{diff[:4000]}"
            )


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_every_config_is_a_triton_model_config(case: str, tmp_path: Path) -> None:
    result = render_case(case, tmp_path)
    spec = result.plan.spec
    for model in result.plan.models:
        config = parse_config(result.output / model / "config.pbtxt")
        assert config.name == model
        assert config.max_batch_size == spec.max_batch_size
    llm = parse_config(result.output / "tensorrt_llm" / "config.pbtxt")
    assert llm.backend == ("python" if spec.is_checkpoint else "tensorrtllm")
    assert llm.model_transaction_policy.decoupled is result.plan.value("tensorrt_llm", "decoupled_mode")
    assert parameters(llm)["gpt_model_path"] == str(result.output / ENGINE_SUBPATH)
    assert parameters(llm)["max_beam_width"] == str(spec.max_beam_width)
    ensemble = parse_config(result.output / "ensemble" / "config.pbtxt")
    assert ensemble.platform == "ensemble"
    assert [step.model_name for step in ensemble.ensemble_scheduling.step] == [
        "preprocessing",
        "tensorrt_llm",
        "postprocessing",
    ]
    report = check_repository(result.output, load_tokenizer=False)
    assert not report.errors, [str(f) for f in report.errors]


def test_values_land_in_the_right_fields(tmp_path: Path) -> None:
    result = render_case("latest-1.0-qwen-overrides", tmp_path)
    llm = parse_config(result.output / "tensorrt_llm" / "config.pbtxt")
    params = parameters(llm)
    assert llm.model_transaction_policy.decoupled is False  # --no-streaming
    assert params["kv_cache_free_gpu_mem_fraction"] == "0.5"  # the flag beats the file's 0.7
    assert params["batch_scheduler_policy"] == "max_utilization"  # from the file
    assert params["max_tokens_in_paged_kv_cache"] == ""  # unset with an empty --set
    assert params["gpt_model_type"] == "inflight_fused_batching"
    assert params["enable_kv_cache_reuse"] == "false"  # explicit: the engine has no paged context FMHA
    assert {"tokenizer_dir", "guided_decoding_backend", "xgrammar_tokenizer_info_path"} <= set(params)
    assert llm.dynamic_batching.preferred_batch_size == [llm.max_batch_size]
    assert llm.dynamic_batching.default_queue_policy.max_queue_size == 0
    post = parse_config(result.output / "postprocessing" / "config.pbtxt")
    assert post.instance_group[0].count == 2
    bls = parse_config(result.output / "tensorrt_llm_bls" / "config.pbtxt")
    assert parameters(bls)["accumulate_tokens"] == "false"
    assert bls.instance_group[0].count == bls.max_batch_size


# -- the tensor contract, per version (counts from the reference §1.2-1.6) ----------------------------

CONTRACT = {  # version: {model: (inputs, outputs)}
    "0.5": {"tensorrt_llm": (16, 1), "ensemble": (16, 1), "preprocessing": (4, 5), "postprocessing": (1, 1)},
    "0.8": {
        "tensorrt_llm": (28, 6),
        "ensemble": (24, 5),
        "tensorrt_llm_bls": (24, 5),
        "preprocessing": (8, 8),
        "postprocessing": (6, 5),
    },
    "0.19": {
        "tensorrt_llm": (60, 19),
        "ensemble": (34, 17),
        "tensorrt_llm_bls": (40, 17),
        "preprocessing": (13, 20),
        "postprocessing": (2, 1),
    },
    "1.2": {
        "tensorrt_llm": (62, 21),
        "ensemble": (36, 19),
        "tensorrt_llm_bls": (42, 19),
        "preprocessing": (14, 20),
        "postprocessing": (2, 1),
    },
}


@pytest.mark.parametrize("version", sorted(CONTRACT))
def test_tensor_contract(version: str, modern_engine: Path, tokenizer: Path, tmp_path: Path) -> None:
    result = render_engine(
        modern_engine, output=tmp_path / "repo", tokenizer=tokenizer, backend_version=version, dry_run=False
    )
    for model, (inputs, outputs) in CONTRACT[version].items():
        config = parse_config(result.output / model / "config.pbtxt")
        names = [t.name for t in config.input], [t.name for t in config.output]
        assert (len(names[0]), len(names[1])) == (inputs, outputs), model
        assert len(set(names[0])) == inputs and len(set(names[1])) == outputs, f"{model}: a duplicate"
    llm = {t.name: t for t in parse_config(result.output / "tensorrt_llm" / "config.pbtxt").input}
    renamed = version == "1.2"
    assert ("min_tokens" in llm, "seed" in llm) == (renamed, renamed)
    assert ("min_length" in llm, "random_seed" in llm) == (not renamed, not renamed)
    if version != "0.5":
        assert llm["input_ids"].allow_ragged_batch and llm["input_lengths"].reshape.shape == []
        assert not llm["input_lengths"].optional and not llm["request_output_len"].optional
        assert llm["input_ids"].optional is (version in ("0.19", "1.2"))


def test_bf16_engine_types_flow_through_the_ensemble(tmp_path: Path, tokenizer: Path) -> None:
    engine = make_engine_dir(
        tmp_path / "engines", modern_config("1.2.0", dtype="bfloat16", logits_dtype="float16")
    )
    result = render_engine(engine, output=tmp_path / "repo", tokenizer=tokenizer)
    types = {}
    for model in ("tensorrt_llm", "ensemble", "tensorrt_llm_bls"):
        config = parse_config(result.output / model / "config.pbtxt")
        types[model] = {t.name: t.data_type for t in [*config.input, *config.output]}
    from tritongen.check.validate import model_config_pb2

    pb2 = model_config_pb2()
    for model in types:
        assert types[model]["prompt_embedding_table"] == pb2.TYPE_BF16
        assert types[model]["context_logits"] == types[model]["generation_logits"] == pb2.TYPE_FP16


# -- every corpus engine ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CORPUS_ENGINES)
def test_every_corpus_engine_renders_and_checks_clean(name: str, tmp_path: Path, tokenizer: Path) -> None:
    engine = corpus_engine_dir(name, tmp_path / "engines")
    result = render_engine(engine, output=tmp_path / "repo", tokenizer=tokenizer)
    assert result.written
    for config in result.output.glob("*/config.pbtxt"):
        text = config.read_text(encoding="utf-8")
        assert "${" not in text and "{{" not in text and "{%" not in text
        parse_config(config)
    report = check_repository(result.output, load_tokenizer=False)
    assert not report.errors, [str(f) for f in report.errors]


# -- safe, idempotent writes ------------------------------------------------------------------------------


def render(engine: Path, output: Path, tokenizer: Path, **kw: object) -> RenderResult:
    return render_engine(engine, output=output, tokenizer=tokenizer, **kw)  # type: ignore[arg-type]


def test_rerender_is_idempotent(modern_engine: Path, tokenizer: Path, tmp_path: Path) -> None:
    output = tmp_path / "repo"
    first = render(modern_engine, output, tokenizer)
    assert first.written and {f.status for f in first.files} == {"create"}
    before = state(output)
    second = render(modern_engine, output, tokenizer)  # no --force needed: nothing would change
    assert not second.written and not second.changed
    assert {f.status for f in second.files} == {"identical"}
    assert state(output) == before  # bytes and mtimes
    assert leftovers(tmp_path) == []


def test_python_bytecode_does_not_count_as_a_change(
    modern_engine: Path, tokenizer: Path, tmp_path: Path
) -> None:
    output = tmp_path / "repo"
    render(modern_engine, output, tokenizer)
    (output / "preprocessing" / "1" / "__pycache__").mkdir(parents=True)
    (output / "preprocessing" / "1" / "__pycache__" / "model.cpython-312.pyc").write_bytes(b"\0")
    assert not render(modern_engine, output, tokenizer).changed


def test_dry_run_writes_nothing(modern_engine: Path, tokenizer: Path, tmp_path: Path) -> None:
    output = tmp_path / "new" / "repo"
    result = render(modern_engine, output, tokenizer, dry_run=True)
    assert not result.written and {f.status for f in result.files} == {"create"}
    assert not (tmp_path / "new").exists()
    render(modern_engine, output, tokenizer)
    before = state(output)
    changed = render(modern_engine, output, tokenizer, dry_run=True, sets=("max_queue_size=5",))
    statuses = {f.path: f.status for f in changed.files}
    assert statuses["tensorrt_llm/config.pbtxt"] == "overwrite"
    assert statuses["ensemble/config.pbtxt"] == "identical"
    assert state(output) == before


def test_existing_repository_needs_force(modern_engine: Path, tokenizer: Path, tmp_path: Path) -> None:
    output = tmp_path / "repo"
    render(modern_engine, output, tokenizer)
    before = state(output)
    with pytest.raises(OutputError, match="exists and 2 of its files would change; use --force"):
        render(modern_engine, output, tokenizer, sets=("tensorrt_llm.max_queue_size=5",))
    assert state(output) == before and leftovers(tmp_path) == []
    forced = render(modern_engine, output, tokenizer, sets=("tensorrt_llm.max_queue_size=5",), force=True)
    assert forced.written
    assert {f.path for f in forced.files if f.status == "overwrite"} == {
        "tensorrt_llm/config.pbtxt",
        "tritongen.json",
    }
    assert "max_queue_size: 5" in (output / "tensorrt_llm" / "config.pbtxt").read_text()
    assert leftovers(tmp_path) == []


def test_force_removes_files_that_are_not_rendered(
    modern_engine: Path, tokenizer: Path, tmp_path: Path
) -> None:
    output = tmp_path / "repo"
    output.mkdir()
    (output / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="use --force"):
        render(modern_engine, output, tokenizer)
    assert (output / "notes.txt").read_text() == "mine"
    result = render(modern_engine, output, tokenizer, force=True)
    assert {"notes.txt": "remove"}.items() <= {f.path: f.status for f in result.files}.items()
    assert not (output / "notes.txt").exists()


def test_empty_output_directory_is_used(modern_engine: Path, tokenizer: Path, tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    assert render(modern_engine, tmp_path / "repo", tokenizer).written


def test_validation_errors_write_nothing(modern_engine: Path, tokenizer: Path, tmp_path: Path) -> None:
    output = tmp_path / "repo"
    with pytest.raises(ValidationError, match=r"max_tokens_in_paged_kv_cache.*cannot hold one sequence"):
        render(modern_engine, output, tokenizer, sets=("max_tokens_in_paged_kv_cache=16",))
    assert not output.exists() and leftovers(tmp_path) == []
    render(modern_engine, output, tokenizer)
    before = state(output)
    with pytest.raises(ValidationError):
        render(modern_engine, output, tokenizer, sets=("max_tokens_in_paged_kv_cache=16",), force=True)
    assert state(output) == before and leftovers(tmp_path) == []


def test_failed_swap_restores_the_previous_repository(
    modern_engine: Path, tokenizer: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "repo"
    render(modern_engine, output, tokenizer)
    before = state(output)
    real_rename = Path.rename

    def rename_failing_for_the_new_tree(self: Path, target: Path) -> Path:
        if ".tritongen-" in self.name:
            raise OSError(errno.EIO, "simulated failure")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename_failing_for_the_new_tree)
    with pytest.raises(OutputError, match=r"cannot move the new repository into .*simulated failure"):
        render(modern_engine, output, tokenizer, sets=("tensorrt_llm.max_queue_size=5",), force=True)
    monkeypatch.undo()
    assert state(output) == before and leftovers(tmp_path) == []


def test_output_is_a_file(modern_engine: Path, tokenizer: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is a file, not a directory"):
        render(modern_engine, tmp_path / "file", tokenizer)
    with pytest.raises(OutputError, match=r"is a file, so .* cannot be created"):
        render(modern_engine, tmp_path / "file" / "repo", tokenizer)
    assert (tmp_path / "file").read_text() == "x"


def test_output_not_writable(modern_engine: Path, tokenizer: Path) -> None:
    parent = Path("/sys")  # sysfs refuses new entries even to root
    try:
        tempfile.mkdtemp(dir=parent)
    except OSError:
        pass
    else:
        pytest.skip("/sys is writable here")
    with pytest.raises(OutputError, match="/sys is not writable"):
        render(modern_engine, parent / "tritongen-repo", tokenizer)


def test_never_replaces_the_engine_or_the_tokenizer(
    modern_engine: Path, tokenizer: Path, tmp_path: Path
) -> None:
    before = state(modern_engine)
    with pytest.raises(OutputError, match="holds the engine"):
        render(modern_engine, modern_engine, tokenizer, force=True)
    with pytest.raises(OutputError, match="holds the engine"):
        render(modern_engine, modern_engine.parent, tokenizer, force=True)
    own_tokenizer = Path(shutil.copytree(tokenizer, tmp_path / "tokenizer"))
    with pytest.raises(OutputError, match="holds the tokenizer"):
        render(modern_engine, own_tokenizer, own_tokenizer, force=True)
    assert (own_tokenizer / "tokenizer.json").is_file()
    assert state(modern_engine) == before
    with pytest.raises(OutputError, match="inside the engine directory"):
        render(modern_engine, modern_engine / "repo", tokenizer, placement="copy")
    assert render(modern_engine, modern_engine / "repo", tokenizer).written  # a link inside is harmless


def test_symlinked_output_replaces_the_directory_it_points_to(
    modern_engine: Path, tokenizer: Path, tmp_path: Path
) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    render(modern_engine, tmp_path / "link", tokenizer, force=True)
    assert (tmp_path / "link").is_symlink() and (tmp_path / "real" / "tritongen.json").is_file()
    assert leftovers(tmp_path) == []


def test_engine_reader_warnings_are_reported(modern_engine: Path, tokenizer: Path, tmp_path: Path) -> None:
    result = render(modern_engine, tmp_path / "repo", tokenizer, tp_size=4)
    assert any("tp" in warning.lower() for warning in result.warnings), result.warnings


# -- engine placement -------------------------------------------------------------------------------------


def test_symlink_placement(modern_engine: Path, tokenizer: Path, tmp_path: Path) -> None:
    result = render(modern_engine, tmp_path / "repo", tokenizer)
    link = result.output / ENGINE_SUBPATH
    assert link.is_symlink() and Path(os.readlink(link)) == modern_engine.resolve()


def test_a_moved_engine_relinks(modern_engine: Path, tokenizer: Path, tmp_path: Path) -> None:
    output = tmp_path / "repo"
    render(modern_engine, output, tokenizer)
    moved = Path(shutil.copytree(modern_engine, tmp_path / "moved-engine"))
    statuses = {f.path: f.status for f in render(moved, output, tokenizer, dry_run=True).files}
    assert statuses[ENGINE_SUBPATH] == "overwrite"
    render(moved, output, tokenizer, force=True)
    assert Path(os.readlink(output / ENGINE_SUBPATH)) == moved


def test_hardlink_placement(modern_engine: Path, tokenizer: Path, tmp_path: Path) -> None:
    result = render(modern_engine, tmp_path / "repo", tokenizer, placement="hardlink")
    placed = result.output / ENGINE_SUBPATH
    assert not placed.is_symlink() and (placed / "config.json").samefile(modern_engine / "config.json")
    assert not render(modern_engine, tmp_path / "repo", tokenizer, placement="hardlink").changed


def test_copy_placement_reuses_an_identical_copy(
    modern_engine: Path, tokenizer: Path, tmp_path: Path
) -> None:
    output = tmp_path / "repo"
    render(modern_engine, output, tokenizer, placement="copy")
    copied = output / ENGINE_SUBPATH / "rank0.engine"
    assert copied.read_bytes() == (modern_engine / "rank0.engine").read_bytes()
    assert not copied.samefile(modern_engine / "rank0.engine")
    assert not render(modern_engine, output, tokenizer, placement="copy").changed
    inode = copied.stat().st_ino
    render(modern_engine, output, tokenizer, placement="copy", sets=("max_queue_size=3",), force=True)
    assert (output / ENGINE_SUBPATH / "rank0.engine").stat().st_ino == inode  # linked, not copied again


def test_reference_placement(modern_engine: Path, tokenizer: Path, tmp_path: Path) -> None:
    result = render(modern_engine, tmp_path / "repo", tokenizer, placement="reference")
    assert not (result.output / ENGINE_SUBPATH).exists()
    assert result.plan.value("tensorrt_llm", "engine_dir") == str(modern_engine.resolve())
    switched = render(modern_engine, tmp_path / "repo", tokenizer, dry_run=True)
    assert {f.path: f.status for f in switched.files}[ENGINE_SUBPATH] == "create"


def test_model_files_are_copied(tmp_path: Path) -> None:
    for case in ("latest-1.2-smollm-beam5", "torch-checkpoint-tp2"):
        result = render_case(case, tmp_path / case)
        for model in result.plan.models:
            source = "tensorrt_llm_torch" if model == "tensorrt_llm" else model
            if model == "tensorrt_llm" and not result.plan.spec.is_checkpoint:
                assert not (result.output / model / "1" / "model.py").exists()
                continue
            for rel, path in (model_files(source) if source in RUNTIME_MODELS else {}).items():
                assert (result.output / model / rel).read_bytes() == path.read_bytes()


def test_template_errors_are_internal_errors(
    modern_engine: Path, tokenizer: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tritongen.render.pbtxt as render_module

    monkeypatch.setattr(render_module, "parameters_block", lambda settings: "${leftover}")
    with pytest.raises(TritongenError, match=r"preprocessing/config.pbtxt line \d+ still holds '\$\{'"):
        render(modern_engine, tmp_path / "repo", tokenizer)
    assert not (tmp_path / "repo").exists()


def test_render_path_stays_light(modern_engine: Path, tokenizer: Path, tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from tritongen.cli import main\n"
        "try:\n"
        f"    main(['render', '--engine', {str(modern_engine)!r}, '--tokenizer', {str(tokenizer)!r},"
        f" '--output', {str(tmp_path / 'repo')!r}])\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code\n"
        "heavy = {'transformers', 'torch', 'numpy', 'tritonclient', 'grpc', 'yaml', 'tqdm'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stderr


def test_no_placeholder_or_jinja_marker_survives_in_any_rendered_file(tmp_path: Path) -> None:
    """Not only config.pbtxt: the copied Python models carry no `${` or `{{` either."""
    from tritongen.render.pipeline import render_engine
    from tritongen.testing.render_cases import make_checkpoint_dir

    checkpoint = make_checkpoint_dir(tmp_path)
    result = render_engine(
        checkpoint,
        output=tmp_path / "repo",
        tokenizer=None,
        backend_version=None,
        sets=(),
        config_file=None,
        placement="symlink",
        force=False,
        dry_run=False,
        tp_size=None,
        pp_size=None,
        streaming=True,
    )
    files = [
        p
        for p in result.output.rglob("*")
        if p.is_file() and "engine" not in p.relative_to(result.output).parts
    ]
    assert any(p.name == "model.py" for p in files)
    for path in files:
        content = path.read_bytes()
        assert b"${" not in content and b"{{" not in content, path


def test_a_plain_bls_in_front_of_a_decoupled_llm_renders(tmp_path: Path) -> None:
    """One deployment for both kinds of client: plain ModelInfer through a non-decoupled BLS, streaming
    through the ensemble. tritongen's own BLS calls a decoupled LLM with exec(decoupled=True), so check
    must not judge this setup as upstream's BLS (which would fail every request)."""
    case = GOLDEN_CASES["torch-checkpoint-tp2"](tmp_path)
    result = render_engine(
        case.engine,
        output=tmp_path / "repo",
        tokenizer=case.tokenizer,
        sets=["tensorrt_llm_bls.decoupled_mode=false"],
        tp_size=case.tp_size,
    )
    bls = parse_config(result.output / "tensorrt_llm_bls" / "config.pbtxt")
    llm = parse_config(result.output / "tensorrt_llm" / "config.pbtxt")
    assert bls.model_transaction_policy.decoupled is False
    assert llm.model_transaction_policy.decoupled is True
    report = check_repository(result.output, load_tokenizer=False)
    assert not report.errors, [str(f) for f in report.errors]
