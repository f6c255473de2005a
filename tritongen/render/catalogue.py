"""Every `${placeholder}` of the five upstream models, for every backend version, in one typed table.

Transcribed from the placeholder timeline of the TensorRT-LLM backend (reference §1.1-1.7). Each
model's entries are listed in the order of its `parameters { }` block, header entries first, so the
renderer can generate that block from this table alone. The same name may appear twice for one model
with disjoint version ranges (a value the old template hard-codes, then a placeholder; or a parameter
that was removed and came back, like `enable_trt_overlap`).

Backend versions map onto three template generations (`generation_for`):

- [0.5, 0.8) -> "v0.5": the v0.5 tensor contract (UINT32 lengths, no BLS). 0.6 and 0.7 get their own
  parameters but the v0.5 tensors, whose UINT32 inputs became INT32 in those releases: render them
  with care (prefer an exact 0.5 or a 0.8+ backend).
- [0.8, 0.19) -> "v0.8": the v0.8 tensor contract with the exact parameters of the chosen version.
  0.9-0.18 therefore keep the v0.8 inputs and outputs: the newer optional ones (num_return_sequences,
  perf metrics, LoRA through the ensemble, ...) are not exposed, but every v0.8 tensor still exists.
- >= 0.19 -> "latest": v0.19 through 1.2. Inside it, the tensor names that changed after 1.0
  (min_length/random_seed -> min_tokens/seed, the token-count outputs, IMAGES) follow `tensor_features`.

v0.5 has no `tensorrt_llm_bls` model (it first appears in v0.7.0), so that generation renders four models.
"""

from __future__ import annotations

from tritongen.errors import UsageError
from tritongen.render.catalogue_types import MODELS, Param, ParamType, Source, Value
from tritongen.versions import Version, v

OLDEST_SUPPORTED = v("0.5")
NEWEST_KNOWN = v("1.2")  # the newest backend whose templates this table was transcribed from
CHECKPOINT_BACKEND = v("1.2")  # Hugging Face checkpoints are served by tritongen's torch runtime
AFTER_1_0 = v("1.1")  # first release line after 1.0: min_tokens/seed, token counts, IMAGES

GENERATIONS: tuple[str, ...] = ("v0.5", "v0.8", "latest")
GENERATION_MODELS: dict[str, tuple[str, ...]] = {
    "v0.5": MODELS[:4],  # no tensorrt_llm_bls before v0.7, and its v0.7 layout is not the v0.8 one
    "v0.8": MODELS,
    "latest": MODELS,
}
TRITON_DATATYPES: tuple[str, ...] = ("TYPE_FP32", "TYPE_FP16", "TYPE_BF16")
DTYPE_TO_TRITON: dict[str, str] = {"float32": "TYPE_FP32", "float16": "TYPE_FP16", "bfloat16": "TYPE_BF16"}

_I, _F, _B, _S, _T, _C = (
    ParamType.INT,
    ParamType.FLOAT,
    ParamType.BOOL,
    ParamType.STR,
    ParamType.DATATYPE,
    ParamType.CSV,
)
_ENGINE, _DERIVED = Source.ENGINE, Source.DERIVED
# gpt_model_type: anything else throws "Invalid gpt_model_type"; an empty value too.
BATCHING_STRATEGIES: tuple[str, ...] = ("V1", "v1", "inflight_batching", "inflight_fused_batching")
_SHARE = (0.0, 1.0)  # a share of memory: more than nothing, at most all of it
EXECUTOR_WORKER = "/opt/tritonserver/backends/tensorrtllm/trtllmExecutorWorker"
V09_WORKER = "/opt/tritonserver/backends/tensorrtllm/triton_tensorrtllm_worker"


