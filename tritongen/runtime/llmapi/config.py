"""`1/model.yaml`, read as upstream's llmapi model reads it: `triton_config` for Triton, the rest for the LLM.

The file is found as upstream finds it: `$LLM_CONFIG_PATH` when set, else `model.yaml` in the model's version
directory. Plain Python + PyYAML (no Triton import), so it is testable anywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CANCELLATION_CHECK_MS = 100


class ConfigError(ValueError):
    """model.yaml is missing or unusable: the model refuses to load with this message."""


@dataclass(frozen=True)
class LlmapiConfig:
    """model.yaml, split the way upstream splits it."""

    path: Path
    llm_args: dict[str, Any]  # every key but triton_config: LLM(**llm_args)
    max_batch_size: int  # triton_config.max_batch_size (must be 0)
    decoupled: bool
    cancellation_check_period_ms: int
    multimodal: bool

    @property
    def world_size(self) -> int:
        size = 1
        for key in ("tensor_parallel_size", "pipeline_parallel_size", "context_parallel_size"):
            value = self.llm_args.get(key)
            size *= value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1
        return size


def tensorrt_llm_available() -> bool:
    """True when `tensorrt_llm` can be imported (checked without importing it: that takes seconds)."""
    import importlib.util

    return importlib.util.find_spec("tensorrt_llm") is not None


def config_path(version_dir: Path) -> Path:
    """Where model.yaml is: `$LLM_CONFIG_PATH` (relative to the version directory) or `model.yaml`."""
    return version_dir / os.environ.get("LLM_CONFIG_PATH", "model.yaml")


def read_config(path: Path) -> LlmapiConfig:
    """Parse model.yaml; ConfigError naming the problem when it cannot be used."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist: the llmapi model is configured by model.yaml") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ConfigError(f"{path} is not readable YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must be a mapping of LLM arguments plus triton_config")
    triton = data.get("triton_config")
    if not isinstance(triton, dict):
        raise ConfigError(f"{path} has no triton_config section (max_batch_size, decoupled)")
    for key in ("max_batch_size", "decoupled"):
        if key not in triton:
            raise ConfigError(f"{path}: triton_config.{key} is required")
    batch = triton["max_batch_size"]
    if not isinstance(batch, int) or isinstance(batch, bool):
        raise ConfigError(f"{path}: triton_config.max_batch_size must be an integer, got {batch!r}")
    if not isinstance(triton["decoupled"], bool):
        raise ConfigError(
            f"{path}: triton_config.decoupled must be true or false, got {triton['decoupled']!r}"
        )
    period = triton.get("cancellation_check_period_ms", DEFAULT_CANCELLATION_CHECK_MS)
    if not isinstance(period, int) or isinstance(period, bool) or period < 1:
        raise ConfigError(f"{path}: triton_config.cancellation_check_period_ms must be a whole number >= 1")
    if not isinstance(data.get("model"), str) or not data["model"]:
        raise ConfigError(f"{path}: model (the checkpoint directory or hub id) is required")
    return LlmapiConfig(
        path=path,
        llm_args={k: v for k, v in data.items() if k != "triton_config"},
        max_batch_size=batch,
        decoupled=triton["decoupled"],
        cancellation_check_period_ms=period,
        multimodal=bool(triton.get("multimodal", False)),
    )


def instance_devices(gpu_device_ids: str | None, instance_name: str) -> str | None:
    """The GPUs of this model instance: the i-th ';' group of `gpu_device_ids`, i from the `_<i>` suffix
    Triton gives instance i's name (upstream's multi-instance rule); None when the parameter is unset."""
    if not gpu_device_ids or not gpu_device_ids.strip():
        return None
    groups = [group.strip() for group in gpu_device_ids.split(";")]
    suffix = instance_name.rsplit("_", 1)[-1]
    index = int(suffix) if suffix.isdigit() else 0
    if index >= len(groups):
        raise ConfigError(
            f"instance {instance_name} has no GPU group: gpu_device_ids {gpu_device_ids!r} has {len(groups)}; "
            "give one ';'-separated group per instance_group count"
        )
    return groups[index]
