"""The launch command and everything resolved before a process starts: pure, no server is run."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tritongen.errors import LaunchError
from tritongen.launch.command import (
    FORCED_ENV,
    LaunchSpec,
    MpiRun,
    Ports,
    build_launch_command,
    exported_names,
)
from tritongen.launch.logs import RankLog
from tritongen.launch.plan import LaunchOptions, find_mpirun, plan_launch
from tritongen.launch.repository import inspect_repository, manifest_world_size
from tritongen.launch.server import TritonServer
from tritongen.testing import CORPUS, FIXTURES_DIR

FIXTURE = FIXTURES_DIR / "launch" / "tiny_llm"
ENGINES = CORPUS / "engines"
CONTAINER_SERVER = TritonServer(Path("/opt/tritonserver/bin/tritonserver"), None, "container", {})
OMPI4 = MpiRun("mpirun", (4, 1, 4))
BASE_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/root"}

# Reference §3.2: launch_triton_server.py --world_size 2 --model_repo /repo --log (v0.9-v0.18
# layout: the port flags once; --log also adds --log-file, which tritongen replaces by its own log).
REFERENCE_WS2 = """
mpirun --allow-run-as-root
  -n 1 /opt/tritonserver/bin/tritonserver --model-repository=/repo
       --grpc-port=8001 --http-port=8000 --metrics-port=8002
       --log-verbose=3
       --disable-auto-complete-config --backend-config=python,shm-region-prefix-name=prefix0_ :
  -n 1 /opt/tritonserver/bin/tritonserver --model-repository=/repo
       --grpc-port=8001 --http-port=8000 --metrics-port=8002
       --model-control-mode=explicit --load-model=tensorrt_llm
       --disable-auto-complete-config --backend-config=python,shm-region-prefix-name=prefix1_
""".split()  # noqa: SIM905 (kept in the reference's own layout)

# What tritongen adds to upstream's command, each for a reason given in command.py.
TRITONGEN_ADDITIONS = (
    "--noprefix",
    "--tag-output",
    "--http-address=",
    "--grpc-address=",
    "--exit-timeout-secs=",
)


def spec(world_size: int = 2, **changes: object) -> LaunchSpec:
    values: dict[str, object] = {
        "repo": Path("/repo"),
        "server": CONTAINER_SERVER,
        "world_size": world_size,
        "trtllm_models": ("tensorrt_llm",),
        "mpirun": OMPI4,
        "as_root": True,
    }
    values.update(changes)
    return LaunchSpec(**values)  # type: ignore[arg-type]


def without_additions(argv: list[str]) -> list[str]:
    """Drop tritongen's additions (and `-x NAME`, `--bind-to none` pairs) to compare with upstream."""
    kept: list[str] = []
    skip = 0
    for arg in argv:
        if skip:
            skip -= 1
            continue
        if arg in ("-x", "--bind-to"):
            skip = 1
            continue
        if not arg.startswith(TRITONGEN_ADDITIONS):
            kept.append(arg)
    return kept


def test_world_size_2_matches_the_reference_example() -> None:
    command = build_launch_command(spec(log_verbose=3, exit_timeout=8), BASE_ENV)
    assert without_additions(command.argv) == REFERENCE_WS2


def test_world_size_1_runs_tritonserver_directly() -> None:
    command = build_launch_command(spec(world_size=1, mpirun=None), BASE_ENV)
    assert not command.uses_mpi
    assert command.argv == [
        "/opt/tritonserver/bin/tritonserver",
        "--model-repository=/repo",
        "--grpc-port=8001",
        "--http-port=8000",
        "--metrics-port=8002",
        "--http-address=127.0.0.1",
        "--grpc-address=127.0.0.1",
        "--disable-auto-complete-config",
        "--backend-config=python,shm-region-prefix-name=prefix0_",
    ]
    assert command.render() == " ".join(command.argv)


def test_world_size_1_with_mpi_is_one_rank_block() -> None:
    command = build_launch_command(spec(world_size=1), BASE_ENV)
    assert command.argv[0] == "mpirun"
    assert command.argv.count("-n") == 1
    assert ":" not in command.argv
    assert "--model-control-mode=explicit" not in command.argv