def generation_for(version: Version) -> str:
    """The template generation that renders `version` (see the module docstring)."""
    if version < OLDEST_SUPPORTED:
        raise UsageError(
            f"backend version {version} is older than the oldest supported ({OLDEST_SUPPORTED})",
            hint="tritongen renders TensorRT-LLM backend 0.5 and later; pass --backend-version 0.5 or newer.",
        )
    if version < v("0.8"):
        return "v0.5"
    if version < v("0.19"):
        return "v0.8"
    return "latest"


def tensor_features(version: Version) -> dict[str, Value]:
    """Tensor-level differences inside one generation (only `latest` has any)."""
    after_1_0 = version >= AFTER_1_0
    return {
        "min_tokens": "min_tokens" if after_1_0 else "min_length",
        "seed": "seed" if after_1_0 else "random_seed",
        "token_counts": after_1_0,  # return_num_*_tokens inputs and num_*_tokens outputs
        "images_input": after_1_0,  # preprocessing IMAGES
        "image_sizes_dims": "-1, 2" if after_1_0 else "2",
    }


def _p(
    model: str,
    name: str,
    type_: ParamType,
    default: Value,
    since: str,
    until: str | None = None,
    *,
    doc: str,
    source: Source = Source.DEFAULT,
    key: str | None = None,
    header: bool = False,
    choices: tuple[str, ...] | None = None,
    runtime: str = "any",
    placeholder: bool = True,
    backend_default: str | None = None,
    required: bool = False,
    bounds: tuple[float, float] | None = None,
) -> Param:
    return Param(
        name=name,
        model=model,
        type=type_,
        default=default,
        since=v(since),
        until=v(until) if until else None,
        source=source,
        doc=doc,
        key=key,
        header=header,
        choices=choices,
        runtime=runtime,
        placeholder=placeholder,
        backend_default=backend_default,
        required=required,
        bounds=bounds,
    )


def _shared_header(model: str, since_placeholder: str, count_name: str | None) -> tuple[Param, ...]:
    """max_batch_size (hard-coded 128 before v0.6) and the instance count (hard-coded 1 before v0.7)."""
    entries = [
        _p(
            model,
            "triton_max_batch_size",
            _I,
            128,
            "0.5",
            "0.6",
            header=True,
            placeholder=False,
            source=_ENGINE,
            doc="Triton max_batch_size (v0.5 hard-codes 128; tritongen uses the engine's)",
        ),
        _p(
            model,
            "triton_max_batch_size",
            _I,
            None,
            since_placeholder,
            header=True,
            source=_ENGINE,
            doc="Triton max_batch_size: one value for all five models, the engine's max batch size",
        ),
    ]
    if count_name:
        entries += [
            _p(
                model,
                count_name,
                _I,
                1,
                "0.5",
                "0.7",
                header=True,
                placeholder=False,
                source=_DERIVED,
                doc="instances of this Python model (hard-coded 1 before v0.7)",
            ),
            _p(
                model,
                count_name,
                _I,
                1,
                "0.7",
                header=True,
                source=_DERIVED,
                doc="instances of this Python model (each a process with its own tokenizer)",
            ),
        ]
    return tuple(entries)


