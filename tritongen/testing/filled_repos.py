"""The corpus's hand-filled repositories (`CORPUS / "filled_repos"`), copied out for a test to check or edit."""

from __future__ import annotations

import shutil
from pathlib import Path

from tritongen.testing.paths import CORPUS

FILLED_REPOS_DIR: Path = CORPUS / "filled_repos"


def copy_filled_repo(name: str, parent: Path) -> Path:
    """`parent / name`: a copy of the filled repository `name`, safe to edit.

    Each model gets its version directory `1/` back: git keeps no empty directory, and a model without
    one is what Triton (and the check) treats as having no version to load.
    """
    dest = parent / name
    shutil.copytree(FILLED_REPOS_DIR / name, dest)
    for model in dest.iterdir():
        (model / "1").mkdir(exist_ok=True)
    return dest
