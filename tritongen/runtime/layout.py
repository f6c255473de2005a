"""Which package files each rendered Python model gets, and where they go inside its model directory.

`1/` mirrors `tritongen/runtime/`: the model's entry point becomes `1/model.py` and each subpackage its
imports reach is copied under its own name, so `1/model.py`'s `from .preprocessing.model import ...`
is the same relative import as in the package. Each model gets only what it imports (the torch runtime
never ships the tokenizer code; the BLS ships preprocessing and postprocessing to run them in-process;
the two generating models share `serving`, their requests in flight).
This module is not shipped: it only tells `render` (and the tests) what to copy.
"""

from __future__ import annotations

from pathlib import Path

RUNTIME_ROOT = Path(__file__).resolve().parent

# model kind -> (the entry point, copied as 1/model.py; the subpackages copied beside it)
MODELS: dict[str, tuple[str, tuple[str, ...]]] = {
    "preprocessing": ("entry_preprocessing.py", ("common", "text", "preprocessing")),
    "postprocessing": ("entry_postprocessing.py", ("common", "text", "postprocessing")),
    "tensorrt_llm_bls": (
        "entry_tensorrt_llm_bls.py",
        ("common", "text", "preprocessing", "postprocessing", "tensorrt_llm_bls"),
    ),
    "tensorrt_llm_torch": ("entry_tensorrt_llm_torch.py", ("common", "serving", "torch_runtime")),
    # the LLM-API (llmapi) model: upstream's one-model contract over tensorrt_llm.LLM or the torch runtime
    "llmapi": ("entry_llmapi.py", ("common", "text", "serving", "torch_runtime", "llmapi")),
}


# Entry points shipped under their own names too: the BLS compares them with its siblings' model.py to
# know that a sibling runs exactly this code (then it runs it in-process; a user's own it calls instead).
SIBLING_ENTRIES: dict[str, tuple[str, ...]] = {
    "tensorrt_llm_bls": ("entry_preprocessing.py", "entry_postprocessing.py"),
}


def model_files(kind: str) -> dict[str, Path]:
    """The files of one model kind: path relative to the model directory (`1/...`) -> package file."""
    entry, packages = MODELS[kind]
    files = {"1/model.py": RUNTIME_ROOT / entry}
    files.update({f"1/{name}": RUNTIME_ROOT / name for name in SIBLING_ENTRIES.get(kind, ())})
    for package in packages:
        for path in sorted((RUNTIME_ROOT / package).rglob("*.py")):
            if "__pycache__" not in path.parts:
                files[f"1/{path.relative_to(RUNTIME_ROOT).as_posix()}"] = path
    return files
