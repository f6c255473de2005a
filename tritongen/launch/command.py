"""The exact command that starts the ranks: a pure function of a `LaunchSpec` (reference §3.2).

One `-n 1 tritonserver …` block per rank, joined with `:` under `mpirun`. Every rank gets the same
ports: only rank 0 ever opens them, because on ranks > 0 the TensorRT-LLM model never finishes
loading (reference §3.4). Ranks > 0 load only the TensorRT-LLM model(s), in explicit model control.
World size 1 runs tritonserver directly (upstream `--no-mpi`) unless MPI is asked for.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tritongen import defaults
from tritongen.launch.server import TritonServer

# Multicast over NVLink (NVLS) hangs or fails on machines where the fabric manager or the
# driver does not support it; every rank gets it switched off (NCCL, torch symmetric memory, NVSHMEM).
FORCED_ENV: dict[str, str] = {
    "NCCL_NVLS_ENABLE": "0",
    "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1",
    "NVSHMEM_DISABLE_NVLS": "1",
}
# Variables forwarded to every rank with `-x NAME` when set (mpirun passes nothing to remote hosts
# by itself): how the stubs find Python and its packages, offline model loading, GPU selection.
EXPORTED_NAMES = (
    "PATH",
    "LD_LIBRARY_PATH",
    "PYTHONPATH",
    "HF_HOME",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "CUDA_VISIBLE_DEVICES",
)
EXPORTED_PREFIXES = ("TRITONGEN_", "NCCL_", "UCX_", "TRTLLM_")


@dataclass(frozen=True)
class Ports:
    """The three ports of rank 0 (the same flags go to every rank; see the module docstring)."""

    http: int = defaults.HTTP_PORT
    grpc: int = defaults.GRPC_PORT
    metrics: int = defaults.METRICS_PORT

    def flags(self) -> list[str]:
        return [
            f"--grpc-port={self.grpc}",
            f"--http-port={self.http}",
            f"--metrics-port={self.metrics}",
        ]  # upstream order

    def named(self) -> dict[str, int]:
        return {"http": self.http, "grpc": self.grpc, "metrics": self.metrics}


@dataclass(frozen=True)
class MpiRun:
    """An Open MPI `mpirun`: its path and version (the output-tagging flag changed in 5.0)."""

    path: str
    version: tuple[int, ...]

    def tag_output_flags(self) -> list[str]:
        return ["--tag-output"] if self.version[:1] < (5,) else ["--output", "tag"]


@dataclass(frozen=True)
class LaunchSpec:
    """Everything the command depends on, resolved: no environment or file system is read from here."""

    repo: Path
    server: TritonServer
    world_size: int
    trtllm_models: tuple[str, ...]  # loaded by ranks > 0
    mpirun: MpiRun | None  # None: run tritonserver directly (world size 1 only)
    ports: Ports = field(default_factory=Ports)
    host: str = "127.0.0.1"
    as_root: bool = False
    oversubscribe: bool = False
    log_verbose: int = 0
    exit_timeout: int | None = None  # tritonserver's wait for in-flight requests on shutdown
    hostfile: Path | None = None
    hosts: str | None = None  # mpirun --host syntax: "a:2,b:2"


@dataclass(frozen=True)
class LaunchCommand:
    """The process to start: mpirun options, one argv block per rank, and its environment."""

    prefix: tuple[str, ...]  # mpirun and its options; empty without MPI
    rank_blocks: tuple[tuple[str, ...], ...]
    env: dict[str, str]  # the complete environment of the process
    added_env: dict[str, str]  # what tritongen set or changed in it (shown by --dry-run)

    @property
    def argv(self) -> list[str]:
        argv = list(self.prefix)
        for index, block in enumerate(self.rank_blocks):
            if index:
                argv.append(":")
            argv.extend(block)
        return argv

    @property
    def uses_mpi(self) -> bool:
        return bool(self.prefix)

    def render(self) -> str:
        """Shell text that runs the same command: the mpirun options, then one rank block per line."""
        if not self.prefix:
            return shlex.join(self.rank_blocks[0])
        lines = [shlex.join(self.prefix)]
        lines += [
            shlex.join(block) + (" :" if i < len(self.rank_blocks) - 1 else "")
            for i, block in enumerate(self.rank_blocks)
        ]
        return " \\\n  ".join(lines)


def build_launch_command(spec: LaunchSpec, base_env: Mapping[str, str]) -> LaunchCommand:
    """The argv and environment that start `spec.world_size` tritonserver ranks."""
    env = spec.server.environment(dict(base_env))
    env.update(FORCED_ENV)
    added = {key: value for key, value in env.items() if base_env.get(key) != value}
    blocks = [rank_arguments(spec, rank) for rank in range(spec.world_size)]
    if spec.mpirun is None:
        return LaunchCommand((), (tuple(blocks[0]),), env, added)
    prefix = [spec.mpirun.path]
    if spec.as_root:
        prefix.append("--allow-run-as-root")
    if spec.oversubscribe:
        prefix.append("--oversubscribe")
    if spec.hostfile is not None:
        prefix += ["--hostfile", str(spec.hostfile)]
    if spec.hosts:
        prefix += ["--host", spec.hosts]
    # --noprefix: mpirun started by absolute path acts as `--prefix /usr` and puts /usr/bin first
    # on the ranks' PATH, so the Python stubs would find the system python3, not this environment's.
    # --bind-to none: Open MPI binds each rank to one core by default (for <= 2 ranks), and
    # tritonserver's threads and its Python stubs would all share that core.
    prefix += ["--noprefix", "--bind-to", "none", *spec.mpirun.tag_output_flags()]
    for name in exported_names(env):
        prefix += ["-x", name]
    return LaunchCommand(tuple(prefix), tuple(("-n", "1", *block) for block in blocks), env, added)


def exported_names(env: Mapping[str, str]) -> list[str]:
    """The variables every rank needs, in a stable order: fixed names, then prefixed ones, then forced."""
    names = [name for name in EXPORTED_NAMES if name in env]
    names += sorted(n for n in env if n.startswith(EXPORTED_PREFIXES) and n not in FORCED_ENV)
    names += list(FORCED_ENV)
    return names


def shm_prefix(rank: int) -> str:
    """The start of the names of a rank's Python-backend regions in /dev/shm (`shm.py` finds them by it)."""
    return f"prefix{rank}_"


def rank_arguments(spec: LaunchSpec, rank: int) -> list[str]:
    """The tritonserver argv of one rank (without mpirun's `-n 1`)."""
    args = [str(spec.server.binary), f"--model-repository={spec.repo}"]
    if spec.exit_timeout is not None:
        args.append(f"--exit-timeout-secs={spec.exit_timeout}")
    args += spec.ports.flags()
    args += [f"--http-address={spec.host}", f"--grpc-address={spec.host}"]  # metrics follows http
    if rank == 0 and spec.log_verbose:
        args.append(f"--log-verbose={spec.log_verbose}")
    if rank > 0:
        args.append("--model-control-mode=explicit")
        args += [f"--load-model={name}" for name in spec.trtllm_models]
    args += [
        "--disable-auto-complete-config",
        f"--backend-config=python,shm-region-prefix-name={shm_prefix(rank)}",
    ]
    return args + spec.server.server_args()
