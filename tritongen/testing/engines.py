"""Engine directories, synthetic engine configs, a tiny real tokenizer and a tiny HF checkpoint for tests.

Test modules and scripts import these names; keep them stable.
Everything is built offline:
- the corpus engines (`CORPUS / "engines"`, vendored under tests/corpus) with small stand-in rank files;
- synthetic `config.json` in the three layouts TensorRT-LLM has written, with keyword overrides, for
  parametrized tests (pp > 1, cp, LoRA, logits, speculative decoding... that no public file covers);
- a BPE tokenizer trained with `tokenizers` on a few hundred words, loadable by `AutoTokenizer`;
- a random-weight LlamaForCausalLM saved with safetensors (transformers/torch imported only when used).
The rank-file names are written here independently of `tritongen.engine`, so tests compare two readings
of the reference (§5.1) instead of one function with itself.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

from tritongen.testing.paths import CORPUS, FIXTURES_DIR

CORPUS_DIR: Path = CORPUS  # the name the tests have always used
CORPUS_ENGINES: list[str] = [
    "llama2-7b-tp4-v0.5",
    "llama2-70b-tp2-int8wo-int8kv-v0.5",
    "llama2-70b-tp4-fp16-v0.5",
    "tabnine-starfish-gpt-beam2-v0.7",
    "tabnine-starfish-gpt-genlogits-v0.7",
    "tabnine-starfish-gpt-beam2-v0.8dev",
    "tabnine-starfish-gpt-genlogits-v0.8dev",
    "starchat-15b-gpt-mqa-v0.8dev",
    "mistral-7b-bf16-tp1-v0.8dev",
    "mistral-7b-fp16-tp1-b64-v0.8dev",
    "llama2-7b-fp16-tp1-a6000-v0.13.0",
    "vicuna-7b-medusa-tp1-v0.13dev",
    "qwen2.5-0.5b-sparktts-bf16-tp1-v0.17.0.post1",
    "smollm-135m-llama-beam5-v1.2.0rc6",
    "smollm-135m-llama-fp16-beam5-v1.2.0rc6",
]
SYNTHETIC_DIR: Path = FIXTURES_DIR / "engines"

SPECULATIVE_MODE_FLAGS = {
    None: 1,
    "draft_tokens_external": 2,
    "medusa": 4,
    "lookahead": 8,
    "explicit_draft_tokens": 16,
    "eagle": 32,
}


# --------------------------------------------------------------------------------------------------
# Engine directories


def rank_file_names(config: dict[str, Any]) -> list[str]:
    """The engine file name of every rank, per GptJsonConfig::engineFilename (reference §5.1)."""
    if "version" in config or "pretrained_config" in config:
        mapping = config["pretrained_config"]["mapping"]
        world = mapping["tp_size"] * mapping.get("pp_size", 1) * mapping.get("cp_size", 1)
        return [f"rank{rank}.engine" for rank in range(world)]
    builder = config["builder_config"]
    tp, pp, cp = (
        builder["tensor_parallel"],
        builder.get("pipeline_parallel", 1),
        builder.get("context_parallel", 1),
    )
    prefix = f"{builder['name']}_{builder['precision']}_tp{tp}"
    prefix += f"_pp{pp}" if pp > 1 else ""
    prefix += f"_cp{cp}" if cp > 1 else ""
    return [f"{prefix}_rank{rank}.engine" for rank in range(tp * pp * cp)]


def write_rank_files(directory: Path, names: list[str]) -> None:
    """Small stand-in engine files (a few bytes each, distinct sizes)."""
    for rank, name in enumerate(names):
        (directory / name).write_bytes(b"stand-in TensorRT engine " + b"x" * rank)


def make_engine_dir(
    dest: Path, config: dict[str, Any], *, rank_files: bool = True, name: str = "engine"
) -> Path:
    """`dest/name/` with config.json (and stand-in rank files unless rank_files is False)."""
    directory = dest / name
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config, indent=4), encoding="utf-8")
    if rank_files:
        write_rank_files(directory, rank_file_names(config))
    return directory


def corpus_config(name: str) -> dict[str, Any]:
    """The parsed config.json of one corpus engine."""
    result: dict[str, Any] = json.loads(
        (CORPUS_DIR / "engines" / name / "config.json").read_text(encoding="utf-8")
    )
    return result


def corpus_engine_dir(name: str, dest: Path) -> Path:
    """`dest/name/` holding the corpus config.json, byte for byte, and stand-in rank files."""
    directory = dest / name
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(CORPUS_DIR / "engines" / name / "config.json", directory / "config.json")
    write_rank_files(directory, rank_file_names(corpus_config(name)))
    return directory


def set_key(config: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A deep copy of `config` with `a.b.c` set (parents created)."""
    result = copy.deepcopy(config)
    *parents, last = dotted.split(".")
    node = result
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return result


