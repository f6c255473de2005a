"""The thin click shell: each command parses options, calls one library function, prints its result.

Exceptions become exit codes in exactly one place, `main`. The group is defined in `_app` and each
command module adds its commands to it when imported below; shared options live in `_options`.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

import click

from tritongen.cli import (
    commands_bench,
    commands_client,
    commands_example,
    commands_openai,
    commands_plan,
    commands_render,
    commands_serve,
)
from tritongen.cli._app import cli
from tritongen.errors import TritongenError

COMMAND_MODULES = (
    commands_bench,
    commands_client,
    commands_example,
    commands_openai,
    commands_plan,
    commands_render,
    commands_serve,
)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and map exceptions to exit codes (the only place that does)."""
    _sigterm_interrupts()
    try:
        cli.main(args=argv, prog_name="tritongen", standalone_mode=False)
    except TritongenError as error:
        _fail(error.one_line(), error.exit_code)
    except click.exceptions.Abort:
        _fail("interrupted.", 130)
    except click.exceptions.NoArgsIsHelpError as error:  # `tritongen` alone: the help, not an error line
        error.show()
        sys.exit(2)
    except click.UsageError as error:  # bad flags: one line like every other user mistake, exit 2
        where = f" See '{error.ctx.command_path} --help'." if error.ctx is not None else ""
        _fail(_sentence(error.format_message()) + where, 2)
    except click.ClickException as error:
        _fail(_sentence(error.format_message()), error.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted.", 130)
    except Exception as error:  # a bug, not a user mistake: one line, the traceback only on request
        if os.environ.get("TRITONGEN_DEBUG"):
            raise
        _fail(
            f"internal error ({type(error).__name__}: {error}). This is a bug in tritongen: "
            "rerun with TRITONGEN_DEBUG=1 for the traceback and report it.",
            1,
        )
    sys.exit(0)


def _sigterm_interrupts() -> None:
    """SIGTERM (kill, systemd, a container stop) ends a command as Ctrl-C does: KeyboardInterrupt, so
    every `finally` runs (a render's temporary directory is removed) and the exit code is 130."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_interrupt)


def _raise_interrupt(signum: int, frame: object) -> None:  # noqa: ARG001 (signal handler signature)
    raise KeyboardInterrupt


def _fail(line: str, code: int) -> None:
    click.echo(f"error: {line}", err=True)
    sys.exit(code)


def _sentence(message: str) -> str:
    """Click's message as one sentence on one line, begun in lower case like tritongen's own messages."""
    text = " ".join(message.split())
    if text[1:2].islower():  # "Invalid value" → "invalid value", but not "PROMPT" → "pROMPT"
        text = text[:1].lower() + text[1:]
    return text if text.endswith((".", "?", "!")) else f"{text}."


__all__ = ["COMMAND_MODULES", "cli", "main"]
