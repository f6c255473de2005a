"""The model-level settings, read from the `string_value` parameters of `tensorrt_llm/config.pbtxt`.

A value that is empty or still an unfilled fill_template placeholder counts as unset, as in the real backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import overload

from ..common.parameters import is_unset, parse_bool

DTYPES = ("auto", "float32", "bfloat16", "float16")
DEVICES = ("auto", "cpu", "cuda")


class SettingsError(ValueError):
    """A parameter in config.pbtxt has a value the runtime cannot use."""


@dataclass(frozen=True)
class RuntimeSettings:
    """Everything the runtime takes from config.pbtxt."""

    checkpoint_dir: Path
    tokenizer_dir: Path | None
    max_batch_size: int
    max_input_len: int | None  # None: limited by max_seq_len only
    max_seq_len: int
    torch_dtype: str
    device: str
    tp_size: int
    exclude_input_in_output: bool
    max_beam_width: int
    kv_cache_tokens: int | None  # max_tokens_in_paged_kv_cache; None: room for every slot at max_seq_len
    decoupled: bool


def read_settings(
    parameters: dict[str, str],
    *,
    decoupled: bool,
    config_max_batch_size: int,
    model_max_positions: int | None,
) -> RuntimeSettings:
    """Parse the parameters block (`{key: string_value}`); raise SettingsError naming the bad key."""

    def text(key: str) -> str | None:
        value = parameters.get(key)
        return None if is_unset(value) else str(value).strip()

    checkpoint = text("gpt_model_path")
    if checkpoint is None:
        raise SettingsError(
            "parameter gpt_model_path is not set: it must name the Hugging Face checkpoint directory"
        )
    checkpoint_dir = Path(checkpoint)
    if not (checkpoint_dir / "config.json").is_file():
        raise SettingsError(
            f"gpt_model_path {checkpoint_dir} holds no config.json (not a Hugging Face checkpoint)"
        )
    tokenizer = text("tokenizer_dir")

    max_seq_len = _integer(text("max_seq_len"), "max_seq_len", default=model_max_positions or 2048)
    max_input_len = _integer(text("max_input_len"), "max_input_len", default=None)
    if max_input_len is not None and max_input_len >= max_seq_len:
        raise SettingsError(
            f"max_input_len ({max_input_len}) must be smaller than max_seq_len ({max_seq_len})"
        )
    max_batch_size = _integer(text("max_batch_size"), "max_batch_size", default=max(config_max_batch_size, 1))
    tp_size = _integer(text("tp_size"), "tp_size", default=1)
    max_beam_width = _integer(text("max_beam_width"), "max_beam_width", default=1)
    if max_beam_width != 1:
        raise SettingsError(
            f"max_beam_width {max_beam_width} is not supported: the torch runtime decodes one beam"
        )
    return RuntimeSettings(
        checkpoint_dir=checkpoint_dir,
        tokenizer_dir=Path(tokenizer) if tokenizer else None,
        max_batch_size=max_batch_size,
        max_input_len=max_input_len,
        max_seq_len=max_seq_len,
        torch_dtype=_choice(text("torch_dtype"), "torch_dtype", DTYPES),
        device=_choice(text("device"), "device", DEVICES),
        tp_size=tp_size,
        exclude_input_in_output=_boolean(text("exclude_input_in_output"), "exclude_input_in_output", False),
        max_beam_width=max_beam_width,
        kv_cache_tokens=_integer(text("max_tokens_in_paged_kv_cache"), "max_tokens_in_paged_kv_cache", None),
        decoupled=decoupled,
    )


@overload
def _integer(value: str | None, key: str, default: int) -> int: ...
@overload
def _integer(value: str | None, key: str, default: None) -> int | None: ...
def _integer(value: str | None, key: str, default: int | None) -> int | None:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(f"parameter {key} must be a whole number, got {value!r}") from None
    if number < 1:
        raise SettingsError(f"parameter {key} must be at least 1, got {number}")
    return number


def _boolean(value: str | None, key: str, default: bool) -> bool:
    if value is None:
        return default
    parsed = parse_bool(value)
    if parsed is not None:
        return parsed
    raise SettingsError(f"parameter {key} must be true or false, got {value!r}")


def _choice(value: str | None, key: str, choices: tuple[str, ...]) -> str:
    if value is None:
        return choices[0]
    if value.lower() not in choices:
        raise SettingsError(f"parameter {key} must be one of {', '.join(choices)}, got {value!r}")
    return value.lower()
