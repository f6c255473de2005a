"""Shared by the render tests and scripts/update_golden.py: golden cases, snapshots, protobuf parsing.

A golden case builds its inputs under a base directory (engine, tokenizer, optional --config file)
and renders them; `snapshot` turns the rendered repository into {relative path: text} with the base
directory replaced by <TMP>, so the golden files do not depend on where the test ran.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tritongen.render.pipeline import RenderResult, render_engine
from tritongen.testing.engines import corpus_engine_dir, make_engine_dir, make_tokenizer_dir, modern_config
from tritongen.testing.paths import TESTS_DIR

GOLDEN_DIR = TESTS_DIR / "golden"
TREE_FILE = "TREE"


@dataclass
class Case:
    """The inputs of one render: what `tritongen render` would be given."""

    engine: Path
    tokenizer: Path | None = None
    backend_version: str | None = None
    sets: tuple[str, ...] = ()
    config_file: Path | None = None
    streaming: bool = True
    tp_size: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def tokenizer_dir(base: Path) -> Path:
    directory = base / "tokenizer"
    return directory if (directory / "tokenizer.json").is_file() else make_tokenizer_dir(directory)


def make_checkpoint_dir(base: Path, *, name: str = "checkpoint") -> Path:
    """A Hugging Face checkpoint directory: config.json, a stand-in weights file and a tokenizer.

    The weights are not real (nothing loads them while rendering), which keeps torch out of these tests.
    """
    directory = base / name
    make_tokenizer_dir(directory)
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "num_hidden_layers": 2,
        "vocab_size": 600,
        "max_position_embeddings": 512,
        "torch_dtype": "bfloat16",
    }
    (directory / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    (directory / "model.safetensors").write_bytes(b"stand-in weights")
    return directory


def _corpus(name: str, **kw: Any) -> Callable[[Path], Case]:
    def build(base: Path) -> Case:
        return Case(engine=corpus_engine_dir(name, base / "engines"), tokenizer=tokenizer_dir(base), **kw)

    return build


def _modern(name: str, version: str, config: dict[str, Any], **kw: Any) -> Callable[[Path], Case]:
    def build(base: Path) -> Case:
        engine = make_engine_dir(base / "engines", modern_config(version, **config), name=name)
        return Case(engine=engine, tokenizer=tokenizer_dir(base), **kw)

    return build


def _with_config_file(base: Path) -> Case:
    """Overrides from a YAML file and from flags (the flag wins for the shared key)."""
    case = _corpus("qwen2.5-0.5b-sparktts-bf16-tp1-v0.17.0.post1", backend_version="1.0", streaming=False)(
        base
    )
    config_file = base / "overrides.yaml"
    config_file.write_text(
        "kv_cache_free_gpu_mem_fraction: 0.7\n"
        "tensorrt_llm:\n  batch_scheduler_policy: max_utilization\n"
        "postprocessing:\n  postprocessing_instance_count: 2\n",
        encoding="utf-8",
    )
    case.config_file = config_file
    case.sets = (
        "kv_cache_free_gpu_mem_fraction=0.5",
        "max_tokens_in_paged_kv_cache=",
        "accumulate_tokens=no",
    )
    return case


def _checkpoint(base: Path) -> Case:
    return Case(engine=make_checkpoint_dir(base), tp_size=2)


GOLDEN_CASES: dict[str, Callable[[Path], Case]] = {
    # v0.5 layout: legacy llama, tensor parallel 4
    "v0.5-llama2-7b-tp4": _corpus("llama2-7b-tp4-v0.5"),
    # v0.8 layout: legacy gpt with beam 2 and paged context FMHA
    "v0.8-starfish-gpt-beam2": _corpus("tabnine-starfish-gpt-beam2-v0.8dev"),
    # v0.8 layout for a 0.13 engine: 0.13's parameters, Medusa decoding
    "v0.8-vicuna-medusa-0.13": _corpus("vicuna-7b-medusa-tp1-v0.13dev"),
    # latest layout, v0.19 names (min_length/random_seed), tp 2 x pp 2, no paged context FMHA
    "latest-0.19-llama-tp2-pp2": _modern(
        "llama-tp2-pp2", "0.19.0", {"tp": 2, "pp": 2, "paged_context_fmha": False, "dtype": "float16"}
    ),
    # latest layout, 1.2 names (min_tokens/seed), bf16 with beam 5
    "latest-1.2-smollm-beam5": _corpus("smollm-135m-llama-beam5-v1.2.0rc6"),
    # latest layout for backend 1.0 with a --config file, --set flags and --no-streaming
    "latest-1.0-qwen-overrides": _with_config_file,
    # a Hugging Face checkpoint: tritongen's torch runtime, --tp 2
    "torch-checkpoint-tp2": _checkpoint,
}


def render_case(name: str, base: Path, **kw: Any) -> RenderResult:
    """Build the inputs of golden case `name` under `base` and render them into base/repo."""
    case = GOLDEN_CASES[name](base)
    return render_engine(
        case.engine,
        output=base / "repo",
        tokenizer=case.tokenizer,
        backend_version=case.backend_version,
        sets=case.sets,
        config_file=case.config_file,
        streaming=case.streaming,
        tp_size=case.tp_size,
        **kw,
    )


def tree(repo: Path) -> str:
    """The rendered layout: root files, model directories, configs, version directories and the engine.

    The copied model files are left out: they belong to another module and are checked separately.
    """
    lines = sorted(path.name for path in repo.iterdir() if path.is_file())
    for model in sorted(path for path in repo.iterdir() if path.is_dir()):
        lines.append(f"{model.name}/")
        lines += [f"{model.name}/config.pbtxt"] if (model / "config.pbtxt").is_file() else []
        lines += [f"{model.name}/1/"] if (model / "1").is_dir() else []
        engine = model / "1" / "engine"
        if engine.is_symlink():
            lines.append(f"{model.name}/1/engine -> {engine.readlink()}")
        elif engine.is_dir():
            lines.append(f"{model.name}/1/engine/ ({len(list(engine.iterdir()))} files)")
    return "\n".join(lines) + "\n"


def snapshot(repo: Path, base: Path) -> dict[str, str]:
    """{relative path: text} of the rendered files, with `base` written as <TMP>."""
    texts = {
        path.relative_to(repo).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(repo.glob("*/config.pbtxt"))
    }
    texts["tritongen.json"] = (repo / "tritongen.json").read_text(encoding="utf-8")
    texts[TREE_FILE] = tree(repo)
    return {rel: text.replace(str(base), "<TMP>") for rel, text in texts.items()}


def read_golden(name: str) -> dict[str, str]:
    root = GOLDEN_DIR / name
    return {
        path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def write_golden(name: str, texts: dict[str, str]) -> None:
    root = GOLDEN_DIR / name
    for old in sorted(root.rglob("*"), reverse=True) if root.exists() else []:
        old.unlink() if old.is_file() else old.rmdir()
    for rel, text in texts.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def parse_config(path: Path) -> Any:
    """A config.pbtxt parsed into Triton's ModelConfig message (the real generated protobuf class)."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    message = model_config_pb2.ModelConfig()
    text_format.Parse(path.read_text(encoding="utf-8"), message)
    return message


def parameters(config: Any) -> dict[str, str]:
    return {key: value.string_value for key, value in config.parameters.items()}
