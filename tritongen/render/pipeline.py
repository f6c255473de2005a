"""Plan -> files -> validation -> atomic rename: the model repository, written safely.

Everything is rendered into a temporary directory beside the target (same filesystem), the engine is
placed, `check_repository` validates the result, and only then is the directory renamed into place.
An existing target is replaced only with `force` (renamed aside, the new one renamed in, the old one
deleted), so a failure never leaves a half-written repository. Rendering the same inputs twice gives
byte-identical files; when nothing changed, nothing is touched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jinja2

from tritongen.errors import OutputError, TritongenError, ValidationError
from tritongen.render.manifest import MANIFEST_NAME, manifest_text
from tritongen.render.overrides import Override, load_config_file, parse_sets
from tritongen.render.placement import (
    ENGINE_SUBPATH,
    engine_location,
    place_engine,
    placement_reason,
    placement_status,
)
from tritongen.render.plan import Plan, Setting, build_plan

_PACKAGE = Path(__file__).resolve().parents[1]
_PACKAGED = _PACKAGE / "templates"  # in a wheel (pyproject force-include)
TEMPLATES_ROOT = _PACKAGED if _PACKAGED.is_dir() else _PACKAGE.parent / "templates"
_LEFTOVER_MARKERS = ("${", "{{", "{%")
_IGNORED_DIRS = ("__pycache__",)  # written by the Python backend at run time; never part of a render


@dataclass(frozen=True)
class FileStatus:
    """What rendering does (or would do) to one path of the repository."""

    path: str  # relative to the repository root, POSIX separators
    status: str  # "create", "identical", "overwrite" or "remove"


@dataclass(frozen=True)
class RenderResult:
    """The outcome of `render_repository`."""

    output: Path
    plan: Plan  # with the final engine location
    placement: str
    files: tuple[FileStatus, ...]
    dry_run: bool
    written: bool  # False for a dry run, and when everything was already identical
    warnings: tuple[str, ...]  # the plan's and the validator's

    @property
    def changed(self) -> bool:
        return any(f.status != "identical" for f in self.files)


# -- rendering text ---------------------------------------------------------------------------------


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_ROOT)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def pbtxt_string(text: str) -> str:
    """`text` as a protobuf text-format string literal (quotes included)."""
    escaped = []
    for char in text:
        if char in '"\\':
            escaped.append("\\" + char)
        elif ord(char) < 32:
            escaped.append(f"\\{ord(char):03o}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def parameters_block(settings: Iterable[Setting]) -> str:
    """The `parameters` entries of one model, generated from its (non-header) settings in file order."""
    entries = [
        f"parameters: {{\n  key: {pbtxt_string(s.param.parameter_key)}\n  value: {{\n"
        f"    string_value: {pbtxt_string(s.text)}\n  }}\n}}"
        for s in settings if not s.param.header
    ]
    return "\n".join(entries)


def render_config(plan: Plan, model: str) -> str:
    """The config.pbtxt text of one model."""
    settings = plan.for_model(model)
    llm = {s.name: s.text for s in plan.for_model("tensorrt_llm")}
    context = {
        "p": {s.name: s.text for s in settings},
        "f": plan.features,
        "parameters": parameters_block(settings),
        # Tensors the ensemble and the BLS pass to tensorrt_llm must have its types, or Triton refuses the
        # ensemble (upstream's latest ensemble keeps prompt_embedding_table at FP16 whatever the engine).
        "logits_type": llm.get("logits_datatype", "TYPE_FP32"),
        "prompt_table_type": llm.get("prompt_embedding_table_data_type", "TYPE_FP16"),
    }
    name = f"{plan.generation}/{model}/config.pbtxt.j2"
    try:
        text = _environment().get_template(name).render(context)
    except jinja2.TemplateError as error:
        raise TritongenError(f"template {name} failed to render: {error}",
                             hint="This is a tritongen bug; please report it.") from None
    for number, line in enumerate(text.splitlines(), start=1):
        marker = next((m for m in _LEFTOVER_MARKERS if m in line), None)
        if marker:
            raise TritongenError(f"{model}/config.pbtxt line {number} still holds '{marker}' after rendering",
                                 hint="This is a tritongen bug; please report it.")
    return text


def _model_files(plan: Plan) -> dict[str, bytes]:
    """The Python model files tritongen ships, copied as they are (generation-specific ones first)."""
    root = TEMPLATES_ROOT / "models"
    files: dict[str, bytes] = {}
    for model in plan.models:
        if model == "tensorrt_llm" and plan.runtime != "torch":
            continue  # the C++ backend needs no model.py
        source = "tensorrt_llm_torch" if model == "tensorrt_llm" else model
        base = next((b for b in (root / plan.generation / source, root / source) if b.is_dir()), None)
        if base is None:
            continue
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(base)
            hidden = any(part.startswith(".") for part in rel.parts)  # .mypy_cache, editor files, ...
            if path.is_file() and not hidden and not set(rel.parts) & set(_IGNORED_DIRS) \
                    and path.suffix != ".pyc" and rel.as_posix() != "config.pbtxt":
                files[f"{model}/{rel.as_posix()}"] = path.read_bytes()
    return files


def render_files(plan: Plan, placement: str) -> dict[str, bytes]:
    """Every file of the repository except the engine, by relative path."""
    files = {f"{model}/config.pbtxt": render_config(plan, model).encode() for model in plan.models}
    files.update(_model_files(plan))
    files[MANIFEST_NAME] = manifest_text(plan, placement=placement).encode()
    return dict(sorted(files.items()))


# -- comparing with what is there -----------------------------------------------------------------


def _umask() -> int:
    """The process umask (reading it means setting it; set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Written beside the models by `render --slurm/--k8s` after the render: derived, so not compared.
CLUSTER_FILES = ("tritongen.slurm.sh", "tritongen.lws.yaml")


def _existing_files(root: Path) -> dict[str, Path]:
    """Files (and symlinks) of an existing repository, without the placed engine or __pycache__."""
    found: dict[str, Path] = {}
    if not root.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in _IGNORED_DIRS
                             and (here / d).relative_to(root).as_posix() != ENGINE_SUBPATH)
        for name in filenames:
            rel = (here / name).relative_to(root).as_posix()
            if rel != ENGINE_SUBPATH and rel not in CLUSTER_FILES:
                found[rel] = here / name
    return found


