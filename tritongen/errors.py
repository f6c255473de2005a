"""One exception hierarchy for every user-facing failure.

Each class carries its exit code; the CLI maps exceptions to exit codes in exactly one place
(`tritongen.cli.main`). Library code raises these and never prints or exits. A message is one line
that says what is wrong; `hint` says how to fix it.

Exit codes (documented in the README):

====  ======================  ====================================================================
code  class                   meaning
====  ======================  ====================================================================
0     -                       success
1     TritongenError          unexpected internal failure (a bug: please report it)
2     UsageError              bad command-line flags, unknown or badly typed ``--set`` keys
3     EngineError             engine / checkpoint directory missing, unreadable or inconsistent
4     TokenizerError          the tokenizer cannot be found or loaded
5     OutputError             output path exists (without ``--force``), is a file, or is not writable
6     ValidationError         a model repository failed ``check`` (errors, not warnings)
7     LaunchError             tritonserver/mpirun missing, ports busy, world-size mismatch, rank died
8     ServerRequestError      the server answered a request with an error or cannot be reached
130   Interrupted             stopped by SIGINT/SIGTERM before finishing
====  ======================  ====================================================================
"""

from __future__ import annotations


class TritongenError(Exception):
    """Base class: an unexpected failure. Subclasses are user errors with a fix."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message and the hint, on one line, as the CLI prints it."""
        text = self.message.rstrip(".")
        return f"{text}. {self.hint}" if self.hint else f"{text}."


class UsageError(TritongenError):
    """Bad flags or overrides."""

    exit_code = 2


class EngineError(TritongenError):
    """The engine or checkpoint directory cannot be used."""

    exit_code = 3


class TokenizerError(TritongenError):
    """The tokenizer cannot be loaded."""

    exit_code = 4


class OutputError(TritongenError):
    """The output path cannot be written safely."""

    exit_code = 5


class ValidationError(TritongenError):
    """A model repository has errors."""

    exit_code = 6


class LaunchError(TritongenError):
    """The server could not be started or a rank died."""

    exit_code = 7


class ServerRequestError(TritongenError):
    """A request to a running server failed."""

    exit_code = 8


class Interrupted(TritongenError):
    """Stopped by a signal."""

    exit_code = 130


EXIT_CODES: dict[str, int] = {
    cls.__name__: cls.exit_code
    for cls in (
        TritongenError,
        UsageError,
        EngineError,
        TokenizerError,
        OutputError,
        ValidationError,
        LaunchError,
        ServerRequestError,
        Interrupted,
    )
}
