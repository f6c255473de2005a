"""Commands that work on files: render, check, explain."""

from __future__ import annotations

from pathlib import Path

import click

from tritongen import defaults
from tritongen.cli._app import cli
from tritongen.cli._options import AT_LEAST_ONE
from tritongen.errors import UsageError, ValidationError
from tritongen.render.pipeline import CLUSTER_FILES
from tritongen.render.placement import PLACEMENTS

SLURM_FILE, K8S_FILE = CLUSTER_FILES


@cli.command()
@click.option(
    "--engine",
    "engine",
    required=True,
    type=click.Path(path_type=Path),
    help="TensorRT-LLM engine directory (config.json + rank engines) or Hugging Face checkpoint.",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    help=f"Repository to write. Default: {defaults.REPOS_DIR}/<engine directory name>.",
)
@click.option(
    "--tokenizer",
    type=click.Path(path_type=Path),
    help="Hugging Face tokenizer directory. Default: the engine directory.",
)
@click.option(
    "--backend-version",
    metavar="V",
    help="TensorRT-LLM backend version to render for. Default: the engine's version.",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Set a parameter (NAME or MODEL.NAME); repeatable; an empty value unsets it.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    help="YAML file of `name: value` and/or `model: {name: value}` overrides (--set wins).",
)
@click.option(
    "--placement",
    type=click.Choice(PLACEMENTS),
    default="symlink",
    show_default=True,
    help="How the engine is put in tensorrt_llm/1/engine (reference: left where it is).",
)
@click.option("--force", is_flag=True, help="Replace an existing repository.")
@click.option("--dry-run", is_flag=True, help="Show what would be written; write nothing.")
@click.option(
    "--tp", "tp_size", type=AT_LEAST_ONE, metavar="N", help="Tensor parallelism (checkpoints only)."
)
@click.option(
    "--pp", "pp_size", type=AT_LEAST_ONE, metavar="N", help="Pipeline parallelism (checkpoints only)."
)
@click.option("--no-streaming", is_flag=True, help="Render non-decoupled models (no streaming).")
@click.option(
    "--target",
    type=click.Choice(("engine", "llmapi")),
    default="engine",
    show_default=True,
    help="engine: the five-model repository; llmapi: upstream's one-model LLM-API repository (a checkpoint).",
)
@click.option(
    "--emit-trtllm-serve-config",
    "serve_config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="With --target llmapi: also write the LLM arguments as a `trtllm-serve --config` file.",
)
@click.option(
    "--slurm", is_flag=True, help=f"Also write a Slurm batch script ({SLURM_FILE}, srun --mpi=pmix)."
)
@click.option("--k8s", is_flag=True, help=f"Also write a Kubernetes LeaderWorkerSet manifest ({K8S_FILE}).")
@click.option(
    "--gpus-per-node",
    type=AT_LEAST_ONE,
    metavar="N",
    default=defaults.GPUS_PER_NODE,
    show_default=True,
    help="GPUs per node, for --slurm/--k8s.",
)
@click.option("--image", help="Container image for --k8s (and pyxis --container-image for --slurm).")
def render(
    engine: Path,
    output: Path | None,
    tokenizer: Path | None,
    backend_version: str | None,
    sets: tuple[str, ...],
    config_file: Path | None,
    placement: str,
    force: bool,
    dry_run: bool,
    tp_size: int | None,
    pp_size: int | None,
    no_streaming: bool,
    slurm: bool,
    k8s: bool,
    gpus_per_node: int,
    image: str | None,
    target: str,
    serve_config: Path | None,
) -> None:
    """Render a Triton model repository for an engine, validate it, and move it into place."""
    from tritongen.render.pipeline import render_engine

    if target == "llmapi":
        _render_llmapi(
            engine, output=output, backend_version=backend_version, sets=sets, config_file=config_file,
            force=force, dry_run=dry_run, tp_size=tp_size, pp_size=pp_size, streaming=not no_streaming,
            serve_config=serve_config, cluster=(slurm, k8s, gpus_per_node, image), tokenizer=tokenizer,
        )  # fmt: skip
        return
    if serve_config is not None:
        raise UsageError("--emit-trtllm-serve-config needs --target llmapi", hint="Add --target llmapi.")

    if k8s and not image:
        raise UsageError(
            "--k8s needs --image: the LeaderWorkerSet pods must name a container image",
            hint="Add --image, e.g. nvcr.io/nvidia/tritonserver:<yy.mm>-trtllm-python-py3.",
        )
    result = render_engine(
        engine,
        output=output,
        tokenizer=tokenizer,
        backend_version=backend_version,
        sets=sets,
        config_file=config_file,
        placement=placement,
        force=force,
        dry_run=dry_run,
        tp_size=tp_size,
        pp_size=pp_size,
        streaming=not no_streaming,
    )
    for status in result.files:
        if dry_run or status.status != "identical":
            click.echo(f"  {status.status:<9} {status.path}")
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if not dry_run:
        _warn_kv_cache(result.output)
    plan, spec = result.plan, result.plan.spec
    shown = _shown_path(result.output)
    where = (
        f"{shown} (backend {plan.backend_version}, {plan.generation} layout, world size {spec.world_size}: "
        f"tp {spec.tp_size} x pp {spec.pp_size})"
    )
    if dry_run:
        click.echo(f"Dry run: would render {where}; nothing written.")
        return
    click.echo(f"{'Rendered' if result.written else 'Up to date:'} {where}.")
    if slurm or k8s:
        for written in _write_cluster_files(
            result.output, slurm=slurm, k8s=k8s, gpus_per_node=gpus_per_node, image=image
        ):
            click.echo(f"  wrote     {written.name}")
    if any(s.name == "decoupled_mode" and s.model == "tensorrt_llm" and s.value for s in plan.settings):
        # Users with plain-infer clients (upstream's end_to_end_test.py) otherwise learn it from a 501.
        click.echo(
            "note: decoupled (streaming): plain ModelInfer (client.infer) to tensorrt_llm, tensorrt_llm_bls or "
            "ensemble is refused; use gRPC streaming (also for stream=false) or HTTP generate, or render "
            "--no-streaming for plain ModelInfer"
        )
    click.echo(f"Next: tritongen launch {shown}")


