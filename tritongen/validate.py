"""Validation of a model repository: Triton's ModelConfig protobuf, ensemble wiring, engine lints.

Used by `render` (on the temporary directory, before the atomic rename) and by `tritongen check`
on any repository, hand-made ones included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Finding:
    """One problem: where it is and what it is."""

    severity: str  # "error" or "warning"
    file: str  # path relative to the repository root, e.g. "tensorrt_llm/config.pbtxt"
    line: int | None  # 1-based line in that file, when known
    param: str | None  # the parameter / field / tensor concerned
    message: str  # one line: what is wrong and how to fix it

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        what = f" [{self.param}]" if self.param else ""
        return f"{where}:{what} {self.message}"


@dataclass
class Report:
    """The result of checking a repository."""

    root: Path
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]


def check_repository(root: Path, *, engine_dir: Path | None = None, load_tokenizer: bool = True) -> Report:
    """Check every model of the repository at `root`; never raises for problems, only reports them.

    `engine_dir` overrides the `gpt_model_path` found in tensorrt_llm/config.pbtxt (used when checking a
    temporary render whose paths point at the final location).
    """
    raise NotImplementedError  # implemented by the lead (validate.py is owned by the lead)
