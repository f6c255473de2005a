"""`tritongen ARGS` in-process, through the real entry point, for tests that check exit codes and output."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from tritongen.cli import main


@dataclass
class Run:
    """One CLI run: its exit code and what it wrote to stdout and stderr."""

    code: int
    out: str
    err: str


def run(*args: str | Path) -> Run:
    """`tritongen ARGS` via `main`, the one place that maps errors to exit codes, with CliRunner's capture.

    Through `main`, not `CliRunner.invoke(cli)`: the latter would bypass the error-to-exit-code mapping
    that users see.
    """
    code = -1
    with CliRunner().isolation() as (out, err, _):
        try:
            main([str(arg) for arg in args])
        except SystemExit as exit_info:
            code = exit_info.code if isinstance(exit_info.code, int) else 1
    return Run(code, out.getvalue().decode(), err.getvalue().decode())