def test_world_size_4_ranks_above_0_load_only_every_trtllm_model() -> None:
    command = build_launch_command(
        spec(world_size=4, trtllm_models=("tensorrt_llm", "tensorrt_llm_draft")), BASE_ENV
    )
    blocks = [list(block) for block in command.rank_blocks]
    assert len(blocks) == 4
    assert command.argv.count(":") == 3
    assert all(block[:2] == ["-n", "1"] for block in blocks)
    assert "--model-control-mode=explicit" not in blocks[0]
    assert not any(arg.startswith("--load-model") for arg in blocks[0])
    for rank, block in enumerate(blocks):
        assert f"--backend-config=python,shm-region-prefix-name=prefix{rank}_" in block
        assert block.count("--http-port=8000") == 1  # the same ports on every rank
        if rank:
            explicit = block.index("--model-control-mode=explicit")
            assert block[explicit + 1 : explicit + 3] == [
                "--load-model=tensorrt_llm",
                "--load-model=tensorrt_llm_draft",
            ]


def test_allow_run_as_root_only_as_root_and_oversubscribe_on_request() -> None:
    as_user = build_launch_command(spec(as_root=False), BASE_ENV).prefix
    assert "--allow-run-as-root" not in as_user
    assert "--oversubscribe" not in as_user
    as_root = build_launch_command(spec(oversubscribe=True), BASE_ENV).prefix
    assert as_root[1:3] == ("--allow-run-as-root", "--oversubscribe")


def test_ports_and_host_binding() -> None:
    command = build_launch_command(spec(ports=Ports(9000, 9001, 9002), host="0.0.0.0"), BASE_ENV)
    for block in command.rank_blocks:
        assert {
            "--http-port=9000",
            "--grpc-port=9001",
            "--metrics-port=9002",
            "--http-address=0.0.0.0",
            "--grpc-address=0.0.0.0",
        } <= set(block)


def test_log_verbose_only_on_rank_0() -> None:
    blocks = build_launch_command(spec(log_verbose=2), BASE_ENV).rank_blocks
    assert "--log-verbose=2" in blocks[0]
    assert not any(arg.startswith("--log-verbose") for arg in blocks[1])


def test_environment_exported_to_every_rank_and_forced_variables() -> None:
    base = {
        **BASE_ENV,
        "PYTHONPATH": "/x",
        "NCCL_DEBUG": "INFO",
        "TRITONGEN_CACHE_DIR": "/c",
        "CUDA_VISIBLE_DEVICES": "0,1",
        "HF_HUB_OFFLINE": "1",
        "SECRET_TOKEN": "s",
        "NCCL_NVLS_ENABLE": "1",
    }
    server = TritonServer(
        Path("/ts/bin/tritonserver"), Path("/be"), "flag", {"PATH": "/venv/bin", "LD_LIBRARY_PATH": "/py/lib"}
    )
    command = build_launch_command(spec(server=server), base)
    exported = [command.prefix[i + 1] for i, arg in enumerate(command.prefix) if arg == "-x"]
    assert exported == [
        "PATH",
        "LD_LIBRARY_PATH",
        "PYTHONPATH",
        "HF_HUB_OFFLINE",
        "CUDA_VISIBLE_DEVICES",
        "NCCL_DEBUG",
        "TRITONGEN_CACHE_DIR",
        *FORCED_ENV,
    ]
    assert "SECRET_TOKEN" not in exported
    assert command.env["PATH"] == "/venv/bin:/usr/bin:/bin"
    assert command.env["LD_LIBRARY_PATH"] == "/py/lib"
    assert command.env["NCCL_NVLS_ENABLE"] == "0"  # forced even when the user set it
    assert command.added_env == {
        "PATH": "/venv/bin:/usr/bin:/bin",
        "LD_LIBRARY_PATH": "/py/lib",
        "NCCL_NVLS_ENABLE": "0",
        "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1",
        "NVSHMEM_DISABLE_NVLS": "1",
    }
    assert all(block[-1] == "--backend-directory=/be" for block in command.rank_blocks)
    assert exported_names({"PATH": "p"}) == ["PATH", *FORCED_ENV]


