"""scripts/make_docs.py --merge: the parts of a separate reliability run added to the saved one.

New parts run on their own (the slow load, faults and fuzz parts need not run again); the page must then
show every part once, the table rebuilt from all of them, and which run gave which part.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tritongen.testing import FIXTURES_DIR, SOURCE_ROOT

SAMPLE = FIXTURES_DIR / "make_docs" / "reliability-step.json"
NEW_PARTS = ("stub-death", "supervisor-death", "hostile-paths")


@pytest.fixture(scope="module")
def make_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_docs", SOURCE_ROOT / "scripts" / "make_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_docs"] = module
    spec.loader.exec_module(module)
    return module


def split_sample() -> tuple[dict[str, Any], dict[str, Any]]:
    """(a step with the five earlier parts, a reliability.py --json document with the three new ones)."""
    step: dict[str, Any] = json.loads(SAMPLE.read_text())
    results = step["json"]["results"]
    base = copy.deepcopy(step)
    base["json"]["results"] = [r for r in results if r["part"] not in NEW_PARTS]
    document = {
        **copy.deepcopy(step["json"]),
        "command": (
            "scripts/reliability.py --full --parts stub-death,supervisor-death,hostile-paths "
            "--json /tmp/new.json --work /tmp/work"
        ),
        "mode": "full",
        "started_at": "2026-12-05T01:00:00+00:00",
        "duration_s": 100.0,
        "sizes": {"mode": "full", "stub_trials": 10, "hostile_cases": 500},
        "results": [{**r, "mode": "full"} for r in results if r["part"] in NEW_PARTS],
    }
    return base, document


def test_merge_adds_the_new_parts_and_keeps_the_old_ones(make_docs: ModuleType) -> None:
    base, document = split_sample()
    merged = make_docs.merge_reliability(base, [document])
    data = merged["json"]
    assert [r["part"] for r in data["results"]] == [
        "load",
        "faults",
        "engine-fuzz",
        "request-fuzz",
        "serving-faults",
        *NEW_PARTS,
    ]
    table = data["table"].splitlines()
    assert [line.split()[0] for line in table] == ["part", *(r["part"] for r in data["results"])]
    assert [run["parts"] for run in data["runs"]] == [
        ["load", "faults", "engine-fuzz", "request-fuzz", "serving-faults"],
        list(NEW_PARTS),
    ]
    # where the figures went (--json, --work) is not how they were made
    assert data["runs"][1]["command"] == (
        ".venv/bin/python scripts/reliability.py --full --parts stub-death,supervisor-death,hostile-paths"
    )
    assert (
        data["mode"] == "mixed"
        and data["sizes"]["stub_trials"] == 10
        and data["sizes"]["load_requests"] == 20
    )
    assert data["ok"] is False and merged["exit_code"] == 1  # the sample's hostile-paths and faults fail

    page = make_docs.reliability_markdown(merged, quick=False)
    assert "- **Runs** (merged with `scripts/make_docs.py --merge`" in page
    assert "## Stub death (kill -9 of a Python-backend stub)" in page
    assert "## Supervisor death (kill -9 of tritongen launch)" in page
    assert "## Hostile repository paths in the cluster files" in page
    assert "| 1 | torch-tp2 | tensorrt_llm | 1 | 7 | 2.9 s | 0.3 s | True | 0 | 0 |" in page
    assert "| 0 | smollm2-ws1 | 9.0 s | 6 | 3.7 s | 0 | 0 |" in page
    assert "| kill_to_not_ready_max_s | 0.4 |" in page and "| injections | 0 |" in page
    assert "{{" not in page and "{%" not in page


def test_a_part_run_again_replaces_the_old_figures_and_its_run(make_docs: ModuleType) -> None:
    base, document = split_sample()
    once = make_docs.merge_reliability(base, [document])
    again = {
        **document,
        "started_at": "2026-12-05T02:00:00+00:00",
        "results": [{**r, "duration_s": 7.0} for r in document["results"] if r["part"] == "hostile-paths"],
    }
    twice = make_docs.merge_reliability(once, [again])
    data = twice["json"]
    assert [r["part"] for r in data["results"]].count("hostile-paths") == 1
    assert next(r for r in data["results"] if r["part"] == "hostile-paths")["duration_s"] == 7.0
    assert [(run["started_at"], run["parts"]) for run in data["runs"][1:]] == [
        ("2026-12-05T01:00:00+00:00", ["stub-death", "supervisor-death"]),
        ("2026-12-05T02:00:00+00:00", ["hostile-paths"]),
    ]


def test_merge_from_the_command_line_rewrites_the_page_and_saves_the_record(
    make_docs: ModuleType, tmp_path: Path
) -> None:
    base, document = split_sample()
    results = tmp_path / "results"
    results.mkdir()
    (results / "reliability-step.json").write_text(json.dumps(base))
    (tmp_path / "new.json").write_text(json.dumps(document))
    code = make_docs.main(
        [
            "--only",
            "reliability",
            "--from-results",
            "--results",
            str(results),
            "--docs",
            str(tmp_path / "docs"),
            "--merge",
            str(tmp_path / "new.json"),
        ]
    )
    assert code == 1  # the sample holds failing parts: the page says so, and so does the exit code
    saved = json.loads((results / "reliability-step.json").read_text())
    assert [r["part"] for r in saved["json"]["results"]][-3:] == list(NEW_PARTS)
    assert (
        "## Hostile repository paths in the cluster files"
        in (tmp_path / "docs" / "reliability.md").read_text()
    )