_TRT = "tensorrt_llm"
# The catalogue is a table: one entry per parameter and version range, kept at two or three lines
# each so a reader can scan it (the formatter would spread each entry over a dozen lines).
# fmt: off
TENSORRT_LLM: tuple[Param, ...] = (
    # -- header ----------------------------------------------------------------------------------
    _p(_TRT, "triton_backend", _S, "tensorrtllm", "0.5", "0.10", header=True, placeholder=False,
       choices=("tensorrtllm",), doc="Triton backend serving the model (a literal before v0.10)"),
    _p(_TRT, "triton_backend", _S, "tensorrtllm", "0.10", header=True, choices=("tensorrtllm", "python"),
       source=_DERIVED, doc="tensorrtllm: the C++ backend; python: 1/model.py (tritongen: the torch runtime)"),
    *_shared_header(_TRT, "0.6", None),
    _p(_TRT, "decoupled_mode", _B, True, "0.5", header=True,
       doc="decoupled transaction policy: required for streaming responses"),
    _p(_TRT, "max_queue_delay_microseconds", _I, 0, "0.6", header=True,
       doc="how long Triton's dynamic batcher waits to fill a batch (0: fill_template's default)"),
    _p(_TRT, "max_queue_size", _I, 0, "0.12", header=True,
       doc="default_queue_policy.max_queue_size; 0 means no limit"),
    _p(_TRT, "encoder_input_features_data_type", _T, None, "0.15", header=True, choices=TRITON_DATATYPES,
       source=_ENGINE, doc="data type of the encoder_input_features input (encoder-decoder models)"),
    _p(_TRT, "logits_datatype", _T, None, "0.17", header=True, choices=TRITON_DATATYPES, source=_ENGINE,
       doc="data type of the draft_logits input and the context/generation logits outputs"),
    _p(_TRT, "prompt_embedding_table_data_type", _T, None, "1.1", header=True, choices=TRITON_DATATYPES,
       source=_ENGINE, doc="data type of the prompt_embedding_table input (TYPE_FP16 literal before)"),
    # -- parameters block, in file order ---------------------------------------------------------
    _p(_TRT, "max_beam_width", _I, 1, "0.5", "0.6", placeholder=False, source=_ENGINE,
       doc="largest beam width a request may ask for (v0.5 hard-codes 1)"),
    _p(_TRT, "max_beam_width", _I, 1, "0.6", source=_ENGINE,
       doc="largest beam width a request may ask for; at most the engine's max_beam_width"),
    _p(_TRT, "FORCE_CPU_ONLY_INPUT_TENSORS", _S, "no", "0.5", placeholder=False, runtime="trtllm",
       choices=("no", "yes"), doc="let the backend receive input tensors in GPU memory (upstream literal)"),
    _p(_TRT, "batching_strategy", _S, "inflight_fused_batching", "0.5", "0.6", key="gpt_model_type",
       placeholder=False, runtime="trtllm", source=_ENGINE, choices=BATCHING_STRATEGIES, required=True,
       doc="gpt_model_type: in-flight batching, or V1 (static batching)"),
    _p(_TRT, "batching_strategy", _S, "inflight_fused_batching", "0.6", key="gpt_model_type",
       runtime="trtllm", source=_ENGINE, choices=BATCHING_STRATEGIES, required=True,
       doc="gpt_model_type: in-flight batching, or V1 (static batching)"),
    _p(_TRT, "engine_dir", _S, None, "0.5", key="gpt_model_path", source=_DERIVED,
       doc="absolute path of the engine directory (config.json and rank engines) or the checkpoint"),
    _p(_TRT, "encoder_engine_dir", _S, None, "0.11", key="encoder_model_path", runtime="trtllm",
       doc="encoder engine directory of an encoder-decoder model"),
    _p(_TRT, "max_tokens_in_paged_kv_cache", _I, None, "0.5",
       doc="cap on KV-cache tokens; empty: sized by kv_cache_free_gpu_mem_fraction (torch runtime: "
           "1 GiB on CPU, 90% of free memory on GPU)"),
    _p(_TRT, "max_kv_cache_length", _I, None, "0.6", "0.7", runtime="trtllm",
       doc="per-sequence KV-cache length (v0.6 only; max_attention_window_size replaced it)"),
    _p(_TRT, "max_attention_window_size", _C, None, "0.7", runtime="trtllm",
       doc="sliding attention window in tokens (a per-layer comma list from v0.19)",
       backend_default="the engine's max_seq_len"),
    _p(_TRT, "sink_token_length", _I, None, "0.10", runtime="trtllm",
       doc="tokens always kept at the start of the sliding window (StreamingLLM)"),
    _p(_TRT, "batch_scheduler_policy", _S, "guaranteed_no_evict", "0.5", runtime="trtllm",
       choices=("guaranteed_no_evict", "max_utilization"),
       doc="max_utilization packs more requests but may pause some; guaranteed_no_evict never does"),
    _p(_TRT, "kv_cache_free_gpu_mem_fraction", _F, 0.85, "0.5", "0.8", runtime="trtllm", bounds=_SHARE,
       doc="share of the GPU memory left after loading the engine that the KV cache takes"),
    _p(_TRT, "kv_cache_free_gpu_mem_fraction", _F, 0.9, "0.8", runtime="trtllm", bounds=_SHARE,
       doc="share of the GPU memory left after loading the engine that the KV cache takes"),
    _p(_TRT, "max_num_sequences", _I, None, "0.5", "0.8", runtime="trtllm",
       doc="most sequences in flight (removed in v0.8)", backend_default="max_batch_size"),
    _p(_TRT, "cross_kv_cache_fraction", _F, None, "0.14", runtime="trtllm",
       doc="share of the KV cache for cross-attention (encoder-decoder models only)"),
    _p(_TRT, "kv_cache_host_memory_bytes", _I, None, "0.10", runtime="trtllm",
       doc="host memory for offloaded KV-cache blocks", backend_default="0"),
    _p(_TRT, "kv_cache_onboard_blocks", _B, None, "0.10", runtime="trtllm",
       doc="bring offloaded KV-cache blocks back to the GPU before use", backend_default="true"),
    _p(_TRT, "enable_trt_overlap", _B, None, "0.5", "0.10", runtime="trtllm",
       doc="overlap two micro-batches (removed in v0.10)", backend_default="true in v0.5, false in v0.8"),
    _p(_TRT, "enable_trt_overlap", _B, None, "1.1", runtime="trtllm",
       doc="experimental overlap option for CUDA-graph mode (back after 1.0)", backend_default="false"),
    _p(_TRT, "exclude_input_in_output", _B, True, "0.6",
       doc="true: output_ids (and text_output) hold only the completion, not the prompt"),
    _p(_TRT, "cancellation_check_period_ms", _I, None, "0.10",
       doc="how often the backend checks for cancelled requests", backend_default="100"),
    _p(_TRT, "stats_check_period_ms", _I, None, "0.10", runtime="trtllm",
       doc="how often the backend collects statistics", backend_default="100"),
    _p(_TRT, "iter_stats_max_iterations", _I, None, "0.10", runtime="trtllm",
       doc="iterations of statistics kept"),
    _p(_TRT, "request_stats_max_iterations", _I, None, "0.10", runtime="trtllm",
       doc="iterations of per-request statistics kept"),
    _p(_TRT, "enable_kv_cache_reuse", _B, None, "0.7", runtime="trtllm", source=_ENGINE,
       doc="reuse KV-cache blocks of shared prompt prefixes (needs paged context FMHA)",
       backend_default="false before v0.19, true from v0.19"),
    _p(_TRT, "normalize_log_probs", _B, None, "0.8", runtime="trtllm",
       doc="normalise output_log_probs", backend_default="true"),
    _p(_TRT, "enable_chunked_context", _B, None, "0.8", runtime="trtllm", source=_ENGINE,
       doc="split long prompts into chunks (needs paged context FMHA)", backend_default="false"),
    _p(_TRT, "gpu_device_ids", _C, None, "0.8", runtime="trtllm",
       doc="GPUs per instance: commas between ids, semicolons between instances (from v0.12)"),
    _p(_TRT, "participant_ids", _C, None, "0.13", runtime="trtllm",
       doc="MPI ranks per instance (orchestrator mode)"),
    _p(_TRT, "num_nodes", _I, None, "0.19", runtime="trtllm",
       doc="nodes the model spans", backend_default="1"),
    _p(_TRT, "lora_cache_optimal_adapter_size", _I, None, "0.9", runtime="trtllm",
       doc="LoRA cache: optimal adapter size", backend_default="8"),
    _p(_TRT, "lora_cache_max_adapter_size", _I, None, "0.9", runtime="trtllm",
       doc="LoRA cache: largest adapter size", backend_default="64"),
    _p(_TRT, "lora_cache_gpu_memory_fraction", _F, None, "0.9", runtime="trtllm",
       doc="LoRA cache: share of free GPU memory", backend_default="0.05"),
    _p(_TRT, "lora_cache_host_memory_bytes", _I, None, "0.9", runtime="trtllm",
       doc="LoRA cache: host memory in bytes", backend_default="1 GB"),
    _p(_TRT, "lora_prefetch_dir", _S, None, "0.19", runtime="trtllm",
       doc="directory of LoRA adapters loaded at start-up"),
    _p(_TRT, "decoding_mode", _S, None, "0.9", runtime="trtllm", source=_ENGINE,
       choices=("top_k", "top_p", "top_k_top_p", "beam_search", "medusa", "redrafter", "lookahead", "eagle"),
       doc="decoding algorithm; empty lets the backend choose", backend_default="top_k_top_p, or beam_search"),
    _p(_TRT, "worker_path", _S, V09_WORKER, "0.9", "0.10", placeholder=False, runtime="trtllm",
       doc="the v0.9 backend's worker executable (upstream literal)"),
    _p(_TRT, "executor_worker_path", _S, EXECUTOR_WORKER, "0.10", placeholder=False, runtime="trtllm",
       doc="the executor worker executable for orchestrator mode (upstream literal)"),
    _p(_TRT, "lookahead_window_size", _I, None, "0.19", runtime="trtllm", doc="lookahead decoding: window"),
    _p(_TRT, "lookahead_ngram_size", _I, None, "0.19", runtime="trtllm", doc="lookahead decoding: n-gram size"),
    _p(_TRT, "lookahead_verification_set_size", _I, None, "0.19", runtime="trtllm",
       doc="lookahead decoding: verification set size"),
    _p(_TRT, "medusa_choices", _S, None, "0.9", runtime="trtllm",
       doc="Medusa tree, e.g. {0, 0, 0}, {0, 1}", backend_default="the engine's default tree"),
    _p(_TRT, "eagle_choices", _S, None, "0.16", runtime="trtllm",
       doc="EAGLE tree, e.g. {0, 0, 0}, {0, 1}", backend_default="the engine's default tree"),
    _p(_TRT, "gpu_weights_percent", _F, None, "0.10", runtime="trtllm",
       doc="share of the weights kept on the GPU (weight streaming)", backend_default="1.0"),
    _p(_TRT, "enable_context_fmha_fp32_acc", _B, None, "0.12", runtime="trtllm",
       doc="accumulate context FMHA in FP32", backend_default="false"),
    _p(_TRT, "multi_block_mode", _B, None, "0.12", runtime="trtllm",
       doc="split long-sequence attention across blocks", backend_default="true"),
    _p(_TRT, "cuda_graph_mode", _B, None, "0.15", runtime="trtllm",
       doc="run generation steps as CUDA graphs", backend_default="false"),
    _p(_TRT, "cuda_graph_cache_size", _I, None, "0.15", runtime="trtllm",
       doc="CUDA graphs kept", backend_default="0"),
    _p(_TRT, "speculative_decoding_fast_logits", _B, None, "0.15", runtime="trtllm",
       doc="pass draft logits directly between models (needs gather_generation_logits)"),
    _p(_TRT, "tokenizer_dir", _S, None, "0.19", source=_DERIVED,
       doc="tokenizer directory (the C++ backend uses it for guided decoding; the key must be present)"),
    _p(_TRT, "guided_decoding_backend", _S, None, "0.19", runtime="trtllm", choices=("xgrammar",),
       doc="guided decoding backend (xgrammar); the key must be present, empty means off"),
    _p(_TRT, "xgrammar_tokenizer_info_path", _S, None, "0.19", runtime="trtllm",
       doc="xgrammar tokenizer info JSON; the key must be present, empty means unset"),
    # -- tritongen's torch runtime (Hugging Face checkpoints) ------------------------------------
    _p(_TRT, "max_batch_size", _I, None, "0.19", runtime="torch", source=_ENGINE,
       doc="most requests the torch runtime batches together"),
    _p(_TRT, "max_input_len", _I, None, "0.19", runtime="torch", source=_ENGINE,
       doc="longest prompt in tokens"),
    _p(_TRT, "max_seq_len", _I, None, "0.19", runtime="torch", source=_ENGINE,
       doc="longest prompt plus completion in tokens"),
    _p(_TRT, "torch_dtype", _S, "auto", "0.19", runtime="torch", source=_ENGINE,
       choices=("auto", "float32", "bfloat16", "float16"), doc="dtype the checkpoint is loaded in"),
    _p(_TRT, "device", _S, "auto", "0.19", runtime="torch", choices=("auto", "cpu", "cuda"),
       doc="where the torch runtime runs: auto picks cuda when a GPU is visible"),
    _p(_TRT, "tp_size", _I, 1, "0.19", runtime="torch", source=_ENGINE,
       doc="tensor-parallel ranks the torch runtime splits the checkpoint over (--tp)"),
)

