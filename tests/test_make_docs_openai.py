"""docs/benchmarks.md's "The OpenAI route" section: rendered from saved bench_openai.py results and
spliced into the page on its own (`scripts/make_docs.py --only openai-route`), the rest left as it was.

The sample (tests/fixtures/make_docs/openai-route-steps.json) is a real `--only openai-route` manifest,
its step outputs shortened: the two `scripts/bench_openai.py --json` documents, the first with the
`scripts/compare_aiperf.sh --api openai` comparison.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tritongen.testing import FIXTURES_DIR, SOURCE_ROOT

SAMPLE = FIXTURES_DIR / "make_docs"
PAGE = SOURCE_ROOT / "docs" / "benchmarks.md"


@pytest.fixture(scope="module")
def make_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_docs", SOURCE_ROOT / "scripts" / "make_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_docs"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def section() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLE / "openai-route-steps.json").read_text())
    return data


def headings(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if re.match(r"#{1,6} ", line)]


def test_the_section_shows_every_figure_and_command(make_docs: ModuleType, section: dict[str, Any]) -> None:
    text = make_docs.openai_route_markdown(section)
    assert text.startswith(make_docs.OPENAI_ROUTE_START) and text.rstrip().endswith(
        make_docs.OPENAI_ROUTE_END
    )
    assert headings(text) == ["## The OpenAI route"] and "{{" not in text and "{%" not in text
    n = make_docs._n
    real, zero = (step["json"] for step in section["steps"])
    for level, row in real["levels"].items():
        assert f"| {level} | {n(row['direct_ttft_p50_ms'])} | {n(row['route_ttft_p50_ms'])} | " in text
    for level, row in zero["levels"].items():
        assert f"| {level} | {n(row['route_cpu_ms_per_request'])} | " in text
    comparison = real["aiperf"]["comparison"]
    ttft = [comparison[side]["TTFT p50 ms"] for side in ("tritongen", "aiperf", "aiperf_usage")]
    assert f"| TTFT p50 ms | {' | '.join(n(v) for v in ttft)} |" in text
    inputs = comparison["aiperf_usage"]["mean input tokens"]
    assert inputs > comparison["aiperf"]["mean input tokens"]  # the templated prompt is the longer
    assert f"chat-templated prompt that the model really reads ({n(inputs)}" in text
    for step in section["steps"]:
        assert step["command"] in text
    assert real["aiperf"]["command"] in text and "failed (exit" not in text


def test_a_failed_run_is_shown_and_its_table_left_out(make_docs: ModuleType, section: dict[str, Any]) -> None:
    broken = copy.deepcopy(section)
    broken["steps"][1].update(exit_code=1, json=None, stdout="", stderr_tail="the route was not healthy")
    text = make_docs.openai_route_markdown(broken)
    assert f"**`{broken['steps'][1]['command']}` failed (exit 1).**" in text
    assert "the route was not healthy" in text and "zero-cost `tensorrt_llm`.**" not in text
    assert "| TTFT p50 ms |" in text  # the other run's figures stay
    assert "Not measured yet" in make_docs.openai_route_markdown(None)


def test_only_the_section_is_rewritten(
    make_docs: ModuleType, section: dict[str, Any], tmp_path: Path
) -> None:
    docs, results = tmp_path / "docs", tmp_path / "results"
    docs.mkdir()
    results.mkdir()
    committed = PAGE.read_text()
    start, end = committed.find(make_docs.OPENAI_ROUTE_START), committed.find(make_docs.OPENAI_ROUTE_END)
    assert 0 < start < end  # the committed page has the section
    outside = committed[:start], committed[end + len(make_docs.OPENAI_ROUTE_END) :]
    unmeasured = make_docs.splice_openai_route(committed, make_docs.openai_route_markdown(None))
    (docs / "benchmarks.md").write_text(unmeasured)
    (results / "openai-route-steps.json").write_text(json.dumps(section))
    argv = ["--only", "openai-route", "--from-results", "--results", str(results), "--docs", str(docs)]
    assert make_docs.main(argv) == 0
    page = (docs / "benchmarks.md").read_text()
    assert page.startswith(outside[0]) and page.endswith(outside[1])  # the other figures are untouched
    assert page == make_docs.splice_openai_route(page, make_docs.openai_route_markdown(section))  # idempotent
    # A page from before the section gets it where the template puts it, before the step sections.
    without = outside[0].rstrip("\n") + "\n" + outside[1].lstrip("\n")
    added = make_docs.splice_openai_route(without, make_docs.openai_route_markdown(section))
    assert headings(added) == headings(committed)
