"""Reading a repository once for every rule: each model's config text, its parsed `ModelConfig`, its place.

Nothing here judges anything (the rules do); a file that cannot be read or parsed is kept with the
reason, so that the syntax rule reports it once and the other rules skip it.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from tritongen.errors import ValidationError
from tritongen.runtime.common.parameters import parse_bool

if TYPE_CHECKING:
    from tritongen.check.versions import AssumedVersion

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def code_of(line: str) -> str:
    """`line` without its `#` comment: a `#` outside a quoted string starts one (protobuf text format),
    so `max_batch_size: 16 #${triton_max_batch_size}` holds no placeholder."""
    quoted = False
    escaped = False
    for index, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "#" and not quoted:
            return line[:index]
    return line


@cache
def model_config_pb2() -> ModuleType:
    """Triton's generated ModelConfig module, loaded from tritonclient without importing grpc (fast)."""
    spec = importlib.util.find_spec("tritonclient")
    if spec is None or not spec.submodule_search_locations:
        raise ValidationError(
            "tritonclient is not installed, so config.pbtxt files cannot be parsed",
            hint="pip install 'tritonclient[all]'.",
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "grpc" / "model_config_pb2.py"
    module_spec = importlib.util.spec_from_file_location("tritongen_model_config_pb2", path)
    if module_spec is None or module_spec.loader is None:
        raise ValidationError(f"cannot load {path}", hint="Reinstall tritonclient[all].")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def parse_model_config(text: str) -> Any:
    """Parse config.pbtxt text into a ModelConfig; raises google.protobuf ParseError.

    The message class comes from a module loaded by path (see `model_config_pb2`), so there are no type
    stubs to name it by: it is `Any` here and in `ModelFile.config`.
    """
    from google.protobuf import text_format

    message = model_config_pb2().ModelConfig()
    text_format.Parse(text, message)
    return message


@dataclass
class ModelFile:
    """One model directory's config: raw text, parsed message (None when unparsable), location."""

    name: str
    path: Path
    text: str
    config: Any  # model_config_pb2.ModelConfig, or None when the text does not parse
    parse_error: str | None = None  # protobuf's message when it does not

    @property
    def rel(self) -> str:
        return f"{self.name}/config.pbtxt"

    def line_of(self, needle: str) -> int | None:
        """First line that mentions `needle` (a parameter key, a tensor name)."""
        quoted, field_name = f'"{needle}"', re.compile(rf"^\s*{re.escape(needle)}\s*:")
        lines = [code_of(line) for line in self.text.splitlines()]  # a commented-out copy is not it
        for number, line in enumerate(lines, start=1):
            if quoted in line:
                return number
        for number, line in enumerate(lines, start=1):
            if field_name.match(line):
                return number
        return None

    def parameter(self, key: str) -> str | None:
        """A `parameters` string value, or None when the key is absent (or the file did not parse)."""
        if self.config is None or key not in self.config.parameters:
            return None
        return str(self.config.parameters[key].string_value)

    def set_parameter(self, key: str) -> str | None:
        """A parameter that holds a value: None when absent, empty or still a `${placeholder}`."""
        value = self.parameter(key)
        return value if value and not PLACEHOLDER.search(value) else None

    @property
    def is_trtllm(self) -> bool:
        """The C++ TensorRT-LLM backend model."""
        return self.config is not None and self.config.backend == "tensorrtllm"

    @property
    def is_torch_runtime(self) -> bool:
        """tritongen's torch runtime: a Python model that serves a checkpoint at gpt_model_path."""
        return (
            self.config is not None
            and self.config.backend == "python"
            and self.parameter("gpt_model_path") is not None
            and self.parameter("torch_dtype") is not None
        )

    @property
    def decoupled(self) -> bool:
        return self.config is not None and bool(self.config.model_transaction_policy.decoupled)

    def tensor_types(self, kind: str) -> dict[str, int]:
        """Data type of every "input" or "output" tensor, by name."""
        tensors = self.config.input if kind == "input" else self.config.output
        return {t.name: t.data_type for t in tensors}


@dataclass(frozen=True)
class LoadedRepo:
    """A repository as every rule sees it."""

    root: Path
    models: dict[str, ModelFile]  # by directory name, in name order; unparsable ones too
    unreadable: tuple[tuple[str, str], ...]  # (config path relative to the root, why) of files not read
    engine_dir: Path | None  # overrides gpt_model_path (a temporary render, or `check --engine`)
    load_tokenizer: bool
    version: AssumedVersion | None = None  # the backend releases the judgement assumes (`versions.detect`)

    @property
    def parsed(self) -> list[ModelFile]:
        """The models whose config parsed, in name order."""
        return [model for model in self.models.values() if model.config is not None]


def load_repository(root: Path, *, engine_dir: Path | None, load_tokenizer: bool) -> LoadedRepo:
    """Read and parse every `*/config.pbtxt` under `root`."""
    from google.protobuf.text_format import ParseError

    models: dict[str, ModelFile] = {}
    unreadable: list[tuple[str, str]] = []
    for config_path in sorted(root.glob("*/config.pbtxt")):
        name = config_path.parent.name
        try:
            text = config_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            unreadable.append((f"{name}/config.pbtxt", str(error)))
            continue
        model = ModelFile(name, config_path, text, None)
        try:
            model.config = parse_model_config(text)
        except (ParseError, ValueError, UnicodeError) as error:
            model.parse_error = str(error)
        models[name] = model
    return LoadedRepo(root, models, tuple(unreadable), engine_dir, load_tokenizer)


def as_bool(value: str | None) -> bool | None:
    """A true/false parameter as the Python models read it (one vocabulary); None when it is neither."""
    return None if value is None else parse_bool(value)


def as_int(value: str | None) -> int | None:
    try:
        return int(value.strip()) if value is not None else None
    except ValueError:
        return None


def exists(path: Path) -> bool:
    """`path.exists()`, where a name the system refuses (too long, a NUL byte) is simply absent: the
    paths come from the repository, and Python 3.11 raises for those."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False
