"""From what the user asked (`LaunchOptions`) to what will run (`LaunchPlan`): every check that needs
no process of ours, so `--dry-run` and the real launch resolve exactly the same command.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tritongen import defaults
from tritongen.errors import LaunchError, UsageError
from tritongen.launch.command import LaunchCommand, LaunchSpec, MpiRun, Ports, build_launch_command
from tritongen.launch.preflight import gpu_problem, shm_problem
from tritongen.launch.repository import RepositoryFacts, inspect_repository
from tritongen.launch.server import find_tritonserver


@dataclass(frozen=True)
class LaunchOptions:
    """The user's request, as the CLI (or a caller) gives it."""

    repo: Path
    world_size: int | None = None  # None: from the repository
    tritonserver: str | None = None
    ports: Ports = field(default_factory=Ports)
    host: str = defaults.BIND_HOST
    oversubscribe: bool = False
    mpi: bool | None = None  # None: mpirun only for world size > 1
    grace_period: float = defaults.GRACE_PERIOD_S
    ready_timeout: float = defaults.READY_TIMEOUT_S
    log_verbose: int = 0
    hostfile: Path | None = None
    hosts: str | None = None
    openai_port: int | None = None  # also serve the OpenAI route there (tritongen.openai.sidecar)

    @property
    def multi_host(self) -> bool:
        return self.hostfile is not None or bool(self.hosts)


@dataclass(frozen=True)
class LaunchPlan:
    """The resolved launch: the repository facts, the command, and warnings worth printing."""

    facts: RepositoryFacts
    spec: LaunchSpec
    command: LaunchCommand
    warnings: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """What --dry-run prints: the facts, the environment tritongen adds, and the command."""
        facts = self.facts
        lines = [
            f"# repository: {facts.root}",
            f"# world size: {facts.world_size} (from {facts.world_size_source})",
        ]
        if facts.world_size > 1:
            lines.append(f"# ranks > 0 load only: {', '.join(facts.trtllm_models)}")
        lines += [f"# warning: {w}" for w in self.warnings]
        lines.append("# environment added:")
        lines += [
            f"export {name}={shlex.quote(value)}" for name, value in sorted(self.command.added_env.items())
        ]
        lines.append(self.command.render())
        return "\n".join(lines)


def plan_launch(
    options: LaunchOptions, environ: Mapping[str, str] | None = None, *, strict_gpus: bool = True
) -> LaunchPlan:
    """Resolve the server, the repository, the world size and mpirun; raise LaunchError on a mismatch.

    `strict_gpus=False` (for --dry-run) reports too few GPUs as a warning instead of an error.
    """
    env = dict(os.environ if environ is None else environ)
    check_distinct_ports(options.ports)
    facts = inspect_repository(options.repo)
    world_size = _world_size(facts, options.world_size)
    if world_size > 1 and not facts.trtllm_models:
        raise LaunchError(
            f"world size {world_size} but {facts.root} has no TensorRT-LLM model for ranks > 0 to load",
            hint='Ranks > 0 load only models with backend "tensorrtllm" (or the torch runtime\'s tensorrt_llm).',
        )
    if options.mpi is False and world_size > 1:
        raise LaunchError(
            f"--no-mpi runs one tritonserver, but the world size is {world_size}",
            hint="Drop --no-mpi: every rank is one mpirun process.",
        )
    from tritongen.memory import preflight as kv_cache_problem  # here: only launch needs the planner

    kv_cache = kv_cache_problem(facts.root)  # not even one full-length sequence fits: the runtime fails
    if kv_cache is not None and strict_gpus:
        raise LaunchError(kv_cache.message, hint=kv_cache.hint)
    use_mpi = options.mpi if options.mpi is not None else (world_size > 1 or options.multi_host)
    server = find_tritonserver(options.tritonserver)
    warnings: list[str] = [kv_cache.one_line()] if kv_cache is not None else []
    if facts.llmapi_world_size is not None:  # an LLM-API repository: its known traps, named before launch
        from tritongen.launch.llmapi_preflight import llmapi_problems

        warnings += llmapi_problems(
            facts.root, facts.llmapi_world_size, multi_host=options.multi_host, env=env, strict=strict_gpus
        )
    if not options.multi_host:  # GPUs of other hosts cannot be counted from here
        problem = gpu_problem(world_size, torch_runtime=facts.torch_runtime, env=env)
        if problem and strict_gpus:
            raise LaunchError(
                problem,
                hint="Make more GPUs visible (CUDA_VISIBLE_DEVICES), or use an engine "
                "built for fewer ranks (tp*pp).",
            )
        if problem:
            warnings.append(problem)
    shm = shm_problem(world_size)
    if shm:
        warnings.append(shm)
    spec = LaunchSpec(
        repo=facts.root,
        server=server,
        world_size=world_size,
        trtllm_models=facts.trtllm_models,
        mpirun=find_mpirun(env) if use_mpi else None,
        ports=options.ports,
        host=options.host,
        as_root=os.geteuid() == 0,
        oversubscribe=options.oversubscribe,
        log_verbose=options.log_verbose,
        exit_timeout=exit_timeout(options.grace_period),
        hostfile=_checked_hostfile(options.hostfile),
        hosts=_checked_hosts(options.hosts),
    )
    return LaunchPlan(facts, spec, build_launch_command(spec, env), warnings)


