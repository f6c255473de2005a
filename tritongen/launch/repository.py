"""What the launcher must know about a rendered model repository: its world size and its TRT-LLM models.

The world size is never typed by the user if the repository can tell it (peers §7 item 4): the
render manifest first, then the torch runtime's `tp_size` parameter, then the engine's config.json
at `gpt_model_path`. Ranks > 0 must load every TensorRT-LLM model and nothing else (reference §6
item 13), so those are found here too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tritongen.errors import LaunchError
from tritongen.render.manifest import MANIFEST_NAME as MANIFEST

ENGINE_PATH_PARAMETERS = ("gpt_model_path", "engine_dir")


@dataclass(frozen=True)
class ModelEntry:
    """One model directory of the repository, as far as the launcher cares."""

    name: str
    backend: str  # "python", "tensorrtllm", "" for an ensemble
    platform: str  # "ensemble" or ""
    parameters: dict[str, str]

    @property
    def is_trtllm(self) -> bool:
        """A model that every rank must load: the C++ backend, or a Python/torch runtime in its place."""
        if self.backend == "tensorrtllm":
            return True
        return self.name.startswith("tensorrt_llm") and "gpt_model_path" in self.parameters


@dataclass(frozen=True)
class RepositoryFacts:
    """The launcher's view of a model repository."""

    root: Path
    world_size: int
    world_size_source: str  # where the number came from, for messages and --dry-run
    trtllm_models: tuple[str, ...]  # loaded by ranks > 0 (explicit model control)
    has_ensemble: bool
    torch_runtime: bool  # served by a Python model (tritongen's torch runtime), not the C++ backend
    llmapi_world_size: int | None = None  # an llmapi repository: the LLM's tp x pp, spawned by the LLM itself

    @property
    def world_size_known(self) -> bool:
        return self.world_size_source != "default"


def inspect_repository(root: Path) -> RepositoryFacts:
    """Read every model config of `root`; raise LaunchError when it is not a loadable repository."""
    root = root.expanduser().resolve()
    if not root.is_dir():
        raise LaunchError(
            f"model repository {root} does not exist",
            hint="Render one with `tritongen render`, or pass the path of an existing repository.",
        )
    models = [_read_model(config) for config in sorted(root.glob("*/config.pbtxt"))]
    if not models:
        raise LaunchError(
            f"{root} holds no model (no */config.pbtxt)",
            hint="Pass the repository root: the directory that contains ensemble/, tensorrt_llm/, ...",
        )
    llmapi = _llmapi_facts(root, models)
    if llmapi is not None:
        return llmapi
    trtllm = tuple(m.name for m in models if m.is_trtllm)
    world_size, source = _world_size(root, [m for m in models if m.is_trtllm])
    return RepositoryFacts(
        root=root,
        world_size=world_size,
        world_size_source=source,
        trtllm_models=trtllm,
        has_ensemble=any(m.name == "ensemble" and m.platform == "ensemble" for m in models),
        torch_runtime=bool(trtllm) and all(m.backend != "tensorrtllm" for m in models if m.is_trtllm),
    )