_PRE = "preprocessing"
PREPROCESSING: tuple[Param, ...] = (
    *_shared_header(_PRE, "0.6", "preprocessing_instance_count"),
    _p(_PRE, "max_queue_delay_microseconds", _I, 0, "0.19", header=True,
       doc="how long Triton's dynamic batcher waits to fill a batch"),
    _p(_PRE, "max_queue_size", _I, 0, "0.19", header=True,
       doc="default_queue_policy.max_queue_size; 0 means no limit"),
    _p(_PRE, "tokenizer_dir", _S, None, "0.5", source=_DERIVED,
       doc="Hugging Face tokenizer directory the model tokenizes with"),
    _p(_PRE, "tokenizer_type", _S, "auto", "0.5", "0.9", choices=("auto", "t5", "llama"),
       doc="tokenizer class (auto: AutoTokenizer); anything else makes initialize raise"),
    _p(_PRE, "add_special_tokens", _B, True, "0.8", "0.9", placeholder=False,
       doc="add BOS/EOS while tokenizing, as the model saw in training (v0.8 hard-codes False)"),
    _p(_PRE, "add_special_tokens", _B, True, "0.9",
       doc="add BOS/EOS while tokenizing, as the model saw in training", backend_default="true"),
    _p(_PRE, "visual_model_path", _S, None, "0.12", "0.19", doc="vision encoder engine (multimodal models)"),
    _p(_PRE, "multimodal_model_path", _S, None, "0.19",
       doc="multimodal encoder engine; empty means a text-only model"),
    _p(_PRE, "engine_dir", _S, None, "0.12", key="gpt_model_path", source=_DERIVED,
       doc="engine directory (read only by multimodal models, for the prompt-table size)"),
    _p(_PRE, "max_num_images", _I, None, "0.15", doc="most images per request (multimodal models)"),
    _p(_PRE, "hf_model_path", _S, None, "1.1", doc="Hugging Face model directory (multimodal processors)"),
    # -- read only by tritongen's preprocessing model.py (not upstream placeholders) -------------
    _p(_PRE, "apply_chat_template", _S, "auto", "0.5", placeholder=False, choices=("auto", "true", "false"),
       doc="wrap text_input in the tokenizer's chat template (auto: when it has one; instruct models "
           "answer raw prompts with end-of-sequence)"),
    _p(_PRE, "max_input_len", _I, None, "0.5", placeholder=False, source=_ENGINE,
       doc="longest prompt in tokens: longer ones get a clear 400 before reaching the engine"),
    _p(_PRE, "max_seq_len", _I, None, "0.5", placeholder=False, source=_ENGINE,
       doc="longest prompt plus max_tokens: requests beyond it get a clear 400"),
)

