"""Commands that work on processes: launch, status, stop, infer, bench, example."""

from __future__ import annotations

from tritongen.cli import cli  # noqa: F401
