"""What `check` reports: one `Finding` per problem, gathered by a `Findings` collector into a `Report`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from tritongen.check._load import ModelFile

if TYPE_CHECKING:
    from tritongen.check.versions import AssumedVersion

Severity = Literal["error", "warning"]
# What a finding does to serving, worst first. The first three break serving (errors, a failing exit
# code); the others work but not as written (warnings). `advice` is for what no version's code judges
# (a batch size below the engine's, a path that may only exist inside the container).
Consequence = Literal["cannot_load", "requests_fail", "invalid", "no_effect", "default_used", "advice"]
CONSEQUENCES: dict[Consequence, tuple[Severity, str]] = {
    "cannot_load": ("error", "the model cannot load"),
    "requests_fail": ("error", "every request through it fails"),
    "invalid": ("error", "invalid value"),
    "no_effect": ("warning", "no effect"),
    "default_used": ("warning", "placeholder left, the default is used"),
    "advice": ("warning", "works, but probably not what was meant"),
}
JSON_SCHEMA_VERSION = 1
ECHO_LIMIT = 80  # characters of a value from the repository that a message repeats
_PARAM_LIMIT = 100
_MESSAGE_LIMIT = 1000  # a safety net: every message is one readable line, whatever the repository holds


def clip(value: object, limit: int = ECHO_LIMIT) -> str:
    """`value` as text, cut to `limit` characters: a repository is input, and one hostile file held a
    600 KB line, which must not come back as a 600 KB message."""
    text = str(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(text)} characters)"


@dataclass(frozen=True)
class Finding:
    """One problem: where it is, what it does to serving, and what it is."""

    severity: Severity
    file: str  # path relative to the repository root, e.g. "tensorrt_llm/config.pbtxt"
    line: int | None  # 1-based line in that file, when known
    param: str | None  # the parameter / field / tensor concerned
    message: str  # one line: what is wrong and how to fix it
    consequence: Consequence = "advice"
    effect: str = ""  # the consequence spelled out ("replaced by ..."); "" when the level's text says it
    fix: str = ""  # what to change, when the message does not already say it

    @property
    def model(self) -> str:
        """The model directory the finding is about ("." for the repository itself)."""
        return self.file.split("/", 1)[0] if "/" in self.file else self.file

    @property
    def consequence_text(self) -> str:
        return self.effect or CONSEQUENCES[self.consequence][1]

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        what = f" [{self.param}]" if self.param else ""
        fix = f" Fix: {self.fix}" if self.fix else ""
        if self.consequence == "advice" and not self.effect:  # the message says it all
            return f"{where}:{what} {self.message}{fix}"
        return f"{where}:{what} {self.message} — {self.consequence_text}.{fix}"

    def as_json(self) -> dict[str, object]:
        """One entry of `check --json` (schema in `Report.as_json`)."""
        return {
            "model": self.model,
            "file": self.file,
            "line": self.line,
            "key": self.param,
            "severity": self.severity,
            "consequence": self.consequence,
            "effect": self.consequence_text,
            "message": self.message,
            "fix": self.fix or None,
        }


@dataclass
class Report:
    """The result of checking a repository."""

    root: Path
    findings: list[Finding] = field(default_factory=list)
    version: AssumedVersion | None = None  # the backend version(s) the judgement assumes

    @property
    def breaks_serving(self) -> bool:
        """True when a model cannot load or requests fail: what the exit code of `check` says."""
        return any(CONSEQUENCES[f.consequence][0] == "error" for f in self.findings)

    def ordered(self) -> list[Finding]:
        """Worst consequence first, then by file and line: the order `check` prints them in."""
        levels = list(CONSEQUENCES)
        return sorted(self.findings, key=lambda f: (levels.index(f.consequence), f.file, f.line or 0))

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def as_json(self) -> dict[str, object]:
        """`check --json`: a stable schema for CI pipelines.

        {"schema": 1, "repository": str, "breaks_serving": bool,
         "version": {"assumed": "0.9.0-0.10.0" | null, "basis": str},
         "counts": {"errors": int, "warnings": int, "<consequence>": int, ...},
         "findings": [{"model", "file", "line", "key", "severity", "consequence", "effect", "message",
                       "fix"}, ...]}
        with consequence one of cannot_load, requests_fail, invalid (errors), no_effect, default_used,
        advice (warnings). New keys may be added; existing ones keep their meaning.
        """
        counts: dict[str, int] = {"errors": len(self.errors), "warnings": len(self.warnings)}
        for level in CONSEQUENCES:
            counts[level] = sum(f.consequence == level for f in self.findings)
        version = self.version
        return {
            "schema": JSON_SCHEMA_VERSION,
            "repository": str(self.root),
            "breaks_serving": self.breaks_serving,
            "version": {
                "assumed": version.label if version and version.known else None,
                "basis": version.basis if version else "",
            },
            "counts": counts,
            "findings": [f.as_json() for f in self.ordered()],
        }


class Findings:
    """The collector every rule writes into, with the consequence of each finding: `error` for what stops
    the server loading or serving (cannot_load by default), `warn` for what works but not as written
    (advice by default). A finding about a parameter of a model file gets its line."""

    def __init__(self, root: Path) -> None:
        self.report = Report(root)

    def add(
        self,
        consequence: Consequence,
        where: ModelFile | str,
        param: str | None,
        message: str,
        line: int | None = None,
        *,
        effect: str = "",
        fix: str = "",
    ) -> None:
        rel = where if isinstance(where, str) else where.rel
        if line is None and param and not isinstance(where, str):
            line = where.line_of(param)
        shown_param = clip(param, _PARAM_LIMIT) if param is not None else None
        severity = CONSEQUENCES[consequence][0]
        self.report.findings.append(
            Finding(
                severity,
                clip(rel, _PARAM_LIMIT),
                line,
                shown_param,
                clip(message, _MESSAGE_LIMIT),
                consequence,
                clip(effect, _MESSAGE_LIMIT),
                clip(fix, _MESSAGE_LIMIT),
            )
        )

    def error(
        self,
        where: ModelFile | str,
        param: str | None,
        message: str,
        line: int | None = None,
        *,
        consequence: Consequence = "cannot_load",
        effect: str = "",
        fix: str = "",
    ) -> None:
        assert CONSEQUENCES[consequence][0] == "error", consequence
        self.add(consequence, where, param, message, line, effect=effect, fix=fix)

    def warn(
        self,
        where: ModelFile | str,
        param: str | None,
        message: str,
        line: int | None = None,
        *,
        consequence: Consequence = "advice",
        effect: str = "",
        fix: str = "",
    ) -> None:
        assert CONSEQUENCES[consequence][0] == "warning", consequence
        self.add(consequence, where, param, message, line, effect=effect, fix=fix)
