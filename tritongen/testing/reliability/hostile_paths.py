"""Part hostile-paths: `tritongen render --slurm --k8s` into repository paths no shell should trust.

Each case (generated from the seed) renders a stand-in engine (world size 1 or 2) into a path built
from newlines, `$(...)`, backticks, quotes, spaces, globs, shell operators, control characters and
unicode, with an image name built the same way; then:

- `bash -n tritongen.slurm.sh`, and every `#SBATCH` line holds only characters sbatch reads safely;
- the script runs with stand-in `srun`, `scontrol` and `tritonserver` first on PATH: srun records its
  argv and runs the task command once per rank (as `SLURM_PROCID` 0..n-1), tritonserver records its
  argv. The container path of tritonserver (a constant with no special character) is pointed at the
  stand-in; nothing else in the script is touched. srun must get `--container-image=IMAGE` and
  `--container-mounts=REPO:REPO`, and each rank `--model-repository=REPO`, all exactly;
- `tritongen.lws.yaml` parses, its name, image and readiness probe are the exact values, and its
  leader script passes `bash -n` and, run with a stand-in `mpirun`, gives mpirun
  `--model-repository=REPO` once per rank;
- no injected command ran: every payload calls `tritongen_injected` (a stand-in on PATH that records
  being called) or `touch INJECTED` (in the directory the scripts run in), and neither may happen.

No server is needed. Every `subprocess_every`-th case runs `tritongen` as a child process (the path
then crosses exec as an argv element), the others call the CLI in-process.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tritongen.launch.server import CONTAINER_TRITONSERVER
from tritongen.render import CLUSTER_FILES
from tritongen.testing.engines import make_engine_dir, make_tokenizer_dir, modern_config
from tritongen.testing.reliability.engine_fuzz import run_cli_in_process, run_cli_subprocess
from tritongen.testing.reliability.report import PartResult, keep_failure, start_part

SLURM_FILE, K8S_FILE = CLUSTER_FILES
SENTINEL = "tritongen_injected"
MARKER = "INJECTED"
RUN_TIMEOUT_S = 60

# Pieces of a path component: shell syntax that must stay data, and ordinary text between it.
PAYLOADS = (
    f"$({SENTINEL})",
    f"`{SENTINEL}`",
    f"; {SENTINEL};",
    f"&& {SENTINEL}",
    f"| {SENTINEL}",
    f"\n{SENTINEL}\n",
    f"\r\n{SENTINEL}",
    f"$(touch {MARKER})",
    f"`touch {MARKER}`",
    f"'; touch {MARKER}; echo '",
    f'"; touch {MARKER}; echo "',
    f'\\"; {SENTINEL} #',
    f"${{IFS}}{SENTINEL}",
    f"$'\\n{SENTINEL}'",
    f"<({SENTINEL})",
    f"> {MARKER}",
    f"{{a,b}}{SENTINEL}",
)
PIECES = (
    " ",
    "  ",
    "\t",
    "\n",
    "'",
    '"',
    "\\",
    "$",
    "$HOME",
    "${PATH}",
    "$1",
    "!",
    "#",
    "*",
    "?",
    "[ab]",
    "~",
    "%",
    "&",
    ";",
    "|",
    "<",
    ">",
    "(",
    ")",
    "{",
    "}",
    "=",
    ":",
    ",",
    "-",
    "--help",
    "\x1b[31m",
    "\x7f",
    "é",
    "ß",
    "日本語",
    "🙂",
    "\u2028",
    "\u00a0",
    "\ufeff",
    "ünïcödé",
)
WORDS = ("repo", "models", "my model", "x", "a.b", "v1.2", "-", "_")

FAKE_SRUN = """#!/bin/bash
# Stands in for srun: records its argv, then runs the task command once per rank, as srun would.
set -eu
printf '%s\\0' "$@" > "$OUT/srun.args"
for arg; do case "$arg" in --ntasks=*) tasks="${arg#--ntasks=}";; esac; done
while [ "$1" != bash ]; do shift; done
for ((rank = 0; rank < tasks; rank++)); do SLURM_PROCID=$rank "$@"; done
"""
RECORD_ARGS = """#!/bin/bash
# Stands in for tritonserver (or mpirun): records its exact argv, NUL-separated, one file per rank.
printf '%s\\0' "$@" > "$OUT/${SLURM_PROCID:-mpirun}.args"
"""
INJECTED = f"""#!/bin/bash
# Called only if a path or image became a command.
printf '%s\\n' "$0 $*" >> "$OUT/{SENTINEL}"
"""


def hostile_component(rng: random.Random) -> str:
    """One directory name: words, payloads and odd characters (never '.', '..' or a '/')."""
    parts = [rng.choice(WORDS)]
    for _ in range(rng.randint(1, 4)):
        parts.append(rng.choice(PAYLOADS) if rng.random() < 0.5 else rng.choice(PIECES))
        if rng.random() < 0.3:
            parts.append(rng.choice(WORDS))
    name = "".join(parts)
    while len(name.encode()) > 200:  # NAME_MAX is 255 bytes
        name = name[: len(name) // 2]
    return name if name not in (".", "..") else f"{name}x"


def hostile_case(rng: random.Random, index: int) -> dict[str, Any]:
    """A repository path (relative: 1-3 hostile components), an image, a world size, GPUs per node."""
    components = [hostile_component(rng) for _ in range(rng.randint(1, 3))]
    image = f"registry.example/{rng.choice(WORDS)}:{rng.choice(PAYLOADS)}{rng.choice(PIECES)}"
    world_size = rng.choice([1, 2])
    return {
        "case": index,
        "components": components,
        "image": image,
        "world_size": world_size,
        "gpus_per_node": rng.choice([1, 2]) if world_size > 1 else 1,
    }


def _executable(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    path.chmod(0o755)
    return path


def _recorded(path: Path) -> list[str]:
    return _text(path).split("\0")[:-1] if path.exists() else []


def _text(path: Path) -> str:
    """The file's exact text: no newline translation (read_text would turn a path's \\r\\n into \\n)."""
    return path.read_bytes().decode("utf-8", "surrogateescape")


def _render(argv: list[str], as_subprocess: bool) -> tuple[int, str]:
    if as_subprocess:
        code, out, err, escaped = run_cli_subprocess(argv, timeout_s=120)
    else:
        code, out, err, escaped = run_cli_in_process(argv)
    return code, out + err + (escaped or "")


def _new_entries(directory: Path, before: set[str]) -> list[str]:
    return sorted({p.name for p in directory.iterdir()} - before)


@dataclass(frozen=True)
class _Rendered:
    """A rendered case and where its scripts run: stand-ins in `bin_dir`, records in `out`."""

    repo: Path  # as rendered: the exact path every argv must carry
    image: str
    ranks: int
    directory: Path
    sandbox: Path  # the scripts' working directory: an injected `touch INJECTED` lands here
    out: Path
    env: dict[str, str]
    server: Path


# A path holding one of these would read as an unfilled placeholder in every config that names it:
# render refuses it up front (exit 2, one line) instead of writing a repository `check` would fail.
TEMPLATE_MARKERS = ("${", "{{", "{%")


def _refused_cleanly(code: int, output: str, repo: Path) -> list[str]:
    """The problems with render's answer to a path it must refuse (none: exit 2, one line, nothing written)."""
    lines = [line for line in output.strip().splitlines() if line.strip()]
    problems = [f"render of a template-marker path exited {code}, not 2"] if code != 2 else []
    if len(lines) != 1 or "Traceback" in output:
        problems.append(f"render's refusal is not one line: {output.strip()[-400:]}")
    if repo.exists():
        problems.append("render refused the path but wrote the repository anyway")
    return problems


