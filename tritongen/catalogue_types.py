"""The types of the parameter catalogue (the data lives in `tritongen.catalogue`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from tritongen.versions import Version

MODELS: tuple[str, ...] = ("preprocessing", "tensorrt_llm", "postprocessing", "ensemble", "tensorrt_llm_bls")


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


@dataclass(frozen=True)
class Param:
    """One `${placeholder}` of one model's upstream template, for a range of backend versions."""

    name: str  # the upstream placeholder name, e.g. "batching_strategy"
    model: str  # one of MODELS
    type: ParamType
    default: str | int | float | bool | None  # None: deliberately empty (the backend reads "" as unset)
    since: Version  # first backend version whose template has it
    until: Version | None  # first backend version whose template no longer has it (exclusive)
    source: Source  # where its value normally comes from
    doc: str  # one line: what it does
    key: str | None = None  # the `parameters` key when it differs from the name; None: same as name
    header: bool = False  # sits in a Triton-parsed position (max_batch_size, decoupled, data_type...)
    choices: tuple[str, ...] | None = None  # allowed values for STR parameters

    @property
    def parameter_key(self) -> str:
        """The key in the `parameters { }` block."""
        return self.key or self.name

    def exists_in(self, version: Version) -> bool:
        """True when the template of `version` has this placeholder."""
        return self.since <= version and (self.until is None or version < self.until)
