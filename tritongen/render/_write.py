"""Comparing a render with what is on disk, and writing it safely: temporary directory, validation, swap.

The repository is written into a temporary directory beside the target (same filesystem), the engine
is placed, `check_repository` validates the result, and only then is the directory renamed into place;
an existing one is moved aside first and deleted last, so a failure never leaves half a repository.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tritongen.errors import OutputError, ValidationError
from tritongen.render.placement import ENGINE_SUBPATH, place_engine, placement_status
from tritongen.render.plan import Plan

_IGNORED_DIRS = ("__pycache__",)  # written by the Python backend at run time; never part of a render


def _os_error(message: str, error: OSError, *, hint: str) -> OutputError:
    """`message: <the system's reason>` as one line: the errno text, not the exception's repr or a traceback."""
    return OutputError(f"{message}: {error.strerror or error}", hint=hint)


@dataclass(frozen=True)
class FileStatus:
    """What rendering does (or would do) to one path of the repository."""

    path: str  # relative to the repository root, POSIX separators
    status: str  # "create", "identical", "overwrite" or "remove"


def umask() -> int:
    """The process umask (reading it means setting it; set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Written beside the models by `render --slurm/--k8s` after the render: derived, so not compared.
CLUSTER_FILES = ("tritongen.slurm.sh", "tritongen.lws.yaml")


def existing_files(root: Path) -> dict[str, Path]:
    """Files (and symlinks) of an existing repository, without the placed engine or __pycache__."""
    found: dict[str, Path] = {}
    if not root.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in _IGNORED_DIRS and (here / d).relative_to(root).as_posix() != ENGINE_SUBPATH
        )
        for name in filenames:
            rel = (here / name).relative_to(root).as_posix()
            if rel != ENGINE_SUBPATH and rel not in CLUSTER_FILES:
                found[rel] = here / name
    return found


def file_statuses(output: Path, files: dict[str, bytes], plan: Plan, placement: str) -> list[FileStatus]:
    """What rendering `files` into `output` does to each path, the placed engine included, by path."""
    existing = existing_files(output)
    statuses = []
    for rel, content in files.items():
        if rel not in existing:
            statuses.append(FileStatus(rel, "create"))
        else:
            same = (
                existing[rel].is_file()
                and not existing[rel].is_symlink()
                and existing[rel].read_bytes() == content
            )
            statuses.append(FileStatus(rel, "identical" if same else "overwrite"))
    statuses += [FileStatus(rel, "remove") for rel in existing if rel not in files]
    engine_status = placement_status(output / ENGINE_SUBPATH, placement, plan.spec.path)
    if engine_status:
        statuses.append(FileStatus(ENGINE_SUBPATH, engine_status))
    return sorted(statuses, key=lambda s: s.path)


def check_output(output: Path, *, create_parent: bool) -> None:
    """The output must be a directory path whose parent can be written; raise OutputError otherwise."""
    if output.exists() and not output.is_dir():
        raise OutputError(f"{output} is a file, not a directory", hint="Choose another --output path.")
    for ancestor in output.parents:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise OutputError(
                    f"{ancestor} is a file, so {output} cannot be created",
                    hint="Choose another --output path.",
                )
            break
    if create_parent:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise _os_error(
                f"cannot create {output.parent}", error, hint="Choose a writable --output path."
            ) from None


def check_inputs_survive(output: Path, plan: Plan, placement: str) -> None:
    """Replacing `output` must never delete the engine or the tokenizer, nor copy a repository into itself."""
    inputs = {"engine": plan.spec.path, "tokenizer": plan.tokenizer.path.absolute()}
    for what, path in inputs.items():
        if path == output or output in path.parents:
            raise OutputError(
                f"{output} holds the {what} ({path}); rendering there would replace it",
                hint="Choose an --output outside the engine and tokenizer directories.",
            )
    if placement in ("copy", "hardlink") and plan.spec.path in output.parents:
        raise OutputError(
            f"{output} is inside the engine directory, which --placement {placement} would copy into itself",
            hint="Choose an --output outside the engine directory.",
        )


def make_temporary(output: Path) -> Path:
    """A new empty directory beside `output` (same filesystem, so the final rename is atomic)."""
    check_output(output, create_parent=True)
    try:
        temporary = Path(tempfile.mkdtemp(prefix=f".{output.name}.tritongen-", dir=output.parent))
        temporary.chmod(0o777 & ~umask())  # mkdtemp makes 0700; a server run as another user must read it
    except OSError as error:
        raise _os_error(
            f"{output.parent} is not writable", error, hint="Choose a writable --output path."
        ) from None
    return temporary


def write_and_validate(
    temporary: Path, files: dict[str, bytes], plan: Plan, placement: str, output: Path
) -> tuple[str, ...]:
    """Write `files` and place the engine in `temporary`, then check it as `tritongen check` would; any
    error stops the render (ValidationError) before anything is moved into place. Returns the warnings."""
    try:
        for model in plan.models:
            (temporary / model / "1").mkdir(parents=True, exist_ok=True)
        for rel, content in files.items():
            path = temporary / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
    except OSError as error:
        raise _os_error(
            f"cannot write the repository beside {output}",
            error,
            hint="Check free disk space and permissions.",
        ) from None
    placed = temporary / ENGINE_SUBPATH
    old_copy = output / ENGINE_SUBPATH
    reuse = old_copy if placement == "copy" and old_copy.is_dir() and not old_copy.is_symlink() else None
    place_engine(plan.spec.path, placed, placement, reuse=reuse)

    from tritongen.check.validate import check_repository

    engine_dir = placed if placement in ("hardlink", "copy") else plan.spec.path
    report = check_repository(temporary, engine_dir=engine_dir, load_tokenizer=False)
    if report.errors:
        listing = "; ".join(str(finding) for finding in report.errors)
        raise ValidationError(
            f"the rendered repository has {len(report.errors)} error(s), so nothing was written: {listing}",
            hint="Fix the --set/--config values named above, or the engine.",
        )
    return tuple(str(finding) for finding in report.warnings)


def swap_into_place(temporary: Path, output: Path) -> None:
    """Rename the finished repository into place; an existing one is moved aside first, then deleted."""
    try:
        if not output.exists() or (output.is_dir() and not any(output.iterdir())):
            temporary.rename(output)  # rename(2) also replaces an empty directory
            return
        aside = Path(tempfile.mkdtemp(prefix=f".{output.name}.old-", dir=output.parent))
        aside.rmdir()
        output.rename(aside)
    except OSError as error:
        raise _os_error(
            f"cannot move the new repository into {output}",
            error,
            hint="The previous repository, if any, is unchanged.",
        ) from None
    try:
        temporary.rename(output)
    except OSError as error:
        aside.rename(output)
        raise _os_error(
            f"cannot move the new repository into {output}",
            error,
            hint="The previous repository is unchanged.",
        ) from None
    shutil.rmtree(aside, ignore_errors=True)