def delete_key(config: dict[str, Any], dotted: str) -> dict[str, Any]:
    """A deep copy of `config` without `a.b.c`."""
    result = copy.deepcopy(config)
    *parents, last = dotted.split(".")
    node = result
    for part in parents:
        node = node[part]
    del node[last]
    return result


# --------------------------------------------------------------------------------------------------
# Synthetic configs


def _plugin(enabled: bool, dtype: str, off: bool | None) -> str | bool | None:
    return dtype if enabled else off


def legacy_config(
    *,
    flavor: str = "0.7",
    name: str = "llama",
    tp: int = 1,
    pp: int = 1,
    max_batch_size: int = 8,
    max_beam_width: int = 1,
    max_input_len: int = 256,
    max_output_len: int = 128,
    max_num_tokens: int | None = None,
    paged_kv_cache: bool = True,
    remove_input_padding: bool = True,
    gpt_attention_plugin: bool = True,
    context_fmha: bool = True,
    paged_context_fmha: bool = False,
    tokens_per_block: int = 64,
    lora: bool | int = False,
    gather_context_logits: bool = False,
    gather_generation_logits: bool = False,
    dtype: str = "float16",
    logits_dtype: str | None = None,
    num_heads: int = 8,
    num_kv_heads: int | None = None,
    num_layers: int = 4,
    hidden_size: int = 512,
    vocab_size: int = 32000,
    max_position_embeddings: int = 4096,
    quant_mode: int = 0,
    speculative: str | None = None,
    max_draft_len: int | None = None,
    max_prompt_embedding_table_size: int = 0,
) -> dict[str, Any]:
    """A legacy `build.py` config.json. flavor "0.5" (no max_beam_width, context_fmha_type), "0.7"
    (context_fmha_type, disabled plugins false) or "0.8" (context_fmha bool, strongly_typed, null)."""
    if flavor not in ("0.5", "0.7", "0.8"):
        raise ValueError(f"flavor must be 0.5, 0.7 or 0.8, not {flavor}")
    if speculative not in (None, "draft_tokens_external"):
        raise ValueError("legacy engines only know external draft tokens")
    off: bool | None = None if flavor == "0.8" else False
    draft = max_draft_len if max_draft_len is not None else (4 if speculative else 0)
    builder: dict[str, Any] = {
        "hidden_act": "silu",
        "hidden_size": hidden_size,
        "int8": quant_mode != 0,
        "max_batch_size": max_batch_size,
        "max_input_len": max_input_len,
        "max_num_tokens": max_num_tokens,
        "max_output_len": max_output_len,
        "max_position_embeddings": max_position_embeddings,
        "name": name,
        "num_heads": num_heads,
        "num_kv_heads": num_heads if num_kv_heads is None else num_kv_heads,
        "num_layers": num_layers,
        "parallel_build": False,
        "pipeline_parallel": pp,
        "precision": dtype,
        "quant_mode": quant_mode,
        "tensor_parallel": tp,
        "use_refit": False,
        "vocab_size": vocab_size,
    }
    plugins: dict[str, Any] = {
        "bert_attention_plugin": off,
        "gemm_plugin": dtype,
        "gpt_attention_plugin": _plugin(gpt_attention_plugin, dtype, off),
        "identity_plugin": off,
        "lookup_plugin": off,
        "nccl_plugin": dtype if tp * pp > 1 else off,
        "paged_kv_cache": paged_kv_cache,
        "remove_input_padding": remove_input_padding,
        "tokens_per_block": tokens_per_block,
        "use_custom_all_reduce": False,
    }
    if flavor == "0.5":
        if max_beam_width != 1 or lora or gather_context_logits or gather_generation_logits or draft:
            raise ValueError("v0.5 legacy files cannot express beam > 1, LoRA, gathered logits or drafts")
        builder["fp8"] = False
        plugins["context_fmha_type"] = 1 if context_fmha else 0
    else:
        builder.update(
            {
                "gather_context_logits": gather_context_logits,
                "gather_generation_logits": gather_generation_logits,
                "lora_target_modules": ["attn_q", "attn_k", "attn_v"] if lora else None,
                "max_beam_width": max_beam_width,
                "max_draft_len": draft,
                "max_prompt_embedding_table_size": max_prompt_embedding_table_size,
                "use_parallel_embedding": False,
            }
        )
        if lora:
            builder["max_lora_rank"] = 8 if lora is True else int(lora)
        plugins.update(
            {
                "lora_plugin": _plugin(bool(lora), dtype, off),
                "use_context_fmha_for_generation": False,
                "use_paged_context_fmha": paged_context_fmha,
                "enable_xqa": False,
                "multi_block_mode": False,
            }
        )
        if flavor == "0.7":
            builder["autopp_config"] = None
            plugins["context_fmha_type"] = 1 if context_fmha else 0
            plugins["layernorm_plugin"] = off
        else:
            builder["strongly_typed"] = False
            plugins["context_fmha"] = context_fmha
            plugins["context_fmha_fp32_acc"] = False
    if logits_dtype is not None:
        builder["logits_dtype"] = logits_dtype
    return {"builder_config": builder, "plugin_config": plugins}


