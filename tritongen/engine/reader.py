"""Read an engine directory (any `config.json` TensorRT-LLM has written) or a Hugging Face checkpoint.

One entry point, `read_engine`, turns a directory into a frozen `EngineSpec` or raises a one-line
`EngineError` that says what is wrong and how to fix it. Four layouts are understood:

- legacy (v0.5-0.8 `examples/<model>/build.py`): `builder_config` + `plugin_config`, no `version`;
  rank engines are named `<name>_<precision>_tp<TP>[_pp<PP>][_cp<CP>]_rank<R>.engine`;
- `trtllm-build` 0.8-0.10: `version` + `pretrained_config` + `build_config` with `max_output_len`;
- `trtllm-build` 0.11+ and 1.x: the same with `build_config.max_seq_len`; rank engines `rank<R>.engine`;
- a Hugging Face checkpoint (`architectures` + safetensors or `pytorch_model*.bin` weights), served later
  by tritongen's torch runtime.

Only the keys the TensorRT-LLM runtime reads with `at()` are required (reference §5.1), plus the batch and
length limits that tritongen needs to size the Triton models; every other key is optional and unknown keys
are ignored. This module imports only the standard library, so `tritongen render` stays fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

from tritongen.engine.spec import EngineLayout, EngineSpec, RankFile
from tritongen.errors import EngineError, UsageError
from tritongen.versions import Version

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

# The legacy `quant_mode` bitmask (tensorrt_llm.quantization.QuantMode, v0.5-0.8).
_INT4_WEIGHTS = 1
_INT8_WEIGHTS = 2
_ACTIVATIONS = 4
_PER_CHANNEL = 8
_PER_TOKEN = 16
_PER_GROUP = 32
_INT8_KV_CACHE = 64
_FP8_KV_CACHE = 128
_FP8_QDQ = 256
_KNOWN_QUANT_BITS = 511

_INT32_MAX = 2**31 - 1  # the runtime reads sizes as 32-bit integers
_HF_MAX_SEQ_LEN = 4096  # cap for checkpoints, whose max_position_embeddings can be 128k
_HF_MAX_BATCH_SIZE = 16
_RANK_FILE_RE = re.compile(r"(?:^|_)rank(\d+)\.engine$")
_MISSING = object()


def read_engine(path: Path, *, tp_size: int | None = None, pp_size: int | None = None) -> EngineSpec:
    """Describe the engine (or checkpoint) directory at `path`.

    `tp_size` and `pp_size` choose how tritongen's torch runtime splits a Hugging Face checkpoint
    (default 1). An engine was built for one mapping, so for engines they are ignored (a warning says so
    when they disagree with the engine).
    """
    directory = _engine_directory(Path(path))
    reading = _Reading.open(directory)
    root = reading.root
    if "version" in root.data or "pretrained_config" in root.data or "build_config" in root.data:
        spec = _read_trtllm_build(reading)
    elif "builder_config" in root.data or "plugin_config" in root.data:
        spec = _read_legacy(reading)
    elif "architectures" in root.data:
        return _read_hf_checkpoint(
            reading, tp_size=_parallel_arg("tp_size", tp_size), pp_size=_parallel_arg("pp_size", pp_size)
        )
    elif "architecture" in root.data and "mapping" in root.data:
        raise EngineError(
            f"{reading.config_path} is a TensorRT-LLM checkpoint (convert_checkpoint.py output), not an engine",
            hint=f"Build an engine from it first: trtllm-build --checkpoint_dir {directory} --output_dir <engine_dir>,"
            " then pass <engine_dir>.",
        )
    else:
        keys = ", ".join(_show(key) for key in sorted(root.data)[:5]) or "no keys"
        raise EngineError(
            f"{reading.config_path} is not an engine config.json TensorRT-LLM wrote (top-level keys: {keys})",
            hint="Pass the directory trtllm-build (or build.py) wrote, whose config.json has builder_config or "
            "pretrained_config + build_config, or a Hugging Face checkpoint with architectures and weights.",
        )
    return _note_ignored_mapping(spec, tp_size=tp_size, pp_size=pp_size)


# --------------------------------------------------------------------------------------------------
# Opening the directory and the JSON file


def _engine_directory(path: Path) -> Path:
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


def _directory_entries(directory: Path) -> dict[str, os.DirEntry[str]]:
    """Every entry of the directory by name, read once."""
    try:
        with os.scandir(directory) as scan:
            return {entry.name: entry for entry in scan}
    except OSError as exc:
        raise EngineError(
            f"cannot list {directory}: {exc.strerror or exc}", hint="Check its permissions."
        ) from exc


def _is_file(entry: os.DirEntry[str] | None) -> bool:
    try:
        return entry is not None and entry.is_file()
    except OSError:
        return False


def _holds_config(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir() and (Path(entry.path) / CONFIG_NAME).is_file()
    except OSError:
        return False


def _file_size(entry: os.DirEntry[str]) -> int:
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


def _load_config(config_path: Path) -> tuple[dict[str, Any], str]:
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
        raise EngineError(f"{config_path} holds a JSON {_json_type(data)}, not an object", hint=fix)
    return data, digest


# --------------------------------------------------------------------------------------------------
# Typed access to JSON sections, with errors that name the full key path


def _json_type(value: object) -> str:
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


def _show(value: object) -> str:
    """A short JSON rendering of a found value for an error message."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class _Section:
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
            f"{self.config_path}: '{self.key_path(key)}' must be {expected}, found {_show(value)} "
            f"({_json_type(value)})",
            hint="Fix the value, or rebuild the engine: the build tools always write it correctly.",
        )

    def raw(self, key: str) -> Any:
        """The value, or `_MISSING` when the key is absent or null (the runtime's optional reads)."""
        value = self.data.get(key)
        return _MISSING if value is None else value

    def section(self, key: str, *, required: bool = True) -> _Section | None:
        value = self.raw(key)
        if value is _MISSING:
            if required:
                self.missing(key)
            return None
        if not isinstance(value, dict):
            self.wrong_type(key, "an object", value)
        return _Section(value, self.key_path(key), self.config_path)

    def require_section(self, key: str) -> _Section:
        found = self.section(key)
        assert found is not None  # section(required=True) raised otherwise
        return found

    def optional_int(self, key: str, *, minimum: int = 1) -> int | None:
        value = self.raw(key)
        if value is _MISSING:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= _INT32_MAX:
            expected = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            if isinstance(value, int) and not isinstance(value, bool) and value > _INT32_MAX:
                expected = f"an integer <= {_INT32_MAX}"
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
        if value is _MISSING:
            if default is None:
                self.missing(key)
            return default
        if not isinstance(value, bool):
            self.wrong_type(key, "true or false", value)
        return value

    def optional_str(self, key: str, *, choices: Iterable[str] | None = None) -> str | None:
        value = self.raw(key)
        if value is _MISSING:
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