def test_output_tagging_flag_follows_the_open_mpi_version() -> None:
    assert "--tag-output" in build_launch_command(spec(), BASE_ENV).prefix
    prefix = build_launch_command(spec(mpirun=MpiRun("mpirun", (5, 0, 3))), BASE_ENV).prefix
    assert "--tag-output" not in prefix
    assert prefix[prefix.index("--output") + 1] == "tag"


def test_hosts_and_hostfile_go_to_mpirun() -> None:
    prefix = build_launch_command(spec(hosts="a:2,b:2", hostfile=Path("/h")), BASE_ENV).prefix
    assert prefix[prefix.index("--host") + 1] == "a:2,b:2"
    assert prefix[prefix.index("--hostfile") + 1] == "/h"


def test_render_puts_one_rank_block_per_line() -> None:
    lines = build_launch_command(spec(world_size=3), BASE_ENV).render().splitlines()
    assert lines[0].startswith("mpirun --allow-run-as-root")
    assert [line.strip().startswith("-n 1 /opt/tritonserver/bin/tritonserver") for line in lines[1:]] == [
        True
    ] * 3
    assert lines[1].endswith(": \\") and lines[2].endswith(": \\") and not lines[3].endswith(":")


# --- output tagging ---------------------------------------------------------------------------

# Open MPI 4.1.4 tags chunks, not lines: captured from two tritonserver ranks.
TAGGED = (
    b'[1,1]<stderr>:I1122 cuda_memory_manager.cc:117] "CUDA memory pool disabled"'
    b'[1,0]<stderr>:W1122 pinned_memory_manager.cc:273] "Unable to allocate"[1,1]<stderr>:\n'
    b"[1,1]<stderr>:E1122 server.cc:241] one\n[1,1]<stderr>:two\n"
    b"[1,0]<stderr>:\n"
    b"--------------------------------------------------------------------------\n"
    b"mpirun noticed that process rank 1 with PID 0 on node vm exited on signal 9 (Killed).\n"
)
EXPECTED = [
    ("rank1", 'I1122 cuda_memory_manager.cc:117] "CUDA memory pool disabled"'),
    ("rank1", "E1122 server.cc:241] one"),
    ("rank1", "two"),
    ("rank0", 'W1122 pinned_memory_manager.cc:273] "Unable to allocate"'),
    ("mpirun", "--------------------------------------------------------------------------"),
    ("mpirun", "mpirun noticed that process rank 1 with PID 0 on node vm exited on signal 9 (Killed)."),
]


@pytest.mark.parametrize("chunk", [len(TAGGED), 1, 3, 7, 16])
def test_tagged_output_is_split_into_lines_per_rank_at_any_read_boundary(chunk: int) -> None:
    lines: list[tuple[str, str]] = []
    log = RankLog(lambda channel, line: lines.append((channel, line)), tagged=True)
    for start in range(0, len(TAGGED), chunk):
        log.feed(TAGGED[start : start + chunk])
    log.close()
    assert lines == EXPECTED
    assert log.tail("rank1", 2) == ["E1122 server.cc:241] one", "two"]


def test_untagged_output_is_rank_0_and_the_tail_is_bounded() -> None:
    lines: list[tuple[str, str]] = []
    log = RankLog(lambda channel, line: lines.append((channel, line)), tagged=False, tail_lines=3)
    log.feed(b"a\nb\r\nc\nd")
    log.close()
    assert lines == [("rank0", "a"), ("rank0", "b"), ("rank0", "c"), ("rank0", "d")]
    assert log.tail("rank0", 10) == ["b", "c", "d"]


# --- repository facts -------------------------------------------------------------------------


