"""Rules across models: the ensemble's wiring (every tensor produced, typed alike) and one batch size."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tritongen.check._findings import Findings, clip
from tritongen.check._load import LoadedRepo, ModelFile, model_config_pb2


def ensemble_wiring(repo: LoadedRepo, out: Findings) -> None:
    """Every ensemble: its steps exist, map tensors their models declare, with matching data types."""
    for ensemble in repo.parsed:
        if ensemble.config.platform != "ensemble":
            continue
        steps = list(ensemble.config.ensemble_scheduling.step)
        if not steps:
            out.error(ensemble, "ensemble_scheduling", "the ensemble has no steps")
            continue
        wiring = _outputs_of_steps(repo, ensemble, steps, out)
        for step in steps:
            target = repo.models.get(step.model_name)
            if target is not None and target.config is not None:
                _inputs_of_step(ensemble, step, target, wiring, out)
        _ensemble_outputs(ensemble, wiring, out)


def batch_sizes(repo: LoadedRepo, out: Findings) -> None:
    """One max_batch_size for every model (the engine's): a smaller one anywhere caps the whole pipeline."""
    sizes = {model.name: model.config.max_batch_size for model in repo.parsed}
    if len(set(sizes.values())) > 1:
        listing = ", ".join(f"{clip(name)} {size}" for name, size in sorted(sizes.items()))
        first = min(sizes, key=lambda name: (sizes[name], name))
        out.warn(
            repo.models[first],
            "max_batch_size",
            f"max_batch_size differs between models ({listing}); "
            "use one value for all of them (the engine's max batch size)",
        )


@dataclass
class _Wiring:
    """The tensors an ensemble's steps produce, by ensemble tensor name: (step model, data type)."""

    produced: dict[str, tuple[str, int]] = field(default_factory=dict)
    complete: bool = True  # every step model loaded: only then can missing producers be told apart


def _type_name(data_type: int) -> str:
    return str(model_config_pb2().DataType.Name(data_type))


def _outputs_of_steps(repo: LoadedRepo, ensemble: ModelFile, steps: list[Any], out: Findings) -> _Wiring:
    """What each step produces; a step model that is missing or unparsable makes the wiring incomplete."""
    wiring = _Wiring()
    for step in steps:
        step_name = clip(step.model_name)
        target = repo.models.get(step.model_name)
        if target is None or target.config is None:
            why = "does not exist in the repository" if target is None else "has an invalid config"
            out.error(ensemble, step.model_name, f"step model '{step_name}' {why}")
            wiring.complete = False
            continue
        outputs = target.tensor_types("output")
        for model_output, tensor in step.output_map.items():
            if model_output in outputs:
                wiring.produced[tensor] = (step.model_name, outputs[model_output])
            else:
                out.error(
                    ensemble,
                    tensor,
                    f"step '{step_name}' maps output '{clip(model_output)}', "
                    f"which {step_name}/config.pbtxt does not declare",
                )
    return wiring


def _inputs_of_step(
    ensemble: ModelFile, step: Any, target: ModelFile, wiring: _Wiring, out: Findings
) -> None:
    """Each input of one step: declared, fed by an ensemble input or an earlier output of its type, and
    every required input mapped; the step takes at least the ensemble's batch size."""
    step_name = clip(step.model_name)
    available = ensemble.tensor_types("input")
    inputs = {t.name: t for t in target.config.input}
    for model_input, tensor in step.input_map.items():
        if model_input not in inputs:
            out.error(
                ensemble,
                model_input,
                f"step '{step_name}' feeds input '{clip(model_input)}', "
                f"which {step_name}/config.pbtxt does not declare",
            )
            continue
        expected = inputs[model_input].data_type
        source, source_type = "ensemble input", available.get(tensor)
        if source_type is None and tensor in wiring.produced:
            producer, source_type = wiring.produced[tensor]
            source = f"output of step '{clip(producer)}'"
        if source_type is None and wiring.complete:
            out.error(
                ensemble,
                tensor,
                f"tensor '{clip(tensor)}' feeding {step_name}.{clip(model_input)} is "
                "neither an ensemble input nor produced by any step",
            )
        elif source_type is not None and source_type != expected:
            out.error(
                ensemble,
                tensor,
                f"'{clip(tensor)}' ({source}) is {_type_name(source_type)} but "
                f"{step_name}.{clip(model_input)} expects {_type_name(expected)}",
            )
    for name, tensor_config in inputs.items():
        if not tensor_config.optional and name not in step.input_map:
            out.error(
                ensemble,
                step.model_name,
                f"required input '{clip(name)}' of step '{step_name}' is not mapped",
            )
    if target.config.max_batch_size < ensemble.config.max_batch_size:
        out.error(
            ensemble,
            "max_batch_size",
            f"the ensemble's max_batch_size {ensemble.config.max_batch_size} is above step '{step_name}''s "
            f"{target.config.max_batch_size}: Triton refuses to load it; use one value everywhere",
        )


def _ensemble_outputs(ensemble: ModelFile, wiring: _Wiring, out: Findings) -> None:
    """Every ensemble output is produced by a step, with the declared type."""
    for output in ensemble.config.output:
        if output.name not in wiring.produced:
            if wiring.complete:
                out.error(
                    ensemble, output.name, f"ensemble output '{clip(output.name)}' is produced by no step"
                )
            continue
        producer, data_type = wiring.produced[output.name]
        if data_type != output.data_type:
            out.error(
                ensemble,
                output.name,
                f"ensemble output '{clip(output.name)}' is {_type_name(output.data_type)} but step "
                f"'{clip(producer)}' produces {_type_name(data_type)}",
            )