def _warn_kv_cache(repo: Path) -> None:
    """Warn when not even one full-length sequence fits in the KV cache (when the GPU memory is known)."""
    from tritongen.memory import preflight

    problem = preflight(repo)
    if problem is not None:
        click.echo(f"warning: {problem.one_line()}", err=True)


def _render_llmapi(
    engine: Path, *, serve_config: Path | None, cluster: tuple[bool, bool, int, str | None], **options: object
) -> None:
    """`render --target llmapi`: upstream's one-model LLM-API repository (tritongen.render.llmapi), and its
    Slurm script (`srun ... trtllm-llmapi-launch tritonserver`) and LeaderWorkerSet (mpirun on the leader)."""
    from tritongen.render.llmapi import render_llmapi

    slurm, k8s, gpus_per_node, image = cluster
    if k8s and not image:
        raise UsageError(
            "--k8s needs --image: the LeaderWorkerSet pods must name a container image",
            hint="Add --image, e.g. nvcr.io/nvidia/tritonserver:<yy.mm>-trtllm-python-py3.",
        )
    result = render_llmapi(engine, trtllm_serve_config=serve_config, **options)  # type: ignore[arg-type]
    for status in result.files:
        if result.dry_run or status.status != "identical":
            click.echo(f"  {status.status:<9} {status.path}")
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    plan = result.plan
    where = (
        f'{_shown_path(result.output)} (llmapi, TensorRT-LLM {plan.version} tensors "{plan.contract.name}", '
        f"LLM world size {plan.world_size}, {'decoupled' if plan.decoupled else 'not decoupled'})"
    )
    if result.dry_run:
        click.echo(f"Dry run: would render {where}; nothing written.")
        return
    click.echo(f"{'Rendered' if result.written else 'Up to date:'} {where}.")
    _warn_kv_cache(result.output)
    if serve_config is not None:
        click.echo(f"  wrote     {serve_config} (trtllm-serve --config)")
    if slurm:
        from tritongen.launch.llmapi_cluster import llmapi_slurm_script

        text = llmapi_slurm_script(
            result.output, gpus_per_node=gpus_per_node, image=image, name=result.output.name
        )
        temporary = result.output / f".{SLURM_FILE}.tmp"
        temporary.write_text(text)
        temporary.chmod(0o755)
        temporary.replace(result.output / SLURM_FILE)
        click.echo(f"  wrote     {SLURM_FILE}")
    if k8s:
        from tritongen.launch.llmapi_cluster import llmapi_cluster_spec, llmapi_leaderworkerset_yaml

        spec = llmapi_cluster_spec(
            result.output, gpus_per_node=gpus_per_node, image=image, name=result.output.name
        )
        temporary = result.output / f".{K8S_FILE}.tmp"
        temporary.write_text(llmapi_leaderworkerset_yaml(spec))
        temporary.replace(result.output / K8S_FILE)
        click.echo(f"  wrote     {K8S_FILE}")
    click.echo(f"Next: tritongen launch {_shown_path(result.output)}")


