"""The types of the parameter catalogue (the data lives in `tritongen.render.catalogue`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TypeAlias

from tritongen.versions import Version

MODELS: tuple[str, ...] = ("preprocessing", "tensorrt_llm", "postprocessing", "ensemble", "tensorrt_llm_bls")

RUNTIMES: tuple[str, ...] = ("any", "trtllm", "torch")

Value: TypeAlias = str | int | float | bool | None  # a planned value; None: deliberately empty


class ParamType(str, Enum):
    """How a value is checked and written into `config.pbtxt`."""

    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    STR = "str"
    DATATYPE = "datatype"  # a Triton data-type enum such as TYPE_FP32 (header position)
    CSV = "csv"  # comma-separated list (gpu_device_ids, max_attention_window_size, ...)


class Source(str, Enum):
    """Where a parameter's value came from, lowest precedence first."""

    DEFAULT = "default"  # the catalogue default
    ENGINE = "engine"  # derived from the engine config.json
    TOKENIZER = "tokenizer"  # read from the tokenizer
    DERIVED = "derived"  # computed from other values (rule explained in the manifest)
    FILE = "file"  # --config YAML
    FLAG = "flag"  # --set key=value or a dedicated flag

    @property
    def precedence(self) -> int:
        """Rank in the precedence order (declaration order): a higher rank wins."""
        return list(Source).index(self)

    @property
    def user_given(self) -> bool:
        """Set by the user (--config or a flag), so derivations must not replace it."""
        return self in (Source.FILE, Source.FLAG)


@dataclass(frozen=True)
class Param:
    """One `${placeholder}` of one model's upstream template, for a range of backend versions.

    A few entries describe values the upstream template of those versions hard-codes
    (`placeholder=False`, e.g. v0.5's `max_batch_size: 128`): tritongen renders them from the
    catalogue too, so they can be derived from the engine and overridden like the rest.
    """

    name: str  # the upstream placeholder name, e.g. "batching_strategy"
    model: str  # one of MODELS
    type: ParamType
    default: Value  # None: deliberately empty (the backend reads "" as unset)
    since: Version  # first backend version whose template has it
    until: Version | None  # first backend version whose template no longer has it (exclusive)
    source: Source  # where its value normally comes from
    doc: str  # one line: what it does
    key: str | None = None  # the `parameters` key when it differs from the name; None: same as name
    header: bool = False  # sits in a Triton-parsed position (max_batch_size, decoupled, data_type...)
    choices: tuple[str, ...] | None = None  # allowed values for STR and DATATYPE parameters
    runtime: str = "any"  # "any", "trtllm" (C++ backend only) or "torch" (tritongen's checkpoint runtime)
    placeholder: bool = True  # False: the upstream template of these versions hard-codes the value
    backend_default: str | None = None  # what the backend uses when the value is empty, when documented
    required: bool = False  # never empty: the backend refuses an empty value (header entries always are)
    bounds: tuple[float, float] | None = None  # numbers in (low, high]: low excluded, high included

    @property
    def parameter_key(self) -> str:
        """The key in the `parameters { }` block."""
        return self.key or self.name

    def exists_in(self, version: Version) -> bool:
        """True when the template of `version` has this placeholder."""
        return self.since <= version and (self.until is None or version < self.until)

    def serves(self, runtime: str) -> bool:
        """True when the model is served by `runtime` ("trtllm" or "torch") and reads this value."""
        return self.runtime in ("any", runtime)

    @property
    def may_be_empty(self) -> bool:
        """False where an empty value cannot load: Triton-parsed header fields and `required` entries."""
        return not (self.header or self.required)

    def admits(self, value: Value) -> bool:
        """True when a typed value is one the backend accepts: in `choices`, inside `bounds`, not empty
        when it may not be. `render --set` and `check` both judge values by this, so they cannot disagree."""
        if value is None:
            return self.may_be_empty
        if self.choices is not None and isinstance(value, str) and value not in self.choices:
            return False
        if self.bounds is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
            low, high = self.bounds
            return low < value <= high
        return True

    @property
    def allowed(self) -> str:
        """The allowed values in words, for messages: "one of a, b", "a number in (0, 1]", ""."""
        if self.choices is not None:
            return "one of " + ", ".join(self.choices)
        if self.bounds is not None:
            return f"a number in ({self.bounds[0]:g}, {self.bounds[1]:g}]"
        return ""

    @property
    def versions(self) -> str:
        """The version range in words, e.g. "0.9.0 to before 0.10.0" or "0.19.0 and later"."""
        return f"{self.since} and later" if self.until is None else f"{self.since} to before {self.until}"
