"""Rules for LLM-API (`llmapi`) repositories: one Python `tensorrt_llm` model configured by `1/model.yaml`.

A model is taken for an llmapi model when it is a Python model with a `1/model.yaml` (or, without one, when it
declares upstream's `text_input` + `sampling_param_max_tokens` inputs: then the missing file is the finding).
Hand-made repositories copied from upstream are checked too: the tensors are compared with every TensorRT-LLM
version's contract, the decoupled setting in both places, the batch size and the model path.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tritongen.check._findings import Findings, clip
from tritongen.check._load import LoadedRepo, ModelFile, exists
from tritongen.defaults import MANIFEST_NAME
from tritongen.render.llmapi_contract import CONTRACTS, Contract, contract_named

_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")


def _is_llmapi(model: ModelFile) -> bool:
    if model.config is None or model.config.backend != "python":
        return False
    inputs = {t.name for t in model.config.input}
    return (model.path.parent / "1" / "model.yaml").is_file() or {
        "text_input",
        "sampling_param_max_tokens",
    } <= inputs


def llmapi_models(repo: LoadedRepo) -> list[ModelFile]:
    """The llmapi models of a repository."""
    return [model for model in repo.parsed if _is_llmapi(model)]


def llmapi_settings(repo: LoadedRepo, out: Findings) -> None:
    """model.yaml present and parseable, Triton batch 0, decoupled in step, tensors, model path, world size."""
    models = llmapi_models(repo)
    if not models:
        return
    from tritongen.runtime.llmapi.config import (
        ConfigError,
        read_config,
    )  # PyYAML: only for llmapi repositories

    for model in models:
        yaml_rel = f"{model.name}/1/model.yaml"
        _tensors(repo, model, out)
        if model.config.max_batch_size != 0:
            out.error(model, "max_batch_size", f"max_batch_size is {model.config.max_batch_size}: an llmapi model "
                      "batches inside the LLM, so Triton's max_batch_size must be 0")  # fmt: skip
        try:
            config = read_config(model.path.parent / "1" / "model.yaml")
        except ConfigError as error:
            out.error(yaml_rel, None, f"{error}; the model cannot load")
            continue
        if config.max_batch_size != 0:
            out.error(yaml_rel, "triton_config.max_batch_size",
                      f"is {config.max_batch_size}; it must be 0 (the LLM batches in flight itself)")  # fmt: skip
        if "model_transaction_policy" not in model.text:
            out.warn(model, "model_transaction_policy", "not set: decoupled comes from model.yaml only through "
                     "auto-complete, which upstream's launcher disables (--disable-auto-complete-config); write "
                     f"model_transaction_policy {{ decoupled: {str(config.decoupled).lower()} }}")  # fmt: skip
        elif model.decoupled != config.decoupled:
            out.error(model, "model_transaction_policy",
                      f"decoupled is {str(model.decoupled).lower()} here but triton_config.decoupled is "
                      f"{str(config.decoupled).lower()} in model.yaml: the model refuses to load; make them agree")  # fmt: skip
        _instances(model, config.world_size, out)
        _model_path(str(config.llm_args["model"]), yaml_rel, out)
        _tokenizer(config.llm_args, yaml_rel, out)
        _world_size(repo, config.world_size, yaml_rel, out)


def _tensors(repo: LoadedRepo, model: ModelFile, out: Findings) -> None:
    declared = _signature(model)
    recorded = _manifest(repo).get("contract", {})
    wanted = contract_named(str(recorded.get("name"))) if isinstance(recorded, dict) else None
    if wanted is not None:
        if declared != _contract_signature(wanted):
            out.error(model, None, f"the tensors differ from TensorRT-LLM's \"{wanted.name}\" llmapi contract it "
                      f"was rendered for: {_difference(declared, wanted)}; re-render")  # fmt: skip
        return
    if any(declared == _contract_signature(c) for c in CONTRACTS.values()):
        return
    closest = min(CONTRACTS.values(), key=lambda c: len(declared ^ _contract_signature(c)))
    out.warn(model, None, f"the tensors match no TensorRT-LLM version's llmapi contract (closest \"{closest.name}\": "
             f"{_difference(declared, closest)}); Triton rejects inputs the running model.py does not expect")  # fmt: skip


def _signature(model: ModelFile) -> set[tuple[str, str, str, tuple[int, ...]]]:
    enum = model.config.DESCRIPTOR.fields_by_name["input"].message_type.fields_by_name["data_type"].enum_type
    names = {value.number: value.name for value in enum.values}
    return {("input", t.name, names.get(t.data_type, "?"), tuple(t.dims)) for t in model.config.input} | {
        ("output", t.name, names.get(t.data_type, "?"), tuple(t.dims)) for t in model.config.output
    }


def _contract_signature(contract: Contract) -> set[tuple[str, str, str, tuple[int, ...]]]:
    return {("input", t.name, t.data_type, t.dims) for t in contract.inputs} | {
        ("output", t.name, t.data_type, t.dims) for t in contract.outputs
    }


def _difference(declared: set[tuple[str, str, str, tuple[int, ...]]], contract: Contract) -> str:
    expected = _contract_signature(contract)
    missing = sorted(name for _, name, _, _ in expected - declared)
    extra = sorted(name for _, name, _, _ in declared - expected)
    parts = ([f"missing or different: {', '.join(missing)}"] if missing else []) + (
        [f"unexpected: {', '.join(extra)}"] if extra else []
    )
    return clip("; ".join(parts), 300)


def _model_path(text: str, where: str, out: Findings) -> None:
    path = Path(text)
    if exists(path):
        if not (path / "config.json").is_file():
            out.error(where, "model", f"{clip(text)} holds no config.json: not a Hugging Face checkpoint")
        return
    if not path.is_absolute() and _HUB_ID.fullmatch(text):
        out.warn(where, "model", f"'{clip(text)}' is not a local directory: the LLM downloads it from the Hugging "
                 "Face Hub at load time (fails offline)")  # fmt: skip
    else:
        out.warn(where, "model", f"checkpoint {clip(text)} does not exist on this machine (fine only if it exists "
                 "where tritonserver runs)")  # fmt: skip


def _instances(model: ModelFile, world: int, out: Findings) -> None:
    """`gpu_device_ids`: one ';' group per instance, each of tp x pp GPU ids (upstream's multi-instance rule)."""
    ids = model.set_parameter("gpu_device_ids")
    if ids is None:
        return
    count = sum(group.count for group in model.config.instance_group) or 1
    groups = [group.split(",") for group in ids.split(";")]
    if len(groups) != count:
        out.error(model, "gpu_device_ids", f"has {len(groups)} GPU group(s) but instance_group count is {count}: "
                  "instances without a group cannot load")  # fmt: skip
    if any(len(group) != world or not all(part.strip().isdigit() for part in group) for group in groups):
        out.error(model, "gpu_device_ids", f"'{clip(ids)}': each group needs tp x pp = {world} GPU id(s)")


_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")


def _tokenizer(llm_args: dict[str, object], where: str, out: Findings) -> None:
    """The LLM tokenizes `text_input` itself: its tokenizer (`tokenizer`, else the model directory) must have
    tokenizer files (only checked where that directory exists here)."""
    key = "tokenizer" if llm_args.get("tokenizer") else "model"
    directory = Path(str(llm_args[key]))
    if not exists(directory) or not directory.is_dir():
        if key == "tokenizer":
            out.warn(where, key, f"tokenizer directory {clip(directory)} does not exist on this machine")
        return
    if not any((directory / name).is_file() for name in _TOKENIZER_FILES):
        out.error(where, key, f"{clip(directory)} has no tokenizer files ({', '.join(_TOKENIZER_FILES)}): the "
                  "LLM cannot tokenize text_input; set tokenizer: to a directory that has them")  # fmt: skip


def _world_size(repo: LoadedRepo, size: int, where: str, out: Findings) -> None:
    engine = _manifest(repo).get("engine", {})
    recorded = engine.get("world_size") if isinstance(engine, dict) else None
    if isinstance(recorded, int) and recorded != size:
        out.error(where, "tensor_parallel_size", f"tp x pp is {size} but the repository was rendered (and is "
                  f"launched) for world size {recorded}: re-render with --tp/--pp")  # fmt: skip


def _manifest(repo: LoadedRepo) -> dict[str, object]:
    try:
        data = json.loads((repo.root / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
