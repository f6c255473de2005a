"""Commands that talk to a running server or build examples: infer, example."""

from __future__ import annotations

from tritongen.cli import cli  # noqa: F401
