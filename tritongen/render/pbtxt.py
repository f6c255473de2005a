"""The config.pbtxt text of each model: the Jinja templates, filled from the plan, and the checks that
nothing was left unfilled.

Templates use `StrictUndefined`, so a missing value fails the render instead of writing an empty field;
the `parameters { }` block is generated from the catalogue's order, not written by hand per template.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

import jinja2

from tritongen.errors import TritongenError, UsageError
from tritongen.render.plan import Plan, Setting

_PACKAGE = Path(__file__).resolve().parents[1]
_PACKAGED = _PACKAGE / "templates"  # in a wheel (pyproject force-include)
TEMPLATES_ROOT = _PACKAGED if _PACKAGED.is_dir() else _PACKAGE.parent / "templates"
_LEFTOVER_MARKERS = ("${", "{{", "{%")


def refuse_marker_paths(**paths: Path | None) -> None:
    """A path that holds `${`, `{{` or `{%` cannot go into a config.pbtxt.

    Every config value that names a path would then read as an unfilled placeholder: to `check`, to
    the scan below, and to any tool that fills upstream's templates. Refused up front with the fix.
    """
    for label, path in paths.items():
        text = str(path.absolute()) if path is not None else ""  # a relative path lands under the cwd
        marker = next((m for m in _LEFTOVER_MARKERS if m in text), None)
        if marker is not None:
            raise UsageError(
                f"the {label} path {text!r} holds {marker!r}, which a model "
                "configuration would read as an unfilled placeholder",
                hint="Choose a path without '${', '{{' or '{%'.",
            )


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_ROOT)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def pbtxt_string(text: str) -> str:
    """`text` as a protobuf text-format string literal (quotes included)."""
    escaped = []
    for char in text:
        if char in '"\\':
            escaped.append("\\" + char)
        elif ord(char) < 32:
            escaped.append(f"\\{ord(char):03o}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def parameters_block(settings: Iterable[Setting]) -> str:
    """The `parameters` entries of one model, generated from its (non-header) settings in file order."""
    entries = [
        f"parameters: {{\n  key: {pbtxt_string(s.param.parameter_key)}\n  value: {{\n"
        f"    string_value: {pbtxt_string(s.text)}\n  }}\n}}"
        for s in settings
        if not s.param.header
    ]
    return "\n".join(entries)


def render_config(plan: Plan, model: str) -> str:
    """The config.pbtxt text of one model."""
    settings = plan.for_model(model)
    llm = {s.name: s.text for s in plan.for_model("tensorrt_llm")}
    context = {
        "p": {s.name: s.text for s in settings},
        "f": plan.features,
        "parameters": parameters_block(settings),
        # Tensors the ensemble and the BLS pass to tensorrt_llm must have its types, or Triton refuses the
        # ensemble (upstream's latest ensemble keeps prompt_embedding_table at FP16 whatever the engine).
        "logits_type": llm.get("logits_datatype", "TYPE_FP32"),
        "prompt_table_type": llm.get("prompt_embedding_table_data_type", "TYPE_FP16"),
    }
    name = f"{plan.generation}/{model}/config.pbtxt.j2"
    try:
        text = _environment().get_template(name).render(context)
    except jinja2.TemplateError as error:
        raise TritongenError(
            f"template {name} failed to render: {error}", hint="This is a tritongen bug; please report it."
        ) from None
    for number, line in enumerate(text.splitlines(), start=1):
        marker = next((m for m in _LEFTOVER_MARKERS if m in line), None)
        if marker:
            raise TritongenError(
                f"{model}/config.pbtxt line {number} still holds '{marker}' after rendering",
                hint="This is a tritongen bug; please report it.",
            )
    return text
