"""The click group every command attaches to.

It lives apart from `tritongen.cli` (which holds `main` and imports the command modules) so that
a command module imports the group without importing the package that imports it back.
"""

from __future__ import annotations

import click

from tritongen import __version__

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, prog_name="tritongen")
def cli() -> None:
    """Render, check, launch and benchmark Triton deployments of TensorRT-LLM engines."""
