"""Hugging Face checkpoints (`architectures` + safetensors or `pytorch_model*.bin` weights), served by
tritongen's torch runtime: the model's shape from config.json, the split from `--tp`/`--pp`.
"""

from __future__ import annotations

import json
import re

from tritongen.engine._json import Section, show
from tritongen.engine._reading import DEFAULT_GPUS_PER_NODE, Parallelism, Reading, file_size, is_file_entry
from tritongen.engine.spec import EngineLayout, EngineSpec, RankFile
from tritongen.errors import EngineError, UsageError

_HF_MAX_SEQ_LEN = 4096  # cap for checkpoints, whose max_position_embeddings can be 128k
_HF_MAX_BATCH_SIZE = 16


def parallel_arg(name: str, value: int | None) -> int:
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(
            f"{name} must be a positive integer, not {value!r}",
            hint=f"Pass --{name.replace('_', '-')} 1, 2, 4...",
        )
    return value


def read_hf_checkpoint(reading: Reading, *, tp_size: int, pp_size: int) -> EngineSpec:
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
    parallel = Parallelism(tp=tp_size, pp=pp_size, cp=1)
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


def _hf_optional_int(section: Section, *keys: str, minimum: int = 1) -> int | None:
    """The first of several alias keys (GPT-2 style n_head, n_layer, ...) that is present."""
    for key in keys:
        value = section.optional_int(key, minimum=minimum)
        if value is not None:
            return value
    return None


def _hf_int(section: Section, *keys: str, default: int | None = None) -> int:
    value = _hf_optional_int(section, *keys)
    if value is not None:
        return value
    if default is None:
        section.missing(
            keys[0], "A Hugging Face config.json of a causal language model has it; check the checkpoint."
        )
    return default


def _check_checkpoint_split(
    reading: Reading, num_heads: int, num_kv_heads: int, num_layers: int, *, tp_size: int, pp_size: int
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


def _hf_dtype(reading: Reading, root: Section, text: Section) -> str:
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
                f"{section.key_path(key)} {show(value)} is not float16/bfloat16/float32; using float32"
            )
            return "float32"
    return "float32"


def _hf_quant_method(root: Section) -> str | None:
    quantization = root.data.get("quantization_config")
    if isinstance(quantization, dict) and isinstance(quantization.get("quant_method"), str):
        return str(quantization["quant_method"])
    return None


_BIN_WEIGHTS_RE = re.compile(r"^pytorch_model.*\.bin$")
_SAFETENSORS_INDEX = "model.safetensors.index.json"


def _weight_shards(reading: Reading) -> tuple[RankFile, ...]:
    """The weight files. Shards are not per rank (every rank of the torch runtime reads them all), so each
    is a RankFile with rank 0, in name order."""
    names = sorted(
        name
        for name, entry in reading.entries.items()
        if name.endswith(".safetensors") and is_file_entry(entry)
    )
    if names:
        _check_safetensors_index(reading, set(names))
    else:
        names = sorted(
            name
            for name, entry in reading.entries.items()
            if _BIN_WEIGHTS_RE.match(name) and is_file_entry(entry)
        )
    if not names:
        raise EngineError(
            f"{reading.directory} has a Hugging Face config.json but no weights (*.safetensors or pytorch_model*.bin)",
            hint="Download the whole checkpoint (weights included), or pass the engine directory instead.",
        )
    return tuple(RankFile(0, reading.directory / name, file_size(reading.entries[name])) for name in names)


def _check_safetensors_index(reading: Reading, present: set[str]) -> None:
    """A sharded checkpoint lists its shards in the index; every one must be there."""
    if not is_file_entry(reading.entries.get(_SAFETENSORS_INDEX)):
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
