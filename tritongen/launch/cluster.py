"""Launch files for clusters: a Slurm batch script and a Kubernetes LeaderWorkerSet manifest.

Both run the same per-rank tritonserver arguments as `tritongen launch` (`command.rank_arguments`):
rank 0 serves HTTP/gRPC/metrics on every interface, ranks > 0 load only the TensorRT-LLM
model(s). Ranks fill nodes `gpus_per_node` at a time, one GPU each (peers §7 item 10).

- Slurm: `srun --mpi=pmix` starts one task per rank (PMIx gives each its MPI rank); a task that
  fails ends the step (`--kill-on-bad-exit`), the supervision `tritongen launch` does locally.
- Kubernetes: one LeaderWorkerSet group per replica, one pod per node. The leader runs mpirun over
  the group's pods (their DNS names come from `LWS_LEADER_ADDRESS` and `LWS_GROUP_SIZE`); the
  workers only wait for mpirun's remote launch agent (`rsh_agent`: ssh, or a kubectl-exec wrapper
  as in the LWS TensorRT-LLM example). Readiness is rank 0's `/v2/health/ready`.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tritongen import defaults
from tritongen.errors import LaunchError
from tritongen.launch.command import (
    FORCED_ENV,
    LaunchSpec,
    MpiRun,
    Ports,
    build_launch_command,
    rank_arguments,
    shm_prefix,
)
from tritongen.launch.repository import inspect_repository
from tritongen.launch.server import CONTAINER_TRITONSERVER, TritonServer

LWS_API_VERSION = "leaderworkerset.x-k8s.io/v1"
READY_PATH = "/v2/health/ready"
_HOSTS = "@HOSTS@"  # stands for the host list the leader computes at start (shlex leaves it unquoted)


@dataclass(frozen=True)
class ClusterSpec:
    """What a cluster launch needs; paths are as the nodes (or containers) see them."""

    repo: Path
    world_size: int
    trtllm_models: tuple[str, ...]
    gpus_per_node: int = defaults.GPUS_PER_NODE
    tritonserver: Path = CONTAINER_TRITONSERVER
    ports: Ports = field(default_factory=Ports)
    name: str = "tritongen"
    image: str | None = None  # container image: Slurm pyxis --container-image; required for Kubernetes
    rsh_agent: str = "ssh"  # how mpirun on the Kubernetes leader reaches the worker pods

    @property
    def nodes(self) -> int:
        return -(-self.world_size // self.gpus_per_node)

    @property
    def ranks_per_node(self) -> int:
        return min(self.world_size, self.gpus_per_node)

    def launch_spec(self, *, mpirun: MpiRun | None = None, hosts: str | None = None) -> LaunchSpec:
        return LaunchSpec(
            repo=self.repo,
            server=TritonServer(self.tritonserver, None, "container", {}),
            world_size=self.world_size,
            trtllm_models=self.trtllm_models,
            mpirun=mpirun,
            ports=self.ports,
            host="0.0.0.0",  # other machines reach rank 0
            as_root=True,  # containers run as root more often than not; harmless otherwise
            hosts=hosts,
        )


def cluster_spec(
    repo: Path,
    *,
    deployed_repo: Path | None = None,
    gpus_per_node: int = defaults.GPUS_PER_NODE,
    tritonserver: Path = CONTAINER_TRITONSERVER,
    ports: Ports | None = None,
    name: str = "tritongen",
    image: str | None = None,
    rsh_agent: str = "ssh",
) -> ClusterSpec:
    """A ClusterSpec for a rendered repository (world size and TRT-LLM models read from it).

    `deployed_repo`: where the repository is on the nodes, when that differs from `repo`.
    """
    facts = inspect_repository(repo)
    if facts.world_size > 1 and not facts.trtllm_models:
        raise LaunchError(
            f"world size {facts.world_size} but {facts.root} has no TensorRT-LLM model for ranks > 0"
        )
    if gpus_per_node < 1:
        raise LaunchError(f"gpus per node must be at least 1, not {gpus_per_node}")
    if facts.world_size > gpus_per_node and facts.world_size % gpus_per_node:
        raise LaunchError(
            f"world size {facts.world_size} does not fill nodes of {gpus_per_node} GPUs evenly",
            hint="Use a gpus-per-node that divides the world size (tp*pp*cp).",
        )
    return ClusterSpec(
        repo=deployed_repo or facts.root,
        world_size=facts.world_size,
        trtllm_models=facts.trtllm_models,
        gpus_per_node=gpus_per_node,
        tritonserver=tritonserver,
        ports=ports or Ports(),
        name=name,
        image=image,
        rsh_agent=rsh_agent,
    )


def slurm_batch_script(spec: ClusterSpec) -> str:
    """An `sbatch` script: one `srun --mpi=pmix` task per rank; rank 0 serves the ports.

    Every value that comes from outside (paths, the image, the job name) is shell-quoted, and
    written into comments and `#SBATCH` lines only with its control characters escaped: a newline
    in a repository path must never become a line of the script.
    """
    launch = spec.launch_spec()
    rank0 = shlex.join(rank_arguments(launch, 0))
    worker_argv = rank_arguments(launch, 1)
    # The worker's shm prefix names its rank: a marker takes its place, the variable replaces it after
    # quoting (replacing "prefix1_" in the quoted text would also change a path that holds it).
    worker_argv[worker_argv.index(_shm_flag(shm_prefix(1)))] = _WORKER_SHM
    worker = shlex.join(worker_argv).replace(_WORKER_SHM, _shm_flag('prefix"$SLURM_PROCID"_'))
    per_rank = (
        f'if [ "$SLURM_PROCID" -eq 0 ]; then exec {rank0}; else exec {worker}; fi'
        if spec.world_size > 1
        else f"exec {rank0}"
    )
    srun = [
        "srun",
        "--mpi=pmix",
        "--kill-on-bad-exit=1",
        f"--ntasks={spec.world_size}",
        f"--ntasks-per-node={spec.ranks_per_node}",
    ]
    if spec.image:
        srun += [f"--container-image={spec.image}", f"--container-mounts={spec.repo}:{spec.repo}"]
    exports = " ".join(f"{name}={shlex.quote(value)}" for name, value in FORCED_ENV.items())
    return "\n".join(
        [
            "#!/bin/bash",
            (
                f"# Generated by tritongen: serve {_escaped(str(spec.repo))} with {spec.world_size} rank(s) "
                f"on {spec.nodes} node(s)."
            ),
            (
                f"# Rank 0 (the first node) serves HTTP {spec.ports.http}, gRPC {spec.ports.grpc}, "
                f"metrics {spec.ports.metrics}; readiness: GET {READY_PATH}."
            ),
            f"#SBATCH --job-name={_job_name(spec.name)}",
            f"#SBATCH --nodes={spec.nodes}",
            f"#SBATCH --ntasks={spec.world_size}",
            f"#SBATCH --ntasks-per-node={spec.ranks_per_node}",
            f"#SBATCH --gpus-per-node={spec.ranks_per_node}",
            "set -euo pipefail",
            f"export {exports}",
            # sed reads the whole list: `head -n 1` could end scontrol with SIGPIPE, failing under pipefail
            'first_node=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | sed -n 1p)',
            f'echo "tritongen: rank 0 will serve http://$first_node:{spec.ports.http}"',
            f"{shlex.join(srun)} \\",
            f"  bash -c {shlex.quote(per_rank)}",
            "",
        ]
    )


_WORKER_SHM = "@WORKER_SHM_PREFIX@"  # shlex leaves it unquoted


def _shm_flag(prefix: str) -> str:
    return f"--backend-config=python,shm-region-prefix-name={prefix}"


def _escaped(text: str) -> str:
    """`text` on one line: control characters (newlines first) as Python escapes, for a comment."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def _job_name(name: str) -> str:
    """The job name for an `#SBATCH` line, which sbatch (not bash) reads up to the end of the line:
    letters, digits, '.', '_' and '-' only (the name is the repository's, which may hold anything)."""
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name)
    return safe or "tritongen"