def check_distinct_ports(ports: Ports) -> None:
    """UsageError when two of the HTTP, gRPC and metrics ports are the same.

    tritonserver would fail to bind the second one and answer with its 300-line usage text.
    """
    named = ports.named()
    for first, second in (("http", "grpc"), ("http", "metrics"), ("grpc", "metrics")):
        if named[first] == named[second]:
            raise UsageError(
                f"--{first}-port and --{second}-port are both {named[first]}: each needs a port of its own",
                hint="Give HTTP, gRPC and metrics three different ports (defaults: "
                f"{defaults.HTTP_PORT}, {defaults.GRPC_PORT} and {defaults.METRICS_PORT}).",
            )


def exit_timeout(grace_period: float) -> int:
    """tritonserver stops waiting for in-flight requests a little before the launcher would SIGKILL it."""
    return max(1, int(grace_period) - 2)


def find_mpirun(env: Mapping[str, str]) -> MpiRun:
    """The Open MPI mpirun on PATH, with its version; LaunchError when missing or not Open MPI."""
    path = shutil.which("mpirun", path=env.get("PATH"))
    if path is None:
        raise LaunchError(
            "mpirun not found on PATH",
            hint="Install Open MPI (`apt-get install openmpi-bin`, or use the NGC container); "
            "a world size of 1 runs without it (--no-mpi).",
        )
    try:
        shown = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise LaunchError(f"{path} --version failed ({error})") from error
    match = re.search(r"Open MPI\)?\s+v?(\d+)\.(\d+)(?:\.(\d+))?", shown.stdout + shown.stderr)
    if match is None:
        first = (shown.stdout or shown.stderr).strip().splitlines()[:1]
        raise LaunchError(
            f"{path} is not Open MPI's mpirun ({first[0] if first else 'no version output'})",
            hint="tritongen drives Open MPI (as in the TensorRT-LLM containers); put its mpirun first on PATH.",
        )
    return MpiRun(path, tuple(int(part) for part in match.groups() if part is not None))


def _world_size(facts: RepositoryFacts, requested: int | None) -> int:
    if requested is None:
        return facts.world_size
    if requested < 1:
        raise LaunchError(f"--world-size must be at least 1, not {requested}")
    if facts.world_size_known and requested != facts.world_size:
        raise LaunchError(
            f"--world-size {requested} disagrees with the repository's world size {facts.world_size} "
            f"(from {facts.world_size_source})",
            hint="The world size must equal the engine's tp*pp*cp; drop --world-size to use the repository's.",
        )
    return requested


def _checked_hostfile(hostfile: Path | None) -> Path | None:
    """The hostfile, if it exists and every host in it resolves."""
    if hostfile is None:
        return None
    if not hostfile.is_file():
        raise LaunchError(
            f"hostfile {hostfile} does not exist",
            hint="Give a file with one `host slots=N` line per machine.",
        )
    lines = (line.split("#", 1)[0].split() for line in hostfile.read_text().splitlines())
    for host in (words[0] for words in lines if words):
        _resolvable(host, f"hostfile {hostfile}")
    return hostfile.resolve()


def _checked_hosts(hosts: str | None) -> str | None:
    """`a:2,b:2` for mpirun --host, if every host resolves."""
    if hosts is None:
        return None
    for item in hosts.split(","):
        host, _, slots = item.strip().partition(":")
        if not host or (slots and not slots.isdigit()):
            raise LaunchError(
                f"--hosts entry {item!r} is not HOST or HOST:SLOTS", hint="Example: node1:4,node2:4."
            )
        _resolvable(host, "--hosts")
    return hosts


def _resolvable(host: str, where: str) -> None:
    try:
        socket.getaddrinfo(host, None)
    except OSError as error:
        raise LaunchError(
            f"host {host!r} from {where} cannot be resolved ({error.strerror or error})",
            hint="Check the name (and /etc/hosts or DNS on this machine).",
        ) from error