# --------------------------------------------------------------------------------------------------
# State shared by the layout readers


@dataclass
class _Reading:
    """The directory being read: its listing, the parsed config.json and the warnings found so far."""

    directory: Path
    config_path: Path
    entries: dict[str, os.DirEntry[str]]
    root: _Section
    sha256: str
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, directory: Path) -> _Reading:
        entries = _directory_entries(directory)
        config_path = directory / CONFIG_NAME
        if not _is_file(entries.get(CONFIG_NAME)):
            raise _missing_config_error(directory, entries)
        data, digest = _load_config(config_path)
        return cls(directory, config_path, entries, _Section(data, "", config_path), digest)

    @property
    def tokenizer_present(self) -> bool:
        return any(_is_file(self.entries.get(name)) for name in TOKENIZER_FILES)

    def warn(self, text: str) -> None:
        self.warnings.append(text)


@dataclass(frozen=True)
class _Parallelism:
    tp: int
    pp: int
    cp: int

    @property
    def world(self) -> int:
        return self.tp * self.pp * self.cp

    def describe(self) -> str:
        ranks = "rank" if self.world == 1 else "ranks"
        return f"tp×pp×cp = {self.tp}×{self.pp}×{self.cp} = {self.world} {ranks}"


def _check_declared_world_size(section: _Section, parallel: _Parallelism) -> None:
    """mapping.world_size (when written) must equal tp*pp*cp: the runtime asserts mpiSize == tp*pp."""
    declared = section.optional_int("world_size")
    if declared is not None and declared != parallel.world:
        raise EngineError(
            f"{section.config_path}: '{section.key_path('world_size')}' is {declared} but {parallel.describe()}",
            hint="The config.json is inconsistent (hand-edited?): rebuild the engine with the mapping you want.",
        )


