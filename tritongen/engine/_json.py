"""config.json as typed sections: every value read through `Section`, whose errors name the full key path.

The TensorRT-LLM runtime reads some keys with `at()` (required) and others optionally; `Section` offers the
same two kinds of read, typed, so each layout reader states which keys it needs and nothing more.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from tritongen.errors import EngineError

INT32_MAX = 2**31 - 1  # the runtime reads sizes as 32-bit integers
MISSING = object()  # what `Section.raw` returns for an absent or null key


def load_config(config_path: Path) -> tuple[dict[str, Any], str]:
    """The parsed JSON object and the sha256 of its bytes."""
    try:
        raw = config_path.read_bytes()
    except OSError as exc:
        raise EngineError(
            f"cannot read {config_path}: {exc.strerror or exc}", hint="Check its permissions."
        ) from exc
    digest = hashlib.sha256(raw).hexdigest()
    fix = "The file is truncated or was edited by hand: copy it again from the engine build output."
    if not raw.strip():
        raise EngineError(f"{config_path} is empty", hint=fix)
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise EngineError(f"{config_path} is not UTF-8 text (byte {exc.start})", hint=fix) from exc
    except json.JSONDecodeError as exc:
        raise EngineError(
            f"{config_path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}", hint=fix
        ) from exc
    except (ValueError, RecursionError) as exc:
        raise EngineError(f"{config_path} is not valid JSON: {exc}", hint=fix) from exc
    if not isinstance(data, dict):
        raise EngineError(f"{config_path} holds a JSON {json_type(data)}, not an object", hint=fix)
    return data, digest


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def show(value: object) -> str:
    """A short JSON rendering of a found value for an error message."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class Section:
    """One JSON object of config.json and its dotted path, so that every error names the full key."""

    data: Mapping[str, Any]
    path: str
    config_path: Path

    def key_path(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def missing(self, key: str, why: str = "") -> NoReturn:
        hint = why or (
            "The TensorRT-LLM runtime needs this key. Rebuild the engine with the TensorRT-LLM version your "
            "Triton container ships (do not hand-edit config.json)."
        )
        if key in self.data:  # present but null
            raise EngineError(f"{self.config_path}: '{self.key_path(key)}' is null", hint=hint)
        raise EngineError(f"{self.config_path} has no '{self.key_path(key)}'", hint=hint)

    def wrong_type(self, key: str, expected: str, value: object) -> NoReturn:
        raise EngineError(
            f"{self.config_path}: '{self.key_path(key)}' must be {expected}, found {show(value)} "
            f"({json_type(value)})",
            hint="Fix the value, or rebuild the engine: the build tools always write it correctly.",
        )

    def raw(self, key: str) -> Any:
        """The value, or `MISSING` when the key is absent or null (the runtime's optional reads)."""
        value = self.data.get(key)
        return MISSING if value is None else value

    def section(self, key: str, *, required: bool = True) -> Section | None:
        value = self.raw(key)
        if value is MISSING:
            if required:
                self.missing(key)
            return None
        if not isinstance(value, dict):
            self.wrong_type(key, "an object", value)
        return Section(value, self.key_path(key), self.config_path)

    def require_section(self, key: str) -> Section:
        found = self.section(key)
        assert found is not None  # section(required=True) raised otherwise
        return found

    def optional_int(self, key: str, *, minimum: int = 1) -> int | None:
        value = self.raw(key)
        if value is MISSING:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= INT32_MAX:
            expected = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            if isinstance(value, int) and not isinstance(value, bool) and value > INT32_MAX:
                expected = f"an integer <= {INT32_MAX}"
            self.wrong_type(key, expected, value)
        return value

    def get_int(self, key: str, *, default: int | None = None, minimum: int = 1, why: str = "") -> int:
        """A required integer when `default` is None; `why` explains a tritongen-only requirement."""
        value = self.optional_int(key, minimum=minimum)
        if value is not None:
            return value
        if default is None:
            self.missing(key, why)
        return default

    def get_bool(self, key: str, *, default: bool | None = None) -> bool:
        value = self.raw(key)
        if value is MISSING:
            if default is None:
                self.missing(key)
            return default
        if not isinstance(value, bool):
            self.wrong_type(key, "true or false", value)
        return value

    def optional_str(self, key: str, *, choices: Iterable[str] | None = None) -> str | None:
        value = self.raw(key)
        if value is MISSING:
            return None
        allowed = tuple(choices) if choices is not None else None
        if not isinstance(value, str) or (allowed is not None and value not in allowed):
            expected = "one of " + ", ".join(allowed) if allowed is not None else "a string"
            self.wrong_type(key, expected, value)
        return value

    def get_str(self, key: str, *, default: str | None = None, choices: Iterable[str] | None = None) -> str:
        value = self.optional_str(key, choices=choices)
        if value is not None:
            return value
        if default is None:
            self.missing(key)
        return default

    def plugin_enabled(self, key: str, *, required: bool = True) -> bool:
        """A plugin is off when false or null and on when it holds a dtype string ("float16", "auto")."""
        if key not in self.data:
            if required:
                self.missing(key)
            return False
        value = self.data[key]
        if value is None or value is False:
            return False
        if value is True or isinstance(value, str):
            return True
        self.wrong_type(key, "a dtype string, false or null", value)