def _statuses(output: Path, files: dict[str, bytes], plan: Plan, placement: str) -> list[FileStatus]:
    existing = _existing_files(output)
    statuses = []
    for rel, content in files.items():
        if rel not in existing:
            statuses.append(FileStatus(rel, "create"))
        else:
            same = existing[rel].is_file() and not existing[rel].is_symlink() \
                and existing[rel].read_bytes() == content
            statuses.append(FileStatus(rel, "identical" if same else "overwrite"))
    statuses += [FileStatus(rel, "remove") for rel in existing if rel not in files]
    engine_status = placement_status(output / ENGINE_SUBPATH, placement, plan.spec.path)
    if engine_status:
        statuses.append(FileStatus(ENGINE_SUBPATH, engine_status))
    return sorted(statuses, key=lambda s: s.path)


# -- writing --------------------------------------------------------------------------------------


def _check_output(output: Path, *, create_parent: bool) -> None:
    """The output must be a directory path whose parent can be written; raise OutputError otherwise."""
    if output.exists() and not output.is_dir():
        raise OutputError(f"{output} is a file, not a directory", hint="Choose another --output path.")
    for ancestor in output.parents:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise OutputError(f"{ancestor} is a file, so {output} cannot be created",
                                  hint="Choose another --output path.")
            break
    if create_parent:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputError(f"cannot create {output.parent}: {error.strerror or error}",
                              hint="Choose a writable --output path.") from None


def _check_inputs_survive(output: Path, plan: Plan, placement: str) -> None:
    """Replacing `output` must never delete the engine or the tokenizer, nor copy a repository into itself."""
    inputs = {"engine": plan.spec.path, "tokenizer": plan.tokenizer.path.absolute()}
    for what, path in inputs.items():
        if path == output or output in path.parents:
            raise OutputError(f"{output} holds the {what} ({path}); rendering there would replace it",
                              hint="Choose an --output outside the engine and tokenizer directories.")
    if placement in ("copy", "hardlink") and plan.spec.path in output.parents:
        raise OutputError(f"{output} is inside the engine directory, which --placement {placement} would copy "
                          "into itself", hint="Choose an --output outside the engine directory.")


