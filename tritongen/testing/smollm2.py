"""The real SmolLM2-135M-Instruct checkpoint (`tritongen example`'s), and repositories rendered for it.

`smollm2_checkpoint()` builds the checkpoint once into `$TRITONGEN_CACHE_DIR/examples/smollm2`
(default ~/.cache/tritongen) and reuses it afterwards: the build takes about 30 s, so every test,
benchmark and reliability run asks for this one copy.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from tritongen.defaults import cache_dir


def smollm2_checkpoint() -> Path:
    """The checkpoint directory, built on first use and reused afterwards (offline: never downloads)."""
    from tritongen.example import build_smollm2

    os.environ["HF_HUB_OFFLINE"] = "1"
    return build_smollm2(cache_dir() / "examples" / "smollm2")


def render_repository(
    checkpoint: Path, output: Path, *, decoupled: bool = True, settings: Sequence[str] = ()
) -> Path:
    """`tritongen render` a repository for `checkpoint` into `output` (settings: KEY=VALUE overrides)."""
    from click.testing import CliRunner

    from tritongen.cli import cli

    args = [
        "render",
        "--engine",
        str(checkpoint),
        "--output",
        str(output),
        "--placement",
        "reference",
        "--force",
    ]
    for setting in settings:
        args += ["--set", setting]
    if not decoupled:
        args.append("--no-streaming")
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    if result.exit_code != 0:
        raise RuntimeError(f"tritongen render failed ({result.exit_code}):\n{result.output}")
    return output
