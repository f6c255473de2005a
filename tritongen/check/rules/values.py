"""Allowed values, taken from the render catalogue: `check` refuses exactly what `render --set` refuses.

Each model is matched to the catalogue by what it is (the C++ backend or tritongen's torch runtime
for `tensorrt_llm`, else its directory name), and every parameter that has choices, bounds or may not
be empty is judged by `overrides.admitted`, the test `--set` applies. A value allowed by any backend
version's entry is accepted: a hand-made repository does not say which version it was written for.
Header entries (max_batch_size, decoupled, data types, backend) are Triton's own fields, typed by the
ModelConfig protobuf, so they are not judged here.
"""

from __future__ import annotations

from tritongen.check._findings import Consequence, Findings, clip
from tritongen.check._load import PLACEHOLDER, LoadedRepo, ModelFile
from tritongen.render.catalogue import CATALOGUE
from tritongen.render.catalogue_types import MODELS, Param
from tritongen.render.overrides import admitted

# What the backend does with a refused value, where it says more than the catalogue's one-line doc.
_CONSEQUENCE = {
    "gpt_model_type": "it throws 'Invalid gpt_model_type'",
    "tokenizer_type": "the model raises during initialize",
}
# The consequence level of a refused value, and what is used instead, where the code says (else:
# "invalid"). gpt_model_type: model_instance_state.cc throws (v0.7.0+; libtensorrtllm.cc v0.5.0);
# tokenizer_type: preprocessing/postprocessing model.py v0.5.0-v0.8.0 raise in initialize;
# batch_scheduler_policy: model_instance_state.cc v0.7.0-v0.19.0 logs the value as invalid and keeps
# guaranteed_no_evict.
_LEVEL: dict[str, tuple[Consequence, str]] = {
    "gpt_model_type": ("cannot_load", ""),
    "tokenizer_type": ("cannot_load", ""),
    "batch_scheduler_policy": ("invalid", "invalid, replaced by guaranteed_no_evict"),
}


def judged_entries(model: ModelFile) -> dict[str, tuple[Param, ...]]:
    """The catalogue entries with allowed values that apply to `model`, by `parameters` key."""
    role = _catalogue_model(model)
    if role is None:
        return {}
    runtime = "torch" if model.is_torch_runtime else "trtllm"
    found: dict[str, tuple[Param, ...]] = {}
    for param in CATALOGUE:
        restricted = param.choices is not None or param.bounds is not None or not param.may_be_empty
        if param.model == role and not param.header and restricted and param.serves(runtime):
            found[param.parameter_key] = (*found.get(param.parameter_key, ()), param)
    return found


def allowed_values(repo: LoadedRepo, out: Findings) -> None:
    """Every value with choices, bounds or that may not be empty, judged as `render --set` judges it."""
    for model in repo.parsed:
        for key, entries in judged_entries(model).items():
            text = model.parameter(key)
            if text is None or PLACEHOLDER.search(text):
                continue  # absent (the backend's default), or reported by the syntax rule
            if not any(admitted(param, text) for param in entries):
                consequence, effect = _LEVEL.get(key, ("invalid", ""))
                out.error(model, key, _refusal(entries[0], key, text), consequence=consequence, effect=effect)


def _catalogue_model(model: ModelFile) -> str | None:
    """The catalogue model `model` is judged as: what serves tensorrt_llm, or the directory name."""
    if model.is_trtllm or model.is_torch_runtime:
        return "tensorrt_llm"
    if model.name in MODELS and model.name != "tensorrt_llm":
        return model.name
    return None


def _refusal(param: Param, key: str, text: str) -> str:
    if not text.strip():
        message = f"{key} is empty but must be {param.allowed}"
    elif param.bounds is not None and _is_number(text):
        message = f"{clip(text.strip())} is outside ({param.bounds[0]:g}, {param.bounds[1]:g}]: {param.doc}"
    else:
        message = f"'{clip(text)}' is not {param.allowed}"
    consequence = _CONSEQUENCE.get(key)
    return f"{message}: {consequence}" if consequence else message


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
