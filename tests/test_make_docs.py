"""scripts/make_docs.py renders docs/reliability.md and docs/benchmarks.md from templates.

The full run takes about an hour; these tests render the templates from a small recorded sample
(tests/fixtures/make_docs: every part and every benchmark step, passing and failing) and check that the
pages keep the structure of the committed docs, so a template edit that drops or renames a section fails
here rather than at the next regeneration.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from types import ModuleType
from typing import Any

import pytest

from tritongen.testing import FIXTURES_DIR, SOURCE_ROOT

SAMPLE = FIXTURES_DIR / "make_docs"
DOCS = SOURCE_ROOT / "docs"


@pytest.fixture(scope="module")
def make_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_docs", SOURCE_ROOT / "scripts" / "make_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_docs"] = module  # dataclasses and typing resolve names through sys.modules
    spec.loader.exec_module(module)
    return module


def headings(markdown: str) -> list[str]:
    """The Markdown headings, outside code fences."""
    found, fenced = [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,6} ", line):
            found.append(line)
    return found


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLE / name).read_text())
    return data


def test_reliability_page_has_the_committed_sections_and_every_figure(make_docs: ModuleType) -> None:
    step = sample("reliability-step.json")
    page = make_docs.reliability_markdown(step, quick=True)
    assert headings(page) == headings((DOCS / "reliability.md").read_text())
    assert "do not edit by hand" in page and "{{" not in page and "{%" not in page
    rows = {row.split(" | ")[0].lstrip("| ") for row in page.splitlines() if row.startswith("| ")}
    for key in ("errors", "memory_growth_pct", "kill_to_exit_max_s", "partial_writes", "unexpected_5xx"):
        assert key in rows  # one figure of each part, in its table
    assert "| cancelled | 2 of 2 |" in page and "| health_checks_passed | 2 of 2 |" in page
    assert "**1/2 trials passed, 1 failed (FAIL), 30 s.**" in page
    assert "- 6 x `error: PATH has no config.json | a pipe`" in page and "- 4 x `(none: exit 0)`" in page
    assert "Note: a note with 'backticks' and a line break" in page
    assert "$WORK/stack/smollm2-repo" in page  # temporary paths tidied for the reader
    assert page.endswith("with the crashing body.\n")


def test_reliability_page_reports_a_run_that_wrote_no_results(make_docs: ModuleType) -> None:
    step = {
        **sample("reliability-step.json"),
        "json": None,
        "stdout": "partial",
        "stderr_tail": " and broken",
    }
    page = make_docs.reliability_markdown(step, quick=False)
    assert headings(page) == ["# Reliability", "## How to run it", "## Last run"]
    assert "The run failed before it wrote its results (exit 1):\n\n```\npartial and broken\n```\n" in page


def test_benchmarks_page_has_the_committed_sections_and_its_tables(make_docs: ModuleType) -> None:
    saved = sample("benchmarks-steps.json")
    page = make_docs.benchmarks_markdown(saved["bench"], saved["machine"], saved["quick"])
    assert headings(page) == headings((DOCS / "benchmarks.md").read_text())
    assert "{{" not in page and "{%" not in page
    assert "| streaming (default) | ensemble | 1 | 2000 | 0 | 250 | 1.20 | 0.90 | 0.30 | 1.79 |" in page
    # The --no-streaming floor run failed: its columns are empty, the failure is shown above the table.
    assert "| --no-streaming | ensemble | 1 | 2000 | 0 | 250 | 1.20 | - | - | 1.79 |" in page
    assert "**`bash scripts/bench_pipeline_stub.sh --no-streaming --floor` failed (exit 1).**" in page
    assert "**The command failed (exit 3, after 5 s).** Its output:\n\n```\npartial output\nTraceback" in page
    assert "| 1 | 16 | 0 | 0.81 | 12.9 | 120 / 150 / 1500 | 60.0 / 61.0 / 70.0 | - |" in page
    assert "First errors: `HTTP 500: 'boom'`" in page
    assert "| tensorrt_llm_bls | 32 | 38 | 2 | 12.0 | 180 | - | 0.05 | 2500 |" in page
    assert "Its output, verbatim (the script writes no JSON):\n\n```\nrender median 0.31 s\n```" in page
    assert page.endswith("_60 s._\n")