def copy_fixture(tmp_path: Path, *, world_size: int | None = None) -> Path:
    """The tiny repository, with a render manifest recording `world_size` (as `tritongen render` writes it)."""
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURE, repo)
    if world_size is not None:
        (repo / "tritongen.json").write_text(json.dumps({"engine": {"world_size": world_size}}))
    return repo


def test_fixture_repository_facts() -> None:
    facts = inspect_repository(FIXTURE)
    assert facts.trtllm_models == ("tensorrt_llm",)
    assert facts.has_ensemble
    assert facts.torch_runtime
    assert (facts.world_size, facts.world_size_source) == (1, "default")


def test_world_size_from_the_manifest(tmp_path: Path) -> None:
    facts = inspect_repository(copy_fixture(tmp_path, world_size=2))
    assert (facts.world_size, facts.world_size_source) == (2, "tritongen.json")
    assert manifest_world_size({"engine": {"tp_size": 2, "pp_size": 2}}) == 4
    assert manifest_world_size({"engine": {"world_size": "${world_size}"}}) is None
    assert manifest_world_size({"tritongen": "0.1"}) is None


def write_config(model_dir: Path, text: str) -> None:
    model_dir.mkdir(parents=True)
    (model_dir / "config.pbtxt").write_text(text)


def test_world_size_from_tp_size_and_from_the_engine_config(tmp_path: Path) -> None:
    torch_repo = tmp_path / "torch"
    write_config(
        torch_repo / "tensorrt_llm",
        'backend: "python"\n'
        'parameters { key: "gpt_model_path" value: { string_value: "/nowhere" } }\n'
        'parameters { key: "tp_size" value: { string_value: "2" } }\n',
    )
    facts = inspect_repository(torch_repo)
    assert (facts.world_size, facts.world_size_source) == (2, "tensorrt_llm parameter tp_size")

    engine = tmp_path / "engine"
    engine.mkdir()
    config = json.loads((ENGINES / "smollm-135m-llama-fp16-beam5-v1.2.0rc6" / "config.json").read_text())
    config["pretrained_config"]["mapping"].update(tp_size=2, pp_size=2, world_size=4)
    (engine / "config.json").write_text(json.dumps(config))
    for rank in range(4):
        (engine / f"rank{rank}.engine").write_bytes(b"engine")
    trt_repo = tmp_path / "trt"
    write_config(
        trt_repo / "tensorrt_llm",
        'backend: "tensorrtllm"\n'
        f'parameters {{ key: "gpt_model_path" value: {{ string_value: "{engine}" }} }}\n',
    )
    write_config(
        trt_repo / "tensorrt_llm_bls",
        'backend: "python"\n'
        'parameters { key: "tensorrt_llm_model_name" value: { string_value: "tensorrt_llm" } }\n',
    )
    facts = inspect_repository(trt_repo)
    assert facts.world_size == 4
    assert facts.world_size_source == f"engine config {engine / 'config.json'}"
    assert facts.trtllm_models == ("tensorrt_llm",)  # the BLS model is not loaded by ranks > 0
    assert not facts.torch_runtime and not facts.has_ensemble


def test_world_size_from_a_legacy_engine(tmp_path: Path) -> None:
    from tritongen.engine import legacy_rank_file_name

    engine = tmp_path / "engine"
    engine.mkdir()
    shutil.copy(ENGINES / "llama2-7b-tp4-v0.5" / "config.json", engine / "config.json")
    builder = json.loads((engine / "config.json").read_text())["builder_config"]
    for rank in range(4):
        name = legacy_rank_file_name(builder["name"], builder["precision"], tp=4, pp=1, cp=1, rank=rank)
        (engine / name).write_bytes(b"engine")
    repo = tmp_path / "repo"
    write_config(
        repo / "tensorrt_llm",
        'backend: "tensorrtllm"\n'
        f'parameters {{ key: "gpt_model_path" value: {{ string_value: "{engine}" }} }}\n',
    )
    assert inspect_repository(repo).world_size == 4


