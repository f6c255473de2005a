"""`render --target llmapi --k8s`: the LeaderWorkerSet of an llmapi repository (tritongen.launch.llmapi_cluster).

The manifest is checked the way the engine target's is (the LWS schema, kubernetes-validate on each pod
template), and its leader script is run by bash with a recording `mpirun` in PATH: the hosts, the rank count
and every rank's `trtllm-llmapi-launch tritonserver` argv are the ones mpirun really receives.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_launch_command import LWS_SCHEMA

from tritongen.errors import LaunchError
from tritongen.launch.llmapi_cluster import (
    llmapi_cluster_spec,
    llmapi_leaderworkerset_manifest,
    llmapi_leaderworkerset_yaml,
)
from tritongen.render.llmapi import render_llmapi
from tritongen.testing.launch import run_cli
from tritongen.testing.render_cases import make_checkpoint_dir

# Records mpirun's argv NUL-separated, so an argument holding a newline or a space stays one argument.
RECORDING_MPIRUN = """#!/bin/bash
printf '%s\\0' "$@" > "$OUT/mpirun.args"
"""
HOSTILE = 'repo\n$(touch "$OUT/pwned") `touch "$OUT/pwned2"` it\'s "quoted"; exit 3'


def _repo(tmp_path: Path, name: str = "repo") -> Path:
    checkpoint = make_checkpoint_dir(tmp_path)
    return render_llmapi(checkpoint, output=tmp_path / name, tp_size=2, pp_size=2).output


def _leader_argv(tmp_path: Path, manifest: dict[str, Any]) -> list[str]:
    """Run the leader's script as its container would (bash -c) for a group of two pods."""
    leader = manifest["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]["containers"][0]
    assert leader["command"][:2] == ["bash", "-c"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    mpirun = bin_dir / "mpirun"
    mpirun.write_text(RECORDING_MPIRUN)
    mpirun.chmod(0o755)
    out = tmp_path / "out"
    out.mkdir()
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "OUT": str(out),
        "LWS_LEADER_ADDRESS": "llm-0.llm.default",
        "LWS_GROUP_SIZE": "2",
    }
    subprocess.run(["bash", "-c", leader["command"][2]], env=env, check=True)
    assert sorted(p.name for p in out.iterdir()) == ["mpirun.args"], "the script ran something else"
    return (out / "mpirun.args").read_bytes().decode().split("\0")[:-1]


def test_manifest_validates_for_tp2_pp2_on_two_gpus_per_node(tmp_path: Path) -> None:
    import jsonschema
    import kubernetes_validate

    spec = llmapi_cluster_spec(_repo(tmp_path), gpus_per_node=2, image="nvcr.io/nvidia/tritonserver:26.07")
    manifest = yaml.safe_load(llmapi_leaderworkerset_yaml(spec))
    jsonschema.validate(manifest, LWS_SCHEMA)
    template = manifest["spec"]["leaderWorkerTemplate"]
    assert template["size"] == 2  # tp 2 x pp 2 = 4 ranks on nodes of 2 GPUs
    for role in ("leaderTemplate", "workerTemplate"):
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "check"},
            "spec": template[role]["spec"],
        }
        kubernetes_validate.validate(pod, "1.30", strict=True)
        (container,) = template[role]["spec"]["containers"]
        assert container["image"] == "nvcr.io/nvidia/tritonserver:26.07"
        assert container["resources"]["limits"] == {"nvidia.com/gpu": "2"}
    leader = template["leaderTemplate"]["spec"]["containers"][0]
    assert leader["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert {"name": "OMPI_MCA_plm_rsh_agent", "value": "ssh"} in leader["env"]
    # The workers' ranks come from mpirun's remote agent: the pod itself only waits.
    assert template["workerTemplate"]["spec"]["containers"][0]["command"] == [
        "bash",
        "-c",
        "exec sleep infinity",
    ]


def test_leader_runs_every_llm_rank_under_trtllm_llmapi_launch(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    argv = _leader_argv(
        tmp_path, llmapi_leaderworkerset_manifest(llmapi_cluster_spec(repo, gpus_per_node=2, image="img"))
    )
    assert argv[argv.index("--host") + 1] == "llm-0.llm.default:2,llm-0-1.llm.default:2"
    assert "--allow-run-as-root" in argv
    for name in ("NCCL_NVLS_ENABLE", "TORCH_SYMM_MEM_DISABLE_MULTICAST", "NVSHMEM_DISABLE_NVLS"):
        assert argv[argv.index(name) - 1] == "-x"
    ranks = argv[argv.index("-n") :]
    assert ranks == [
        "-n",
        "4",
        "trtllm-llmapi-launch",
        "/opt/tritonserver/bin/tritonserver",
        f"--model-repository={repo}",
        "--http-port=8000",
        "--grpc-port=8001",
        "--metrics-port=8002",
    ]
    # Not the engine target's ranks: no explicit model control, no per-rank blocks.
    assert ":" not in argv and not any(a.startswith("--model-control-mode") for a in argv)


def test_hostile_repository_path_reaches_mpirun_as_one_argument(tmp_path: Path) -> None:
    repo = _repo(tmp_path, HOSTILE)
    text = llmapi_leaderworkerset_yaml(llmapi_cluster_spec(repo, gpus_per_node=2, image="img"))
    argv = _leader_argv(tmp_path, yaml.safe_load(text))  # also asserts nothing else ran (no pwned files)
    assert f"--model-repository={repo}" in argv
    assert argv[argv.index("-n") + 1] == "4"


def test_cli_writes_the_manifest_and_needs_an_image(tmp_path: Path) -> None:
    checkpoint = make_checkpoint_dir(tmp_path)
    out = tmp_path / "repo"
    base = ["render", "--engine", str(checkpoint), "--target", "llmapi", "--output", str(out)]
    base += ["--tp", "2", "--pp", "2", "--k8s", "--gpus-per-node", "2"]
    refused = run_cli(base, os.environ)
    assert refused.returncode == 2
    assert "--k8s needs --image" in refused.stderr and "Traceback" not in refused.stderr
    assert not out.exists()  # refused before anything was rendered
    result = run_cli([*base, "--image", "nvcr.io/x:1"], os.environ)
    assert result.returncode == 0, result.stderr
    assert "wrote     tritongen.lws.yaml" in result.stdout
    manifest = yaml.safe_load((out / "tritongen.lws.yaml").read_text())
    assert manifest["metadata"]["name"] == "repo"
    assert manifest["spec"]["leaderWorkerTemplate"]["size"] == 2


def test_a_world_that_does_not_fill_nodes_is_refused(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    with pytest.raises(LaunchError, match="tp x pp 4 does not fill nodes of 3 GPUs evenly"):
        llmapi_cluster_spec(repo, gpus_per_node=3, image="img")
    with pytest.raises(LaunchError, match="needs a container image"):
        llmapi_leaderworkerset_manifest(llmapi_cluster_spec(repo, gpus_per_node=2))
