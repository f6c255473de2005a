"""Commands that work on processes: launch, status, stop."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tritongen import defaults
from tritongen.cli._app import cli
from tritongen.cli._options import (
    AT_LEAST_ONE,
    AT_LEAST_ZERO,
    PORT,
    SECONDS,
    HostList,
    grace_period_option,
    grpc_port_option,
    http_port_option,
    metrics_port_option,
)
from tritongen.errors import UsageError


def _default_repo() -> Path:
    """The only repository under ./model_repos/, so `tritongen launch` alone works after one render."""
    repos = defaults.REPOS_DIR
    candidates = sorted(p for p in repos.glob("*") if p.is_dir()) if repos.is_dir() else []
    if len(candidates) == 1:
        return candidates[0]
    found = ", ".join(p.name for p in candidates) or "none"
    raise UsageError(
        f"no REPO given and {repos}/ holds {len(candidates)} repositories ({found})",
        hint=f"Pass the repository path: `tritongen launch {repos}/NAME`.",
    )


def _echo(line: str) -> None:
    click.echo(line)
    sys.stdout.flush()


@cli.command()
@click.argument("repo", required=False, type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--world-size",
    type=AT_LEAST_ONE,
    metavar="N",
    help="Number of ranks; must match the repository's (tp*pp*cp). Default: the repository's.",
)
@click.option("--tritonserver", "tritonserver", metavar="PATH", help="The tritonserver binary to run.")
@http_port_option
@grpc_port_option
@metrics_port_option
@click.option(
    "--host",
    default=defaults.BIND_HOST,
    show_default=True,
    help="Address HTTP/gRPC/metrics bind to (0.0.0.0 to serve other machines).",
)
@click.option(
    "--oversubscribe", is_flag=True, help="Let mpirun start more ranks than this machine has cores."
)
@click.option(
    "--mpi/--no-mpi", default=None, help="Force mpirun for world size 1 / run tritonserver directly."
)
@grace_period_option
@click.option(
    "--ready-timeout",
    type=SECONDS,
    default=defaults.READY_TIMEOUT_S,
    show_default=True,
    metavar="S",
    help="Give up if the server is not ready after this many seconds.",
)
@click.option(
    "--log-verbose",
    type=AT_LEAST_ZERO,
    default=0,
    show_default=True,
    metavar="N",
    help="tritonserver --log-verbose for rank 0.",
)
@click.option(
    "--hostfile",
    type=click.Path(path_type=Path, dir_okay=False),
    help="mpirun hostfile: spread the ranks over several machines.",
)
@click.option("--hosts", type=HostList(), metavar="A:N,B:N", help="mpirun --host list, e.g. node1:4,node2:4.")
@click.option(
    "--openai-port",
    type=PORT,
    metavar="PORT",
    help="Also serve an OpenAI-compatible API (/v1/chat/completions, ...) on this port, supervised with the ranks.",
)
@click.option("--dry-run", is_flag=True, help="Print the command and the environment it adds; start nothing.")
def launch(
    repo: Path | None,
    world_size: int | None,
    tritonserver: str | None,
    http_port: int,
    grpc_port: int,
    metrics_port: int,
    host: str,
    oversubscribe: bool,
    mpi: bool | None,
    grace_period: float,
    ready_timeout: float,
    log_verbose: int,
    hostfile: Path | None,
    hosts: str | None,
    openai_port: int | None,
    dry_run: bool,
) -> None:
    """Start tritonserver on every rank of REPO, wait until it is ready, and supervise it.

    REPO defaults to the only repository under model_repos/. Ctrl-C (or SIGTERM, or `tritongen stop`)
    stops every rank; a rank that dies stops the others and the command fails (exit 7) with that
    rank's last log lines.
    """
    from tritongen.launch.command import Ports  # imported here: keeps every other command's start fast
    from tritongen.launch.plan import LaunchOptions, plan_launch

    if len({http_port, grpc_port, metrics_port}) < 3:
        raise UsageError(
            f"--http-port {http_port}, --grpc-port {grpc_port} and --metrics-port {metrics_port} "
            "must be three different ports"
        )
    if openai_port in (http_port, grpc_port, metrics_port):
        raise UsageError(f"--openai-port {openai_port} is one of the server's own ports; choose another")
    options = LaunchOptions(
        repo=repo or _default_repo(),
        world_size=world_size,
        tritonserver=tritonserver,
        ports=Ports(http=http_port, grpc=grpc_port, metrics=metrics_port),
        host=host,
        oversubscribe=oversubscribe,
        mpi=mpi,
        grace_period=grace_period,
        ready_timeout=ready_timeout,
        log_verbose=log_verbose,
        hostfile=hostfile,
        hosts=hosts,
        openai_port=openai_port,
    )
    if dry_run:
        click.echo(plan_launch(options, strict_gpus=False).describe())
        return
    from tritongen.launch.supervise import launch as run_launch

    run_launch(options, _echo)


@cli.command()
@http_port_option
def status(http_port: int) -> None:
    """Show the launch on a port and whether it is ready (exit 0 only when ready)."""
    from tritongen.errors import LaunchError
    from tritongen.launch.control import launch_status

    report = launch_status(http_port)
    click.echo(report.describe())
    if not report.ready:
        raise LaunchError(f"the launch on port {http_port} is not ready")


@cli.command()
@http_port_option
@grace_period_option
def stop(http_port: int, grace_period: float) -> None:
    """Stop the launch on a port (from any shell) and every process it started."""
    from tritongen.launch.control import stop_launch

    click.echo(stop_launch(http_port, grace_period))