def test_unparsable_config_is_a_launch_error(tmp_path: Path) -> None:
    write_config(tmp_path / "repo" / "tensorrt_llm", "max_batch_size: ${triton_max_batch_size}\n")
    with pytest.raises(LaunchError, match=r"cannot be parsed.*Couldn't parse integer") as raised:
        inspect_repository(tmp_path / "repo")
    assert "tritongen check" in (raised.value.hint or "")
    with pytest.raises(LaunchError, match="does not exist"):
        inspect_repository(tmp_path / "missing")


# --- planning: the checks before anything starts --------------------------------------------


def test_world_size_mismatch_names_both_numbers(tmp_path: Path) -> None:
    repo = copy_fixture(tmp_path, world_size=2)
    with pytest.raises(LaunchError, match=r"--world-size 4 disagrees with the repository's world size 2"):
        plan_launch(LaunchOptions(repo=repo, world_size=4))


def test_world_size_flag_applies_when_the_repository_does_not_say() -> None:
    plan = plan_launch(LaunchOptions(repo=FIXTURE, world_size=2))
    assert plan.spec.world_size == 2
    assert plan.command.uses_mpi


def test_no_mpi_refuses_more_than_one_rank(tmp_path: Path) -> None:
    with pytest.raises(LaunchError, match="--no-mpi"):
        plan_launch(LaunchOptions(repo=copy_fixture(tmp_path, world_size=2), mpi=False))


def test_mpirun_missing_from_path(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path)}
    with pytest.raises(LaunchError, match="mpirun not found on PATH"):
        plan_launch(LaunchOptions(repo=copy_fixture(tmp_path, world_size=2)), env)
    plan = plan_launch(LaunchOptions(repo=FIXTURE), env)  # world size 1 needs no mpirun
    assert not plan.command.uses_mpi


def test_tritonserver_flag_that_is_not_a_binary(tmp_path: Path) -> None:
    with pytest.raises(LaunchError, match="not an executable tritonserver"):
        plan_launch(LaunchOptions(repo=FIXTURE, tritonserver=str(tmp_path / "tritonserver")))


def test_too_few_gpus_is_an_error_before_start_and_a_warning_in_dry_run(tmp_path: Path) -> None:
    repo = tmp_path / "trt"
    write_config(repo / "tensorrt_llm", 'backend: "tensorrtllm"\n')
    env = {"PATH": "/usr/bin:/bin", "CUDA_VISIBLE_DEVICES": "0"}
    with pytest.raises(LaunchError, match="world size 2 needs 2 GPUs but 1 are visible"):
        plan_launch(LaunchOptions(repo=repo, world_size=2), env)
    plan = plan_launch(LaunchOptions(repo=repo, world_size=2), env, strict_gpus=False)
    assert any("needs 2 GPUs" in warning for warning in plan.warnings)
    # the torch runtime on a machine without GPUs needs none
    assert plan_launch(LaunchOptions(repo=FIXTURE, world_size=2), {**env, "CUDA_VISIBLE_DEVICES": ""})


def test_world_size_above_1_needs_a_trtllm_model(tmp_path: Path) -> None:
    write_config(tmp_path / "repo" / "preprocessing", 'backend: "python"\n')
    with pytest.raises(LaunchError, match="no TensorRT-LLM model for ranks > 0"):
        plan_launch(LaunchOptions(repo=tmp_path / "repo", world_size=2))


def test_missing_hostfile(tmp_path: Path) -> None:
    with pytest.raises(LaunchError, match=r"hostfile .* does not exist"):
        plan_launch(LaunchOptions(repo=FIXTURE, hostfile=tmp_path / "hosts"))


@pytest.mark.mpi
def test_installed_mpirun_is_recognised() -> None:
    if shutil.which("mpirun") is None:
        pytest.skip("no mpirun installed")
    mpirun = find_mpirun({"PATH": "/usr/local/bin:/usr/bin:/bin"})
    assert mpirun.version[0] >= 3


