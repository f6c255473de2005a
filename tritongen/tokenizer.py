"""What tritongen needs to know about a tokenizer directory, read cheaply from its JSON files.

Rendering must stay fast (no `transformers` import), so the special-token ids and the chat template
are read with the json module; `load_tokenizer` does the full, slow load that `check` uses to prove
the Python models will be able to load it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tritongen.errors import TokenizerError

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "spiece.model", "tiktoken.model")


@dataclass(frozen=True)
class TokenizerInfo:
    """Special tokens and capabilities of a tokenizer directory."""

    path: Path
    kind: str  # "fast" (tokenizer.json), "sentencepiece", "bpe" (vocab.json + merges), ...
    eos_token: str | None
    eos_id: int | None
    pad_token: str | None
    pad_id: int | None  # falls back to the EOS id, as the upstream preprocessing model does
    bos_id: int | None
    has_chat_template: bool


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TokenizerError(
            f"cannot read {path}: {error}", hint="Fix or regenerate the tokenizer files (save_pretrained)."
        ) from None
    if not isinstance(data, dict):
        raise TokenizerError(f"{path} does not hold a JSON object", hint="Regenerate the tokenizer files.")
    return data


def _token_text(value: object) -> str | None:
    """tokenizer_config.json writes special tokens as a string or as {"content": ...}."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return str(value["content"])
    return None


def _vocab_ids(directory: Path) -> dict[str, int]:
    """Token → id for the special tokens, from tokenizer.json (added tokens first, then the vocab)."""
    fast = directory / "tokenizer.json"
    ids: dict[str, int] = {}
    if fast.is_file():
        data = _read_json(fast)
        vocab = data.get("model", {}).get("vocab")
        if isinstance(vocab, dict):
            ids.update({k: v for k, v in vocab.items() if isinstance(v, int)})
        for added in data.get("added_tokens", []):
            if isinstance(added, dict) and isinstance(added.get("content"), str):
                ids[added["content"]] = int(added["id"])
    elif (directory / "vocab.json").is_file():
        ids.update({k: v for k, v in _read_json(directory / "vocab.json").items() if isinstance(v, int)})
    return ids


def read_tokenizer_info(directory: Path) -> TokenizerInfo:
    """Read special tokens and the chat template; raise TokenizerError when no tokenizer is there."""
    if not directory.is_dir():
        raise TokenizerError(
            f"tokenizer directory {directory} does not exist",
            hint="Pass --tokenizer DIR pointing at a Hugging Face tokenizer (tokenizer.json or tokenizer.model).",
        )
    present = [name for name in TOKENIZER_FILES if (directory / name).is_file()]
    if not present:
        raise TokenizerError(
            f"no tokenizer in {directory} (none of {', '.join(TOKENIZER_FILES)})",
            hint="Pass --tokenizer DIR pointing at the model's Hugging Face tokenizer files.",
        )
    kind = {"tokenizer.json": "fast", "vocab.json": "bpe", "tiktoken.model": "tiktoken"}.get(
        present[0], "sentencepiece"
    )
    config_path = directory / "tokenizer_config.json"
    config = _read_json(config_path) if config_path.is_file() else {}
    special_map_path = directory / "special_tokens_map.json"
    special_map = _read_json(special_map_path) if special_map_path.is_file() else {}
    generation_path = directory / "generation_config.json"
    generation = _read_json(generation_path) if generation_path.is_file() else {}

    def token(name: str) -> str | None:
        return _token_text(config.get(name)) or _token_text(special_map.get(name))

    ids = _vocab_ids(directory)
    eos_token, pad_token, bos_token = token("eos_token"), token("pad_token"), token("bos_token")
    eos_id = ids.get(eos_token) if eos_token else None
    if eos_id is None:
        generation_eos = generation.get("eos_token_id")
        if isinstance(generation_eos, list) and generation_eos:
            generation_eos = generation_eos[0]
        eos_id = generation_eos if isinstance(generation_eos, int) else None
    pad_id = ids.get(pad_token) if pad_token else None
    has_chat_template = bool(config.get("chat_template")) or any(
        (directory / name).is_file() for name in ("chat_template.jinja", "chat_template.json")
    )
    return TokenizerInfo(
        path=directory,
        kind=kind,
        eos_token=eos_token,
        eos_id=eos_id,
        pad_token=pad_token,
        pad_id=pad_id if pad_id is not None else eos_id,
        bos_id=ids.get(bos_token) if bos_token else None,
        has_chat_template=has_chat_template,
    )


def load_tokenizer(directory: Path) -> object:
    """Load the tokenizer the way the Python models will (slow: imports transformers)."""
    read_tokenizer_info(directory)
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    except Exception as error:  # noqa: BLE001 - transformers raises many types; all mean "unloadable"
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise TokenizerError(
            f"the tokenizer in {directory} does not load: {first_line}",
            hint="Check the tokenizer files (tokenizer.json / tokenizer_config.json) or pass --tokenizer DIR.",
        ) from None