def _pretrained_config(
    *,
    architecture: str,
    dtype: str,
    logits_dtype: str,
    num_heads: int,
    num_kv_heads: int | None,
    num_layers: int,
    hidden_size: int,
    vocab_size: int,
    max_position_embeddings: int,
    mapping: dict[str, Any],
    quant_algo: str | None,
    kv_cache_quant_algo: str | None,
) -> dict[str, Any]:
    return {
        "architecture": architecture,
        "dtype": dtype,
        "logits_dtype": logits_dtype,
        "vocab_size": vocab_size,
        "max_position_embeddings": max_position_embeddings,
        "hidden_size": hidden_size,
        "num_hidden_layers": num_layers,
        "num_attention_heads": num_heads,
        "num_key_value_heads": num_heads if num_kv_heads is None else num_kv_heads,
        "head_size": hidden_size // num_heads,
        "hidden_act": "silu",
        "intermediate_size": hidden_size * 2,
        "norm_epsilon": 1e-05,
        "position_embedding_type": "rope_gpt_neox",
        "mapping": mapping,
        "quantization": {
            "quant_algo": quant_algo,
            "kv_cache_quant_algo": kv_cache_quant_algo,
            "group_size": 128,
            "has_zero_point": False,
            "pre_quant_scale": False,
            "exclude_modules": None,
        },
    }


def _plugin_config(
    *,
    dtype: str,
    off: None,
    gpt_attention_plugin: bool,
    paged_kv_cache: bool,
    remove_input_padding: bool,
    context_fmha: bool,
    paged_context_fmha: bool,
    tokens_per_block: int,
    lora: bool | int,
) -> dict[str, Any]:
    return {
        "bert_attention_plugin": dtype,
        "gpt_attention_plugin": _plugin(gpt_attention_plugin, dtype, off),
        "gemm_plugin": dtype,
        "nccl_plugin": None,
        "lookup_plugin": None,
        "lora_plugin": _plugin(bool(lora), dtype, off),
        "context_fmha": context_fmha,
        "context_fmha_fp32_acc": False,
        "paged_kv_cache": paged_kv_cache,
        "remove_input_padding": remove_input_padding,
        "use_custom_all_reduce": True,
        "multi_block_mode": False,
        "enable_xqa": True,
        "tokens_per_block": tokens_per_block,
        "use_paged_context_fmha": paged_context_fmha,
        "use_context_fmha_for_generation": False,
    }


