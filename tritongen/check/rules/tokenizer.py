"""Rules for the Python models' tokenizer settings (preprocessing, postprocessing, the BLS)."""

from __future__ import annotations

import re
from pathlib import Path

from tritongen.check._findings import Findings, clip
from tritongen.check._load import LoadedRepo, ModelFile, as_bool, exists
from tritongen.check.facts import FLAG_READERS, flag_reading
from tritongen.check.versions import AssumedVersion, role
from tritongen.defaults import MANIFEST_NAME
from tritongen.errors import TokenizerError

_FLAGS = ("add_special_tokens", "skip_special_tokens", "accumulate_tokens")
_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")


def tokenizer_settings(repo: LoadedRepo, out: Findings) -> None:
    """True/false flags the models can read, and a tokenizer directory that exists (and loads)."""
    rendered = (repo.root / MANIFEST_NAME).is_file()  # tritongen's own models: its one vocabulary
    for model in repo.parsed:
        if model.config.backend != "python":
            continue
        for flag in _FLAGS:
            value = model.set_parameter(flag)
            if value and not (rendered and as_bool(value) is not None):
                _flag(model, flag, value, None if rendered else repo.version, out)
        if not model.is_torch_runtime:
            _tokenizer_dir(model, out, load=repo.load_tokenizer)


def _flag(model: ModelFile, flag: str, value: str, assumed: AssumedVersion | None, out: Findings) -> None:
    """A flag value the model may not recognise: upstream's models (hand-made repositories) read it with
    their own word lists and fallbacks (`facts.FLAG_READERS`); tritongen's with `parse_bool`."""
    if assumed is not None:
        replacement, unanimous = flag_reading(role(model), flag, value, assumed)
        if replacement is None:
            if unanimous and any(r.key == flag and r.role == role(model) for r in FLAG_READERS):
                return  # every candidate release recognises it
        elif unanimous:
            out.error(
                model,
                flag,
                f"'{clip(value)}' is not a value backend v{assumed.label} recognises (exactly true/false, "
                "1/0, t/f, y/n or yes/no)",
                consequence="invalid",
                effect=f"invalid, replaced by {replacement}",
                fix="write true or false",
            )
            return
        else:
            out.warn(
                model,
                flag,
                f"'{clip(value)}' is not recognised by some releases this repository may be for "
                f"(v{assumed.label}); they use {replacement} instead",
                fix="write true or false",
            )
            return
    if as_bool(value) is None:
        out.warn(
            model, flag, f"'{clip(value)}' is not a boolean (true/false): the model falls back to its default"
        )


def _tokenizer_dir(model: ModelFile, out: Findings, *, load: bool) -> None:
    text = model.set_parameter("tokenizer_dir")
    if text is None:
        return
    path = Path(text)
    if not exists(path):
        if not path.is_absolute() and _HUB_ID.fullmatch(text):
            out.warn(
                model,
                "tokenizer_dir",
                f"'{clip(text)}' is not a local directory: it will be fetched from "
                "the Hugging Face Hub at load time (fails offline); point it at local tokenizer files",
            )
        else:
            out.warn(
                model,
                "tokenizer_dir",
                f"tokenizer directory {clip(text)} does not exist on this machine "
                "(fine only if it exists where tritonserver runs)",
            )
        return
    if load:
        from tritongen.tokenizer import load_tokenizer

        try:
            load_tokenizer(path)
        except TokenizerError as error:
            out.error(model, "tokenizer_dir", error.one_line())
