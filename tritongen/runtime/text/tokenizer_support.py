"""What the preprocessing and postprocessing models share: tensor specs, the tokenizer, fast paths.

It never imports triton_python_backend_utils: it is plain Python, testable anywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..common.parameters import ConfigError

# Triton data types as they appear in the JSON model config -> numpy (BYTES/STRING hold Python bytes).
NUMPY_TYPES: dict[str, Any] = {
    "TYPE_BOOL": np.bool_,
    "TYPE_UINT8": np.uint8,
    "TYPE_UINT16": np.uint16,
    "TYPE_UINT32": np.uint32,
    "TYPE_UINT64": np.uint64,
    "TYPE_INT8": np.int8,
    "TYPE_INT16": np.int16,
    "TYPE_INT32": np.int32,
    "TYPE_INT64": np.int64,
    "TYPE_FP16": np.float16,
    "TYPE_FP32": np.float32,
    "TYPE_FP64": np.float64,
    "TYPE_STRING": np.object_,
}


class InputError(ValueError):
    """A bad request: the message is shown to the client (as INVALID_ARG, HTTP 400)."""


@dataclass(frozen=True)
class TensorSpec:
    """One input or output as the deployed config.pbtxt declares it."""

    name: str
    numpy_type: Any
    dims: tuple[int, ...]
    optional: bool


def tensor_specs(model_config: dict[str, Any], kind: str) -> dict[str, TensorSpec]:
    """The inputs (`kind="input"`) or outputs of this deployment, by name: the contract version's truth."""
    specs = {}
    for entry in model_config.get(kind, []):
        specs[entry["name"]] = TensorSpec(
            name=entry["name"],
            numpy_type=NUMPY_TYPES.get(entry["data_type"]),
            dims=tuple(int(d) for d in entry.get("dims", [])),
            optional=bool(entry.get("optional", False)),
        )
    return specs


def require_batching(model_config: dict[str, Any], model_name: str) -> None:
    """Every tensor here carries a leading batch dimension; a config without one is a deployment bug."""
    if int(model_config.get("max_batch_size", 0)) <= 0:
        raise ConfigError(
            f"{model_name} needs max_batch_size > 0 (it is {model_config.get('max_batch_size')})"
        )


def load_tokenizer(tokenizer_dir: str | None) -> Any:
    """The Hugging Face tokenizer of `tokenizer_dir`, with the pad token falling back to EOS."""
    if tokenizer_dir is None:
        raise ConfigError(
            "parameter 'tokenizer_dir' is not set: point it at the directory with tokenizer.json"
        )
    if not Path(tokenizer_dir).is_dir():
        raise ConfigError(f"tokenizer_dir '{tokenizer_dir}' is not a directory")
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(
            tokenizer_dir, legacy=False, padding_side="left", trust_remote_code=True
        )
    except Exception as error:  # transformers raises many types; the message is what matters
        raise ConfigError(f"cannot load the tokenizer from '{tokenizer_dir}': {error}") from error
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


# How much a tokenizer's normalizer can shrink text before it is split into tokens: NFKC folds a 3-byte
# full-width letter into a 1-byte one; 4 (UTF-8's longest character) covers any one-character fold.
NORMALIZATION_SHRINK = 4


def prompt_byte_limit(tokenizer: Any, max_input_len: int | None) -> int | None:
    """The most bytes a prompt of at most `max_input_len` tokens can have (None: no token limit).

    No token stands for more text than its vocabulary entry spells in UTF-8 (byte-level BPE spells each
    byte as one, often 2-byte, character; SentencePiece spells a space as the 3-byte "▁"), so a longer
    prompt is over `max_input_len` for sure, and is refused before it is tokenized: tokenizing a 20 MB
    prompt only to count it took seconds, in the one process serving every request. (Tokenizers that
    drop text, e.g. WordPiece's whitespace, have no such bound; LLM tokenizers keep every byte.)"""
    if max_input_len is None:
        return None
    longest = max((len(entry.encode("utf-8")) for entry in tokenizer.get_vocab()), default=1)
    return max_input_len * max(longest, 1) * NORMALIZATION_SHRINK


def check_prompt_bytes(value: Any, limit: int | None, what: str, max_input_len: int | None) -> None:
    """Refuse a prompt (a BYTES element) longer than `limit` bytes, before any decoding or tokenizing."""
    if limit is None:
        return
    size = len(value) if isinstance(value, (bytes, bytearray)) else len(str(value).encode("utf-8"))
    if size > limit:
        raise InputError(
            f"{what} is {size} bytes: more than {limit} bytes cannot fit in max_input_len {max_input_len} "
            "tokens; shorten the prompt"
        )


