"""Parameter words and readers shared by every model: one vocabulary, one notion of "unset".

A config.pbtxt parameter that is absent, empty or still an unfilled fill_template placeholder means
"use the default", as in upstream's backend. Plain Python (no Triton import), so it is testable anywhere.
"""

from __future__ import annotations

import json
from typing import Any

UNFILLED = "$" + "{"  # how an unfilled fill_template placeholder starts (upstream: "use the default")

TRUE_WORDS = ("true", "1", "t", "y", "yes", "on")
FALSE_WORDS = ("false", "0", "f", "n", "no", "off")


class ConfigError(ValueError):
    """A bad model configuration: the model refuses to load with this message."""


def is_unset(value: str | None) -> bool:
    """An absent, empty or unfilled (fill_template placeholder) value means "use the default"."""
    return value is None or value.strip() == "" or value.strip().startswith(UNFILLED)


def parse_bool(value: str) -> bool | None:
    """True or False for a word of the vocabulary (any case, surrounding spaces ignored), else None."""
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def string_parameter(model_config: dict[str, Any], key: str, default: str | None = None) -> str | None:
    """The parameter's string value, or `default` when it is absent, empty or an unfilled placeholder."""
    value = model_config.get("parameters", {}).get(key, {}).get("string_value")
    return default if is_unset(value) else str(value).strip()


def bool_parameter(model_config: dict[str, Any], key: str, default: bool) -> bool:
    """A true/false parameter; an unrecognised value is a configuration error, not a silent default."""
    value = string_parameter(model_config, key)
    if value is None:
        return default
    parsed = parse_bool(value)
    if parsed is None:
        raise ConfigError(f"parameter '{key}' must be true or false, not '{value}'")
    return parsed


def int_parameter(model_config: dict[str, Any], key: str, minimum: int = 1) -> int | None:
    """An optional integer parameter of at least `minimum` (None when unset)."""
    value = string_parameter(model_config, key)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"parameter '{key}' must be an integer, not '{value}'") from None
    if number < minimum:
        raise ConfigError(f"parameter '{key}' must be at least {minimum}, not {number}")
    return number


def request_parameters(request: Any) -> dict[str, Any]:
    """A request's parameters (a JSON object; anything else reads as none). Most requests have none, so
    the parse is skipped for them."""
    text = request.parameters()
    if not text or text == "{}":
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
