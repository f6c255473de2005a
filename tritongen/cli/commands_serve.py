"""Commands that work on processes: launch, status, stop."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tritongen.cli import cli
from tritongen.errors import UsageError

MODEL_REPOS = Path("model_repos")


def _default_repo() -> Path:
    """The only repository under ./model_repos/, so `tritongen launch` alone works after one render."""
    candidates = sorted(p for p in MODEL_REPOS.glob("*") if p.is_dir()) if MODEL_REPOS.is_dir() else []
    if len(candidates) == 1:
        return candidates[0]
    found = ", ".join(p.name for p in candidates) or "none"
    raise UsageError(f"no REPO given and {MODEL_REPOS}/ holds {len(candidates)} repositories ({found})",
                     hint="Pass the repository path: `tritongen launch model_repos/NAME`.")


def _echo(line: str) -> None:
    click.echo(line)
    sys.stdout.flush()


http_port_option = click.option("--http-port", type=int, default=8000, show_default=True,
                                help="HTTP port of the launch (its state file is kept per HTTP port).")


@cli.command()
@click.argument("repo", required=False, type=click.Path(path_type=Path, file_okay=False))
@click.option("--world-size", type=int, help="Number of ranks; must match the repository's (tp*pp*cp).")
@click.option("--tritonserver", "tritonserver", metavar="PATH", help="The tritonserver binary to run.")
@http_port_option
@click.option("--grpc-port", type=int, default=8001, show_default=True)
@click.option("--metrics-port", type=int, default=8002, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address HTTP/gRPC/metrics bind to (0.0.0.0 to serve other machines).")
@click.option("--oversubscribe", is_flag=True, help="Let mpirun start more ranks than this machine has cores.")
@click.option("--mpi/--no-mpi", default=None, help="Force mpirun for world size 1 / run tritonserver directly.")
@click.option("--grace-period", type=float, default=10.0, show_default=True, metavar="S",
              help="Seconds the server gets to finish requests on stop before it is killed.")
@click.option("--ready-timeout", type=float, default=900.0, show_default=True, metavar="S",
              help="Give up if the server is not ready after this many seconds.")
@click.option("--log-verbose", type=int, default=0, metavar="N", help="tritonserver --log-verbose for rank 0.")
@click.option("--hostfile", type=click.Path(path_type=Path, dir_okay=False),
              help="mpirun hostfile: spread the ranks over several machines.")
@click.option("--hosts", metavar="A:N,B:N", help="mpirun --host list, e.g. node1:4,node2:4.")
@click.option("--dry-run", is_flag=True, help="Print the command and the environment it adds; start nothing.")
def launch(repo: Path | None, world_size: int | None, tritonserver: str | None, http_port: int,
           grpc_port: int, metrics_port: int, host: str, oversubscribe: bool, mpi: bool | None,
           grace_period: float, ready_timeout: float, log_verbose: int, hostfile: Path | None,
           hosts: str | None, dry_run: bool) -> None:
    """Start tritonserver on every rank of REPO, wait until it is ready, and supervise it.

    Ctrl-C (or SIGTERM, or `tritongen stop`) stops every rank; a rank that dies stops the others
    and the command fails (exit 7) with that rank's last log lines.
    """
    from tritongen.launch.command import Ports  # imported here: keeps every other command's start fast
    from tritongen.launch.plan import LaunchOptions, plan_launch

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
@click.option("--grace-period", type=float, default=10.0, show_default=True, metavar="S")
def stop(http_port: int, grace_period: float) -> None:
    """Stop the launch on a port (from any shell) and every process it started."""
    from tritongen.launch.control import stop_launch

    click.echo(stop_launch(http_port, grace_period))
