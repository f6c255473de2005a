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
are ignored. The package imports only the standard library, so `tritongen render` stays fast.

This module dispatches on the layout; `_legacy`, `_trtllm_build` and `_checkpoint` read one layout
each, on top of `_json` (typed sections) and `_reading` (what the layouts share).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tritongen.engine._checkpoint import parallel_arg, read_hf_checkpoint
from tritongen.engine._json import show
from tritongen.engine._legacy import read_legacy
from tritongen.engine._reading import Reading, engine_directory
from tritongen.engine._trtllm_build import read_trtllm_build
from tritongen.engine.spec import EngineSpec
from tritongen.errors import EngineError


def read_engine(path: Path, *, tp_size: int | None = None, pp_size: int | None = None) -> EngineSpec:
    """Describe the engine (or checkpoint) directory at `path`.

    `tp_size` and `pp_size` choose how tritongen's torch runtime splits a Hugging Face checkpoint
    (default 1). An engine was built for one mapping, so for engines they are ignored (a warning says so
    when they disagree with the engine).
    """
    directory = engine_directory(Path(path))
    reading = Reading.open(directory)
    root = reading.root
    if "version" in root.data or "pretrained_config" in root.data or "build_config" in root.data:
        spec = read_trtllm_build(reading)
    elif "builder_config" in root.data or "plugin_config" in root.data:
        spec = read_legacy(reading)
    elif "architectures" in root.data:
        return read_hf_checkpoint(
            reading, tp_size=parallel_arg("tp_size", tp_size), pp_size=parallel_arg("pp_size", pp_size)
        )
    elif "architecture" in root.data and "mapping" in root.data:
        raise EngineError(
            f"{reading.config_path} is a TensorRT-LLM checkpoint (convert_checkpoint.py output), not an engine",
            hint=f"Build an engine from it first: trtllm-build --checkpoint_dir {directory} --output_dir <engine_dir>,"
            " then pass <engine_dir>.",
        )
    else:
        keys = ", ".join(show(key) for key in sorted(root.data)[:5]) or "no keys"
        raise EngineError(
            f"{reading.config_path} is not an engine config.json TensorRT-LLM wrote (top-level keys: {keys})",
            hint="Pass the directory trtllm-build (or build.py) wrote, whose config.json has builder_config or "
            "pretrained_config + build_config, or a Hugging Face checkpoint with architectures and weights.",
        )
    return _note_ignored_mapping(spec, tp_size=tp_size, pp_size=pp_size)


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
