"""Where the test data lives: the source checkout's `tests/` directory, and the vendored corpus in it.

`tritongen.testing` is for a source checkout (tests, scripts, benchmarks), not for an installed wheel:
the data it builds on (the corpus, the tiny launch fixture, the stand-in models) stays under `tests/`,
so these paths are the one place that knows the layout.
"""

from __future__ import annotations

from pathlib import Path

SOURCE_ROOT: Path = Path(__file__).resolve().parents[2]
TESTS_DIR: Path = SOURCE_ROOT / "tests"
FIXTURES_DIR: Path = TESTS_DIR / "fixtures"
CORPUS: Path = TESTS_DIR / "corpus"
"""Real engine configs (`engines/<name>/config.json`) and hand-filled repositories (`filled_repos/`);
their provenance is in `CORPUS / "SOURCES.md"`."""
