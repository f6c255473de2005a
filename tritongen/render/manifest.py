"""`tritongen.json`: what a rendered repository was made from, and every value's source and reason.

The manifest is deterministic (no timestamps, fixed key order), so re-rendering the same inputs
leaves it byte-identical. `tritongen explain` reads it back; `tritongen check` uses its engine hash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tritongen import __version__
from tritongen.defaults import MANIFEST_NAME as MANIFEST_NAME  # noqa: PLC0414 (re-exported)
from tritongen.errors import UsageError
from tritongen.render.catalogue_types import Value
from tritongen.render.overrides import format_value
from tritongen.render.plan import Plan

SCHEMA = 1


def manifest_text(plan: Plan, *, placement: str) -> str:
    """The manifest of a plan whose engine location is final (see `Plan.with_engine_location`)."""
    spec, tokenizer = plan.spec, plan.tokenizer
    engine_dir = next((s.value for s in plan.settings if s.name == "engine_dir"), str(spec.path))
    data: dict[str, Any] = {
        "schema": SCHEMA,
        "tritongen": __version__,
        "backend_version": str(plan.backend_version),
        "backend_version_reason": plan.version_reason,
        "generation": plan.generation,
        "runtime": plan.runtime,
        "models": list(plan.models),
        "engine": {
            "path": str(spec.path),
            "location": engine_dir,
            "placement": placement,
            "layout": spec.layout.value,
            "config_sha256": spec.config_sha256,
            "trtllm_version": spec.trtllm_version or spec.inferred_version,
            "architecture": spec.architecture,
            "dtype": spec.dtype,
            "tp_size": spec.tp_size,
            "pp_size": spec.pp_size,
            "cp_size": spec.cp_size,
            "world_size": spec.world_size,
            "max_batch_size": spec.max_batch_size,
            "max_seq_len": spec.max_seq_len,
        },
        "tokenizer": {
            "path": str(tokenizer.path),
            "end_id": tokenizer.eos_id,
            "pad_id": tokenizer.pad_id,
            "eos_token": tokenizer.eos_token,
            "pad_token": tokenizer.pad_token,
        },
        "warnings": list(plan.warnings),
        "parameters": {
            model: {
                s.name: {
                    "key": s.param.parameter_key,
                    "value": s.value,
                    "source": s.source.value,
                    "reason": s.reason,
                }
                for s in plan.for_model(model)
            }
            for model in plan.models
        },
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class Entry:
    """One parameter of one model, as recorded."""

    model: str
    name: str
    key: str
    value: Value
    source: str
    reason: str


@dataclass(frozen=True)
class Manifest:
    """A parsed `tritongen.json`."""

    path: Path
    data: dict[str, Any]
    entries: tuple[Entry, ...]

    @property
    def summary(self) -> str:
        engine = self.data.get("engine", {})
        return (
            f"{self.path.parent}: backend {self.data.get('backend_version')} "
            f"({self.data.get('generation')} layout, {self.data.get('runtime')} runtime); engine "
            f"{engine.get('path')} ({engine.get('placement')})"
        )


def read_manifest(repo: Path) -> Manifest:
    """Read the manifest of a rendered repository; a UsageError when there is none."""
    path = repo / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = tuple(
            Entry(model, name, str(item["key"]), item["value"], str(item["source"]), str(item["reason"]))
            for model, params in data["parameters"].items()
            for name, item in params.items()
        )
    except FileNotFoundError:
        raise UsageError(
            f"{repo} has no {MANIFEST_NAME}: it was not rendered by tritongen",
            hint="`tritongen render --engine DIR` writes one; `tritongen check` works on any repository.",
        ) from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise UsageError(
            f"cannot read {path}: {error}", hint="Re-render the repository to restore it."
        ) from None
    return Manifest(path, data, entries)


def explain(repo: Path, param: str | None = None) -> str:
    """A table of every parameter (or of `param` across models): value, source and reason."""
    manifest = read_manifest(repo)
    entries = manifest.entries
    if param is not None:
        entries = tuple(e for e in entries if param in (e.name, e.key))
        if not entries:
            import difflib

            known = sorted({e.name for e in manifest.entries})
            close = difflib.get_close_matches(param, known, n=3)
            raise UsageError(
                f"no parameter '{param}' in {repo}",
                hint=f"Did you mean {' or '.join(close)}?"
                if close
                else "`tritongen explain REPO` lists them all.",
            )
    rows = [("MODEL", "PARAMETER", "VALUE", "SOURCE", "REASON")]
    rows += [(e.model, e.name, format_value(e.value) or "(empty)", e.source, e.reason) for e in entries]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [manifest.summary, ""]
    lines += [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)) + "  " + row[4]
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)
