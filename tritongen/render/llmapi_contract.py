"""The tensor contract of upstream's LLM-API (`llmapi`) `tensorrt_llm` model, per TensorRT-LLM version.

Data, in the catalogue's style: every tensor of `triton_backend/all_models/llmapi/tensorrt_llm/config.pbtxt`
with its type, dims and the upstream commit it was read from. Triton rejects an input the config does not
declare, so a repository must declare exactly what the TensorRT-LLM in the container reads: LoRA inputs
(TRT-LLM PR #14079, May 2026) and `image_url` (PR #18381, Aug 2026) exist only after 1.2.1.

Provenance of each generation:

- "1.0"-"1.2": read from NVIDIA/TensorRT-LLM @ c8c6df08 (the content of v1.2.1). 1.0 and 1.1 carry the same
  tensors: the perf-metric outputs (PR #5554, merged 2025-06) and the `stop` input (PR #5898, 2025-07)
  predate the 1.0 release, and `sampling_param_best_of` replaced v0.19's `sampling_param_beam_width`
  before 1.0 (inferred from those dates: the 1.0/1.1 tags themselves were not read).
- "main" (post-1.2.1, TensorRT-LLM >= 1.3): NVIDIA/TensorRT-LLM @ 0a710573 (LoRA + `image_url`).
"""

from __future__ import annotations

from dataclasses import dataclass

from tritongen.errors import UsageError
from tritongen.versions import Version

MODEL_NAME = "tensorrt_llm"
COMMIT_1_2 = "c8c6df08bd0ead54cd47f7973e1e425c28a174cd"
COMMIT_MAIN = "0a71057313ec0626527e164a8fc0205c5822e2f5"


@dataclass(frozen=True)
class Tensor:
    """One input or output of the llmapi model, as upstream's config.pbtxt declares it."""

    name: str
    data_type: str  # Triton's enum name, e.g. TYPE_STRING
    dims: tuple[int, ...]
    optional: bool = False  # inputs only


@dataclass(frozen=True)
class Contract:
    """The tensors of one upstream generation of the llmapi model."""

    name: str  # "1.2" or "main"
    commit: str  # NVIDIA/TensorRT-LLM commit the tensors were read from
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.outputs)


def _opt(name: str, data_type: str, dims: tuple[int, ...] = (1,)) -> Tensor:
    return Tensor(name, data_type, dims, optional=True)


_SAMPLING_AND_FLAGS = (
    _opt("streaming", "TYPE_BOOL"),
    _opt("sampling_param_best_of", "TYPE_INT32"),
    _opt("sampling_param_temperature", "TYPE_FP32"),
    _opt("sampling_param_top_k", "TYPE_INT32"),
    _opt("sampling_param_top_p", "TYPE_FP32"),
    _opt("sampling_param_frequency_penalty", "TYPE_FP32"),
    _opt("sampling_param_presence_penalty", "TYPE_FP32"),
    _opt("sampling_param_max_tokens", "TYPE_INT32"),
    _opt("sampling_param_stop", "TYPE_STRING", (-1,)),
    _opt("sampling_param_seed", "TYPE_UINT64"),
    _opt("sampling_param_exclude_input_from_output", "TYPE_BOOL"),
    _opt("sampling_param_return_perf_metrics", "TYPE_BOOL"),
    _opt("return_finish_reason", "TYPE_BOOL"),
    _opt("return_stop_reason", "TYPE_BOOL"),
    _opt("return_cumulative_logprob", "TYPE_BOOL"),
    _opt("stop", "TYPE_BOOL"),
)
_TEXT_INPUT = Tensor("text_input", "TYPE_STRING", (-1,))
_LORA = (
    _opt("lora_id", "TYPE_UINT64"),
    _opt("lora_name", "TYPE_STRING"),
    _opt("lora_path", "TYPE_STRING"),
    _opt("lora_ckpt_source", "TYPE_STRING"),
)
_OUTPUTS = (
    Tensor("text_output", "TYPE_STRING", (-1,)),
    Tensor("finish_reason", "TYPE_STRING", (-1,)),
    Tensor("stop_reason", "TYPE_STRING", (-1,)),
    Tensor("cumulative_logprob", "TYPE_FP32", (-1,)),
    Tensor("kv_cache_reused_block", "TYPE_INT32", (-1,)),
    Tensor("kv_cache_missed_block", "TYPE_INT32", (-1,)),
    Tensor("kv_cache_alloc_new_blocks", "TYPE_INT32", (-1,)),
    Tensor("kv_cache_alloc_total_blocks", "TYPE_INT32", (-1,)),
    Tensor("kv_cache_hit_rate", "TYPE_FP32", (-1,)),
    Tensor("arrival_time_ns", "TYPE_INT64", (1,)),
    Tensor("first_scheduled_time_ns", "TYPE_INT64", (1,)),
    Tensor("first_token_time_ns", "TYPE_INT64", (1,)),
    Tensor("last_token_time_ns", "TYPE_INT64", (1,)),
    Tensor("acceptance_rate", "TYPE_FP32", (1,)),
    Tensor("total_accepted_draft_tokens", "TYPE_INT32", (1,)),
    Tensor("total_draft_tokens", "TYPE_INT32", (1,)),
)

CONTRACTS: dict[str, Contract] = {
    "1.2": Contract("1.2", COMMIT_1_2, (_TEXT_INPUT, *_SAMPLING_AND_FLAGS), _OUTPUTS),
    "main": Contract(
        "main",
        COMMIT_MAIN,
        (_TEXT_INPUT, _opt("image_url", "TYPE_STRING", (-1,)), *_SAMPLING_AND_FLAGS, *_LORA),
        _OUTPUTS,
    ),
}

FIRST = Version.parse("1.0")  # the llmapi model is first released with TensorRT-LLM 1.0 (PyTorch default)
MAIN_SINCE = Version.parse("1.3")  # the first release after 1.2.1: LoRA + image_url
DEFAULT_VERSION = Version.parse("1.2.1")  # what the newest Triton container (26.07) ships


def contract_for(version: Version) -> Contract:
    """The contract of a TensorRT-LLM version; a UsageError for one that has no llmapi model here."""
    if version < FIRST:
        raise UsageError(
            f"--target llmapi needs TensorRT-LLM 1.0 or later, not {version}",
            hint="Drop --backend-version (default 1.2.1) or pass 1.0, 1.1, 1.2 or 1.3.",
        )
    return CONTRACTS["main" if version >= MAIN_SINCE else "1.2"]


def contract_named(name: str) -> Contract | None:
    """A contract by its name ("1.2" or "main"), as recorded in the manifest."""
    return CONTRACTS.get(name)
