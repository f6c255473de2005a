"""Regenerate tests/golden/ on purpose, after a deliberate change to the templates, catalogue or plan.

    .venv/bin/python scripts/update_golden.py            # every case
    .venv/bin/python scripts/update_golden.py CASE ...   # some cases

Review the diff (git diff tests/golden) before committing: every change there is a change in what
users get.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from render_support import GOLDEN_CASES, render_case, snapshot, write_golden


def main(names: list[str]) -> int:
    unknown = sorted(set(names) - set(GOLDEN_CASES))
    if unknown:
        print(f"unknown case(s): {', '.join(unknown)}; known: {', '.join(GOLDEN_CASES)}", file=sys.stderr)
        return 2
    for name in names or list(GOLDEN_CASES):
        with tempfile.TemporaryDirectory() as temporary:
            base = Path(temporary).resolve()
            result = render_case(name, base)
            write_golden(name, snapshot(result.output, base))
        print(f"updated tests/golden/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