def decode_utf8(value: Any, what: str) -> str:
    """A BYTES tensor element as text; bytes that are not UTF-8 are the client's error."""
    if isinstance(value, str):
        return value
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{what} is not valid UTF-8 text") from None


# Texts the fast paths below must treat exactly as transformers does before they are used: spaces at
# either end, newlines, multi-byte characters, special-token text, digits, an empty string, and the
# spaces before punctuation and contractions that transformers' clean_up_tokenization_spaces removes.
PROBE_TEXTS = (
    "Hello world",
    " leading space",
    "trailing space ",
    "two\n\nlines\t",
    "안녕하세요 😀 café",
    "<|im_start|>user<s></s>",
    "12345 + 678",
    "",
    "Hi , so . It 's fine , is n't it ? Yes ! I 'm sure they 're done , we 've seen",
)

Encoder = Callable[[Sequence[str], bool], list[list[int]]]
Decoder = Callable[[Sequence[Sequence[int]]], list[str]]


def _backend(tokenizer: Any) -> Any:
    """The Rust `tokenizers` object behind a fast tokenizer (None for a slow, Python tokenizer)."""
    return getattr(tokenizer, "backend_tokenizer", None) if getattr(tokenizer, "is_fast", False) else None


def prompt_encoder(tokenizer: Any) -> Encoder:
    """texts, add_special_tokens -> token ids, through `tokenizers` directly when that gives the same
    ids as transformers on the probes: the transformers wrapper costs more than the encoding itself."""

    def through_transformers(texts: Sequence[str], add_special_tokens: bool) -> list[list[int]]:
        result = tokenizer(list(texts), add_special_tokens=add_special_tokens, return_attention_mask=False)
        return [list(ids) for ids in result["input_ids"]]

    backend = _backend(tokenizer)
    if backend is None:
        return through_transformers

    def through_backend(texts: Sequence[str], add_special_tokens: bool) -> list[list[int]]:
        return [e.ids for e in backend.encode_batch(list(texts), add_special_tokens=add_special_tokens)]

    try:
        same = all(
            through_backend(PROBE_TEXTS, flag) == through_transformers(PROBE_TEXTS, flag)
            for flag in (True, False)
        )
    except Exception:  # noqa: BLE001 - any trouble on the fast path: keep transformers'
        same = False
    return through_backend if same else through_transformers


def token_decoder(tokenizer: Any, skip_special_tokens: bool) -> Decoder:
    """token ids -> texts, through `tokenizers` directly when that gives transformers' texts on the probes
    (transformers adds per-call Python and, for some tokenizers, clean-up of spaces)."""

    def through_transformers(sequences: Sequence[Sequence[int]]) -> list[str]:
        return list(
            tokenizer.batch_decode([list(s) for s in sequences], skip_special_tokens=skip_special_tokens)
        )

    backend = _backend(tokenizer)
    if backend is None:
        return through_transformers

    def through_backend(sequences: Sequence[Sequence[int]]) -> list[str]:
        return list(
            backend.decode_batch([list(s) for s in sequences], skip_special_tokens=skip_special_tokens)
        )

    try:
        probes = [tokenizer.encode(text, add_special_tokens=True) for text in PROBE_TEXTS]
        probes += [ids[i : i + 1] for ids in probes for i in range(len(ids))]  # lone tokens, split characters
        same = through_backend(probes) == through_transformers(probes)
    except Exception:  # noqa: BLE001 - any trouble on the fast path: keep transformers'
        same = False
    return through_backend if same else through_transformers


SENTINEL = "\u2063tritongen-prompt\u2063"  # text no chat template changes or tests for


def chat_template_affixes(tokenizer: Any) -> tuple[str, str] | None:
    """(before, after) such that the chat template of one user message is before + prompt + after,
    verified on probe prompts; None when the template is not that simple (it trims or inspects the
    message, or reads the clock: strftime_now), and the template must then be rendered per request."""
    template = getattr(tokenizer, "chat_template", None)
    if not isinstance(template, str) or "strftime" in template:
        return None

    def render(prompt: str) -> str:
        return str(
            tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
            )
        )

    try:
        rendered = render(SENTINEL)
        if rendered.count(SENTINEL) != 1:
            return None
        before, after = rendered.split(SENTINEL)
        if any(render(p) != before + p + after for p in PROBE_TEXTS if p):
            return None
    except Exception:  # noqa: BLE001 - a template that fails on the probes is rendered per request
        return None
    return before, after
