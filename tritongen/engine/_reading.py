"""The directory being read, and what every engine layout shares: opening it, the parallel mapping, the
rank files, the length checks and the speculative decoding mode.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from tritongen.engine._json import Section, load_config
from tritongen.engine.spec import RankFile
from tritongen.errors import EngineError

CONFIG_NAME = "config.json"
ENGINE_DTYPES = ("float32", "float16", "bfloat16")  # what GptJsonConfig accepts for the model dtype
LOGITS_DTYPES = ("float32", "float16")  # what GptJsonConfig accepts for logits_dtype
DEFAULT_GPUS_PER_NODE = 8
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model")

# build_config.speculative_decoding_mode is a bit flag (tensorrt_llm.models.SpeculativeDecodingMode).
SPECULATIVE_DECODING_MODES: dict[int, str | None] = {
    1: None,
    2: "draft_tokens_external",
    4: "medusa",
    8: "lookahead",
    16: "explicit_draft_tokens",
    32: "eagle",
}
_RANK_FILE_RE = re.compile(r"(?:^|_)rank(\d+)\.engine$")

LIMIT_WHY = (
    "tritongen sizes the Triton models from it (the runtime would read 0 and reject every request). "
    "Rebuild the engine: the build tools always write it."
)


def engine_directory(path: Path) -> Path:
    """The absolute directory, or an error that tells the user which path to pass instead."""
    try:
        directory = path.expanduser().resolve()
        exists, is_dir, is_file = directory.exists(), directory.is_dir(), directory.is_file()
    except (OSError, RuntimeError, ValueError) as exc:
        raise EngineError(
            f"cannot use engine path {path}: {exc}", hint="Check the path and its permissions."
        ) from exc
    if not exists:
        raise EngineError(
            f"engine directory {directory} does not exist",
            hint="Pass the directory holding config.json and the rank engines (trtllm-build --output_dir).",
        )
    if is_file:
        hint = "Pass the directory that holds config.json and the rank engine files"
        if directory.name == CONFIG_NAME or directory.suffix == ".engine":
            hint += f": {directory.parent}"
        raise EngineError(f"{directory} is a file, not an engine directory", hint=hint + ".")
    if not is_dir:
        raise EngineError(f"{directory} is not a directory", hint="Pass the engine directory.")
    return directory


def directory_entries(directory: Path) -> dict[str, os.DirEntry[str]]:
    """Every entry of the directory by name, read once."""
    try:
        with os.scandir(directory) as scan:
            return {entry.name: entry for entry in scan}
    except OSError as exc:
        raise EngineError(
            f"cannot list {directory}: {exc.strerror or exc}", hint="Check its permissions."
        ) from exc


def is_file_entry(entry: os.DirEntry[str] | None) -> bool:
    try:
        return entry is not None and entry.is_file()
    except OSError:
        return False


def _holds_config(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir() and (Path(entry.path) / CONFIG_NAME).is_file()
    except OSError:
        return False


def file_size(entry: os.DirEntry[str]) -> int:
    try:
        return entry.stat().st_size
    except OSError:
        return 0


def _missing_config_error(directory: Path, entries: Mapping[str, os.DirEntry[str]]) -> EngineError:
    """Explain a missing config.json, pointing at a subdirectory or the engines when we can."""
    nested = sorted(name for name, entry in entries.items() if _holds_config(entry))
    if nested:
        hint = f"Did you mean {directory / nested[0]}?"
    elif any(_RANK_FILE_RE.search(name) for name in entries):
        hint = "The rank engines are here but config.json is not: copy the config.json the build wrote beside them."
    else:
        hint = "Pass the directory trtllm-build wrote (--output_dir); it holds config.json and rank*.engine."
    return EngineError(f"{directory} has no {CONFIG_NAME}", hint=hint)


@dataclass
class Reading:
    """The directory being read: its listing, the parsed config.json and the warnings found so far."""

    directory: Path
    config_path: Path
    entries: dict[str, os.DirEntry[str]]
    root: Section
    sha256: str
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, directory: Path) -> Reading:
        entries = directory_entries(directory)
        config_path = directory / CONFIG_NAME
        if not is_file_entry(entries.get(CONFIG_NAME)):
            raise _missing_config_error(directory, entries)
        data, digest = load_config(config_path)
        return cls(directory, config_path, entries, Section(data, "", config_path), digest)

    @property
    def tokenizer_present(self) -> bool:
        return any(is_file_entry(self.entries.get(name)) for name in TOKENIZER_FILES)

    def warn(self, text: str) -> None:
        self.warnings.append(text)


@dataclass(frozen=True)
class Parallelism:
    tp: int
    pp: int
    cp: int

    @property
    def world(self) -> int:
        return self.tp * self.pp * self.cp

    def describe(self) -> str:
        ranks = "rank" if self.world == 1 else "ranks"
        return f"tp×pp×cp = {self.tp}×{self.pp}×{self.cp} = {self.world} {ranks}"


def check_declared_world_size(section: Section, parallel: Parallelism) -> None:
    """mapping.world_size (when written) must equal tp*pp*cp: the runtime asserts mpiSize == tp*pp."""
    declared = section.optional_int("world_size")
    if declared is not None and declared != parallel.world:
        raise EngineError(
            f"{section.config_path}: '{section.key_path('world_size')}' is {declared} but {parallel.describe()}",
            hint="The config.json is inconsistent (hand-edited?): rebuild the engine with the mapping you want.",
        )


def rank_files(
    reading: Reading, parallel: Parallelism, name_of_rank: Callable[[int], str]
) -> tuple[RankFile, ...]:
    """The engine file of every rank, or an error naming the ranks that are missing or extra."""
    found = {name: int(match.group(1)) for name in reading.entries if (match := _RANK_FILE_RE.search(name))}
    found_ranks = sorted(set(found.values()))
    if any(rank >= parallel.world for rank in found_ranks):
        shown = ", ".join(f"rank{rank}" for rank in found_ranks[:8]) + (
            " ..." if len(found_ranks) > 8 else ""
        )
        raise EngineError(
            f"{reading.directory} has engine files for {len(found_ranks)} ranks ({shown}) but config.json says "
            f"{parallel.describe()}",
            hint="The engines and config.json come from different builds: copy the matching config.json, "
            "or rebuild the engine.",
        )
    present = {rank for rank in found_ranks if is_file_entry(reading.entries.get(name_of_rank(rank)))}
    missing_count = parallel.world - len(present)
    if missing_count:
        missing: list[str] = []
        for rank in range(parallel.world):  # stops after a few names, however large the world size
            if rank not in present:
                missing.append(name_of_rank(rank))
                if len(missing) == 5:
                    break
        listed = ", ".join(missing) + (
            f" and {missing_count - len(missing)} more" if missing_count > 5 else ""
        )
        present_text = f"{len(found)} rank file(s) present" if found else "no rank files present"
        strangers = sorted(name for name, rank in found.items() if name != name_of_rank(rank))
        if strangers:
            present_text += f", named like {strangers[0]}"
        raise EngineError(
            f"{reading.directory} is missing {missing_count} rank engine file(s): {listed} (config.json says "
            f"{parallel.describe()}; {present_text})",
            hint="Copy every rank's engine file beside config.json, or rebuild the engine.",
        )
    return tuple(
        RankFile(rank, reading.directory / name_of_rank(rank), file_size(reading.entries[name_of_rank(rank)]))
        for rank in range(parallel.world)
    )


class PluginFields(TypedDict):
    """The EngineSpec fields that every engine layout reads from plugin_config under the same keys."""

    gpt_attention_plugin: bool
    paged_context_fmha: bool
    tokens_per_block: int


def plugin_fields(plugins: Section) -> PluginFields:
    return PluginFields(
        gpt_attention_plugin=plugins.plugin_enabled("gpt_attention_plugin"),
        paged_context_fmha=plugins.get_bool("use_paged_context_fmha", default=False),
        tokens_per_block=plugins.get_int("tokens_per_block"),
    )


class ReadingFields(TypedDict):
    """The EngineSpec fields that come from the directory and the mapping rather than from a config key."""

    tp_size: int
    pp_size: int
    cp_size: int
    rank_files: tuple[RankFile, ...]
    config_sha256: str
    tokenizer_present: bool
    warnings: tuple[str, ...]
    max_position_embeddings: int | None


def reading_fields(
    reading: Reading, parallel: Parallelism, name_of_rank: Callable[[int], str], max_position: int | None
) -> ReadingFields:
    """Unpack it last into EngineSpec(...): the rank files are checked after every config value (a bad
    value is the clearer error), and `warnings` holds what the whole reading found."""
    return ReadingFields(
        tp_size=parallel.tp,
        pp_size=parallel.pp,
        cp_size=parallel.cp,
        rank_files=rank_files(reading, parallel, name_of_rank),
        config_sha256=reading.sha256,
        tokenizer_present=reading.tokenizer_present,
        warnings=tuple(reading.warnings),
        max_position_embeddings=max_position,
    )


def check_lengths(
    reading: Reading, *, max_input_len: int, max_seq_len: int, max_position: int | None
) -> None:
    """Oddities that do not stop the runtime but surprise users."""
    if max_input_len > max_seq_len:
        reading.warn(
            f"max_input_len {max_input_len} exceeds max_seq_len {max_seq_len}; prompts are limited by max_seq_len"
        )
    if max_position is not None and max_position < max_seq_len:
        reading.warn(
            f"max_position_embeddings {max_position} is smaller than max_seq_len {max_seq_len}; "
            "output may degrade beyond the trained context"
        )


def speculative_mode(
    section: Section, reading: Reading, *, architecture: str, max_draft_len: int
) -> str | None:
    """Decode build_config.speculative_decoding_mode, or infer it on layouts written before the key existed."""
    value = section.optional_int("speculative_decoding_mode", minimum=0)
    if value is None:
        if "medusa" in architecture.lower():
            return "medusa"
        return "draft_tokens_external" if max_draft_len > 0 else None
    if value in SPECULATIVE_DECODING_MODES:
        return SPECULATIVE_DECODING_MODES[value]
    reading.warn(f"speculative_decoding_mode {value} is not one tritongen knows; treated as 'mode_{value}'")
    return f"mode_{value}"