def test_dry_run_describes_world_size_environment_and_command(tmp_path: Path) -> None:
    plan = plan_launch(LaunchOptions(repo=copy_fixture(tmp_path, world_size=2)), strict_gpus=False)
    text = plan.describe()
    assert "# world size: 2 (from tritongen.json)" in text
    assert "# ranks > 0 load only: tensorrt_llm" in text
    assert "export NCCL_NVLS_ENABLE=0" in text
    assert text.count("-n 1 ") == 2


# --- cluster launch files ----------------------------------------------------------------------

FAKE_SRUN = """#!/bin/bash
# Runs the task command once per rank, as srun would across nodes (only the options we emit).
set -eu
for arg; do case "$arg" in --ntasks=*) tasks="${arg#--ntasks=}";; esac; done
while [ "$1" != bash ]; do shift; done
for ((rank = 0; rank < tasks; rank++)); do SLURM_PROCID=$rank "$@"; done
"""
FAKE_SERVER = """#!/bin/bash
# Records its arguments, one file per rank: stands in for tritonserver (or mpirun).
echo "$@" > "$OUT/${SLURM_PROCID:-mpirun}.args"
"""


def executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def cluster_repo(tmp_path: Path, world_size: int) -> Path:
    return copy_fixture(tmp_path, world_size=world_size)


def test_slurm_script_runs_one_task_per_rank_with_the_rank_arguments(tmp_path: Path) -> None:
    from tritongen.launch.cluster import cluster_spec, slurm_batch_script

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    executable(bin_dir / "srun", FAKE_SRUN)
    executable(bin_dir / "scontrol", "#!/bin/bash\necho node1\necho node2\n")
    server = executable(tmp_path / "tritonserver", FAKE_SERVER)
    spec = cluster_spec(cluster_repo(tmp_path, 4), gpus_per_node=2, tritonserver=server, image="img")
    script = executable(tmp_path / "serve.sbatch", slurm_batch_script(spec))
    assert "#SBATCH --nodes=2\n#SBATCH --ntasks=4\n#SBATCH --ntasks-per-node=2\n" in script.read_text()
    assert "srun --mpi=pmix --kill-on-bad-exit=1" in script.read_text()
    subprocess.run(["bash", "-n", str(script)], check=True)

    out = tmp_path / "out"
    out.mkdir()
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "OUT": str(out), "SLURM_JOB_NODELIST": "node[1-2]"}
    ran = subprocess.run([str(script)], env=env, capture_output=True, text=True, check=True)
    assert "rank 0 will serve http://node1:8000" in ran.stdout
    args = {int(p.stem): p.read_text().split() for p in out.glob("*.args")}
    assert sorted(args) == [0, 1, 2, 3]
    assert "--load-model=tensorrt_llm" not in args[0]
    for rank in (1, 2, 3):
        explicit = args[rank].index("--model-control-mode=explicit")
        assert args[rank][explicit + 1] == "--load-model=tensorrt_llm"
    for rank, argv in args.items():
        assert argv[-1] == f"--backend-config=python,shm-region-prefix-name=prefix{rank}_"
        assert "--http-address=0.0.0.0" in argv


# The LeaderWorkerSet v1 API (sigs.k8s.io/lws api/leaderworkerset/v1), the parts tritongen emits:
# kubernetes-validate knows only built-in kinds, so the CRD is checked against this schema and each
# pod template is checked by kubernetes-validate as the core/v1 PodTemplateSpec it is.
LWS_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "leaderworkerset.x-k8s.io/v1"},
        "kind": {"const": "LeaderWorkerSet"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["leaderWorkerTemplate"],
            "properties": {
                "replicas": {"type": "integer", "minimum": 0},
                "startupPolicy": {"enum": ["LeaderCreated", "LeaderReady"]},
                "networkConfig": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"subdomainPolicy": {"enum": ["Shared", "UniquePerReplica"]}},
                },
                "leaderWorkerTemplate": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["workerTemplate"],
                    "properties": {
                        "size": {"type": "integer", "minimum": 1},
                        "restartPolicy": {"enum": ["RecreateGroupOnPodRestart", "None", "Default"]},
                        "leaderTemplate": {"type": "object", "required": ["spec"]},
                        "workerTemplate": {"type": "object", "required": ["spec"]},
                    },
                },
            },
        },
    },
}