def check_case(
    case: dict[str, Any], directory: Path, engines: dict[int, Path], tokenizer: Path, *, as_subprocess: bool
) -> list[str]:
    """Render one case and run its cluster files with stand-ins; the problems found (none: passed)."""
    sandbox, bin_dir, out = directory / "sandbox", directory / "bin", directory / "out"
    for made in (sandbox, bin_dir, out):
        made.mkdir(parents=True)
    repo = (directory / "repos").joinpath(*case["components"])
    repo.parent.mkdir(parents=True)
    argv = [
        "render",
        "--engine",
        str(engines[case["world_size"]]),
        "--tokenizer",
        str(tokenizer),
        "--output",
        str(repo),
        "--slurm",
        "--k8s",
        "--image",
        case["image"],
        "--gpus-per-node",
        str(case["gpus_per_node"]),
    ]
    code, output = _render(argv, as_subprocess)
    if any(marker in str(repo) for marker in TEMPLATE_MARKERS):
        return _refused_cleanly(code, output, repo)
    if code != 0:
        return [f"render exited {code}: {output.strip()[-400:]}"]
    if not (repo / "tritongen.json").is_file():
        return ["render exited 0 but the repository is not at the exact path"]
    _executable(bin_dir / "srun", FAKE_SRUN)
    _executable(bin_dir / "scontrol", "#!/bin/bash\necho node1\n")
    _executable(bin_dir / SENTINEL, INJECTED)
    _executable(bin_dir / "mpirun", RECORD_ARGS)
    rendered = _Rendered(
        repo=repo.resolve(),
        image=case["image"],
        ranks=case["world_size"],
        directory=directory,
        sandbox=sandbox,
        out=out,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "OUT": str(out), "LANG": "C.UTF-8"},
        server=_executable(bin_dir / "tritonserver", RECORD_ARGS),
    )
    return _check_slurm(rendered) + _check_lws(rendered)