def _llmapi_facts(root: Path, models: list[ModelEntry]) -> RepositoryFacts | None:
    """An LLM-API repository (a Python model with `1/model.yaml`): ONE tritonserver, whatever tp x pp says.

    The LLM spawns its own tp x pp workers (upstream's documented single-node launch), so the launch world
    size is 1 and the LLM's world size comes from model.yaml. Without TensorRT-LLM the model runs the torch
    runtime, which needs no GPU.
    """
    found = [m for m in models if m.backend == "python" and (root / m.name / "1" / "model.yaml").is_file()]
    if not found:
        return None
    from tritongen.runtime.llmapi.config import ConfigError, read_config, tensorrt_llm_available

    path = root / found[0].name / "1" / "model.yaml"
    try:
        config = read_config(path)
    except ConfigError as error:
        raise LaunchError(
            str(error), hint="Run `tritongen check` on the repository, or re-render it."
        ) from None
    has_ensemble = any(m.name == "ensemble" and m.platform == "ensemble" for m in models)
    if not tensorrt_llm_available() and config.world_size > 1:
        # The torch runtime behind the model cannot spawn ranks: one tritonserver per rank under mpirun, as
        # for the engine target's torch runtime (ranks > 0 load only this model and follow rank 0).
        return RepositoryFacts(
            root=root,
            world_size=config.world_size,
            world_size_source=f"{found[0].name}/1/model.yaml tp x pp, served by the torch runtime "
            "(no TensorRT-LLM here): one tritonserver per rank",
            trtllm_models=(found[0].name,),
            has_ensemble=has_ensemble,
            torch_runtime=True,
            llmapi_world_size=config.world_size,
        )
    return RepositoryFacts(
        root=root,
        world_size=1,
        world_size_source=f"{found[0].name}/1/model.yaml: one tritonserver; the LLM spawns its "
        f"{config.world_size} rank(s) (tp x pp)",
        trtllm_models=(),
        has_ensemble=has_ensemble,
        torch_runtime=not tensorrt_llm_available(),
        llmapi_world_size=config.world_size,
    )


def _read_model(config: Path) -> ModelEntry:
    """Parse one config.pbtxt with Triton's own ModelConfig message, as the server will."""
    from google.protobuf import text_format

    from tritongen.check.validate import parse_model_config

    try:
        message = parse_model_config(config.read_text())
    except (text_format.ParseError, UnicodeDecodeError) as error:
        raise LaunchError(
            f"{config} cannot be parsed as a Triton model config ({error})",
            hint="Run `tritongen check` on the repository; tritonserver would refuse it too.",
        ) from error
    return ModelEntry(
        name=config.parent.name,  # Triton names a model after its directory
        backend=message.backend,
        platform=message.platform,
        parameters={key: value.string_value for key, value in message.parameters.items()},
    )


def _world_size(root: Path, trtllm_models: list[ModelEntry]) -> tuple[int, str]:
    """(world size, where it came from), in the order: manifest, torch runtime tp_size, engine config."""
    manifest = root / MANIFEST
    if manifest.is_file():
        recorded = manifest_world_size(_load_json(manifest))
        if recorded is not None:
            return recorded, MANIFEST
    for model in trtllm_models:
        tp = _positive_int(model.parameters.get("tp_size"))
        if tp is not None:
            pp = _positive_int(model.parameters.get("pp_size")) or 1
            return tp * pp, f"{model.name} parameter tp_size"
    for model in trtllm_models:
        for key in ENGINE_PATH_PARAMETERS:
            engine_dir = Path(model.parameters.get(key) or "/nonexistent")
            if (engine_dir / "config.json").is_file():
                return _engine_world_size(engine_dir), f"engine config {engine_dir / 'config.json'}"
    return 1, "default"


def manifest_world_size(manifest: dict[str, Any]) -> int | None:
    """The engine's world size as the render manifest records it (`engine.world_size`, or tp*pp*cp)."""
    engine = manifest.get("engine")
    if not isinstance(engine, dict):
        return None
    size = _positive_int(engine.get("world_size"))
    if size is not None:
        return size
    tp = _positive_int(engine.get("tp_size"))
    if tp is None:
        return None
    return tp * (_positive_int(engine.get("pp_size")) or 1) * (_positive_int(engine.get("cp_size")) or 1)


def _engine_world_size(engine_dir: Path) -> int:
    """tp*pp*cp of an engine directory (EngineError when the engine is unusable: the server would fail)."""
    from tritongen.engine.reader import read_engine

    return read_engine(engine_dir).world_size


def _load_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise LaunchError(f"{path} cannot be read as JSON ({error})") from error
    if not isinstance(data, dict):
        raise LaunchError(f"{path} is not a JSON object")
    return data


def _positive_int(value: object) -> int | None:
    """An int > 0 from a JSON number or a config string; None for anything else (`${tp_size}`, "")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value) or None
    return None
