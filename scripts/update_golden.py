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

from tritongen.testing.llmapi_cases import LLMAPI_CASES, llmapi_snapshot, render_llmapi_case
from tritongen.testing.render_cases import GOLDEN_CASES, render_case, snapshot, write_golden


def main(names: list[str]) -> int:
    known = [*GOLDEN_CASES, *LLMAPI_CASES]  # the engine target's cases, then the llmapi target's
    unknown = sorted(set(names) - set(known))
    if unknown:
        print(f"unknown case(s): {', '.join(unknown)}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    for name in names or known:
        with tempfile.TemporaryDirectory() as temporary:
            base = Path(temporary).resolve()
            if name in LLMAPI_CASES:
                write_golden(name, llmapi_snapshot(render_llmapi_case(name, base).output, base))
            else:
                result = render_case(name, base)
                write_golden(name, snapshot(result.output, base))
        print(f"updated tests/golden/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