def _write_cluster_files(
    repo: Path, *, slurm: bool, k8s: bool, gpus_per_node: int, image: str | None
) -> list[Path]:
    """Cluster launch files beside the models (files at the root: Triton only loads directories)."""
    from tritongen.launch.cluster import cluster_spec, leaderworkerset_yaml, slurm_batch_script

    spec = cluster_spec(repo, gpus_per_node=gpus_per_node, image=image, name=repo.name)
    written = []
    for wanted, name, text in (
        (slurm, SLURM_FILE, slurm_batch_script),
        (k8s, K8S_FILE, leaderworkerset_yaml),
    ):
        if wanted:
            target = repo / name
            temporary = target.with_name(f".{name}.tmp")
            temporary.write_text(text(spec))
            if name == SLURM_FILE:
                temporary.chmod(0o755)
            temporary.replace(target)
            written.append(target)
    return written


def _shown_path(path: Path) -> str:
    """The path relative to the working directory when it is below it (shorter to copy)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@cli.command()
@click.argument("repo", type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@click.option("--no-tokenizer", is_flag=True, help="Do not load the tokenizers (faster; no transformers).")
@click.option(
    "--engine",
    "engine",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="Check against this engine directory instead of the one gpt_model_path names "
    "(e.g. when the path only exists inside the serving container).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the report as JSON for CI pipelines: {schema: 1, repository, breaks_serving, version: "
    "{assumed, basis}, counts, findings: [{model, file, line, key, severity, consequence, effect, message, "
    "fix}]}; consequence is cannot_load, requests_fail or invalid (errors) or no_effect, default_used, "
    "advice (warnings). The exit code is the same as without --json.",
)
def check(repo: Path, strict: bool, no_tokenizer: bool, engine: Path | None, as_json: bool) -> None:
    """Check any model repository REPO: config syntax, ensemble wiring, engine and tokenizer, each value
    judged by what the backend release it was written for does with it.

    Every finding says its consequence: the model cannot load, every request through it fails, the value
    is invalid (and what replaces it), it has no effect, or a placeholder was left and which default is
    used. The exit code is non-zero when anything would break serving (or, with --strict, on warnings).
    """
    import json

    from tritongen.check.validate import check_repository

    report = check_repository(repo, engine_dir=engine, load_tokenizer=not no_tokenizer)
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
        failing = len(report.errors) + (len(report.warnings) if strict else 0)
        if failing:
            raise ValidationError(
                f"{repo} has {failing} findings that fail the check", hint="See the JSON report."
            )
        return
    ordered = report.ordered()
    if report.errors:
        click.echo(f"{len(report.errors)} error(s):")
        for finding in (f for f in ordered if f.severity == "error"):
            click.echo(f"  {finding}")
    if report.warnings:
        click.echo(f"{len(report.warnings)} warning(s):")
        for finding in (f for f in ordered if f.severity == "warning"):
            click.echo(f"  {finding}")
    if report.version is not None:
        click.echo(f"judged as {report.version.describe()}")
    failing = len(report.errors) + (len(report.warnings) if strict else 0)
    if failing:
        what = "errors" if report.errors else "warnings (--strict)"
        raise ValidationError(f"{repo} has {failing} {what}", hint="Fix the findings listed above.")
    click.echo(f"{repo}: OK" + (" (warnings only)" if report.warnings else ""))


@cli.command()
@click.argument("repo", type=click.Path(path_type=Path))
@click.argument("param", required=False)
def explain(repo: Path, param: str | None) -> None:
    """Show every parameter of the rendered repository REPO (or PARAM) with its value, source and reason."""
    from tritongen.render.manifest import explain as explain_table

    click.echo(explain_table(repo, param))
    if param is None:
        from tritongen.memory import kv_cache_line

        line = kv_cache_line(repo)
        if line is not None:
            click.echo(line)