def test_leaderworkerset_manifest_validates(tmp_path: Path) -> None:
    import jsonschema
    import kubernetes_validate
    import yaml

    from tritongen.launch.cluster import cluster_spec, leaderworkerset_yaml

    manifest = yaml.safe_load(
        leaderworkerset_yaml(
            cluster_spec(
                cluster_repo(tmp_path, 4), gpus_per_node=2, image="nvcr.io/nvidia/tritonserver:24.08"
            )
        )
    )
    jsonschema.validate(manifest, LWS_SCHEMA)
    template = manifest["spec"]["leaderWorkerTemplate"]
    assert template["size"] == 2
    for role in ("leaderTemplate", "workerTemplate"):
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "check"},
            "spec": template[role]["spec"],
        }
        kubernetes_validate.validate(pod, "1.30", strict=True)
    leader = template["leaderTemplate"]["spec"]["containers"][0]
    assert leader["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert leader["resources"]["limits"] == {"nvidia.com/gpu": "2"}


def test_leaderworkerset_leader_runs_mpirun_over_the_group(tmp_path: Path) -> None:
    import yaml

    from tritongen.launch.cluster import cluster_spec, leaderworkerset_yaml

    manifest = yaml.safe_load(
        leaderworkerset_yaml(cluster_spec(cluster_repo(tmp_path, 4), gpus_per_node=2, image="img"))
    )
    script = manifest["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]["containers"][0]["command"][2]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    executable(bin_dir / "mpirun", FAKE_SERVER)
    out = tmp_path / "out"
    out.mkdir()
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "OUT": str(out),
        "LWS_LEADER_ADDRESS": "tritongen-0.tritongen.default",
        "LWS_GROUP_SIZE": "2",
    }
    subprocess.run(["bash", "-c", script], env=env, check=True)
    argv = (out / "mpirun.args").read_text().split()
    assert (
        argv[argv.index("--host") + 1] == "tritongen-0.tritongen.default:2,tritongen-0-1.tritongen.default:2"
    )
    assert argv.count("-n") == 4


def test_cluster_spec_errors(tmp_path: Path) -> None:
    from tritongen.launch.cluster import cluster_spec, leaderworkerset_manifest

    with pytest.raises(LaunchError, match="does not fill nodes of 4 GPUs evenly"):
        cluster_spec(cluster_repo(tmp_path, 6), gpus_per_node=4)
    with pytest.raises(LaunchError, match="needs a container image"):
        leaderworkerset_manifest(cluster_spec(FIXTURE))


def test_launch_defaults_to_the_only_repository_under_model_repos(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from tritongen.cli import cli

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    (tmp_path / "model_repos").mkdir()
    shutil.copytree(FIXTURE, tmp_path / "model_repos" / "tiny")
    result = runner.invoke(cli, ["launch", "--dry-run"], catch_exceptions=False)
    assert result.exit_code == 0
    assert f"# repository: {tmp_path / 'model_repos' / 'tiny'}" in result.output

    shutil.copytree(FIXTURE, tmp_path / "model_repos" / "other")
    result = runner.invoke(cli, ["launch", "--dry-run"])
    assert result.exit_code != 0
    assert "holds 2 repositories (other, tiny)" in str(result.exception)


def test_bundled_server_refuses_numpy_2() -> None:
    """tritonserver 2.51's Python backend (nvidia-pytriton 0.7) corrupts BYTES tensors under numpy 2
    (reproduced on CPU with numpy 2.4 and on the GPU machines with 2.5): launch must say so, not hang."""
    from tritongen.errors import LaunchError
    from tritongen.launch.server import check_bundled_numpy

    check_bundled_numpy("0.7.0", "1.26.4")
    check_bundled_numpy("0.8.0", "2.4.6")
    check_bundled_numpy(None, "2.4.6")
    with pytest.raises(LaunchError, match="corrupts string tensors"):
        check_bundled_numpy("0.7.0", "2.5.2")
