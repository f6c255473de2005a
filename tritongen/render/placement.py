"""Putting the engine (or checkpoint) where the tensorrt_llm model finds it.

- `symlink` (default): `tensorrt_llm/1/engine -> <absolute engine dir>`; instant, nothing duplicated.
- `hardlink`: a real directory whose files are hard links to the engine's (same filesystem only).
- `copy`: a full copy, with a progress bar in bytes (engines are many GB); a re-render reuses an
  identical earlier copy through hard links instead of copying again.
- `reference`: nothing is placed; `engine_dir` points at the original directory.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from tritongen.errors import EngineError, OutputError, UsageError

PLACEMENTS: tuple[str, ...] = ("symlink", "hardlink", "copy", "reference")
ENGINE_SUBPATH = "tensorrt_llm/1/engine"
_CHUNK = 16 * 1024 * 1024


def engine_location(output: Path, placement: str, engine: Path) -> Path:
    """Where the engine will be once the repository is in place (what `engine_dir` says)."""
    if placement not in PLACEMENTS:
        raise UsageError(f"unknown placement '{placement}'", hint="Use one of " + ", ".join(PLACEMENTS) + ".")
    return engine if placement == "reference" else output / ENGINE_SUBPATH


def placement_reason(placement: str) -> str:
    """The `engine_dir` reason recorded in the plan."""
    return {
        "symlink": f"where --placement symlink puts the engine: {ENGINE_SUBPATH} links to it",
        "hardlink": f"where --placement hardlink puts the engine: {ENGINE_SUBPATH} holds hard links to its files",
        "copy": f"where --placement copy puts the engine: {ENGINE_SUBPATH} holds a copy",
        "reference": "--placement reference: the engine stays where it is",
    }[placement]


def engine_files(engine: Path) -> Iterator[Path]:
    """Every file under the engine directory, relative to it, in a stable order (symlinks followed).

    Followed links can lead back up: `os.walk(followlinks=True)` then descends until the path is too
    long (one cycle) or for an exponential time (two). A directory that is one of its own ancestors
    (same device and inode) is an EngineError naming the link, as are a link that loops on itself
    and one that leads nowhere: copying or linking either would fail half-way.
    """
    yield from _walk(engine, Path(), frozenset({_identity(engine, engine)}))


def _walk(engine: Path, rel: Path, ancestors: frozenset[tuple[int, int]]) -> Iterator[Path]:
    directory = engine / rel
    try:
        entries = sorted(entry.name for entry in directory.iterdir())
    except OSError as error:
        raise EngineError(
            f"cannot read {directory}: {error.strerror or error}",
            hint="Check the engine directory's permissions.",
        ) from None
    subdirs: list[tuple[Path, tuple[int, int]]] = []
    for name in entries:
        path = directory / name
        info = _stat(engine, path)
        if stat.S_ISDIR(info.st_mode):
            subdirs.append((rel / name, (info.st_dev, info.st_ino)))
        else:
            yield rel / name
    for sub, identity in subdirs:
        if identity in ancestors:
            raise EngineError(
                f"{engine / sub} is a symlink cycle: it leads back to {(engine / sub).resolve()}, which contains it",
                hint="Remove the link (or point it outside the engine directory); --placement symlink "
                "does not walk the directory.",
            )
        yield from _walk(engine, sub, ancestors | {identity})


def _identity(engine: Path, path: Path) -> tuple[int, int]:
    info = _stat(engine, path)
    return info.st_dev, info.st_ino


def _stat(engine: Path, path: Path) -> os.stat_result:
    """stat() following links; a loop or a dangling link is the engine directory's fault."""
    try:
        return path.stat()
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise EngineError(
                f"{path} is a symlink loop (it resolves to itself)",
                hint="Remove the link from the engine directory.",
            ) from None
        if error.errno == errno.ENOENT and path.is_symlink():
            raise EngineError(
                f"{path} is a broken symlink (to {path.readlink()})",
                hint="Remove it from the engine directory, or restore what it points to.",
            ) from None
        raise EngineError(
            f"cannot read {path} in engine directory {engine}: {error.strerror or error}",
            hint="Check the engine directory's permissions.",
        ) from None


def placement_status(placed: Path, placement: str, engine: Path) -> str | None:
    """create / identical / overwrite for the engine entry of an existing repository; None: no entry."""
    exists = placed.is_symlink() or placed.exists()
    if placement == "reference":
        return "remove" if exists else None
    if not exists:
        return "create"
    return "identical" if _same_placement(placed, placement, engine) else "overwrite"


def _same_placement(placed: Path, placement: str, engine: Path) -> bool:
    if placement == "symlink":
        return placed.is_symlink() and str(placed.readlink()) == str(engine)
    if placed.is_symlink() or not placed.is_dir():
        return False
    wanted = list(engine_files(engine))
    if sorted(wanted) != sorted(engine_files(placed)):
        return False
    same = _same_inode if placement == "hardlink" else _same_copy
    return all(same(engine / rel, placed / rel) for rel in wanted)


def _same_inode(source: Path, copy: Path) -> bool:
    try:
        return source.samefile(copy)
    except OSError:
        return False


def _same_copy(source: Path, copy: Path) -> bool:
    """A copy made by `place_engine` keeps the source's size and modification time."""
    try:
        a, b = source.stat(), copy.stat()
    except OSError:
        return False
    return a.st_size == b.st_size and a.st_mtime_ns == b.st_mtime_ns


def place_engine(engine: Path, dest: Path, placement: str, *, reuse: Path | None = None) -> None:
    """Place `engine` at `dest` (inside the temporary repository). `reuse`: an earlier identical copy."""
    if placement == "reference":
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    if placement == "symlink":
        dest.symlink_to(engine, target_is_directory=True)
        return
    files = list(engine_files(engine))
    if placement == "hardlink":
        for rel in files:
            _hardlink(engine / rel, dest / rel)
        return
    remaining = files
    if reuse is not None:  # an identical earlier copy: link to it instead of copying gigabytes again
        remaining = [
            rel
            for rel in files
            if not (_same_copy(engine / rel, reuse / rel) and _try_link(reuse / rel, dest / rel))
        ]
    _copy_files(engine, dest, remaining)


def _try_link(source: Path, target: Path) -> bool:
    try:
        _hardlink(source, target)
    except OutputError:
        return False
    return True


def _hardlink(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source.resolve(), target)
    except OSError as error:
        if error.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise OutputError(
                f"cannot hard-link {source} into the repository: {error.strerror}",
                hint="Hard links need one filesystem; use --placement symlink or copy.",
            ) from None
        raise OutputError(
            f"cannot place {source}: {error.strerror or error}",
            hint="Check the permissions of the output directory.",
        ) from None


def _copy_files(engine: Path, dest: Path, files: list[Path]) -> None:
    from tqdm import tqdm  # only for --placement copy

    total = sum((engine / rel).stat().st_size for rel in files)
    with tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc="copy engine",
        disable=None,
        leave=False,
    ) as progress:
        for rel in files:
            source, target = engine / rel, dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with source.open("rb") as reader, target.open("wb") as writer:
                    while chunk := reader.read(_CHUNK):
                        writer.write(chunk)
                        progress.update(len(chunk))
                shutil.copystat(source, target)
            except OSError as error:
                raise OutputError(
                    f"cannot copy {source}: {error.strerror or error}",
                    hint="Check free disk space, or use --placement symlink.",
                ) from None