def _rank_files(
    reading: _Reading, parallel: _Parallelism, name_of_rank: Callable[[int], str]
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
    present = {rank for rank in found_ranks if _is_file(reading.entries.get(name_of_rank(rank)))}
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
        RankFile(
            rank, reading.directory / name_of_rank(rank), _file_size(reading.entries[name_of_rank(rank)])
        )
        for rank in range(parallel.world)
    )


def _check_lengths(
    reading: _Reading, *, max_input_len: int, max_seq_len: int, max_position: int | None
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


def _note_ignored_mapping(spec: EngineSpec, *, tp_size: int | None, pp_size: int | None) -> EngineSpec:
    """An engine's own mapping wins over tp/pp arguments; say so when they disagree."""
    notes = [
        f"{label} {asked} ignored: the engine was built with {label} {built}"
        for label, asked, built in (("tp_size", tp_size, spec.tp_size), ("pp_size", pp_size, spec.pp_size))
        if asked is not None and asked != built
    ]
    if not notes:
        return spec
    return replace(spec, warnings=(*spec.warnings, *notes))


def _speculative_mode(
    section: _Section, reading: _Reading, *, architecture: str, max_draft_len: int
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


# --------------------------------------------------------------------------------------------------
# Legacy layout (v0.5-0.8 build.py)


_SMOOTHQUANT_ALGOS = {  # (per_channel, per_token) -> the QuantAlgo name of later releases
    (True, True): "W8A8_SQ_PER_CHANNEL_PER_TOKEN_PLUGIN",
    (True, False): "W8A8_SQ_PER_CHANNEL_PER_TENSOR_PLUGIN",
    (False, True): "W8A8_SQ_PER_TENSOR_PER_TOKEN_PLUGIN",
    (False, False): "W8A8_SQ_PER_TENSOR_PLUGIN",
}


def decode_quant_mode(quant_mode: int) -> tuple[str | None, str | None]:
    """The legacy `quant_mode` bitmask as (quant_algo, kv_cache_quant_algo) names of later releases.

    66 = INT8_WEIGHTS | INT8_KV_CACHE = ("W8A16", "INT8"). Per-group INT4 cannot tell AWQ from GPTQ; it is
    reported as AWQ (the same plugin serves both).
    """
    kv_algo = "INT8" if quant_mode & _INT8_KV_CACHE else "FP8" if quant_mode & _FP8_KV_CACHE else None
    return _weights_algo(quant_mode), kv_algo


def _weights_algo(quant_mode: int) -> str | None:
    activations = bool(quant_mode & _ACTIVATIONS)
    if quant_mode & _FP8_QDQ:
        return "FP8"
    if quant_mode & _INT4_WEIGHTS:
        if activations:
            return "W4A8_AWQ"
        return "W4A16_AWQ" if quant_mode & _PER_GROUP else "W4A16"
    if quant_mode & _INT8_WEIGHTS:
        if not activations:
            return "W8A16"
        return _SMOOTHQUANT_ALGOS[(bool(quant_mode & _PER_CHANNEL), bool(quant_mode & _PER_TOKEN))]
    return None


def infer_legacy_version(builder_config: Mapping[str, Any], plugin_config: Mapping[str, Any]) -> str:
    """Which release wrote a legacy file, from the keys it added or removed (corpus/SOURCES.md §C.1)."""
    if "strongly_typed" in builder_config or "context_fmha" in plugin_config:
        return "0.8"
    if "max_beam_width" not in builder_config:
        return "0.5"
    if "context_fmha_type" in plugin_config or "autopp_config" in builder_config:
        return "0.7"
    return "0.6"


def legacy_rank_file_name(name: str, precision: str, *, tp: int, pp: int, cp: int, rank: int) -> str:
    """`GptJsonConfig::engineFilename` for files without `version`: llama_float16_tp2_rank0.engine."""
    pp_part = f"_pp{pp}" if pp > 1 else ""
    cp_part = f"_cp{cp}" if cp > 1 else ""
    return f"{name}_{precision}_tp{tp}{pp_part}{cp_part}_rank{rank}.engine"


def _read_legacy(reading: _Reading) -> EngineSpec:
    root = reading.root
    builder = root.require_section("builder_config")
    plugins = root.require_section("plugin_config")
    name = builder.get_str("name")
    if not name.isprintable() or "/" in name or not name.strip():
        builder.wrong_type("name", "a model family name such as 'llama'", name)
    dtype = builder.get_str("precision", choices=ENGINE_DTYPES)
    parallel = _Parallelism(
        tp=builder.get_int("tensor_parallel"),
        pp=builder.get_int("pipeline_parallel", default=1),
        cp=builder.get_int("context_parallel", default=1),
    )
    num_heads = builder.get_int("num_heads")
    hidden_size = builder.get_int("hidden_size")
    max_input_len = builder.get_int("max_input_len", why=_LIMIT_WHY)
    max_seq_len = max_input_len + builder.get_int("max_output_len", why=_LIMIT_WHY)
    max_position = builder.optional_int("max_position_embeddings")
    _check_lengths(reading, max_input_len=max_input_len, max_seq_len=max_seq_len, max_position=max_position)
    gather_all = builder.get_bool("gather_all_token_logits", default=False)
    quant_algo, kv_quant_algo = _legacy_quantization(builder, reading)
    max_draft_len = builder.get_int("max_draft_len", default=0, minimum=0)
    lora_enabled = plugins.plugin_enabled("lora_plugin", required=False)
    return EngineSpec(
        path=reading.directory,
        layout=EngineLayout.LEGACY,
        trtllm_version=None,
        inferred_version=infer_legacy_version(builder.data, plugins.data),
        architecture=name,
        dtype=dtype,
        logits_dtype=builder.get_str("logits_dtype", default="float32", choices=LOGITS_DTYPES),
        vocab_size=builder.get_int("vocab_size"),
        num_layers=builder.get_int("num_layers"),
        num_heads=num_heads,
        num_kv_heads=builder.get_int("num_kv_heads", default=num_heads),
        head_size=builder.get_int("head_size", default=max(hidden_size // num_heads, 1)),
        hidden_size=hidden_size,
        tp_size=parallel.tp,
        pp_size=parallel.pp,
        cp_size=parallel.cp,
        max_batch_size=builder.get_int("max_batch_size", why=_LIMIT_WHY),
        max_input_len=max_input_len,
        max_seq_len=max_seq_len,
        max_num_tokens=builder.optional_int("max_num_tokens"),
        max_beam_width=builder.get_int("max_beam_width", default=1),
        paged_kv_cache=plugins.get_bool("paged_kv_cache"),
        remove_input_padding=plugins.get_bool("remove_input_padding"),
        gpt_attention_plugin=plugins.plugin_enabled("gpt_attention_plugin"),
        context_fmha=_legacy_context_fmha(plugins),
        paged_context_fmha=plugins.get_bool("use_paged_context_fmha", default=False),
        tokens_per_block=plugins.get_int("tokens_per_block"),
        gather_context_logits=builder.get_bool("gather_context_logits", default=gather_all),
        gather_generation_logits=builder.get_bool("gather_generation_logits", default=gather_all),
        lora_enabled=lora_enabled,
        max_lora_rank=builder.optional_int("max_lora_rank") if lora_enabled else None,
        speculative_decoding_mode=_speculative_mode(
            builder, reading, architecture=name, max_draft_len=max_draft_len
        ),
        max_draft_len=max_draft_len,
        quant_algo=quant_algo,
        kv_cache_quant_algo=kv_quant_algo,
        max_prompt_embedding_table_size=builder.get_int(
            "max_prompt_embedding_table_size", default=0, minimum=0
        ),
        gpus_per_node=DEFAULT_GPUS_PER_NODE,
        rank_files=_rank_files(
            reading,
            parallel,
            lambda rank: legacy_rank_file_name(
                name, dtype, tp=parallel.tp, pp=parallel.pp, cp=parallel.cp, rank=rank
            ),
        ),
        config_sha256=reading.sha256,
        tokenizer_present=reading.tokenizer_present,
        warnings=tuple(reading.warnings),
        max_position_embeddings=max_position,
    )


_LIMIT_WHY = (
    "tritongen sizes the Triton models from it (the runtime would read 0 and reject every request). "
    "Rebuild the engine: the build tools always write it."
)


def _legacy_context_fmha(plugins: _Section) -> bool:
    """0.8 writes `context_fmha` (bool); 0.5-0.7 write `context_fmha_type` (0 off, 1 on, 2 on with fp32 acc)."""
    if "context_fmha" in plugins.data:
        return plugins.get_bool("context_fmha", default=False)
    return plugins.get_int("context_fmha_type", default=0, minimum=0) > 0


def _legacy_quantization(builder: _Section, reading: _Reading) -> tuple[str | None, str | None]:
    quant_mode = builder.get_int("quant_mode", default=0, minimum=0)
    if quant_mode & ~_KNOWN_QUANT_BITS:
        reading.warn(f"quant_mode {quant_mode} has bits tritongen does not know; decoded only the known ones")
    return decode_quant_mode(quant_mode)


# --------------------------------------------------------------------------------------------------
# trtllm-build layouts (0.8-0.10 with max_output_len; 0.11+ and 1.x with max_seq_len)


def _parsed_version(reading: _Reading) -> tuple[str, Version | None]:
    """The `version` string and its release number (None when it is not a version number)."""
    text = reading.root.get_str("version")
    try:
        return text, Version.parse(text)
    except UsageError:
        reading.warn(
            f"version {_show(text)} is not a TensorRT-LLM version number; guessed from the keys instead"
        )
        return text, None


def _read_trtllm_build(reading: _Reading) -> EngineSpec:
    root = reading.root
    if "version" not in root.data:
        raise EngineError(
            f"{reading.config_path} has pretrained_config/build_config but no 'version'",
            hint="Without 'version' the runtime reads it as the legacy format and fails; rebuild the engine "
            "with trtllm-build (do not hand-edit config.json).",
        )
    version_text, version = _parsed_version(reading)
    pretrained = root.require_section("pretrained_config")
    build = root.require_section("build_config")
    plugins = build.require_section("plugin_config")
    mapping = pretrained.require_section("mapping")
    architecture = pretrained.get_str("architecture")
    parallel = _Parallelism(
        tp=mapping.get_int("tp_size"),
        pp=mapping.get_int("pp_size", default=1),
        cp=mapping.get_int("cp_size", default=1),
    )
    _check_declared_world_size(mapping, parallel)
    num_heads = pretrained.get_int("num_attention_heads")
    hidden_size = pretrained.get_int("hidden_size")
    quantization = pretrained.require_section("quantization")
    max_position = pretrained.optional_int("max_position_embeddings")
    layout, max_input_len, max_seq_len = _build_lengths(reading, build, version, max_position)
    max_num_tokens = build.optional_int("max_num_tokens")
    remove_input_padding = plugins.get_bool("remove_input_padding")
    if remove_input_padding and max_num_tokens is None:
        reading.warn("remove_input_padding is on but max_num_tokens is not set; newer runtimes refuse this")
    max_draft_len = build.get_int(
        "max_draft_len", default=pretrained.get_int("max_draft_len", default=0, minimum=0), minimum=0
    )
    lora_enabled = plugins.plugin_enabled("lora_plugin", required=False)
    return EngineSpec(
        path=reading.directory,
        layout=layout,
        trtllm_version=version_text,
        inferred_version=str(version) if version is not None else _guess_version(layout),
        architecture=architecture,
        dtype=pretrained.get_str("dtype", choices=ENGINE_DTYPES),
        logits_dtype=pretrained.get_str("logits_dtype", default="float32", choices=LOGITS_DTYPES),
        vocab_size=pretrained.get_int("vocab_size"),
        num_layers=pretrained.get_int("num_hidden_layers"),
        num_heads=num_heads,
        num_kv_heads=pretrained.get_int("num_key_value_heads", default=num_heads),
        head_size=pretrained.get_int("head_size", default=max(hidden_size // num_heads, 1)),
        hidden_size=hidden_size,
        tp_size=parallel.tp,
        pp_size=parallel.pp,
        cp_size=parallel.cp,
        max_batch_size=build.get_int("max_batch_size", why=_LIMIT_WHY),
        max_input_len=max_input_len,
        max_seq_len=max_seq_len,
        max_num_tokens=max_num_tokens,
        max_beam_width=build.get_int("max_beam_width", default=1),
        paged_kv_cache=_paged_kv_cache(reading, build, plugins, layout),
        remove_input_padding=remove_input_padding,
        gpt_attention_plugin=plugins.plugin_enabled("gpt_attention_plugin"),
        context_fmha=plugins.get_bool("context_fmha", default=False),
        paged_context_fmha=plugins.get_bool("use_paged_context_fmha", default=False),
        tokens_per_block=plugins.get_int("tokens_per_block"),
        gather_context_logits=build.get_bool("gather_context_logits", default=False),
        gather_generation_logits=build.get_bool("gather_generation_logits", default=False),
        lora_enabled=lora_enabled,
        max_lora_rank=_max_lora_rank(build, pretrained) if lora_enabled else None,
        speculative_decoding_mode=_speculative_mode(
            build, reading, architecture=architecture, max_draft_len=max_draft_len
        ),
        max_draft_len=max_draft_len,
        quant_algo=quantization.optional_str("quant_algo"),
        kv_cache_quant_algo=quantization.optional_str("kv_cache_quant_algo"),
        max_prompt_embedding_table_size=build.get_int(
            "max_prompt_embedding_table_size", default=0, minimum=0
        ),
        gpus_per_node=mapping.get_int("gpus_per_node", default=DEFAULT_GPUS_PER_NODE),
        rank_files=_rank_files(reading, parallel, lambda rank: f"rank{rank}.engine"),
        config_sha256=reading.sha256,
        tokenizer_present=reading.tokenizer_present,
        warnings=tuple(reading.warnings),
        max_position_embeddings=max_position,
    )


_SEQ_LEN_SINCE = Version(0, 11)


def _build_lengths(
    reading: _Reading, build: _Section, version: Version | None, max_position: int | None
) -> tuple[EngineLayout, int, int]:
    """The layout and (max_input_len, max_seq_len): max_seq_len from 0.11, else input + output."""
    max_input_len = build.get_int("max_input_len", why=_LIMIT_WHY)
    has_seq = build.raw("max_seq_len") is not _MISSING
    has_output = build.raw("max_output_len") is not _MISSING
    seq_layout = has_seq or (not has_output and version is not None and version >= _SEQ_LEN_SINCE)
    if seq_layout:
        max_seq_len = build.optional_int("max_seq_len")
        if max_seq_len is None:
            if max_position is None:
                build.missing("max_seq_len", _LIMIT_WHY)
            max_seq_len = max_position
            reading.warn(f"build_config.max_seq_len is missing; using max_position_embeddings {max_position}")
        layout = EngineLayout.TRTLLM_BUILD_SEQ
    else:
        max_seq_len = max_input_len + build.get_int("max_output_len", why=_LIMIT_WHY)
        layout = EngineLayout.TRTLLM_BUILD
    _check_lengths(reading, max_input_len=max_input_len, max_seq_len=max_seq_len, max_position=max_position)
    return layout, max_input_len, max_seq_len


def _guess_version(layout: EngineLayout) -> str:
    return "0.11" if layout is EngineLayout.TRTLLM_BUILD_SEQ else "0.8"


_KV_CACHE_TYPES = ("paged", "continuous", "disabled")


def _paged_kv_cache(reading: _Reading, build: _Section, plugins: _Section, layout: EngineLayout) -> bool:
    """build_config.kv_cache_type wins (0.11+); plugin_config.paged_kv_cache is the older switch."""
    plugin_paged = plugins.get_bool("paged_kv_cache")
    kv_cache_type = build.optional_str("kv_cache_type")
    if kv_cache_type is None:
        if layout is EngineLayout.TRTLLM_BUILD_SEQ:
            reading.warn(
                "build_config.kv_cache_type is missing (the runtime logs an error); "
                "using plugin_config.paged_kv_cache"
            )
        return plugin_paged
    if kv_cache_type.lower() not in _KV_CACHE_TYPES:
        build.wrong_type("kv_cache_type", "PAGED, CONTINUOUS or DISABLED", kv_cache_type)
    paged = kv_cache_type.lower() == "paged"
    if paged != plugin_paged:
        reading.warn(
            f"kv_cache_type {kv_cache_type} disagrees with plugin_config.paged_kv_cache {str(plugin_paged).lower()};"
            " the runtime follows kv_cache_type"
        )
    return paged


def _max_lora_rank(build: _Section, pretrained: _Section) -> int | None:
    lora_config = build.section("lora_config", required=False)
    if lora_config is not None and (rank := lora_config.optional_int("max_lora_rank")) is not None:
        return rank
    return pretrained.optional_int("max_lora_rank")


# --------------------------------------------------------------------------------------------------
# Hugging Face checkpoints (served by tritongen's torch runtime)


def _parallel_arg(name: str, value: int | None) -> int:
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(
            f"{name} must be a positive integer, not {value!r}",
            hint=f"Pass --{name.replace('_', '-')} 1, 2, 4...",
        )
    return value


def _read_hf_checkpoint(reading: _Reading, *, tp_size: int, pp_size: int) -> EngineSpec:
    root = reading.root
    architectures = root.data["architectures"]
    if not isinstance(architectures, list) or not architectures or not isinstance(architectures[0], str):
        root.wrong_type("architectures", 'a list of class names such as ["LlamaForCausalLM"]', architectures)
    text = root
    if "num_attention_heads" not in root.data and isinstance(root.data.get("text_config"), dict):
        text = root.require_section("text_config")  # multimodal checkpoints nest the language model
    num_heads = _hf_int(text, "num_attention_heads", "n_head", "num_heads")
    num_kv_heads = _hf_int(text, "num_key_value_heads", default=num_heads)
    hidden_size = _hf_int(text, "hidden_size", "n_embd", "d_model")
    num_layers = _hf_int(text, "num_hidden_layers", "n_layer", "num_layers")
    _check_checkpoint_split(reading, num_heads, num_kv_heads, num_layers, tp_size=tp_size, pp_size=pp_size)
    max_position = _hf_optional_int(
        text, "max_position_embeddings", "n_positions", "max_sequence_length", minimum=2
    )
    if max_position is None:
        reading.warn(f"the checkpoint does not say its context length; assuming {_HF_MAX_SEQ_LEN}")
    max_seq_len = min(max_position or _HF_MAX_SEQ_LEN, _HF_MAX_SEQ_LEN)
    parallel = _Parallelism(tp=tp_size, pp=pp_size, cp=1)
    return EngineSpec(
        path=reading.directory,
        layout=EngineLayout.HF_CHECKPOINT,
        trtllm_version=None,
        inferred_version="",  # no TensorRT-LLM built it
        architecture=architectures[0],
        dtype=_hf_dtype(reading, root, text),
        logits_dtype="float32",
        vocab_size=_hf_int(text, "vocab_size"),
        num_layers=num_layers,
        num_heads=num_heads,
        num_kv_heads=num_kv_heads,
        head_size=_hf_int(text, "head_dim", default=max(hidden_size // num_heads, 1)),
        hidden_size=hidden_size,
        tp_size=parallel.tp,
        pp_size=parallel.pp,
        cp_size=parallel.cp,
        max_batch_size=_HF_MAX_BATCH_SIZE,
        max_input_len=max_seq_len - 1,
        max_seq_len=max_seq_len,
        max_num_tokens=None,
        max_beam_width=1,
        paged_kv_cache=True,
        remove_input_padding=True,
        gpt_attention_plugin=True,
        context_fmha=False,
        paged_context_fmha=False,
        tokens_per_block=None,
        gather_context_logits=False,
        gather_generation_logits=False,
        lora_enabled=False,
        max_lora_rank=None,
        speculative_decoding_mode=None,
        max_draft_len=0,
        quant_algo=_hf_quant_method(root),
        kv_cache_quant_algo=None,
        max_prompt_embedding_table_size=0,
        gpus_per_node=DEFAULT_GPUS_PER_NODE,
        rank_files=_weight_shards(reading),
        config_sha256=reading.sha256,
        tokenizer_present=reading.tokenizer_present,
        warnings=tuple(reading.warnings),
        max_position_embeddings=max_position,
    )


def _hf_optional_int(section: _Section, *keys: str, minimum: int = 1) -> int | None:
    """The first of several alias keys (GPT-2 style n_head, n_layer, ...) that is present."""
    for key in keys:
        value = section.optional_int(key, minimum=minimum)
        if value is not None:
            return value
    return None


def _hf_int(section: _Section, *keys: str, default: int | None = None) -> int:
    value = _hf_optional_int(section, *keys)
    if value is not None:
        return value
    if default is None:
        section.missing(
            keys[0], "A Hugging Face config.json of a causal language model has it; check the checkpoint."
        )
    return default


def _check_checkpoint_split(
    reading: _Reading, num_heads: int, num_kv_heads: int, num_layers: int, *, tp_size: int, pp_size: int
) -> None:
    """Tensor parallelism splits the heads; pipeline parallelism splits the layers."""
    for count, what in ((num_heads, "attention heads"), (num_kv_heads, "KV heads")):
        if count % tp_size:
            choices = [tp for tp in range(1, num_heads + 1) if num_heads % tp == 0 and num_kv_heads % tp == 0]
            raise EngineError(
                f"{reading.directory}: {count} {what} are not divisible by tp_size {tp_size}",
                hint=f"Choose a tp size that divides both {num_heads} attention heads and {num_kv_heads} KV heads: "
                + ", ".join(map(str, choices[:8]))
                + ".",
            )
    if pp_size > num_layers:
        raise EngineError(
            f"{reading.directory}: pp_size {pp_size} is larger than the {num_layers} layers of the model",
            hint=f"Choose a pp size of at most {num_layers}.",
        )


_DTYPE_ALIASES = {
    "float16": "float16",
    "half": "float16",
    "fp16": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float32": "float32",
    "float": "float32",
    "fp32": "float32",
}


def _hf_dtype(reading: _Reading, root: _Section, text: _Section) -> str:
    """torch_dtype (transformers 4) or dtype (transformers 5); float32 when absent."""
    for section in (root, text):
        for key in ("dtype", "torch_dtype"):
            value = section.data.get(key)
            if value is None:
                continue
            name = value.removeprefix("torch.") if isinstance(value, str) else None
            if name in _DTYPE_ALIASES:
                return _DTYPE_ALIASES[name]
            reading.warn(
                f"{section.key_path(key)} {_show(value)} is not float16/bfloat16/float32; using float32"
            )
            return "float32"
    return "float32"


def _hf_quant_method(root: _Section) -> str | None:
    quantization = root.data.get("quantization_config")
    if isinstance(quantization, dict) and isinstance(quantization.get("quant_method"), str):
        return str(quantization["quant_method"])
    return None


_BIN_WEIGHTS_RE = re.compile(r"^pytorch_model.*\.bin$")
_SAFETENSORS_INDEX = "model.safetensors.index.json"


def _weight_shards(reading: _Reading) -> tuple[RankFile, ...]:
    """The weight files. Shards are not per rank (every rank of the torch runtime reads them all), so each
    is a RankFile with rank 0, in name order."""
    names = sorted(
        name for name, entry in reading.entries.items() if name.endswith(".safetensors") and _is_file(entry)
    )
    if names:
        _check_safetensors_index(reading, set(names))
    else:
        names = sorted(
            name for name, entry in reading.entries.items() if _BIN_WEIGHTS_RE.match(name) and _is_file(entry)
        )
    if not names:
        raise EngineError(
            f"{reading.directory} has a Hugging Face config.json but no weights (*.safetensors or pytorch_model*.bin)",
            hint="Download the whole checkpoint (weights included), or pass the engine directory instead.",
        )
    return tuple(RankFile(0, reading.directory / name, _file_size(reading.entries[name])) for name in names)


def _check_safetensors_index(reading: _Reading, present: set[str]) -> None:
    """A sharded checkpoint lists its shards in the index; every one must be there."""
    if not _is_file(reading.entries.get(_SAFETENSORS_INDEX)):
        return
    index_path = reading.directory / _SAFETENSORS_INDEX
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise EngineError(
            f"{index_path} cannot be read: {exc}", hint="Download the checkpoint again."
        ) from exc
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict):
        raise EngineError(f"{index_path} has no weight_map object", hint="Download the checkpoint again.")
    missing = sorted({str(shard) for shard in weight_map.values()} - present)
    if missing:
        listed = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise EngineError(
            f"{reading.directory} is missing {len(missing)} weight shard(s) listed in {_SAFETENSORS_INDEX}: {listed}",
            hint="Download the whole checkpoint (every shard).",
        )