def trtllm_build_config(
    *,
    version: str = "0.8.0",
    architecture: str = "LlamaForCausalLM",
    tp: int = 1,
    pp: int = 1,
    max_batch_size: int = 8,
    max_beam_width: int = 1,
    max_input_len: int = 256,
    max_output_len: int = 128,
    max_num_tokens: int | None = 4096,
    paged_kv_cache: bool = True,
    remove_input_padding: bool = True,
    gpt_attention_plugin: bool = True,
    context_fmha: bool = True,
    paged_context_fmha: bool = False,
    tokens_per_block: int = 128,
    lora: bool | int = False,
    gather_context_logits: bool = False,
    gather_generation_logits: bool = False,
    dtype: str = "float16",
    logits_dtype: str = "float32",
    num_heads: int = 8,
    num_kv_heads: int | None = None,
    num_layers: int = 4,
    hidden_size: int = 512,
    vocab_size: int = 32000,
    max_position_embeddings: int = 4096,
    quant_algo: str | None = None,
    kv_cache_quant_algo: str | None = None,
    max_draft_len: int = 0,
    max_prompt_embedding_table_size: int = 0,
) -> dict[str, Any]:
    """A `trtllm-build` 0.8-0.10 config.json (build_config.max_output_len, no max_seq_len)."""
    pretrained = _pretrained_config(
        architecture=architecture,
        dtype=dtype,
        logits_dtype=logits_dtype,
        num_heads=num_heads,
        num_kv_heads=num_kv_heads,
        num_layers=num_layers,
        hidden_size=hidden_size,
        vocab_size=vocab_size,
        max_position_embeddings=max_position_embeddings,
        mapping={"world_size": tp * pp, "tp_size": tp, "pp_size": pp},
        quant_algo=quant_algo,
        kv_cache_quant_algo=kv_cache_quant_algo,
    )
    if lora:
        pretrained["max_lora_rank"] = 8 if lora is True else int(lora)
    build: dict[str, Any] = {
        "max_input_len": max_input_len,
        "max_output_len": max_output_len,
        "max_batch_size": max_batch_size,
        "max_beam_width": max_beam_width,
        "max_num_tokens": max_num_tokens,
        "max_prompt_embedding_table_size": max_prompt_embedding_table_size,
        "gather_context_logits": gather_context_logits,
        "gather_generation_logits": gather_generation_logits,
        "strongly_typed": False,
        "builder_opt": None,
        "profiling_verbosity": "layer_names_only",
        "plugin_config": _plugin_config(
            dtype=dtype,
            off=None,
            gpt_attention_plugin=gpt_attention_plugin,
            paged_kv_cache=paged_kv_cache,
            remove_input_padding=remove_input_padding,
            context_fmha=context_fmha,
            paged_context_fmha=paged_context_fmha,
            tokens_per_block=tokens_per_block,
            lora=lora,
        ),
    }
    if max_draft_len:
        build["max_draft_len"] = max_draft_len
    return {"version": version, "pretrained_config": pretrained, "build_config": build}


