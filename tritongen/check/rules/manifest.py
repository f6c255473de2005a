"""The rule for tritongen's own manifest: the engine it was rendered from has not changed since."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tritongen.check._findings import Findings, clip
from tritongen.check._load import LoadedRepo, exists
from tritongen.defaults import MANIFEST_NAME


def manifest_engine(repo: LoadedRepo, out: Findings) -> None:
    """A re-built engine under an old render: the config.json hash recorded at render time differs."""
    manifest_path = repo.root / MANIFEST_NAME
    if not manifest_path.is_file():
        return
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        engine = manifest.get("engine", {})
        config = Path(engine.get("path", "")) / "config.json"
        recorded = engine.get("config_sha256")
    except (OSError, ValueError, AttributeError, TypeError, RecursionError):
        out.warn(MANIFEST_NAME, None, "the tritongen manifest is unreadable; re-render to restore it")
        return
    if not recorded or not exists(config) or not config.is_file():
        return
    try:
        digest = hashlib.sha256(config.read_bytes()).hexdigest()
    except OSError:
        return  # an engine config that cannot be read is the engine rule's finding
    if digest != recorded:
        out.warn(
            MANIFEST_NAME, None, f"{clip(config)} changed since this repository was rendered: re-render it"
        )