def render_repository(plan: Plan, output: Path, *, placement: str = "symlink", force: bool = False,
                      dry_run: bool = False) -> RenderResult:
    """Render `plan` into the directory `output` (see the module docstring for the guarantees).

    `dry_run` only compares with what is there: nothing is written, placed or validated.
    """
    output = Path(os.path.normpath(output.absolute()))
    if output.is_symlink():
        output = output.resolve()  # replace the directory it points to, not the link
    _check_output(output, create_parent=False)
    _check_inputs_survive(output, plan, placement)
    location = engine_location(output, placement, plan.spec.path)
    plan = plan.with_engine_location(location, placement_reason(placement))
    files = render_files(plan, placement)
    statuses = _statuses(output, files, plan, placement)
    result = RenderResult(output, plan, placement, tuple(statuses), dry_run, written=False,
                          warnings=plan.warnings)
    target_has_content = output.is_dir() and any(output.iterdir())
    if dry_run or (target_has_content and not result.changed):
        return result
    if target_has_content and not force:
        changed = sum(1 for s in statuses if s.status != "identical")
        raise OutputError(f"{output} exists and {changed} of its files would change; use --force to replace it",
                          hint="Or --dry-run to see which, or choose another --output.")
    _check_output(output, create_parent=True)
    try:
        temporary = Path(tempfile.mkdtemp(prefix=f".{output.name}.tritongen-", dir=output.parent))
        temporary.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; a server run as another user must read it
    except OSError as error:
        raise OutputError(f"{output.parent} is not writable: {error.strerror or error}",
                          hint="Choose a writable --output path.") from None
    try:
        validation_warnings = _write_and_validate(temporary, files, plan, placement, output)
        _swap_into_place(temporary, output)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return RenderResult(output, plan, placement, tuple(statuses), dry_run=False, written=True,
                        warnings=plan.warnings + validation_warnings)


def _write_and_validate(temporary: Path, files: dict[str, bytes], plan: Plan, placement: str,
                        output: Path) -> tuple[str, ...]:
    try:
        for model in plan.models:
            (temporary / model / "1").mkdir(parents=True, exist_ok=True)
        for rel, content in files.items():
            path = temporary / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
    except OSError as error:
        raise OutputError(f"cannot write the repository beside {output}: {error.strerror or error}",
                          hint="Check free disk space and permissions.") from None
    placed = temporary / ENGINE_SUBPATH
    old_copy = output / ENGINE_SUBPATH
    reuse = old_copy if placement == "copy" and old_copy.is_dir() and not old_copy.is_symlink() else None
    place_engine(plan.spec.path, placed, placement, reuse=reuse)

    from tritongen.check.validate import check_repository

    engine_dir = placed if placement in ("hardlink", "copy") else plan.spec.path
    report = check_repository(temporary, engine_dir=engine_dir, load_tokenizer=False)
    if report.errors:
        listing = "; ".join(str(finding) for finding in report.errors)
        raise ValidationError(f"the rendered repository has {len(report.errors)} error(s), so nothing was "
                              f"written: {listing}",
                              hint="Fix the --set/--config values named above, or the engine.")
    return tuple(str(finding) for finding in report.warnings)


def _swap_into_place(temporary: Path, output: Path) -> None:
    """Rename the finished repository into place; an existing one is moved aside first, then deleted."""
    try:
        if not output.exists() or (output.is_dir() and not any(output.iterdir())):
            temporary.rename(output)  # rename(2) also replaces an empty directory
            return
        aside = Path(tempfile.mkdtemp(prefix=f".{output.name}.old-", dir=output.parent))
        aside.rmdir()
        output.rename(aside)
    except OSError as error:
        raise OutputError(f"cannot move the new repository into {output}: {error.strerror or error}",
                          hint="The previous repository, if any, is unchanged.") from None
    try:
        temporary.rename(output)
    except OSError as error:
        aside.rename(output)
        raise OutputError(f"cannot move the new repository into {output}: {error.strerror or error}",
                          hint="The previous repository is unchanged.") from None
    shutil.rmtree(aside, ignore_errors=True)


# -- the one call behind `tritongen render` -----------------------------------------------------------


def render_engine(
    engine: Path,
    *,
    output: Path | None = None,
    tokenizer: Path | None = None,
    backend_version: str | None = None,
    sets: Iterable[str] = (),
    config_file: Path | None = None,
    placement: str = "symlink",
    force: bool = False,
    dry_run: bool = False,
    tp_size: int | None = None,
    pp_size: int | None = None,
    streaming: bool = True,
) -> RenderResult:
    """Read the engine, plan every value, render: everything `tritongen render` does."""
    from tritongen.engine.reader import read_engine

    overrides: list[Override] = []
    if config_file is not None:
        overrides += load_config_file(config_file)
    overrides += parse_sets(sets)  # parsed before the engine is read: a typo fails fast
    spec = read_engine(engine, tp_size=tp_size, pp_size=pp_size)
    plan = build_plan(spec, backend_version=backend_version, tokenizer_dir=tokenizer, overrides=overrides,
                      streaming=streaming)
    target = output if output is not None else Path("model_repos") / spec.path.name
    return render_repository(plan, target, placement=placement, force=force, dry_run=dry_run)


__all__ = ["FileStatus", "RenderResult", "render_engine", "render_files", "render_repository"]