def modern_config(
    version: str = "0.19.0",
    *,
    architecture: str | None = None,
    tp: int = 1,
    pp: int = 1,
    cp: int = 1,
    gpus_per_node: int = 8,
    max_batch_size: int = 8,
    max_beam_width: int = 1,
    max_input_len: int = 256,
    max_seq_len: int = 384,
    max_num_tokens: int | None = 4096,
    kv_cache_type: str | None = None,
    paged_kv_cache: bool = True,
    remove_input_padding: bool = True,
    gpt_attention_plugin: bool = True,
    context_fmha: bool = True,
    paged_context_fmha: bool = True,
    tokens_per_block: int = 32,
    lora: bool | int = False,
    gather_context_logits: bool = False,
    gather_generation_logits: bool = False,
    dtype: str = "bfloat16",
    logits_dtype: str = "float32",
    num_heads: int = 8,
    num_kv_heads: int | None = None,
    num_layers: int = 4,
    hidden_size: int = 512,
    vocab_size: int = 32000,
    max_position_embeddings: int = 4096,
    quant_algo: str | None = None,
    kv_cache_quant_algo: str | None = None,
    speculative: str | None = None,
    max_draft_len: int | None = None,
    max_prompt_embedding_table_size: int = 0,
) -> dict[str, Any]:
    """A `trtllm-build` 0.11+/1.x config.json (build_config.max_seq_len, kv_cache_type, mapping.cp_size).

    kv_cache_type defaults to what the version writes: "PAGED"/"CONTINUOUS" before 1.0, lowercase after.
    `speculative` is a mode name ("medusa", "eagle", ...); `max_draft_len` then defaults to 4.
    """
    if speculative not in SPECULATIVE_MODE_FLAGS:
        raise ValueError(f"unknown speculative mode {speculative!r}")
    draft = max_draft_len if max_draft_len is not None else (4 if speculative else 0)
    if architecture is None:
        architecture = {"medusa": "MedusaForCausalLM", "eagle": "EagleForCausalLM"}.get(
            speculative or "", "LlamaForCausalLM"
        )
    if kv_cache_type is None:
        kv_cache_type = "PAGED" if paged_kv_cache else "CONTINUOUS"
        if not version.startswith("0."):
            kv_cache_type = kv_cache_type.lower()
    mapping: dict[str, Any] = {
        "world_size": tp * pp * cp,
        "gpus_per_node": gpus_per_node,
        "cp_size": cp,
        "tp_size": tp,
        "pp_size": pp,
        "moe_tp_size": tp,
        "moe_ep_size": 1,
    }
    if not version.startswith("0."):
        mapping.update(
            {"attn_tp_size": tp, "attn_cp_size": cp, "cp_config": {}, "enable_attention_dp": False}
        )
    pretrained = _pretrained_config(
        architecture=architecture,
        dtype=dtype,
        logits_dtype=logits_dtype,
        num_heads=num_heads,
        num_kv_heads=num_kv_heads,
        num_layers=num_layers,
        hidden_size=hidden_size,
        vocab_size=vocab_size,
        max_position_embeddings=max_position_embeddings,
        mapping=mapping,
        quant_algo=quant_algo,
        kv_cache_quant_algo=kv_cache_quant_algo,
    )
    if speculative == "medusa":
        pretrained.update({"num_medusa_heads": 4, "max_draft_len": draft})
    plugins = _plugin_config(
        dtype=dtype,
        off=None,
        gpt_attention_plugin=gpt_attention_plugin,
        paged_kv_cache=paged_kv_cache,
        remove_input_padding=remove_input_padding,
        context_fmha=context_fmha,
        paged_context_fmha=paged_context_fmha,
        tokens_per_block=tokens_per_block,
        lora=lora,
    )
    for removed in ("use_custom_all_reduce", "use_context_fmha_for_generation", "context_fmha_fp32_acc"):
        del plugins[removed]  # gone from plugin_config by 0.13 (corpus #11)
    plugins["gpt_attention_plugin"] = "auto" if gpt_attention_plugin else None
    build: dict[str, Any] = {
        "max_input_len": max_input_len,
        "max_seq_len": max_seq_len,
        "opt_batch_size": 8,
        "max_batch_size": max_batch_size,
        "max_beam_width": max_beam_width,
        "max_num_tokens": max_num_tokens,
        "opt_num_tokens": None,
        "max_prompt_embedding_table_size": max_prompt_embedding_table_size,
        "kv_cache_type": kv_cache_type,
        "gather_context_logits": gather_context_logits,
        "gather_generation_logits": gather_generation_logits,
        "strongly_typed": True,
        "profiling_verbosity": "layer_names_only",
        "max_draft_len": draft,
        "speculative_decoding_mode": SPECULATIVE_MODE_FLAGS[speculative],
        "use_refit": False,
        "lora_config": {
            "lora_dir": [],
            "lora_ckpt_source": "hf",
            "max_lora_rank": (8 if lora is True else int(lora)) if lora else 64,
            "lora_target_modules": ["attn_q", "attn_k", "attn_v"] if lora else [],
            "trtllm_modules_to_hf_modules": {},
        },
        "plugin_config": plugins,
        "use_strip_plan": False,
        "max_encoder_input_len": 1024,
        "use_mrope": False,
    }
    return {"version": version, "pretrained_config": pretrained, "build_config": build}


