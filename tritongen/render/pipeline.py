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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tritongen import defaults
from tritongen.errors import OutputError
from tritongen.render._write import (
    CLUSTER_FILES,
    FileStatus,
    check_inputs_survive,
    check_output,
    file_statuses,
    make_temporary,
    swap_into_place,
    write_and_validate,
)
from tritongen.render.manifest import MANIFEST_NAME, manifest_text
from tritongen.render.overrides import Override, load_config_file, parse_sets
from tritongen.render.pbtxt import TEMPLATES_ROOT, refuse_marker_paths, render_config
from tritongen.render.placement import engine_location, placement_reason
from tritongen.render.plan import Plan, build_plan
from tritongen.runtime.layout import MODELS as RUNTIME_MODELS
from tritongen.runtime.layout import model_files


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


def _model_files(plan: Plan) -> dict[str, bytes]:
    """The Python models' code, copied from `tritongen.runtime` into each model's `1/` (the server's
    Python has no tritongen installed); `tritongen.runtime.layout` says which files each model gets."""
    files: dict[str, bytes] = {}
    for model in plan.models:
        if model == "tensorrt_llm" and plan.runtime != "torch":
            continue  # the C++ backend needs no model.py
        kind = "tensorrt_llm_torch" if model == "tensorrt_llm" else model
        if kind not in RUNTIME_MODELS:
            continue  # the ensemble: configuration only
        for rel, path in model_files(kind).items():
            files[f"{model}/{rel}"] = path.read_bytes()
    return files


def render_files(plan: Plan, placement: str) -> dict[str, bytes]:
    """Every file of the repository except the engine, by relative path."""
    files = {f"{model}/config.pbtxt": render_config(plan, model).encode() for model in plan.models}
    files.update(_model_files(plan))
    files[MANIFEST_NAME] = manifest_text(plan, placement=placement).encode()
    return dict(sorted(files.items()))


def render_repository(
    plan: Plan, output: Path, *, placement: str = "symlink", force: bool = False, dry_run: bool = False
) -> RenderResult:
    """Render `plan` into the directory `output` (see the module docstring for the guarantees).

    `dry_run` only compares with what is there: nothing is written, placed or validated.
    """
    output = Path(os.path.normpath(output.absolute()))
    if output.is_symlink():
        output = output.resolve()  # replace the directory it points to, not the link
    check_output(output, create_parent=False)
    check_inputs_survive(output, plan, placement)
    location = engine_location(output, placement, plan.spec.path)
    plan = plan.with_engine_location(location, placement_reason(placement))
    files = render_files(plan, placement)
    statuses = file_statuses(output, files, plan, placement)
    result = RenderResult(
        output, plan, placement, tuple(statuses), dry_run, written=False, warnings=plan.warnings
    )
    target_has_content = output.is_dir() and any(output.iterdir())
    if dry_run or (target_has_content and not result.changed):
        return result
    if target_has_content and not force:
        changed = sum(1 for s in statuses if s.status != "identical")
        raise OutputError(
            f"{output} exists and {changed} of its files would change; use --force to replace it",
            hint="Or --dry-run to see which, or choose another --output.",
        )
    temporary = make_temporary(output)
    try:
        validation_warnings = write_and_validate(temporary, files, plan, placement, output)
        swap_into_place(temporary, output)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return RenderResult(
        output,
        plan,
        placement,
        tuple(statuses),
        dry_run=False,
        written=True,
        warnings=plan.warnings + validation_warnings,
    )


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

    refuse_marker_paths(engine=engine, output=output, tokenizer=tokenizer)
    overrides: list[Override] = []
    if config_file is not None:
        overrides += load_config_file(config_file)
    overrides += parse_sets(sets)  # parsed before the engine is read: a typo fails fast
    spec = read_engine(engine, tp_size=tp_size, pp_size=pp_size)
    plan = build_plan(
        spec,
        backend_version=backend_version,
        tokenizer_dir=tokenizer,
        overrides=overrides,
        streaming=streaming,
    )
    target = output if output is not None else defaults.REPOS_DIR / spec.path.name
    return render_repository(plan, target, placement=placement, force=force, dry_run=dry_run)


__all__ = [
    "CLUSTER_FILES",
    "TEMPLATES_ROOT",
    "FileStatus",
    "RenderResult",
    "render_engine",
    "render_files",
    "render_repository",
]
