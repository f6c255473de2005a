"""Part 3, engine-fuzz: hypothesis-mutated `config.json` files and directory layouts through the real CLI.

Never a traceback, only documented exit codes, never a partial write. Most examples run `tritongen`
in process (fast); every Nth runs it as a subprocess, so the real entry point is covered too.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tritongen.defaults import cache_dir
from tritongen.testing.engines import (
    CORPUS_ENGINES,
    SYNTHETIC_DIR,
    legacy_config,
    make_engine_dir,
    make_tokenizer_dir,
    modern_config,
    rank_file_names,
    trtllm_build_config,
)
from tritongen.testing.launch import CLI
from tritongen.testing.paths import CORPUS

DOCUMENTED_RENDER_CODES = (0, 2, 3, 4, 5, 6)
CASE_TIMEOUT_S = 60.0  # one engine-fuzz case (render takes well under a second)
from tritongen.testing.reliability.report import FAILURES_KEPT, PartResult, keep_failure, start_part
from tritongen.testing.reliability.stack import cli_env


@dataclass(frozen=True)
class EngineBase:
    """A config.json to start from, and the rank (or weight) files beside it."""

    name: str
    config_text: str
    files: tuple[str, ...]


@dataclass
class EngineExample:
    """One generated case: everything needed to rebuild it (kept as JSON beside a failure)."""

    base: str
    config_ops: list[str]
    config_bytes: bytes
    layout: list[str]
    layout_seed: int
    engine_name: str
    tokenizer: str
    output: str
    flags: list[str]
    config_file: bytes | None = None  # --config YAML content

    def describe(self) -> str:
        return (
            f"base={self.base} ops={self.config_ops} layout={self.layout} engine_name={self.engine_name!r} "
            f"tokenizer={self.tokenizer} output={self.output} flags={self.flags}"
        )


def engine_bases() -> list[EngineBase]:
    """The corpus engines (every layout TensorRT-LLM wrote), synthetic ones and two checkpoints."""
    bases = []
    for name in CORPUS_ENGINES:
        path = CORPUS / "engines" / name / "config.json"
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            bases.append(EngineBase(name, text, tuple(rank_file_names(json.loads(text)))))
    synthetic = {
        "legacy-0.5": legacy_config(flavor="0.5"),
        "legacy-0.7-tp2": legacy_config(flavor="0.7", tp=2),
        "legacy-0.8": legacy_config(flavor="0.8", max_beam_width=2),
        "trtllm-build-0.9": trtllm_build_config(version="0.9.0"),
        "modern-0.19": modern_config("0.19.0"),
        "modern-1.2-tp2": modern_config("1.2.0", tp=2, max_batch_size=64),
        "modern-1.1-pp2": modern_config("1.1.0", pp=2),
        "modern-medusa": modern_config("0.19.0", speculative="medusa"),
    }
    for name, config in synthetic.items():
        bases.append(EngineBase(name, json.dumps(config, indent=4), tuple(rank_file_names(config))))
    hf = SYNTHETIC_DIR / "smollm2-135m-hf" / "config.json"
    if hf.is_file():
        bases.append(EngineBase("hf-smollm2", hf.read_text(encoding="utf-8"), ("model.safetensors",)))
    checkpoint = SYNTHETIC_DIR / "trtllm-checkpoint" / "config.json"
    if checkpoint.is_file():
        bases.append(
            EngineBase("trtllm-checkpoint", checkpoint.read_text(encoding="utf-8"), ("rank0.safetensors",))
        )
    return bases


INTERESTING_KEYS = (
    "version",
    "pretrained_config",
    "build_config",
    "builder_config",
    "plugin_config",
    "mapping",
    "tp_size",
    "pp_size",
    "cp_size",
    "world_size",
    "gpus_per_node",
    "architecture",
    "architectures",
    "dtype",
    "logits_dtype",
    "max_batch_size",
    "max_beam_width",
    "max_input_len",
    "max_seq_len",
    "max_output_len",
    "max_num_tokens",
    "num_attention_heads",
    "num_key_value_heads",
    "num_heads",
    "num_kv_heads",
    "hidden_size",
    "vocab_size",
    "kv_cache_type",
    "paged_kv_cache",
    "use_paged_context_fmha",
    "gather_context_logits",
    "gather_generation_logits",
    "speculative_decoding_mode",
    "max_draft_len",
    "lora_config",
    "quantization",
    "quant_algo",
    "kv_cache_quant_algo",
    "tensor_parallel",
    "pipeline_parallel",
    "name",
    "precision",
    "max_prompt_embedding_table_size",
    "torch_dtype",
    "model_type",
    "num_hidden_layers",
    "eos_token_id",
)
INTERESTING_STRINGS = (
    "",
    " ",
    "float16",
    "bfloat16",
    "float32",
    "fp8",
    "int8",
    "int4",
    "PAGED",
    "paged",
    "CONTINUOUS",
    "disabled",
    "llama",
    "LlamaForCausalLM",
    "MedusaForCausalLM",
    "1.2.0",
    "0.5.0",
    "0.19.0",
    "99.0",
    "0.4",
    "1.2.0rc6.post3",
    "abc",
    "None",
    "null",
    "true",
    "-1",
    "1e309",
    "\u0000",
    "é",
    "🙂",
    "\ud7ff",
    "../../etc/passwd",
    "${x}",
    "{{ x }}",
    "a" * 10_000,
)
BOUNDARY_INTS = (
    0,
    1,
    -1,
    2,
    3,
    7,
    8,
    64,
    2**31 - 1,
    2**31,
    -(2**31) - 1,
    2**32 + 8,
    2**63 - 1,
    -(2**63),
    2**64,
    10**30,
)


def json_values() -> Any:
    from hypothesis import strategies as st

    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.sampled_from(BOUNDARY_INTS),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(INTERESTING_STRINGS),
        st.text(max_size=24),
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(
                st.one_of(st.sampled_from(INTERESTING_KEYS), st.text(max_size=8)), children, max_size=4
            ),
        ),
        max_leaves=8,
    )


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        for key, child in value.items():
            found.append((*prefix, key))
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.append((*prefix, index))
            found += _paths(child, (*prefix, index))
    return found


def _containers(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every dict in `value` (the root included)."""
    found = [prefix] if isinstance(value, dict) else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _containers(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _containers(child, (*prefix, index))
    return found


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


def _retyped(value: Any) -> Any:
    """The same information in another JSON type (what a hand-edited file gets wrong)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return int(value) if value.lstrip("-").isdigit() else [value]
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, dict):
        return list(value.values())
    return 0


LAYOUT_OPS = (
    "truncate-config",
    "binary-config",
    "empty-config",
    "bom-config",
    "invalid-utf8-config",
    "no-config",
    "config-is-dir",
    "config-dangling-symlink",
    "config-symlink-loop",
    "drop-file",
    "extra-rank-file",
    "file-is-dir",
    "empty-files",
    "engine-is-file",
    "engine-missing",
    "engine-empty-dir",
    "nested-config",
    "deep-json",
    "huge-config",
    "duplicate-keys",
    "trailing-garbage",
    "engine-symlink",
)
TOKENIZER_SCENARIOS = (
    "tiny",
    "engine",
    "missing",
    "empty-dir",
    "file",
    "corrupt-json",
    "fuzzed-config",
    "smollm2",
)
OUTPUT_SCENARIOS = (
    "new",
    "nested-new",
    "existing-render",
    "existing-other",
    "existing-empty",
    "file",
    "symlink-to-render",
    "inside-engine",
    "is-engine",
)
SET_VALUES = (
    "max_batch_size=8",
    "tensorrt_llm.max_beam_width=2",
    "decoupled_mode=false",
    "batching_strategy=v1",
    "kv_cache_free_gpu_mem_fraction=0.5",
    "kv_cache_free_gpu_mem_fraction=2",
    "preprocessing.tokenizer_dir=/x",
    "bogus=1",
    "=",
    "a.b.c=1",
    "triton_max_batch_size=-3",
    "max_seq_len=abc",
    "tp_size=0",
    "ensemble.decoupled_mode=",
    "max_queue_delay_microseconds=1e9",
    "tensorrt_llm.gpu_device_ids=0,1",
    "engine_dir=",
    "${x}={{y}}",
)


# Values a hand-edited config.json plausibly holds: mixed with json_values() so that most mutations stay
# close enough to a real engine to reach the deeper checks.
PLAUSIBLE_VALUES = (
    0,
    1,
    2,
    3,
    4,
    8,
    16,
    64,
    128,
    256,
    1024,
    4096,
    True,
    False,
    None,
    "float16",
    "bfloat16",
    "float32",
    "fp8",
    "PAGED",
    "paged",
    "llama",
    "LlamaForCausalLM",
    "1.2.0",
    "0.19.0",
    "0.8.0",
)
CONFIG_EDITS = ("set", "set", "set", "delete", "delete", "add", "retype", "replace-root")
OVERRIDE_FILE_TEXTS = (
    "max_batch_size: 4\n",
    "tensorrt_llm: {max_beam_width: x}\n",
    "- a\n- b\n",
    "{{{",
    "bogus: 1\n",
    "preprocessing: 3\n",
    "a: !!python/object:os.system x\n",
    "max_beam_width: [1, 2]\n",
    "ensemble: {decoupled_mode: .nan}\n",
)
ENGINE_NAMES = ("engine",) * 6 + ("my engine", "ëngine-ü", "-engine", "engine.d")
# Optional render flags, each (chance, its arguments from the shape Random); --force and --dry-run come
# before the --set flags, the rest after them (the order the examples have always been drawn in).
LEADING_FLAGS: tuple[tuple[float, Callable[[random.Random], list[str]]], ...] = (
    (0.3, lambda _: ["--force"]),
    (0.08, lambda _: ["--dry-run"]),
)
TRAILING_FLAGS: tuple[tuple[float, Callable[[random.Random], list[str]]], ...] = (
    (
        0.06,
        lambda rnd: [
            "--backend-version",
            rnd.choice(("0.5", "0.8", "0.12", "0.19", "1.2", "1.1.0", "2.0", "x", "")),
        ],
    ),
    (
        0.15,
        lambda rnd: [
            "--placement",
            rnd.choice(("symlink", "hardlink", "copy", "copy", "reference", "bogus")),
        ],
    ),
    (0.05, lambda rnd: [rnd.choice(("--tp", "--pp")), str(rnd.choice((0, 1, 2, 3, -1, 9)))]),
    (0.08, lambda rnd: [rnd.choice(("--no-streaming", "--slurm", "--k8s"))]),
)


def _shown(value: Any, limit: int) -> str:
    return json.dumps(value, allow_nan=True)[:limit]


def _dotted(path: tuple[Any, ...]) -> str:
    return ".".join(map(str, path))


def _add_key(draw: Any, rnd: random.Random, config: Any, values: Any) -> str | None:
    """Add a key to a random dict in `config`; the op's note, or None when the pick is no dict."""
    from hypothesis import strategies as st

    where = rnd.choice(_containers(config) or [()])
    if not isinstance(_at(config, where), dict):
        return None
    key = rnd.choice(INTERESTING_KEYS) if rnd.random() < 0.7 else draw(st.text(max_size=8))
    value = draw(values)
    _at(config, where)[key] = value
    return f"add {_dotted((*where, key))}={_shown(value, 40)}"


def _edit_config(draw: Any, rnd: random.Random, config: Any, values: Any) -> tuple[Any, str | None]:
    """One random edit of `config` (in place where it can be): (the config, the op's note or None)."""
    kind = rnd.choice(CONFIG_EDITS)
    paths = _paths(config)
    if kind == "replace-root" or not paths:
        config = draw(values)
        return config, f"root={_shown(config, 60)}"
    if kind == "add":
        return config, _add_key(draw, rnd, config, values)
    interesting = [p for p in paths if p[-1] in INTERESTING_KEYS]
    path = rnd.choice(interesting if interesting and rnd.random() < 0.6 else paths)
    parent = _at(config, path[:-1])
    if kind == "delete":
        del parent[path[-1]]
        return config, f"delete {_dotted(path)}"
    if kind == "retype":
        parent[path[-1]] = _retyped(parent[path[-1]])
        return config, f"retype {_dotted(path)}"
    value = draw(values)
    parent[path[-1]] = value
    return config, f"set {_dotted(path)}={_shown(value, 40)}"


def _mutated_config(draw: Any, rnd: random.Random, base: EngineBase, values: Any) -> tuple[Any, list[str]]:
    """The base's config after 0-4 random edits, and a note of each edit made."""
    config: Any = json.loads(base.config_text)
    ops: list[str] = []
    for _ in range(rnd.choice((0, 0, 0, 1, 1, 1, 2, 2, 3, 4))):
        config, note = _edit_config(draw, rnd, config, values)
        if note is not None:
            ops.append(note)
    return config, ops


def _chance_flags(
    rnd: random.Random, table: Sequence[tuple[float, Callable[[random.Random], list[str]]]]
) -> list[str]:
    flags: list[str] = []
    for chance, arguments in table:
        if rnd.random() < chance:
            flags += arguments(rnd)
    return flags


def _draw_flags(draw: Any, rnd: random.Random) -> list[str]:
    from hypothesis import strategies as st

    flags = _chance_flags(rnd, LEADING_FLAGS)
    for _ in range(rnd.choice((0,) * 8 + (1, 2))):
        flags += ["--set", rnd.choice(SET_VALUES) if rnd.random() < 0.8 else draw(st.text(max_size=16))]
    return flags + _chance_flags(rnd, TRAILING_FLAGS)


def _draw_config_file(draw: Any, rnd: random.Random, values: Any) -> bytes | None:
    """The --config YAML for 6% of examples: a JSON value, a known-awkward YAML, or any text."""
    from hypothesis import strategies as st

    if rnd.random() >= 0.06:
        return None
    choice = rnd.random()
    if choice < 0.4:
        content = json.dumps(draw(values), allow_nan=True)
    elif choice < 0.8:
        content = rnd.choice(OVERRIDE_FILE_TEXTS)
    else:
        content = draw(st.text(max_size=40))
    return content.encode("utf-8", errors="surrogatepass")


def engine_example_strategy(bases: Sequence[EngineBase]) -> Any:
    from hypothesis import strategies as st

    values = st.one_of(st.sampled_from(PLAUSIBLE_VALUES), json_values())

    @st.composite
    def build(draw: Any) -> EngineExample:
        # Shape decisions (which base, which mutations, which flags) with plain probabilities from a
        # hypothesis-seeded Random: hypothesis' own draws lean on the smallest choice. Values come from
        # hypothesis strategies, which is where its edge cases (NaN, huge, unicode, nesting) pay off.
        # The helpers draw in a fixed order; changing it changes every seed's examples.
        rnd = draw(st.randoms(use_true_random=True))
        base = rnd.choice(list(bases))
        config, ops = _mutated_config(draw, rnd, base, values)
        text = json.dumps(
            config, indent=rnd.choice((None, 2, 4)), allow_nan=True, ensure_ascii=rnd.random() < 0.5
        )
        layout = [rnd.choice(LAYOUT_OPS) for _ in range(rnd.choice((0, 0, 0, 0, 0, 1, 1, 2)))]
        flags = _draw_flags(draw, rnd)
        config_file = _draw_config_file(draw, rnd, values)
        tokenizer = rnd.choice(TOKENIZER_SCENARIOS) if rnd.random() < 0.25 else "tiny"
        output = rnd.choice(OUTPUT_SCENARIOS) if rnd.random() < 0.5 else "new"
        return EngineExample(
            base=base.name,
            config_ops=ops,
            config_bytes=text.encode("utf-8", errors="surrogatepass"),
            layout=layout,
            layout_seed=rnd.randrange(2**32),
            engine_name=rnd.choice(ENGINE_NAMES),
            tokenizer=tokenizer,
            output=output,
            flags=flags,
            config_file=config_file,
        )

    return build()


def generate_examples(strategy: Any, count: int, seed: int) -> list[Any]:
    """`count` examples drawn by hypothesis (generation only: no shrinking, no database)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    found: list[Any] = []
    attempt = 0
    while len(found) < count and attempt < 10:

        @settings(
            max_examples=count - len(found),
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @hypothesis_seed(seed + attempt)
        @given(strategy)
        def collect(example: Any) -> None:
            found.append(example)

        collect()
        attempt += 1
    return found[:count]


def _snapshot(path: Path) -> Any:
    """Everything under `path`, byte for byte (links as their targets), or None when it does not exist."""
    if not os.path.lexists(path):
        return None
    if path.is_symlink():
        return ("link", str(path.readlink()))
    if path.is_file():
        return ("file", path.read_bytes())
    if not path.is_dir():
        return ("other",)
    tree: dict[str, Any] = {}
    for root, dirs, files in os.walk(path, followlinks=False):
        rel_root = os.path.relpath(root, path)
        for name in dirs:
            full = Path(root) / name
            tree[str(Path(rel_root) / name)] = (
                ("link", str(full.readlink())) if full.is_symlink() else ("dir",)
            )
        for name in files:
            full = Path(root) / name
            if full.is_symlink():
                tree[str(Path(rel_root) / name)] = ("link", str(full.readlink()))
            else:
                try:
                    tree[str(Path(rel_root) / name)] = ("file", full.read_bytes())
                except OSError as error:
                    tree[str(Path(rel_root) / name)] = ("unreadable", str(error))
    return ("dir", tree)


def _listing(directory: Path) -> set[str]:
    try:
        return {entry.name for entry in directory.iterdir()}
    except OSError:
        return set()


@dataclass
class EngineFixtures:
    """What every engine-fuzz example shares: a tiny tokenizer and a previously rendered repository."""

    tokenizer: Path
    template_repo: Path
    smollm2_tokenizer: Path | None


def prepare_engine_fixtures(work: Path) -> EngineFixtures:
    tokenizer = make_tokenizer_dir(work / "tokenizer")
    engine = make_engine_dir(work / "template-engine", modern_config("0.19.0"), name="engine")
    template = work / "template-render"
    code, out, err, crash = run_cli_in_process(
        ["render", "--engine", str(engine), "--tokenizer", str(tokenizer), "--output", str(template)]
    )
    if code != 0:
        raise RuntimeError(f"could not render the template repository ({code}): {out}{err}{crash}")
    smollm2 = None
    candidate = cache_dir() / "examples" / "smollm2"
    if (candidate / "tokenizer.json").is_file():
        smollm2 = candidate
    return EngineFixtures(tokenizer, template, smollm2)


class _CaseTimedOut(BaseException):
    """Raised by SIGALRM inside a case that hangs (a BaseException: main() must not swallow it)."""


def _time_out(_signum: int, _frame: object) -> None:
    raise _CaseTimedOut


def run_cli_in_process(
    argv: list[str], timeout_s: float = CASE_TIMEOUT_S
) -> tuple[int, str, str, str | None]:
    """`tritongen.cli.main(argv)` in this process: (exit code, stdout, stderr, escaped traceback or None).

    A case still running after `timeout_s` (main thread only: SIGALRM) ends with code -1 and says so.
    """
    from tritongen.cli import main

    out, err = io.StringIO(), io.StringIO()
    escaped = None
    code = 0
    alarm = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGALRM, _time_out) if alarm else None
    if alarm:
        signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(argv)
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
            except Exception:  # noqa: BLE001 (what would have been a traceback: the finding itself)
                escaped = traceback.format_exc()
                code = 1
    except _CaseTimedOut:
        code = -1
        err.write(f"\n(reliability suite: still running after {timeout_s:g} s, stopped)")
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    if code == 130:
        raise KeyboardInterrupt
    return code, out.getvalue(), err.getvalue(), escaped


@dataclass
class _Layout:
    """An engine directory being mangled: what the layout ops read and change."""

    directory: Path
    engine: Path
    files: list[str]  # the rank/weight files still in place
    rng: random.Random
    example: EngineExample

    @property
    def config(self) -> Path:
        return self.engine / "config.json"


def _replace(path: Path, data: bytes) -> None:
    """`path` becomes a file holding `data`, whatever it was before."""
    _remove(path)
    path.write_bytes(data)


def _truncate_config(case: _Layout) -> None:
    if case.config.is_file():
        data = case.config.read_bytes()
        case.config.write_bytes(data[: case.rng.randrange(len(data) + 1)])


def _binary_config(case: _Layout) -> None:
    rng = case.rng
    _replace(case.config, bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))))


def _bom_config(case: _Layout) -> None:
    if case.config.is_file():
        case.config.write_bytes(b"\xef\xbb\xbf" + case.config.read_bytes())


def _invalid_utf8_config(case: _Layout) -> None:
    if case.config.is_file():
        data = case.config.read_bytes()
        cut = case.rng.randrange(len(data) + 1)
        case.config.write_bytes(data[:cut] + b"\xff\xfe\xc3" + data[cut:])


def _config_is_dir(case: _Layout) -> None:
    _remove(case.config)
    case.config.mkdir()


def _config_symlink(case: _Layout, target: Path) -> None:
    _remove(case.config)
    case.config.symlink_to(target)


def _drop_file(case: _Layout) -> None:
    if case.files:
        _remove(case.engine / case.files.pop(case.rng.randrange(len(case.files))))


def _extra_rank_file(case: _Layout) -> None:
    (case.engine / f"rank{case.rng.randrange(1, 9)}.engine").write_bytes(b"extra")


def _file_is_dir(case: _Layout) -> None:
    if case.files:
        victim = case.engine / case.rng.choice(case.files)
        _remove(victim)
        victim.mkdir()


def _empty_files(case: _Layout) -> None:
    for name in case.files:
        if (case.engine / name).is_file():
            (case.engine / name).write_bytes(b"")


def _engine_empty_dir(case: _Layout) -> None:
    _remove(case.engine)
    case.engine.mkdir()


def _nested_config(case: _Layout) -> None:
    inner = case.engine / "inner"
    inner.mkdir(exist_ok=True)
    for child in list(case.engine.iterdir()):
        if child != inner:
            child.rename(inner / child.name)


def _deep_json(case: _Layout) -> None:
    depth = case.rng.choice((1000, 100_000))
    _replace(case.config, b'{"version": "1.2.0", "pretrained_config": ' + b"[" * depth + b"]" * depth + b"}")


def _huge_config(case: _Layout) -> None:
    if case.config.is_file():
        data = case.config.read_bytes()
        case.config.write_bytes(data.rstrip()[:-1] + b', "padding": "' + b"x" * 5_000_000 + b'"}')


def _duplicate_keys(case: _Layout) -> None:
    data = case.config.read_bytes().lstrip() if case.config.is_file() else b""
    if data.startswith(b"{"):
        case.config.write_bytes(b'{"version": 1, "pretrained_config": [], ' + data[1:])


def _trailing_garbage(case: _Layout) -> None:
    if case.config.is_file():
        case.config.write_bytes(case.config.read_bytes() + b"\n}garbage")


def _engine_symlink(case: _Layout) -> None:
    if not case.engine.is_symlink():
        real = case.directory / f"{case.example.engine_name}.real"
        case.engine.rename(real)
        case.engine.symlink_to(real)


# What each of LAYOUT_OPS does to the engine directory. An op whose precondition does not hold (no
# config.json left to truncate, no rank file left to drop) does nothing and draws nothing from the rng.
LAYOUT_OP_ACTIONS: dict[str, Callable[[_Layout], None]] = {
    "truncate-config": _truncate_config,
    "binary-config": _binary_config,
    "empty-config": lambda case: _replace(case.config, b""),
    "bom-config": _bom_config,
    "invalid-utf8-config": _invalid_utf8_config,
    "no-config": lambda case: _remove(case.config),
    "config-is-dir": _config_is_dir,
    "config-dangling-symlink": lambda case: _config_symlink(case, case.engine / "nowhere.json"),
    "config-symlink-loop": lambda case: _config_symlink(case, case.config),
    "drop-file": _drop_file,
    "extra-rank-file": _extra_rank_file,
    "file-is-dir": _file_is_dir,
    "empty-files": _empty_files,
    "engine-is-file": lambda case: _replace(case.engine, case.example.config_bytes),
    "engine-missing": lambda case: _remove(case.engine),
    "engine-empty-dir": _engine_empty_dir,
    "nested-config": _nested_config,
    "deep-json": _deep_json,
    "huge-config": _huge_config,
    "duplicate-keys": _duplicate_keys,
    "trailing-garbage": _trailing_garbage,
    "engine-symlink": _engine_symlink,
}
# After these the engine directory is gone (or empty): later ops have nothing left to act on.
FINAL_LAYOUT_OPS = frozenset(("engine-is-file", "engine-missing", "engine-empty-dir"))


def build_engine_example(example: EngineExample, directory: Path, bases: dict[str, EngineBase]) -> Path:
    """Write the example's engine directory under `directory`; return the path to pass as --engine."""
    engine = directory / example.engine_name
    engine.mkdir(parents=True)
    (engine / "config.json").write_bytes(example.config_bytes)
    base = bases[example.base]
    for position, name in enumerate(base.files):
        (engine / name).write_bytes(b"stand-in engine " + b"x" * position)
    case = _Layout(directory, engine, list(base.files), random.Random(example.layout_seed), example)
    for op in example.layout:
        LAYOUT_OP_ACTIONS[op](case)
        if op in FINAL_LAYOUT_OPS:
            break
    return engine


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _prepare_tokenizer(
    scenario: str, directory: Path, fixtures: EngineFixtures, rng: random.Random
) -> list[str]:
    if scenario == "engine":
        return []
    target = directory / "tokenizer"
    if scenario == "tiny":
        return ["--tokenizer", str(fixtures.tokenizer)]
    if scenario == "smollm2" and fixtures.smollm2_tokenizer is not None:
        return ["--tokenizer", str(fixtures.smollm2_tokenizer)]
    if scenario == "missing":
        return ["--tokenizer", str(target)]
    if scenario == "empty-dir":
        target.mkdir()
    elif scenario == "file":
        target.write_text("not a tokenizer")
    else:
        shutil.copytree(fixtures.tokenizer, target)
        if scenario == "corrupt-json":
            data = (target / "tokenizer.json").read_bytes()
            (target / "tokenizer.json").write_bytes(data[: rng.randrange(len(data))])
        elif scenario == "fuzzed-config":
            value: Any = rng.choice(
                (
                    None,
                    3,
                    "x",
                    [],
                    {"eos_token": 5},
                    {"eos_token": {"content": None}},
                    {"chat_template": 7, "bos_token": []},
                    {"tokenizer_class": "Nope"},
                )
            )
            (target / "tokenizer_config.json").write_text(json.dumps(value))
    return ["--tokenizer", str(target)]


def _prepare_output(scenario: str, directory: Path, engine: Path, fixtures: EngineFixtures) -> Path:
    out_parent = directory / "out"
    out_parent.mkdir()
    output = out_parent / "repo"
    if scenario == "nested-new":
        output = out_parent / "a" / "b" / "repo"
    elif scenario == "existing-render":
        shutil.copytree(fixtures.template_repo, output, symlinks=True)
    elif scenario == "existing-other":
        output.mkdir()
        (output / "notes.txt").write_text("keep me")
    elif scenario == "existing-empty":
        output.mkdir()
    elif scenario == "file":
        output.write_text("a file where the repository should go")
    elif scenario == "symlink-to-render":
        real = out_parent / "real-repo"
        shutil.copytree(fixtures.template_repo, real, symlinks=True)
        output.symlink_to(real)
    elif scenario == "inside-engine":
        output = engine / "repo" if engine.is_dir() else output
    elif scenario == "is-engine":
        output = engine
    return output


# What an exit-0 render must have written.
RENDERED_FILES = (
    "tritongen.json",
    "ensemble/config.pbtxt",
    "tensorrt_llm/config.pbtxt",
    "preprocessing/config.pbtxt",
    "postprocessing/config.pbtxt",
)


def run_cli_subprocess(
    argv: list[str], timeout_s: float = CASE_TIMEOUT_S
) -> tuple[int, str, str, str | None]:
    """`tritongen argv` as a real process, in `run_cli_in_process`'s terms (code -1: still running, killed)."""
    try:
        done = subprocess.run(
            [*CLI, *argv], env=cli_env(), capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        return -1, "", f"(reliability suite: still running after {timeout_s:g} s, killed)", None
    return done.returncode, done.stdout, done.stderr, None


@dataclass
class _Watch:
    """What a render may touch, as it was before it ran: to tell what it changed."""

    output: Path
    real_output: Path  # the symlink's target where the output is a symlink
    engine: Path
    listings: dict[Path, set[str]]  # the entries beside the output (and beside its target)
    output_before: Any
    real_before: Any
    engine_before: Any  # None where the output lies in (or is) the engine directory

    @classmethod
    def take(cls, output: Path, engine: Path, watch_engine: bool) -> _Watch:
        real_output = output.resolve() if output.is_symlink() else output
        return cls(
            output,
            real_output,
            engine,
            {parent: _listing(parent) for parent in {output.parent, real_output.parent}},
            _snapshot(output),
            _snapshot(real_output) if real_output != output else None,
            _snapshot(engine) if watch_engine else None,
        )

    def output_changed(self) -> bool:
        return _snapshot(self.output) != self.output_before or (
            self.real_before is not None and _snapshot(self.real_output) != self.real_before
        )

    def new_entries(self, wrote: bool) -> list[str]:
        """Entries that appeared beside the output (the output itself excepted when it was written)."""
        left = []
        for parent, listing in self.listings.items():
            new = _listing(parent) - listing
            if wrote:
                new -= {self.real_output.name, self.output.name}
            left += sorted(new)
        return left


def _exit_problems(code: int, out: str, err: str, escaped: str | None) -> list[str]:
    """What the exit itself breaks: an escaped exception, a traceback, a hang, an undocumented code."""
    problems = []
    if escaped is not None:
        problems.append(f"an exception escaped main(): {escaped.strip().splitlines()[-1]}")
    if "Traceback" in err or "Traceback" in out:
        problems.append("a traceback was printed")
    if code == -1:
        problems.append(f"tritongen render hung: still running after {CASE_TIMEOUT_S:g} s")
    elif code not in DOCUMENTED_RENDER_CODES:
        problems.append(f"exit code {code} is not a documented render exit code")
    return problems


def _render_argv(
    example: EngineExample, directory: Path, engine: Path, fixtures: EngineFixtures
) -> tuple[list[str], Path]:
    """Set up the tokenizer, output and --config scenarios; (the render argv, the --output path)."""
    rng = random.Random(example.layout_seed + 1)
    argv = [
        "render",
        "--engine",
        str(engine),
        *_prepare_tokenizer(example.tokenizer, directory, fixtures, rng),
    ]
    output = _prepare_output(example.output, directory, engine, fixtures)
    argv += ["--output", str(output), *example.flags]
    if example.config_file is not None:
        overrides = directory / "overrides.yaml"
        overrides.write_bytes(example.config_file)
        argv += ["--config", str(overrides)]
    return argv, output


def run_engine_example(
    example: EngineExample,
    directory: Path,
    bases: dict[str, EngineBase],
    fixtures: EngineFixtures,
    via_subprocess: bool,
) -> dict[str, Any]:
    """Build the case, run `tritongen render`, and check the promises; returns the record."""
    directory.mkdir(parents=True)
    engine = build_engine_example(example, directory, bases)
    argv, output = _render_argv(example, directory, engine, fixtures)
    watch = _Watch.take(output, engine, watch_engine=example.output not in ("inside-engine", "is-engine"))

    started = time.perf_counter()
    code, out, err, escaped = (run_cli_subprocess if via_subprocess else run_cli_in_process)(argv)
    seconds = time.perf_counter() - started

    problems = _exit_problems(code, out, err, escaped)
    wrote = code == 0 and "--dry-run" not in example.flags
    partial = not wrote and watch.output_changed()
    if partial:
        problems.append("the output changed although nothing was to be written")
    left = watch.new_entries(wrote)
    if left:
        problems.append(f"new entries beside the output: {left}")
    if watch.engine_before is not None and _snapshot(engine) != watch.engine_before:
        problems.append("the engine directory was modified")
    missing = [name for name in RENDERED_FILES if not (watch.real_output / name).is_file()] if wrote else []
    if missing:
        problems.append(f"exit 0 but the repository lacks {missing}")
    message = (err.strip().splitlines() or [""])[-1][:240]
    return {
        "code": code,
        "seconds": round(seconds, 3),
        "problems": problems,
        "partial": partial,
        "temporary_left": len(left),
        "traceback": escaped is not None or "Traceback" in err + out,
        "message": message,
        "argv": argv,
        "subprocess": via_subprocess,
        "escaped": escaped[-3000:] if escaped else None,
    }


def run_engine_fuzz(
    work: Path,
    *,
    examples: int,
    seed: int = 0,
    subprocess_every: int = 25,
    mode: str = "quick",
    progress: Callable[[str], None] | None = None,
) -> PartResult:
    """Part 3: `examples` generated engine directories through `tritongen render`."""
    say, started = start_part(work, progress)
    bases_list = engine_bases()
    bases = {base.name: base for base in bases_list}
    fixtures = prepare_engine_fixtures(work / "fixtures")
    say(f"engine-fuzz: generating {examples} examples from {len(bases)} base configs")
    cases = generate_examples(engine_example_strategy(bases_list), examples, seed)
    codes: Counter[str] = Counter()
    failures: list[str] = []
    records = []
    kept = 0
    failed_dir = work / "failures"
    for index, example in enumerate(cases):
        directory = work / "cases" / f"ex{index}"
        via_subprocess = subprocess_every > 0 and index % subprocess_every == subprocess_every - 1
        try:
            record = run_engine_example(example, directory, bases, fixtures, via_subprocess)
        except Exception as error:  # noqa: BLE001 (a case this harness cannot build is reported, not fatal)
            record = {
                "code": None,
                "seconds": 0.0,
                "problems": [f"harness error (not tritongen): {error!r}"],
                "partial": False,
                "temporary_left": 0,
                "traceback": False,
                "message": "",
                "argv": [],
                "subprocess": via_subprocess,
                "escaped": traceback.format_exc()[-3000:],
            }
        codes[str(record["code"])] += 1
        records.append(record)
        if record["problems"]:
            if kept < FAILURES_KEPT:  # keep the case (and how to rerun it) for a look afterwards
                kept += 1
                target = failed_dir / f"ex{index}"
                shutil.move(str(directory), str(target))
                (target / "example.json").write_text(
                    json.dumps(
                        {
                            **asdict(example),
                            "config_bytes": example.config_bytes.decode("utf-8", "replace")[:20000],
                            "config_file": example.config_file.decode("utf-8", "replace")
                            if example.config_file
                            else None,
                            "record": record,
                        },
                        indent=2,
                        default=str,
                    )
                )
            keep_failure(
                failures,
                f"example {index} ({example.describe()}): exit {record['code']}: "
                f"{'; '.join(record['problems'])}; stderr: {record['message']}",
            )
        shutil.rmtree(directory, ignore_errors=True)
        if (index + 1) % 50 == 0:
            say(f"engine-fuzz: {index + 1}/{len(cases)} examples, {len(failures)} failed so far")
    shutil.rmtree(work / "cases", ignore_errors=True)
    failed = sum(bool(r["problems"]) for r in records)
    figures = {
        "examples": len(cases),
        "bases": len(bases),
        "exit_codes": dict(sorted(codes.items())),
        "tracebacks": sum(r["traceback"] for r in records),
        "undocumented_codes": sum(r["code"] not in DOCUMENTED_RENDER_CODES for r in records),
        "partial_writes": sum(r["partial"] for r in records),
        "temporary_dirs_left": sum(r["temporary_left"] for r in records),
        "subprocess_runs": sum(r["subprocess"] for r in records),
        "render_median_s": round(statistics.median(r["seconds"] for r in records), 3) if records else None,
        "layout_ops": dict(Counter(op for case in cases for op in case.layout)),
        "output_scenarios": dict(Counter(case.output for case in cases)),
        "tokenizer_scenarios": dict(Counter(case.tokenizer for case in cases)),
        "messages": dict(
            Counter(re.sub(r"/\S+", "PATH", r["message"])[:100] for r in records).most_common(15)
        ),
    }
    notes = []
    if len(cases) < examples:
        notes.append(f"hypothesis produced {len(cases)} of the {examples} examples asked for")
    if kept:
        notes.append(f"failing cases kept under {failed_dir}")
    return PartResult(
        "engine-fuzz",
        mode,
        "examples",
        len(cases),
        len(cases) - failed,
        failed,
        ok=failed == 0 and len(cases) >= examples,
        duration_s=time.monotonic() - started,
        figures=figures,
        failures=failures,
        notes=notes,
    )
