"""docs/cli.md is every command's --help, regenerated here in memory: it cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from tritongen.cli import cli, docs
from tritongen.cli.docs import DOCS_PATH, REGENERATE, WIDTH, cli_markdown

ROOT = Path(__file__).resolve().parent.parent


def test_docs_cli_md_is_current() -> None:
    checked_in = (ROOT / DOCS_PATH).read_text(encoding="utf-8")
    assert checked_in == cli_markdown(), (
        f"{DOCS_PATH} is out of date: run `{REGENERATE}` from the repository root"
    )


def test_the_reference_has_every_command_at_a_fixed_width() -> None:
    text = cli_markdown()
    for name in cli.commands:
        assert f"## tritongen {name}\n" in text
    assert "## tritongen example smollm2\n" in text
    blocks = [block.split("```")[0] for block in text.split("```text\n")[1:]]
    assert len(blocks) == len(cli.commands) + 2  # the group, every command, and `example smollm2`
    assert all(len(line) <= WIDTH for block in blocks for line in block.splitlines())


def test_the_reference_does_not_depend_on_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    first = cli_markdown()
    monkeypatch.setenv("COLUMNS", "200")
    assert cli_markdown() == first


def test_the_generator_writes_then_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert docs.main(["--check"]) == 1
    assert capsys.readouterr().err == f"{DOCS_PATH} is out of date: run `{REGENERATE}`\n"
    assert docs.main([]) == 0 and (tmp_path / DOCS_PATH).read_text(encoding="utf-8") == cli_markdown()
    assert docs.main(["--check"]) == 0
    (tmp_path / DOCS_PATH).write_text("stale\n", encoding="utf-8")
    assert docs.main(["--check"]) == 1
