"""From what `tritongen plan` is given (an engine, a checkpoint or a repository, and the memory) to a plan."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tritongen.engine import read_engine
from tritongen.engine.spec import EngineSpec
from tritongen.errors import EngineError, UsageError
from tritongen.memory.gpu import nvml_total_memory
from tritongen.memory.model import ModelMemory, model_memory
from tritongen.memory.plan import GpuMemory, MemoryPlan, plan_model
from tritongen.memory.runtime import UnsupportedModel
from tritongen.memory.settings import (
    LLMAPI,
    TORCH,
    TRTLLM,
    KvSettings,
    engine_directory,
    fraction_default,
    is_repository,
    read_repository,
)
from tritongen.versions import Version


@dataclass(frozen=True)
class Target:
    """The model and settings to plan, and how to name them."""

    model: ModelMemory
    settings: KvSettings
    where: str


def check_fraction(fraction: float | None) -> None:
    """A UsageError unless `fraction` is in (0, 1): the runtime refuses 1.0 and more (calculateFreeMemBytes)."""
    if fraction is not None and not 0.0 < fraction < 1.0:
        raise UsageError(
            f"--fraction {fraction:g} is outside (0, 1)",
            hint="kv_cache_free_gpu_mem_fraction is a share of the free memory, more than 0 and "
            "below 1 (the runtime refuses 1.0); 0.9 is the default.",
        )


def load_target(
    path: Path, *, engine_path: Path | None = None, tp_size: int | None = None, pp_size: int | None = None
) -> Target:
    """Read an engine directory, a checkpoint or a model repository (then its own parameters)."""
    path = Path(path)
    if is_repository(path):
        repository = read_repository(path)
        settings = repository.settings
        if settings.runtime == LLMAPI:
            spec = _llmapi_checkpoint(repository.engine, repository.root, engine_path, settings)
        else:
            spec = read_engine(
                engine_directory(repository, engine_path), tp_size=settings.tp_size, pp_size=settings.pp_size
            )
        if settings.runtime == TRTLLM and spec.is_checkpoint:
            raise EngineError(
                f"{repository.root}'s tensorrt_llm model is the TensorRT-LLM backend but "
                f"{spec.path} is a Hugging Face checkpoint",
                hint="Point gpt_model_path (or --engine-path) at the engine trtllm-build wrote.",
            )
        where = str(repository.root)
    else:
        spec = read_engine(path, tp_size=tp_size, pp_size=pp_size)
        settings = KvSettings(
            runtime=TORCH if spec.is_checkpoint else TRTLLM,
            fraction_default=fraction_default(_engine_version(spec)),
            tp_size=tp_size,
            pp_size=pp_size,
        )
        where = str(spec.path)
    try:
        model = model_memory(spec, tp_size=settings.tp_size, pp_size=settings.pp_size)
    except UnsupportedModel as error:
        raise EngineError(str(error), hint="Size the KV cache from the runtime's own log instead.") from None
    return Target(model, settings, where)


def gpu_memory(
    *, free_memory: int | None, gpu_memory: int | None, world_size: int, use_nvml: bool = True
) -> GpuMemory | None:
    """What is known of the GPUs' memory: a flag, else NVML (when installed and a GPU is there), else None."""
    if free_memory is not None and gpu_memory is not None:
        raise UsageError(
            "--free-memory and --gpu-memory are two answers to one question",
            hint="Give --free-memory (the runtime's 'available', exact) or --gpu-memory (the "
            "GPU's total; loading is then estimated), not both.",
        )
    if free_memory is not None:
        return GpuMemory("--free-memory", available=free_memory)
    if gpu_memory is not None:
        return GpuMemory("--gpu-memory", total=gpu_memory)
    found = nvml_total_memory(world_size) if use_nvml else None
    if found is not None:
        return GpuMemory(found[1], total=found[0])
    return None


def plan_target(
    target: Target, memory: GpuMemory | None, *, fraction: float | None = None, max_tokens: int | None = None
) -> MemoryPlan:
    """The plan of `target` with the command line's overrides; a UsageError when the memory is unknown."""
    check_fraction(fraction)
    if max_tokens is not None and max_tokens < 1:
        raise UsageError(f"--max-tokens-in-paged-kv-cache {max_tokens} must be at least 1")
    settings = target.settings.overridden(fraction=fraction, max_tokens=max_tokens)
    if memory is None and (settings.runtime != TORCH or settings.device == "cuda"):
        raise UsageError(
            "the GPU memory is not known here (no GPU, or nvidia-ml-py not installed)",
            hint="Pass --gpu-memory 80GiB (each GPU's total; loading is then estimated) or "
            "--free-memory 62.05GiB (the 'available' of the runtime's log: exact).",
        )
    return plan_model(target.model, settings, memory)


def _engine_version(spec: EngineSpec) -> Version | None:
    try:
        return Version.parse(spec.trtllm_version or spec.inferred_version)
    except UsageError:
        return None


def _llmapi_checkpoint(model: str, root: Path, override: Path | None, settings: KvSettings) -> EngineSpec:
    """The checkpoint an llmapi repository's model.yaml names (`model:`), or --engine-path."""
    candidates = [override] if override is not None else []
    candidates += [Path(model), root / "tensorrt_llm" / "1" / model] if model else []
    for candidate in candidates:
        if (candidate / "config.json").is_file():
            return read_engine(candidate, tp_size=settings.tp_size, pp_size=settings.pp_size)
    raise EngineError(
        f"{root}'s model.yaml names model {model or '(none)'}, which is not a local checkpoint "
        "directory here",
        hint="Pass the checkpoint's local copy with --engine-path DIR.",
    )
