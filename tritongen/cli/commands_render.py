"""Commands that work on files: render, check, explain."""

from __future__ import annotations

from tritongen.cli import cli  # noqa: F401
