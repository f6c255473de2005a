"""Preflight for an LLM-API (`llmapi`) repository: the known traps, each named with its fix before launch.

- The TensorRT-LLM in this Python reads another version's tensor contract than the one rendered (LoRA and
  `image_url` exist only from 1.3): a warning naming the `--backend-version` to re-render with.
- `openai` 1.107.x (what the 26.07 container ships) cannot be imported by `tensorrt_llm.serve`
  (`ImportError: PartReasoningText`), which breaks loading any llmapi model (tutorials Qwen2.5-VL guide).
- Multi-node needs `trtllm-llmapi-launch` on PATH (plain tritonserver fails with MPI_ERR_SPAWN).
- Without TensorRT-LLM, the torch runtime behind the model splits by tensor parallelism only: pp > 1
  cannot load (tp > 1 runs one tritonserver per rank under mpirun).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import shutil
from collections.abc import Mapping
from pathlib import Path

from tritongen.defaults import MANIFEST_NAME
from tritongen.errors import LaunchError
from tritongen.versions import Version

# openai releases that tensorrt_llm.serve cannot import (PartReasoningText is missing); 1.107.3 is the
# version reported (tutorials Qwen2.5-VL guide). The bound is inferred: the guide's fix is "upgrade".
_OPENAI_TOO_OLD = Version(1, 108)


def _installed(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def llmapi_problems(
    root: Path, llm_world_size: int, *, multi_host: bool, env: Mapping[str, str], strict: bool = True
) -> list[str]:
    """Warnings for an llmapi launch; a LaunchError for what cannot load at all (a warning when not
    `strict`: `--dry-run` shows the command for the machine it is meant for)."""
    from tritongen.render.llmapi_contract import contract_for

    found: list[str] = []
    trtllm = _installed("tensorrt_llm") or _installed("tensorrt-llm")
    if trtllm is None and importlib.util.find_spec("tensorrt_llm") is None:
        tp = _model_yaml_int(root, "tensor_parallel_size")
        if llm_world_size > 1 and tp != llm_world_size:
            error = LaunchError(
                f"model.yaml asks for tp x pp = {llm_world_size}, but this Python has no TensorRT-LLM and the torch "
                "runtime behind the llmapi model splits by tensor parallelism only",
                hint="Launch where TensorRT-LLM is installed (its LLM spawns the ranks), or re-render with --pp 1.",
            )
            if strict:
                raise error
            found.append(error.one_line())
        return found
    if trtllm is not None:
        rendered = _rendered_contract(root)
        wanted = contract_for(Version.parse(trtllm))
        if rendered is not None and rendered != wanted.name:
            found.append(
                f'TensorRT-LLM {trtllm} here has the "{wanted.name}" llmapi tensors but the repository was rendered '
                f'for "{rendered}": re-render with --backend-version {trtllm}'
            )
    openai = _installed("openai")
    if openai is not None and Version.parse(openai) < _OPENAI_TOO_OLD:
        found.append(
            f"openai {openai} is too old for tensorrt_llm.serve (ImportError: PartReasoningText), which stops every "
            "llmapi model from loading: pip install -U openai"
        )
    if multi_host and shutil.which("trtllm-llmapi-launch", path=env.get("PATH")) is None:
        missing = LaunchError(
            "a multi-node llmapi launch runs tritonserver under trtllm-llmapi-launch, which is not on PATH",
            hint="Install TensorRT-LLM (it ships trtllm-llmapi-launch) where tritonserver runs.",
        )
        if strict:
            raise missing
        found.append(missing.one_line())
    return found


def _rendered_contract(root: Path) -> str | None:
    try:
        data = json.loads((root / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    contract = data.get("contract") if isinstance(data, dict) else None
    name = contract.get("name") if isinstance(contract, dict) else None
    return name if isinstance(name, str) else None


def _model_yaml_int(root: Path, key: str) -> int | None:
    """A top-level integer of the (first) llmapi model.yaml, or None."""
    from tritongen.runtime.llmapi.config import ConfigError, read_config

    for path in sorted(root.glob("*/1/model.yaml")):
        try:
            value = read_config(path).llm_args.get(key)
        except ConfigError:
            return None
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    return None
