"""The thin click shell: each command parses options, calls one library function, prints its result.

Exceptions become exit codes in exactly one place, `main`.
"""

from __future__ import annotations

import os
import sys

import click

from tritongen import __version__
from tritongen.errors import TritongenError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="tritongen")
def cli() -> None:
    """Render, check, launch and benchmark Triton deployments of TensorRT-LLM engines."""


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and map tritongen errors to exit codes (the only place that does)."""
    try:
        cli.main(args=argv, prog_name="tritongen", standalone_mode=False)
    except TritongenError as error:
        click.echo(f"error: {error.one_line()}", err=True)
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        click.echo("error: interrupted.", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(2 if isinstance(error, click.UsageError) else error.exit_code)
    except KeyboardInterrupt:
        click.echo("error: interrupted.", err=True)
        sys.exit(130)
    except Exception as error:  # a bug, not a user mistake: one line, the traceback only on request
        if os.environ.get("TRITONGEN_DEBUG"):
            raise
        click.echo(f"error: internal error ({type(error).__name__}: {error}). This is a bug in tritongen: "
                   "rerun with TRITONGEN_DEBUG=1 for the traceback and report it.", err=True)
        sys.exit(1)
    sys.exit(0)


# Each command module adds its commands to `cli` when imported (kept last: they import `cli`).
from tritongen.cli import (  # noqa: F401
    commands_bench,
    commands_client,
    commands_example,
    commands_render,
    commands_serve,
)
