"""`docs/cli.md`: every command's `--help`, generated, so the documentation cannot drift from the code.

Run `python -m tritongen.cli.docs` from the repository root to rewrite it (`--check` only compares).
The help is rendered at a fixed 80 columns, whatever the terminal, so the file is the same on every
machine; `tests/test_cli_docs.py` regenerates it in memory and fails when the checked-in copy differs.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click

from tritongen.cli import cli

DOCS_PATH = Path("docs") / "cli.md"
REGENERATE = "python -m tritongen.cli.docs"
WIDTH = 80

HEADER = f"""# Command-line reference

<!-- Generated from --help by `{REGENERATE}`: do not edit. -->

Every command's `--help`, at {WIDTH} columns. Exit codes are listed in the README.
"""


def cli_markdown() -> str:
    """The whole reference: the group's help, then each command's in the order `tritongen --help` lists."""
    sections = [HEADER]
    for context in _contexts(cli, "tritongen", None):
        title = context.command_path
        sections.append(f"## {title}\n\n```text\n{context.command.get_help(context).rstrip()}\n```\n")
    return "\n".join(sections)


def _contexts(command: click.Command, name: str, parent: click.Context | None) -> Iterator[click.Context]:
    settings = {**cli.context_settings, "terminal_width": WIDTH, "max_content_width": WIDTH}
    context = click.Context(command, info_name=name, parent=parent, **settings)
    yield context
    if isinstance(command, click.Group):
        for sub_name in command.list_commands(context):
            sub = command.get_command(context, sub_name)
            if sub is not None and not sub.hidden:
                yield from _contexts(sub, sub_name, context)


def main(argv: list[str] | None = None) -> int:
    """Write docs/cli.md (relative to the working directory), or with --check report whether it is current."""
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    text = cli_markdown()
    current = DOCS_PATH.read_text(encoding="utf-8") if DOCS_PATH.is_file() else None
    if check:
        if current == text:
            return 0
        print(f"{DOCS_PATH} is out of date: run `{REGENERATE}`", file=sys.stderr)
        return 1
    if current != text:
        DOCS_PATH.parent.mkdir(parents=True, exist_ok=True)
        DOCS_PATH.write_text(text, encoding="utf-8")
        print(f"wrote {DOCS_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