# --------------------------------------------------------------------------------------------------
# A small real tokenizer and a tiny Hugging Face checkpoint

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
_SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}
_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)
_TRAINING_TEXT = """
The quick brown fox jumps over the lazy dog. A tensor engine serves many requests at once, and every
request carries a prompt, a few sampling settings and a number of tokens to generate. Triton Inference
Server loads five models: preprocessing turns text into token ids, the tensorrt_llm model runs the
engine, postprocessing turns ids back into text, the ensemble wires them together, and the business
logic scripting model streams tokens as they come. Hello world, hello Triton, hello TensorRT. What is
machine learning? Machine learning is the study of programs that improve with data. Paris is the
capital of France; Berlin is the capital of Germany; Seoul is the capital of Korea. One two three four
five six seven eight nine ten. Monday Tuesday Wednesday Thursday Friday Saturday Sunday. January
February March April May June July August September October November December. Red orange yellow
green blue indigo violet black white. The weather today is sunny with a light breeze from the west.
Please write a short poem about the sea, the sky and the mountains. Once upon a time there was a small
robot who wanted to learn how to paint. It read books, it watched the sunset and it tried again and
again until the colours looked right. Numbers like 0 1 2 3 4 5 6 7 8 9 and 42 and 2024 appear in text.
Questions, answers, lists, code: def main(): print("hello") return 0. The end.
"""


def make_tokenizer_dir(dest: Path) -> Path:
    """A byte-level BPE tokenizer trained offline on a few hundred words, saved for AutoTokenizer.

    Writes tokenizer.json, tokenizer_config.json and special_tokens_map.json into `dest` (created) and
    returns `dest`. Specials: <s> (bos), </s> (eos), <unk>, <pad>. Encoding then decoding round-trips.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    dest.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator([_TRAINING_TEXT] * 3, trainer=trainer)
    tokenizer.save(str(dest / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **_SPECIAL_TOKENS,
        "model_max_length": 4096,
        "clean_up_tokenization_spaces": False,
        "add_bos_token": False,
        "add_eos_token": False,
        "chat_template": _CHAT_TEMPLATE,
    }
    (dest / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    (dest / "special_tokens_map.json").write_text(json.dumps(_SPECIAL_TOKENS, indent=2), encoding="utf-8")
    return dest


def make_hf_checkpoint(
    dest: Path,
    *,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    hidden_size: int = 64,
    num_layers: int = 2,
    vocab_size: int | None = None,
    tokenizer_from: Path | None = None,
    seed: int = 0,
    max_position_embeddings: int = 512,
) -> Path:
    """A tiny random-weight LlamaForCausalLM (config.json + model.safetensors + tokenizer) in `dest`.

    The tokenizer is copied from `tokenizer_from` or built with `make_tokenizer_dir`; the vocabulary
    size follows the tokenizer unless `vocab_size` is given (it must not be smaller). Returns `dest`.
    """
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    dest.mkdir(parents=True, exist_ok=True)
    if tokenizer_from is None:
        make_tokenizer_dir(dest)
    else:
        for name in (*_TOKENIZER_FILES, "tokenizer.model"):
            if (tokenizer_from / name).is_file():
                shutil.copyfile(tokenizer_from / name, dest / name)
    tokenizer = AutoTokenizer.from_pretrained(dest)
    vocab = len(tokenizer) if vocab_size is None else vocab_size
    if vocab < len(tokenizer):
        raise ValueError(f"vocab_size {vocab} is smaller than the tokenizer's {len(tokenizer)} tokens")
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        max_position_embeddings=max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(dest)
    return dest
