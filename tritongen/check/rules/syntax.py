"""Rules about the files themselves: readable, parsable by Triton, no leftover placeholder, well named."""

from __future__ import annotations

import re

from tritongen.check._findings import Findings, clip
from tritongen.check._load import PLACEHOLDER, LoadedRepo, ModelFile, code_of
from tritongen.check.facts import unfilled
from tritongen.check.versions import UNKNOWN, AssumedVersion, role, upstream_code
from tritongen.render.catalogue import entries_named

# A quoted header field Triton reads itself: a `${...}` there names a backend (or platform) that does
# not exist, e.g. the v0.10+ template's `backend: "${triton_backend}"` left unfilled.
_HEADER_STRING = re.compile(r"^\s*(backend|platform)\s*:")
# A `${name}` inside a string value whose emptiness stops the model, and why.
_FATAL_UNFILLED = {
    "engine_dir": "the engine path is required: the tensorrt_llm model cannot load",
    "batching_strategy": (
        f"gpt_model_type must be {entries_named('batching_strategy')[0].allowed}: the model cannot load"
    ),
    "tokenizer_dir": "the Python models need a tokenizer directory: they cannot load",
    "tokenizer_type": f"it must be {entries_named('tokenizer_type')[0].allowed}: the model raises during initialize",
}


def unreadable(repo: LoadedRepo, out: Findings) -> None:
    """A config.pbtxt that cannot be read at all."""
    for rel, why in repo.unreadable:
        out.error(rel, None, f"cannot read the file: {why}")


def syntax(repo: LoadedRepo, out: Findings) -> None:
    """Leftover markers, protobuf parse errors, the model name and the version directory."""
    for model in repo.models.values():
        header_placeholders = _scan_text(model, out, repo.version or UNKNOWN)
        if model.config is None:
            if not header_placeholders:  # those already explain why the file does not parse
                line, message = _parse_error_location(model.parse_error or "")
                out.error(model, None, f"not a valid Triton ModelConfig: {message}", line)
            continue
        if model.config.name and model.config.name != model.name:
            out.error(
                model,
                "name",
                f"the config names the model '{clip(model.config.name)}' but its directory "
                f"is '{clip(model.name)}'; Triton refuses the mismatch: make them equal",
            )
        directory = model.path.parent
        if not (directory / "1").is_dir() and not any(
            p.is_dir() and p.name.isdigit() for p in directory.iterdir()
        ):
            out.warn(
                model,
                None,
                f"no version directory ({clip(model.name)}/1/): Triton will find no version to "
                "load (add the directory with its model files)",
            )


def duplicate_tensors(repo: LoadedRepo, out: Findings) -> None:
    """A tensor declared twice (upstream's v0.19 ensemble does it)."""
    for model in repo.parsed:
        for kind, tensors in (("input", model.config.input), ("output", model.config.output)):
            seen: set[str] = set()
            for tensor in tensors:
                if tensor.name in seen:
                    out.warn(
                        model,
                        tensor.name,
                        f"{kind} '{clip(tensor.name)}' is declared twice (Triton "
                        "tolerates it, but remove the duplicate)",
                    )
                seen.add(tensor.name)


def _scan_text(model: ModelFile, out: Findings, assumed: AssumedVersion) -> int:
    """Leftover `${...}` and Jinja markers outside comments; returns how many sit where Triton's parser
    chokes."""
    fatal = 0
    for number, line in enumerate(model.text.splitlines(), start=1):
        code = code_of(line)
        if "{{" in code or "{%" in code:
            out.error(model, None, "an unrendered Jinja marker ('{{' or '{%') is left in the file", number)
        quotes, counted = 0, 0  # quotes before the match, counted as we go: one pass over a long line
        for match in PLACEHOLDER.finditer(code):
            quotes += code.count('"', counted, match.start())
            counted = match.start()
            name = match.group(1)
            if quotes % 2 == 0:
                fatal += 1
                out.error(
                    model,
                    name,
                    f"placeholder ${{{clip(name)}}} was never filled and sits where Triton "
                    "expects a value: the model cannot load; fill it",
                    number,
                )
            elif _HEADER_STRING.match(code):
                field_name = code.split(":", 1)[0].strip()
                out.error(
                    model,
                    name,
                    f"placeholder ${{{clip(name)}}} was never filled in the {field_name} field: Triton "
                    f"looks for a {field_name} literally named '${{{clip(name)}}}'",
                    number,
                    fix=f'fill it (the C++ backend is {field_name}: "tensorrtllm")'
                    if field_name == "backend"
                    else "fill it",
                )
            else:
                _unfilled_parameter(model, name, number, out, assumed)
    return fatal


def _unfilled_parameter(
    model: ModelFile, name: str, number: int, out: Findings, assumed: AssumedVersion
) -> None:
    """A `${name}` inside a string value: fatal for a few keys; for the rest, what the assumed release
    does with the literal text (its default, or a failure where the code uses it as written)."""
    # tokenizer_dir is optional in tensorrt_llm (guided decoding only); engine_dir in preprocessing
    # only matters for multimodal models.
    in_trtllm = model.is_trtllm or "gpt_model_type" in model.text
    optional_here = (name == "tokenizer_dir" and in_trtllm) or (name == "engine_dir" and not in_trtllm)
    if name in _FATAL_UNFILLED and not optional_here:
        out.error(model, name, f"placeholder ${{{name}}} was never filled; {_FATAL_UNFILLED[name]}", number)
        return
    consequence, effect = unfilled(role(model), name, assumed, upstream=upstream_code(model))
    message = f"placeholder ${{{clip(name)}}} was never filled"
    if consequence in ("cannot_load", "requests_fail", "invalid"):
        out.error(model, name, message, number, consequence=consequence, effect=effect, fix="fill it")
    else:
        out.warn(
            model,
            name,
            message,
            number,
            consequence=consequence,
            effect=effect,
            fix="set it (tritongen render writes every value explicitly)",
        )


def _parse_error_location(message: str) -> tuple[int | None, str]:
    """protobuf ParseError messages start with "L:C : ..."."""
    match = re.match(r"^(\d+):(\d+)\s*:\s*(.*)$", message.strip())
    if match:
        return int(
            match.group(1)
        ), f"line {match.group(1)} column {match.group(2)}: {clip(match.group(3), 200)}"
    first = message.strip().splitlines()[0] if message.strip() else "unparsable"
    return None, clip(first, 200)