def _run(argv: list[str], case: _Rendered, env: dict[str, str], what: str) -> list[str]:
    """Run a script in the case's sandbox; its failure and any injection it caused, as problems."""
    before = {p.name for p in case.sandbox.iterdir()}
    ran = subprocess.run(
        argv,
        env={**case.env, **env},
        cwd=case.sandbox,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    problems = [f"{what} exited {ran.returncode}: {ran.stderr.strip()[-300:]}"] if ran.returncode else []
    return problems + _injections(case.out, case.sandbox, before, what)


def _check_slurm(case: _Rendered) -> list[str]:
    problems: list[str] = []
    script_path = case.repo / SLURM_FILE
    script = _text(script_path)
    syntax = subprocess.run(["bash", "-n", str(script_path)], capture_output=True, text=True, check=False)
    if syntax.returncode != 0:
        problems.append(f"bash -n {SLURM_FILE}: {syntax.stderr.strip()[-300:]}")
    unsafe = [
        line
        for line in script.splitlines()
        if line.startswith("#SBATCH")
        and not all(c.isascii() and (c.isalnum() or c in "#=-_. ") for c in line)
    ]
    problems += [f"unsafe #SBATCH line {line!r}" for line in unsafe]
    container_server = str(CONTAINER_TRITONSERVER)
    if container_server in str(case.repo) or container_server in case.image:
        problems.append("case generator error: the path holds the container tritonserver path")
    runnable = _executable(case.directory / "slurm.sh", script.replace(container_server, str(case.server)))
    problems += _run([str(runnable)], case, {"SLURM_JOB_NODELIST": "node1"}, SLURM_FILE)
    srun = _recorded(case.out / "srun.args")
    for wanted in (f"--container-image={case.image}", f"--container-mounts={case.repo}:{case.repo}"):
        if srun.count(wanted) != 1:
            problems.append(f"srun argv lacks {wanted!r} exactly once: {srun[:12]}")
    for rank in range(case.ranks):
        flags = [a for a in _recorded(case.out / f"{rank}.args") if a.startswith("--model-repository=")]
        if flags != [f"--model-repository={case.repo}"]:
            problems.append(f"rank {rank} got {flags!r}, not the exact path")
    expected = {"srun.args", *(f"{rank}.args" for rank in range(case.ranks))}
    if extra := [p.name for p in case.out.glob("*.args") if p.name not in expected]:
        problems.append(f"unexpected ranks ran: {extra}")
    return problems


def _check_lws(case: _Rendered) -> list[str]:
    problems: list[str] = []
    try:
        manifest = yaml.safe_load(_text(case.repo / K8S_FILE))
        template = manifest["spec"]["leaderWorkerTemplate"]
        leader = template["leaderTemplate"]["spec"]["containers"][0]
        worker = template["workerTemplate"]["spec"]["containers"][0]
    except (yaml.YAMLError, KeyError, IndexError, TypeError) as error:
        return [f"{K8S_FILE} does not parse as a LeaderWorkerSet: {error}"]
    if manifest["metadata"]["name"] != case.repo.name:
        problems.append(f"metadata.name {manifest['metadata']['name']!r} is not the repository's name")
    if leader["image"] != case.image or worker["image"] != case.image:
        problems.append(f"image {leader['image']!r} is not the exact image")
    if leader["readinessProbe"]["httpGet"]["path"] != "/v2/health/ready":
        problems.append("the readiness probe lost its path")
    leader_script = leader["command"][2]
    syntax = subprocess.run(["bash", "-n", "-c", leader_script], capture_output=True, text=True, check=False)
    if syntax.returncode != 0:
        problems.append(f"bash -n of the leader script: {syntax.stderr.strip()[-300:]}")
    lws_env = {"LWS_LEADER_ADDRESS": "tritongen-0.tritongen.default", "LWS_GROUP_SIZE": "2"}
    problems += _run(["bash", "-c", leader_script], case, lws_env, "the leader script")
    mpirun = _recorded(case.out / "mpirun.args")
    count = mpirun.count(f"--model-repository={case.repo}")
    if count != case.ranks or len([a for a in mpirun if a.startswith("--model-repository=")]) != case.ranks:
        problems.append(f"mpirun got the exact path {count} time(s) for {case.ranks} rank(s)")
    return problems


def _injections(out: Path, sandbox: Path, before: set[str], what: str) -> list[str]:
    found = []
    if (out / SENTINEL).exists():
        found.append(f"{what} ran an injected command: {(out / SENTINEL).read_text()[:200]!r}")
    if new := _new_entries(sandbox, before):
        found.append(f"{what} created {new} in its working directory")
    return found


def run_hostile_paths(
    work: Path,
    *,
    cases: int,
    seed: int = 0,
    subprocess_every: int = 10,
    mode: str = "quick",
    progress: Callable[[str], None] | None = None,
) -> PartResult:
    """`cases` fuzzed repository paths through render --slurm --k8s and the scripts it writes."""
    say, started = start_part(work, progress)
    tokenizer = make_tokenizer_dir(work / "tokenizer")
    engines = {
        ranks: make_engine_dir(work / "engines", modern_config("0.19.0", tp=ranks), name=f"tp{ranks}")
        for ranks in (1, 2)
    }
    rng = random.Random(seed)
    failures: list[str] = []
    records: list[dict[str, Any]] = []
    pieces_seen: Counter[str] = Counter()
    for index in range(cases):
        case = hostile_case(rng, index)
        as_subprocess = subprocess_every > 0 and index % subprocess_every == subprocess_every - 1
        directory = work / f"case{index}"
        try:
            problems = check_case(case, directory, engines, tokenizer, as_subprocess=as_subprocess)
        except Exception as error:  # noqa: BLE001 (a case that could not run fails, with its reason)
            problems = [f"{type(error).__name__}: {error}"]
        path = "/".join(case["components"])
        for payload in (*PAYLOADS, "\n", "'", '"', "\\", "\u2028", "\x1b[31m"):
            if payload in path or payload in case["image"]:
                pieces_seen[payload] += 1
        records.append(
            {
                "case": index,
                "world_size": case["world_size"],
                "subprocess": as_subprocess,
                "passed": not problems,
                "problems": problems,
            }
        )
        if problems:
            keep_failure(
                failures, f"case {index} (seed {seed}): path {path!r}, image {case['image']!r}: {problems}"
            )
        else:
            shutil.rmtree(directory, ignore_errors=True)
        if (index + 1) % 25 == 0 or index + 1 == cases:
            bad = sum(not r["passed"] for r in records)
            say(f"hostile-paths: {index + 1}/{cases} cases, {bad} failed")
    passed = sum(r["passed"] for r in records)
    all_problems = [p for r in records for p in r["problems"]]
    figures = {
        "cases": cases,
        "subprocess_runs": sum(r["subprocess"] for r in records),
        "world_sizes": dict(Counter(str(r["world_size"]) for r in records)),
        "injections": sum("injected command" in p or "in its working directory" in p for p in all_problems),
        "wrong_argv": sum("exact" in p for p in all_problems),
        "syntax_errors": sum("bash -n" in p for p in all_problems),
        "yaml_errors": sum("does not parse" in p for p in all_problems),
        "render_failures": sum(p.startswith("render exited") for p in all_problems),
        # keys as JSON escapes: a newline or an escape sequence shown as such, in the table and the doc
        "payloads_used": {json.dumps(k)[1:-1]: v for k, v in sorted(pieces_seen.items())},
    }
    return PartResult(
        "hostile-paths",
        mode,
        "examples",
        cases,
        passed,
        cases - passed,
        ok=passed == cases,
        duration_s=time.monotonic() - started,
        figures=figures,
        failures=failures,
    )