_POST = "postprocessing"
POSTPROCESSING: tuple[Param, ...] = (
    *_shared_header(_POST, "0.6", "postprocessing_instance_count"),
    _p(_POST, "tokenizer_dir", _S, None, "0.5", source=_DERIVED,
       doc="Hugging Face tokenizer directory the model detokenizes with"),
    _p(_POST, "tokenizer_type", _S, "auto", "0.5", "0.9", choices=("auto", "t5", "llama"),
       doc="tokenizer class (auto: AutoTokenizer); anything else makes initialize raise"),
    _p(_POST, "skip_special_tokens", _B, True, "0.8", "0.11", placeholder=False,
       doc="drop special tokens (EOS, padding) from text_output (v0.8 hard-codes True)"),
    _p(_POST, "skip_special_tokens", _B, True, "0.11",
       doc="drop special tokens (EOS, padding) from text_output", backend_default="true"),
)

_ENS = "ensemble"
ENSEMBLE: tuple[Param, ...] = (
    *_shared_header(_ENS, "0.6", None),
    _p(_ENS, "logits_datatype", _T, None, "0.17", header=True, choices=TRITON_DATATYPES, source=_ENGINE,
       doc="data type of the context/generation logits outputs (as tensorrt_llm's)"),
)

_BLS = "tensorrt_llm_bls"
TENSORRT_LLM_BLS: tuple[Param, ...] = (
    _p(_BLS, "triton_max_batch_size", _I, None, "0.7", header=True, source=_ENGINE,
       doc="Triton max_batch_size: one value for all five models, the engine's max batch size"),
    _p(_BLS, "decoupled_mode", _B, True, "0.7", header=True,
       doc="decoupled transaction policy: required for streaming through the BLS"),
    _p(_BLS, "logits_datatype", _T, None, "0.17", header=True, choices=TRITON_DATATYPES, source=_ENGINE,
       doc="data type of the context/generation logits outputs (as tensorrt_llm's)"),
    _p(_BLS, "bls_instance_count", _I, None, "0.7", header=True, source=_DERIVED,
       doc="BLS instances (tritongen's decoupled BLS serves every stream of one instance on threads)"),
    _p(_BLS, "accumulate_tokens", _B, True, "0.7",
       doc="re-decode all tokens so far on each streamed response (never splits a character)",
       backend_default="false"),
    _p(_BLS, "tensorrt_llm_model_name", _S, None, "0.9",
       doc="model the BLS calls for generation", backend_default="tensorrt_llm"),
    _p(_BLS, "tensorrt_llm_draft_model_name", _S, None, "0.9",
       doc="draft model for speculative decoding", backend_default="none"),
    _p(_BLS, "multimodal_encoders_name", _S, None, "0.13",
       doc="multimodal encoder model(s) the BLS calls", backend_default="none"),
)
# fmt: on

CATALOGUE: tuple[Param, ...] = (*PREPROCESSING, *TENSORRT_LLM, *POSTPROCESSING, *ENSEMBLE, *TENSORRT_LLM_BLS)


def params_for(model: str, version: Version, runtime: str = "trtllm") -> tuple[Param, ...]:
    """The entries of `model` that the template of `version` has, for `runtime`, in file order."""
    return tuple(p for p in CATALOGUE if p.model == model and p.exists_in(version) and p.serves(runtime))


def names() -> tuple[str, ...]:
    """Every parameter name in the catalogue, once, sorted."""
    return tuple(sorted({p.name for p in CATALOGUE}))


def entries_named(name: str, model: str | None = None) -> tuple[Param, ...]:
    """Every entry called `name` (in `model` when given), whatever the version."""
    return tuple(p for p in CATALOGUE if p.name == name and (model is None or p.model == model))
