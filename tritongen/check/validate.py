"""Validation of a model repository: Triton's ModelConfig protobuf, ensemble wiring, engine lints.

Used by `render` (on the temporary directory, before the atomic rename) and by `tritongen check`
on any repository, hand-made ones included. The repository is loaded once (`_load`), then every rule
of `rules.RULES` writes into one `Findings` collector. Each finding carries its consequence for the
backend release the repository was written for (`versions.detect`): errors are what stops a model
loading or makes its requests fail; warnings are what works, but not as written.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tritongen.check._findings import Finding, Findings, Report
from tritongen.check._load import load_repository, model_config_pb2, parse_model_config
from tritongen.check.rules import RULES
from tritongen.check.rules.syntax import unreadable
from tritongen.check.versions import detect
from tritongen.errors import ValidationError


def check_repository(root: Path, *, engine_dir: Path | None = None, load_tokenizer: bool = True) -> Report:
    """Check every model of the repository at `root`; reports problems, raises only if `root` is unusable.

    `engine_dir` overrides the `gpt_model_path` found in tensorrt_llm/config.pbtxt (used when checking a
    temporary render whose paths point at the final location).
    """
    if not root.is_dir():
        raise ValidationError(
            f"{root} is not a directory",
            hint="Give the path of a Triton model repository (tritongen check DIR).",
        )
    repo = load_repository(root, engine_dir=engine_dir, load_tokenizer=load_tokenizer)
    repo = dataclasses.replace(repo, version=detect(repo.parsed, root))
    out = Findings(root)
    out.report.version = repo.version
    if not repo.models:
        unreadable(repo, out)
        out.error(
            ".", None, "no model directories with a config.pbtxt: this is not a Triton model repository"
        )
        return out.report
    for rule in RULES:
        rule(repo, out)
    return out.report


__all__ = ["Finding", "Report", "check_repository", "model_config_pb2", "parse_model_config"]
