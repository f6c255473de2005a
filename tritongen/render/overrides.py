"""User overrides: repeated `--set key=value` flags and a YAML `--config` file, parsed and type-checked.

A key is a parameter name, applying to every model that has it (`triton_max_batch_size`), or
`model.name` for one model (`tensorrt_llm.max_beam_width`). The `parameters` key works as an alias
where it differs from the name (`gpt_model_type` for `batching_strategy`). An empty value
(`--set max_tokens_in_paged_kv_cache=`) deliberately unsets a parameter, as fill_template allows.

Every problem is a `UsageError` that names the key, what was expected and what was given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tritongen.errors import UsageError
from tritongen.render.catalogue import CATALOGUE, GENERATION_MODELS
from tritongen.render.catalogue_types import MODELS, Param, ParamType, Source, Value
from tritongen.versions import Version

_KEY_RE = re.compile(r"^(?:([A-Za-z_][A-Za-z0-9_]*)\.)?([A-Za-z_][A-Za-z0-9_]*)$")
_INT_RE = re.compile(r"^[+-]?[0-9]+$")
_FLOAT_RE = re.compile(r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
_CSV_RE = re.compile(r"^[0-9]+(?:[,;][0-9]+)*$")
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")
_FORBIDDEN = ("${", "{{", "{%")  # would survive rendering as an unfilled placeholder or Jinja marker
_INT32_MAX = 2**31 - 1

_EXPECTED = {
    ParamType.INT: "a whole number >= 0",
    ParamType.FLOAT: "a number",
    ParamType.BOOL: "true or false (also 1/0, yes/no)",
    ParamType.STR: "a text value",
    ParamType.DATATYPE: "a Triton data type",
    ParamType.CSV: "comma-separated integers (semicolons between instances)",
}


@dataclass(frozen=True)
class Override:
    """One user-given value, before it is matched to catalogue entries."""

    name: str  # parameter name (or its `parameters` key)
    model: str | None  # None: every model that has the parameter
    raw: Value  # text from --set; a typed YAML scalar from --config
    source: Source  # Source.FILE or Source.FLAG
    origin: str  # where it was given, for messages: "--set k=v" or "FILE: k"

    @property
    def key(self) -> str:
        return f"{self.model}.{self.name}" if self.model else self.name


def parse_key(key: str, origin: str) -> tuple[str | None, str]:
    """Split `model.name` or `name`; the model must be one of the five."""
    match = _KEY_RE.match(key.strip())
    if not match:
        raise UsageError(
            f"{origin}: '{key}' is not a parameter key",
            hint="Use NAME=VALUE or MODEL.NAME=VALUE, e.g. --set tensorrt_llm.max_beam_width=2.",
        )
    model, name = match.group(1), match.group(2)
    if model is not None and model not in MODELS:
        raise UsageError(
            f"{origin}: unknown model '{model}'",
            hint=_suggest(model, MODELS, "Models are " + ", ".join(MODELS) + "."),
        )
    return model, name


def parse_set(text: str) -> Override:
    """Parse one `--set key=value` (the value may be empty: unset)."""
    origin = f"--set {text}"
    key, sep, value = text.partition("=")
    if not sep:
        raise UsageError(f"{origin}: expected KEY=VALUE", hint="For example --set max_beam_width=2.")
    model, name = parse_key(key, origin)
    return Override(name=name, model=model, raw=value, source=Source.FLAG, origin=origin)


def parse_sets(texts: Iterable[str]) -> tuple[Override, ...]:
    return tuple(parse_set(text) for text in texts)


def load_config_file(path: Path) -> tuple[Override, ...]:
    """Read a YAML file of `name: value` and/or `model: {name: value}` entries."""
    import yaml  # only when a --config file is given: keeps `render` fast

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(
            f"cannot read --config {path}: {error.strerror or error}", hint="Give the path of a YAML file."
        ) from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UsageError(
            f"--config {path} is not valid YAML: {first}",
            hint="Write `name: value` lines, or `model:` followed by indented `name: value` lines.",
        ) from None
    if data is None:
        return ()
    if not isinstance(data, dict):
        raise UsageError(
            f"--config {path} must hold a mapping of parameters, not {type(data).__name__}",
            hint="Write `name: value` lines, or `model:` followed by indented `name: value` lines.",
        )
    overrides: list[Override] = []
    for key, value in data.items():
        if isinstance(value, dict):
            model = str(key)
            if model not in MODELS:
                raise UsageError(
                    f"--config {path}: unknown model '{model}'",
                    hint=_suggest(model, MODELS, "Models are " + ", ".join(MODELS) + "."),
                )
            for name, inner in value.items():
                origin = f"--config {path}: {model}.{name}"
                _, checked = parse_key(str(name), origin)
                overrides.append(Override(checked, model, _yaml_scalar(inner, origin), Source.FILE, origin))
        else:
            origin = f"--config {path}: {key}"
            model_name, name = parse_key(str(key), origin)
            overrides.append(Override(name, model_name, _yaml_scalar(value, origin), Source.FILE, origin))
    return tuple(overrides)


def _yaml_scalar(value: Any, origin: str) -> Value:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, list) and all(
        isinstance(item, int) and not isinstance(item, bool) for item in value
    ):
        return ",".join(str(item) for item in value)  # gpu_device_ids: [0, 1]
    raise UsageError(
        f"{origin}: expected a single value, got {type(value).__name__}",
        hint="Give a number, true/false or text.",
    )


def resolve(override: Override, version: Version, runtime: str, generation: str) -> tuple[Param, ...]:
    """The catalogue entries of this render that `override` sets; a UsageError explains any mismatch."""
    models = GENERATION_MODELS[generation]
    scope = (override.model,) if override.model else MODELS
    known = [p for p in CATALOGUE if override.name in (p.name, p.key) and p.model in scope]
    active = [p for p in known if p.exists_in(version) and p.serves(runtime) and p.model in models]
    if active:
        return tuple(active)
    if not known:
        everything = {p.name for p in CATALOGUE if p.model in scope} | {p.key for p in CATALOGUE if p.key}
        where = f" in {override.model}" if override.model else ""
        raise UsageError(
            f"{override.origin}: unknown parameter '{override.name}'{where}",
            hint=_suggest(override.name, sorted(everything), "`tritongen explain REPO` lists them."),
        )
    other_runtime = [p for p in known if p.exists_in(version) and p.model in models]
    if other_runtime:
        if runtime == "torch":
            reason = "is read only by the C++ TensorRT-LLM backend, not by the torch runtime"
            hint = "Drop it: a Hugging Face checkpoint is served by tritongen's torch runtime."
        else:
            reason = "is read only by tritongen's torch runtime (Hugging Face checkpoints)"
            hint = "Drop it, or render a Hugging Face checkpoint; for engines set triton_max_batch_size."
        raise UsageError(f"{override.origin}: '{override.name}' {reason}", hint=hint)
    if override.model and override.model not in models:
        raise UsageError(
            f"{override.origin}: backend {version} renders no {override.model} model",
            hint="tensorrt_llm_bls exists from backend 0.7 (tritongen renders it from 0.8).",
        )
    ranges = "; ".join(sorted({f"{p.model} {p.versions}" for p in known}))
    raise UsageError(
        f"{override.origin}: '{override.name}' does not exist in backend {version} (it exists in {ranges})",
        hint="Drop the override, or pick a --backend-version that has it.",
    )


def coerce(param: Param, raw: Value, origin: str) -> Value:
    """Type-check `raw` against `param`; return the canonical typed value (None: empty)."""
    if isinstance(raw, str):
        raw = raw.strip()
        if raw == "":
            raw = None
    if raw is None:
        if param.header:
            raise UsageError(
                f"{origin}: '{param.name}' cannot be empty",
                hint="It sits where Triton parses a value (max_batch_size, decoupled, data_type, "
                "count); give one.",
            )
        if not param.may_be_empty:
            raise UsageError(
                f"{origin}: '{param.name}' cannot be empty",
                hint=f"The backend refuses an empty value; give {_expected(param)}.",
            )
        return None
    value = _typed(param, raw)
    if value is None or not param.admits(value):
        raise UsageError(
            f"{origin}: '{param.name}' expects {_expected(param)}, got {raw!r}",
            hint=f"{param.name}: {param.doc}.",
        )
    return value


def admitted(param: Param, text: str) -> bool:
    """True when `--set` accepts `text` for `param`: the one test `check` judges a written value by."""
    try:
        coerce(param, text, param.name)
    except UsageError:
        return False
    return True


def _expected(param: Param) -> str:
    return param.allowed or _EXPECTED[param.type]


def _typed(param: Param, raw: str | float | bool) -> Value:
    """The typed value, or None when `raw` does not fit the type."""
    kind = param.type
    if kind is ParamType.BOOL:
        if isinstance(raw, bool):
            return raw
        text = str(raw).lower() if isinstance(raw, (str, int)) else ""
        return True if text in _TRUE else False if text in _FALSE else None
    if isinstance(raw, bool):
        return None  # YAML true/false for a number or a text value is a mistake
    if kind is ParamType.INT:
        number = (
            raw if isinstance(raw, int) else int(raw) if isinstance(raw, str) and _INT_RE.match(raw) else None
        )
        if number is None or number < 0 or (param.header and number > _INT32_MAX):
            return None
        return number
    if kind is ParamType.FLOAT:
        if not isinstance(raw, (int, float)) and not _FLOAT_RE.match(raw):
            return None
        number_f = float(raw)
        return number_f if math.isfinite(number_f) else None
    text = str(raw)
    if kind is ParamType.DATATYPE:
        return text.upper() if param.choices else None  # the choices are checked by `Param.admits`
    if kind is ParamType.CSV:
        text = "".join(text.split())
        return text if _CSV_RE.match(text) else None
    if any(marker in text for marker in _FORBIDDEN) or any(ord(ch) < 32 for ch in text):
        return None
    return text


def format_value(value: Value) -> str:
    """The text a value is written as in config.pbtxt (and shown by `explain`)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _suggest(word: str, candidates: Sequence[str], fallback: str) -> str:
    import difflib  # only on the error path

    close = difflib.get_close_matches(word, list(candidates), n=3, cutoff=0.6)
    if not close:
        return fallback
    return "Did you mean " + " or ".join(close) + "?"