def leaderworkerset_manifest(spec: ClusterSpec) -> dict[str, Any]:
    """A LeaderWorkerSet (one group = one pod per node) whose leader runs mpirun over the group."""
    if not spec.image:
        raise LaunchError(
            "a Kubernetes manifest needs a container image",
            hint="Pass the image that holds tritonserver, the backend and the repository.",
        )
    gpus = {"nvidia.com/gpu": str(spec.ranks_per_node)}
    shm_volume = [{"name": "dshm", "emptyDir": {"medium": "Memory"}}]
    shm_mount = [{"name": "dshm", "mountPath": "/dev/shm"}]
    env = [{"name": name, "value": value} for name, value in FORCED_ENV.items()]
    probe = {"httpGet": {"path": READY_PATH, "port": "http"}, "periodSeconds": 10}
    leader = {
        "name": "tritonserver",
        "image": spec.image,
        "command": ["bash", "-c", _leader_script(spec)],
        "env": [*env, {"name": "OMPI_MCA_plm_rsh_agent", "value": spec.rsh_agent}],
        "ports": [{"name": name, "containerPort": port} for name, port in spec.ports.named().items()],
        "startupProbe": {**probe, "failureThreshold": 180},  # up to 30 min to load a large engine
        "readinessProbe": {**probe, "failureThreshold": 3},
        "resources": {"limits": gpus},
        "volumeMounts": shm_mount,
    }
    worker = {
        "name": "worker",
        "image": spec.image,
        # mpirun on the leader starts this pod's ranks through its remote agent; the pod only waits.
        "command": ["bash", "-c", "exec sleep infinity"],
        "env": env,
        "resources": {"limits": gpus},
        "volumeMounts": shm_mount,
    }
    return {
        "apiVersion": LWS_API_VERSION,
        "kind": "LeaderWorkerSet",
        "metadata": {"name": spec.name, "labels": {"app.kubernetes.io/managed-by": "tritongen"}},
        "spec": {
            "replicas": 1,
            "startupPolicy": "LeaderCreated",
            "leaderWorkerTemplate": {
                "size": spec.nodes,
                "restartPolicy": "RecreateGroupOnPodRestart",
                "leaderTemplate": {
                    "metadata": {"labels": {"role": "leader"}},
                    "spec": {"containers": [leader], "volumes": shm_volume},
                },
                "workerTemplate": {
                    "metadata": {"labels": {"role": "worker"}},
                    "spec": {"containers": [worker], "volumes": shm_volume},
                },
            },
            "networkConfig": {"subdomainPolicy": "Shared"},
        },
    }


