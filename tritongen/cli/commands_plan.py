"""`tritongen plan`: the KV cache the GPUs will hold, how many sequences fit, and the fix when none does.

Exit codes: 0 when at least one full-length sequence fits; 6 (ValidationError, as `check` finding an
error) when not even one does: launching that repository would fail or shorten every sequence.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from tritongen.cli._app import cli
from tritongen.cli._options import AT_LEAST_ONE
from tritongen.errors import UsageError, ValidationError

PATH = click.Path(path_type=Path)
FRACTION = click.FloatRange(0, 1, min_open=True, max_open=True)  # the runtime refuses 1.0; 0 holds nothing


class Size(click.ParamType):  # type: ignore[type-arg]  # generic only from click 8.2
    """A memory size: 80GiB, 62.05 GiB, 512MiB, 80GB (powers of 1000), or bytes."""

    name = "size"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> int:
        from tritongen.memory.units import parse_size

        if isinstance(value, int):
            return value
        option = param.opts[0] if param is not None and param.opts else "size"
        try:
            return parse_size(str(value), option=option)
        except UsageError as error:
            self.fail(error.one_line(), param, ctx)


@cli.command("plan")
@click.argument("target", required=False, type=PATH)
@click.option(
    "--engine",
    "engine",
    type=PATH,
    help="Engine directory, Hugging Face checkpoint, or rendered repository (its own parameters).",
)
@click.option(
    "--gpu-memory",
    type=Size(),
    metavar="SIZE",
    help="Each GPU's total memory (80GiB); what loading takes is then estimated. "
    "Default: NVML, when nvidia-ml-py is installed and a GPU is present.",
)
@click.option(
    "--free-memory",
    type=Size(),
    metavar="SIZE",
    help="What the runtime reports available after loading (its log's 'available: 62.05 GiB'): exact.",
)
@click.option(
    "--fraction",
    type=FRACTION,
    metavar="F",
    help="kv_cache_free_gpu_mem_fraction, in (0, 1), instead of the repository's.",
)
@click.option(
    "--max-tokens-in-paged-kv-cache",
    "max_tokens",
    type=AT_LEAST_ONE,
    metavar="N",
    help="max_tokens_in_paged_kv_cache instead of the repository's.",
)
@click.option(
    "--engine-path",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Local copy of a repository's engine when gpt_model_path names a path inside a container.",
)
@click.option("--tp", "tp_size", type=click.IntRange(min=1), help="Tensor parallelism (checkpoints only).")
@click.option("--pp", "pp_size", type=click.IntRange(min=1), help="Pipeline parallelism (checkpoints only).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan(
    target: Path | None,
    engine: Path | None,
    gpu_memory: int | None,
    free_memory: int | None,
    fraction: float | None,
    max_tokens: int | None,
    engine_path: Path | None,
    tp_size: int | None,
    pp_size: int | None,
    as_json: bool,
) -> None:
    """How much KV cache the GPUs will hold for TARGET, how many full-length sequences fit, what to change.

    TARGET (or --engine) is an engine directory, a Hugging Face checkpoint or a model repository, planned
    with the repository's own kv_cache_free_gpu_mem_fraction and max_tokens_in_paged_kv_cache. The figures
    are the TensorRT-LLM runtime's own arithmetic: exact with --free-memory, an estimate from each GPU's
    total with --gpu-memory (or NVML). Exit 0 when at least one full-length sequence fits, 6 when not
    even one does (with the --set line that fixes it).
    """
    from tritongen.memory import describe, load_target, plan_target, to_json
    from tritongen.memory.target import check_fraction
    from tritongen.memory.target import gpu_memory as known_memory

    if (target is None) == (engine is None):
        raise UsageError(
            "give the engine, checkpoint or repository once: `tritongen plan --engine DIR`",
            hint="DIR is an engine directory, a Hugging Face checkpoint or a rendered repository.",
        )
    check_fraction(fraction)
    where = engine if engine is not None else target
    assert where is not None
    loaded = load_target(where, engine_path=engine_path, tp_size=tp_size, pp_size=pp_size)
    memory = known_memory(free_memory=free_memory, gpu_memory=gpu_memory, world_size=loaded.model.world_size)
    result = plan_target(loaded, memory, fraction=fraction, max_tokens=max_tokens)
    if as_json:
        click.echo(json.dumps(to_json(result), indent=2))
    else:
        click.echo(describe(result, str(where)))
    if result.recommendation is not None:
        set_line = result.recommendation.set_line
        raise ValidationError(
            f"not even one full-length sequence ({result.sequence_tokens:,} tokens) fits in the KV cache of {where}",
            hint=f"Re-render with {set_line}, or see the other options above."
            if set_line
            else "See the options above.",
        )
