"""The GPU's memory from NVML, when `nvidia-ml-py` is installed (the `gpu` extra) and a GPU is present.

Only the total is taken: the plan estimates what loading will take, as it does for --gpu-memory. The
smallest of the GPUs the ranks will use decides, as the runtime takes the minimum over ranks. NVML
numbers GPUs physically, so CUDA_VISIBLE_DEVICES (when it lists indices) says which ones those are.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Mapping
from typing import Any


def visible_indices(count: int, env: Mapping[str, str] | None = None) -> list[int]:
    """NVML indices of the first `count` GPUs the ranks see: CUDA_VISIBLE_DEVICES's, else 0..count-1.

    UUID entries (GPU-...) cannot be mapped without NVML's UUID lookup; then the first GPUs are taken.
    """
    selected = (os.environ if env is None else env).get("CUDA_VISIBLE_DEVICES")
    if selected is not None:
        entries = [entry.strip() for entry in selected.split(",") if entry.strip()]
        if entries and all(entry.isdigit() for entry in entries):
            return [int(entry) for entry in entries[:count]]
    return list(range(count))


def nvml_total_memory(count: int, env: Mapping[str, str] | None = None) -> tuple[int, str] | None:
    """(smallest total memory in bytes, a description) of the ranks' GPUs; None without NVML or GPUs."""
    try:
        nvml: Any = importlib.import_module("pynvml")  # nvidia-ml-py: optional (the `gpu` extra), untyped
    except ImportError:
        return None
    error: type[Exception] = getattr(nvml, "NVMLError", OSError)  # every NVML failure derives from it
    try:
        nvml.nvmlInit()
    except error:  # no driver, no GPU
        return None
    try:
        present = int(nvml.nvmlDeviceGetCount())
        indices = [index for index in visible_indices(count, env) if index < present]
        if not indices:
            return None
        totals = []
        for index in indices:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            name = nvml.nvmlDeviceGetName(handle)
            shown = name.decode() if isinstance(name, bytes) else str(name)
            totals.append((int(nvml.nvmlDeviceGetMemoryInfo(handle).total), shown))
        total, name = min(totals)
        return total, f"NVML: {name}" + (f" (smallest of {len(indices)})" if len(indices) > 1 else "")
    except error:
        return None
    finally:
        with contextlib.suppress(error):
            nvml.nvmlShutdown()