def leaderworkerset_yaml(spec: ClusterSpec) -> str:
    """The manifest as YAML for `kubectl apply -f`."""
    return manifest_yaml(leaderworkerset_manifest(spec))


def manifest_yaml(manifest: dict[str, Any]) -> str:
    """A manifest as YAML: scripts as literal blocks, no anchors (also the llmapi target's LWS)."""
    return yaml.dump(manifest, Dumper=_ManifestDumper, sort_keys=False, width=120)


class _ManifestDumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:  # noqa: ARG002 (the same dict twice stays readable)
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ManifestDumper.add_representer(str, _represent_str)


def _leader_script(spec: ClusterSpec) -> str:
    """Compute the group's host list from the LWS variables, then run mpirun over it."""
    command = build_launch_command(spec.launch_spec(mpirun=MpiRun("mpirun", (4,)), hosts=_HOSTS), {})
    mpirun = command.render().replace(_HOSTS, '"$hosts"')
    slots = spec.ranks_per_node
    return "\n".join(
        [
            "set -euo pipefail",
            f'hosts="$LWS_LEADER_ADDRESS:{slots}"',
            'leader="${LWS_LEADER_ADDRESS%%.*}"',
            'domain="${LWS_LEADER_ADDRESS#*.}"',
            "for i in $(seq 1 $((LWS_GROUP_SIZE - 1))); do",
            f'  hosts="$hosts,$leader-$i.$domain:{slots}"',
            "done",
            f"exec {mpirun}",
        ]
    )
