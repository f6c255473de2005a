"""The two things that can generate behind the llmapi contract, behind one small interface.

- `TrtllmExecutor`: `tensorrt_llm.LLM` (PyTorch backend) with `generate_async`, on machines that have
  TensorRT-LLM; model.yaml's LLM arguments go to `LLM(**...)` as upstream passes them.
- `TorchExecutor`: tritongen's torch runtime (continuous batching over a Hugging Face checkpoint), so the same
  repository serves real text where TensorRT-LLM cannot be installed (CPU machines, CI).

Both report `LlmUpdate`s (cumulative text, as `tensorrt_llm`'s `CompletionOutput.text`) to a listener, from
their own thread; `cancel` ends a request with a final `cancelled` update (none when it already finished).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..text.tokenizer_support import prompt_encoder, token_decoder
from .config import ConfigError, LlmapiConfig, tensorrt_llm_available
from .contract import LlmRequest, LlmUpdate, RequestError

Listener = Callable[[LlmUpdate], None]


class Executor(Protocol):
    """What model.py needs from a generator."""

    name: str

    def submit(self, request_id: str, request: LlmRequest, listener: Listener) -> None: ...

    def cancel(self, request_id: str) -> bool: ...

    def shutdown(self) -> None: ...


def create_executor(config: LlmapiConfig, *, prefer: str | None = None) -> Executor:
    """`tensorrt_llm.LLM` where TensorRT-LLM is installed, else the torch runtime.

    `prefer` (from `$TRITONGEN_LLMAPI_EXECUTOR`) forces one: "tensorrt_llm", "torch", or "zero-cost" (the
    pipeline benchmark's: everything but generation, see `ZeroCostExecutor`).
    """
    choice = prefer or ("tensorrt_llm" if tensorrt_llm_available() else "torch")
    if choice == "tensorrt_llm":
        return TrtllmExecutor(config)
    if choice == "torch":
        return TorchExecutor(config)
    if choice == "zero-cost":
        return ZeroCostExecutor(config)
    raise ConfigError(f"TRITONGEN_LLMAPI_EXECUTOR must be tensorrt_llm, torch or zero-cost, got {choice!r}")


# -- tensorrt_llm.LLM ------------------------------------------------------------------------------------


class TrtllmExecutor:
    """`tensorrt_llm.LLM.generate_async` on an event loop of its own thread."""

    name = "tensorrt_llm"

    def __init__(self, config: LlmapiConfig) -> None:
        from tensorrt_llm import LLM  # type: ignore[import-not-found]
        from tensorrt_llm.llmapi.llm_utils import (  # type: ignore[import-not-found]
            update_llm_args_with_extra_dict,
        )

        args = dict(config.llm_args)
        model = args.pop("model")
        # The same conversion trtllm-serve applies to its --config file: nested dicts become config classes.
        self.llm: Any = LLM(model, **update_llm_args_with_extra_dict({}, args))
        self.results: dict[str, Any] = {}
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="tritongen-llmapi-loop", daemon=True
        )
        self.thread.start()

    def submit(self, request_id: str, request: LlmRequest, listener: Listener) -> None:
        from tensorrt_llm import SamplingParams

        params = SamplingParams(**request.sampling.as_kwargs())
        kwargs: dict[str, Any] = {"sampling_params": params, "streaming": request.streaming}
        if request.lora is not None:
            from tensorrt_llm.executor.request import LoRARequest  # type: ignore[import-not-found]

            kwargs["lora_request"] = LoRARequest(
                request.lora.name,
                request.lora.lora_id,
                request.lora.path,
                lora_ckpt_source=request.lora.ckpt_source,
            )
        if request.image_urls:
            raise RequestError("image_url needs triton_config.multimodal and TensorRT-LLM >= 1.3")
        result = self.llm.generate_async(request.prompt, **kwargs)
        self.results[request_id] = result
        asyncio.run_coroutine_threadsafe(self._follow(request_id, request, result, listener), self.loop)

    async def _follow(self, request_id: str, request: LlmRequest, result: Any, listener: Listener) -> None:
        try:
            async for output in result:
                completion = output.outputs[0]
                metrics = _trtllm_metrics(completion) if request.sampling.return_perf_metrics else None
                listener(
                    LlmUpdate(
                        text=completion.text,
                        finished=bool(output.finished),
                        finish_reason=completion.finish_reason,
                        stop_reason=completion.stop_reason,
                        cumulative_logprob=completion.cumulative_logprob,
                        metrics=metrics,
                    )
                )
        except Exception as error:  # noqa: BLE001 - the request gets the error, the model goes on
            listener(
                LlmUpdate(
                    "", finished=True, error=str(error), cancelled=bool(getattr(result, "aborted", False))
                )
            )
        finally:
            self.results.pop(request_id, None)

    def cancel(self, request_id: str) -> bool:
        result = self.results.get(request_id)
        if result is None:
            return False
        result.abort()
        return True

    def shutdown(self) -> None:
        self.llm.shutdown()
        self.loop.call_soon_threadsafe(self.loop.stop)


def _trtllm_metrics(completion: Any) -> dict[str, float | int]:
    """The per-request perf metrics upstream's model returns, from `CompletionOutput.request_perf_metrics`."""
    perf = getattr(completion, "request_perf_metrics", None)
    if perf is None:
        return {}
    kv, timing, spec = perf.kv_cache_metrics, perf.timing_metrics, perf.speculative_decoding
    return {
        "kv_cache_reused_block": kv.num_reused_blocks,
        "kv_cache_missed_block": kv.num_missed_blocks,
        "kv_cache_alloc_new_blocks": kv.num_new_allocated_blocks,
        "kv_cache_alloc_total_blocks": kv.num_total_allocated_blocks,
        "kv_cache_hit_rate": kv.kv_cache_hit_rate,
        "arrival_time_ns": int(timing.arrival_time.total_seconds() * 1e9),
        "first_scheduled_time_ns": int(timing.first_scheduled_time.total_seconds() * 1e9),
        "first_token_time_ns": int(timing.first_token_time.total_seconds() * 1e9),
        "last_token_time_ns": int(timing.last_token_time.total_seconds() * 1e9),
        "acceptance_rate": spec.acceptance_rate,
        "total_accepted_draft_tokens": spec.total_accepted_draft_tokens,
        "total_draft_tokens": spec.total_draft_tokens,
    }


# -- tritongen's torch runtime ---------------------------------------------------------------------------


@dataclass
class _Running:
    request: LlmRequest
    prompt: tuple[int, ...]
    max_new_tokens: int
    stop_sequences: tuple[tuple[tuple[int, ...], str], ...]
    listener: Listener
    arrival_ns: int
    first_token_ns: int = 0
    last_token_ns: int = 0
    done: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class TorchExecutor:
    """tritongen's torch runtime behind the llmapi contract: text in (the checkpoint's tokenizer), text out."""

    name = "torch"

    def __init__(self, config: LlmapiConfig) -> None:
        from transformers import AutoTokenizer

        from ..torch_runtime import distributed
        from ..torch_runtime.engine import PAGE_SIZE, TorchEngine
        from ..torch_runtime.settings import DTYPES, RuntimeSettings

        args = config.llm_args
        tp_size = _positive(args.get("tensor_parallel_size"))
        if config.world_size != tp_size:
            raise ConfigError(
                f"the torch runtime splits a model by tensor parallelism only; tp x pp x cp is {config.world_size} "
                "(render with --pp 1, or serve it where TensorRT-LLM is installed)"
            )
        world = distributed.World.from_environment()
        if world.size != tp_size:  # TensorRT-LLM's LLM spawns its ranks; the torch runtime runs on launch's
            raise ConfigError(
                f"tensor_parallel_size is {tp_size} but {world.size} rank(s) were started: without TensorRT-LLM "
                f"the torch runtime needs one tritonserver per rank (tritongen launch runs {tp_size} under mpirun)"
            )
        checkpoint = Path(str(args["model"]))
        if not (checkpoint / "config.json").is_file():
            raise ConfigError(f"model {checkpoint} is not a local Hugging Face checkpoint (no config.json)")
        dtype = str(args.get("dtype", "auto"))
        kv_cache = args.get("kv_cache_config") or {}
        self.settings = RuntimeSettings(
            checkpoint_dir=checkpoint,
            tokenizer_dir=None,
            max_batch_size=int(args.get("max_batch_size", 16)),
            max_input_len=None,
            max_seq_len=int(args.get("max_seq_len", 2048)),
            torch_dtype=dtype if dtype in DTYPES else "auto",
            device="auto",
            tp_size=tp_size,
            exclude_input_in_output=True,
            max_beam_width=1,
            kv_cache_tokens=kv_cache.get("max_tokens") if isinstance(kv_cache, dict) else None,
            decoupled=config.decoupled,
        )
        tokenizer_path = str(args.get("tokenizer") or checkpoint)
        self.tokenizer: Any = AutoTokenizer.from_pretrained(tokenizer_path)
        self.encode = prompt_encoder(self.tokenizer)  # `tokenizers` directly where it equals transformers
        self.decode = token_decoder(self.tokenizer, skip_special_tokens=True)
        self.page_size = PAGE_SIZE
        if world.size > 1:
            distributed.initialize(world, self.settings)
        self.engine = TorchEngine(self.settings)
        if world.rank > 0:
            distributed.follow_forever(self.engine, world)  # never returns: rank 0 drives every step
        self.running: dict[str, _Running] = {}
        self.lock = threading.Lock()

    def submit(self, request_id: str, request: LlmRequest, listener: Listener) -> None:
        from ..torch_runtime.contract import GenerationRequest, SamplingParams

        sampling = request.sampling
        if sampling.best_of not in (None, 1):
            raise RequestError(f"sampling_param_best_of {sampling.best_of} needs TensorRT-LLM: the torch runtime "
                               "returns one sequence")  # fmt: skip
        if request.lora is not None:
            raise RequestError(
                "LoRA adapters need TensorRT-LLM: the torch runtime serves the base model only"
            )
        if request.image_urls:
            raise RequestError("image_url needs TensorRT-LLM with triton_config.multimodal")
        prompt = tuple(self.encode([request.prompt], True)[0])
        if not prompt:
            raise RequestError("text_input is empty: there is nothing to continue")
        room = self.settings.max_seq_len - len(prompt)
        if room < 1:
            raise RequestError(f"the prompt has {len(prompt)} tokens and leaves no room within max_seq_len "
                               f"{self.settings.max_seq_len}")  # fmt: skip
        words = list(sampling.stop)
        stops = tuple((tuple(ids), word) for ids, word in zip(self.encode(words, False), words, strict=True))
        stops = tuple((tokens, word) for tokens, word in stops if tokens)
        generation = GenerationRequest(
            prompt=prompt,
            max_new_tokens=min(sampling.max_tokens, room),
            requested_output_len=sampling.max_tokens,
            end_id=self.engine.eos_id,
            pad_id=self.engine.pad_id,
            streaming=request.streaming,
            exclude_input_in_output=True,
            return_log_probs=request.return_cumulative_logprob,
            sampling=SamplingParams(
                temperature=sampling.temperature if sampling.temperature is not None else 1.0,
                top_k=sampling.top_k or 0,
                top_p=sampling.top_p or 0.0,
                presence_penalty=sampling.presence_penalty or 0.0,
                frequency_penalty=sampling.frequency_penalty or 0.0,
                seed=sampling.seed,
            ),
            stop_sequences=tuple(tokens for tokens, _ in stops),
        )
        running = _Running(request, prompt, generation.max_new_tokens, stops, listener, time.time_ns())
        with self.lock:
            self.running[request_id] = running
        try:
            self.engine.submit(
                request_id, generation, lambda update: self._on_update(request_id, running, update)
            )
        except Exception:
            with self.lock:
                self.running.pop(request_id, None)
            raise

    def _on_update(self, request_id: str, running: _Running, update: Any) -> None:
        """An engine update (every token when streaming, else the last) as an LlmUpdate."""
        with running.lock:
            if running.done:
                return
            running.done = bool(update.finished)
        if update.finished:
            with self.lock:
                self.running.pop(request_id, None)
        if update.error and not update.cancelled:
            running.listener(LlmUpdate("", finished=True, error=update.error))
            return
        tokens = list(update.tokens)
        now = time.time_ns()
        if tokens and not running.first_token_ns:
            running.first_token_ns = now
        if tokens:
            running.last_token_ns = now
        finish_reason: str | None = None
        stop_reason: str | None = None
        if update.finished:
            finish_reason = (
                "cancelled"
                if update.cancelled
                else "length"
                if len(tokens) >= running.max_new_tokens
                else "stop"
            )
            for stop_tokens, word in running.stop_sequences:
                if len(tokens) >= len(stop_tokens) and tuple(tokens[-len(stop_tokens) :]) == stop_tokens:
                    tokens, finish_reason, stop_reason = tokens[: -len(stop_tokens)], "stop", word
                    break  # like SamplingParams(include_stop_str_in_output=False): the stop text is not returned
        request = running.request
        shown = tokens if request.sampling.exclude_input_from_output else [*running.prompt, *tokens]
        text = self.decode([shown])[0]
        running.listener(
            LlmUpdate(
                text=text,
                finished=bool(update.finished),
                finish_reason=finish_reason,
                stop_reason=stop_reason,
                cumulative_logprob=float(sum(update.log_probs))
                if request.return_cumulative_logprob
                else None,
                metrics=self._metrics(running, len(tokens)) if request.sampling.return_perf_metrics else None,
                cancelled=bool(update.cancelled),
            )
        )

    def _metrics(self, running: _Running, generated: int) -> dict[str, float | int]:
        """Upstream's per-request metrics, as far as the torch runtime knows them (no prefix reuse, no drafts)."""
        blocks = math.ceil((len(running.prompt) + generated) / self.page_size)
        return {
            "kv_cache_reused_block": 0,
            "kv_cache_missed_block": math.ceil(len(running.prompt) / self.page_size),
            "kv_cache_alloc_new_blocks": blocks,
            "kv_cache_alloc_total_blocks": blocks,
            "kv_cache_hit_rate": 0.0,
            "arrival_time_ns": running.arrival_ns,
            "first_scheduled_time_ns": running.arrival_ns,
            "first_token_time_ns": running.first_token_ns,
            "last_token_time_ns": running.last_token_ns,
            "acceptance_rate": 0.0,
            "total_accepted_draft_tokens": 0,
            "total_draft_tokens": 0,
        }

    def cancel(self, request_id: str) -> bool:
        with self.lock:
            running = self.running.pop(request_id, None)
        if running is None:
            return False
        update = self.engine.cancel(request_id)
        if update is None:
            return False
        self._on_update(request_id, running, update)
        return True

    def shutdown(self) -> None:
        self.engine.shutdown()


# -- zero cost (the pipeline benchmark) --------------------------------------------------------------------


class ZeroCostExecutor:
    """Answers at once with one token, the prompt's last: what the model costs around generation.

    The same measurement as the ensemble's zero-cost `tensorrt_llm` stub (scripts/pipeline_stub): the prompt
    is tokenized and the answer detokenized, as preprocessing and postprocessing do there, so the server CPU
    per request compares the two pipelines, generation aside.
    """

    name = "zero-cost"

    def __init__(self, config: LlmapiConfig) -> None:
        from transformers import AutoTokenizer

        args = config.llm_args
        tokenizer = AutoTokenizer.from_pretrained(str(args.get("tokenizer") or args["model"]))
        self.encode = prompt_encoder(tokenizer)  # as TorchExecutor tokenizes
        self.decode = token_decoder(tokenizer, skip_special_tokens=True)

    def submit(self, request_id: str, request: LlmRequest, listener: Listener) -> None:  # noqa: ARG002 - answered at once
        prompt = self.encode([request.prompt], True)[0]
        answer = self.decode([prompt[-1:]])[0]
        text = answer if request.sampling.exclude_input_from_output else request.prompt + answer
        listener(LlmUpdate(text, finished=True, finish_reason="length"))

    def cancel(self, request_id: str) -> bool:  # noqa: ARG002 - nothing is ever running
        return False

    def shutdown(self) -> None:
        return None


def _positive(value: object) -> int:
    """A parallel size from model.yaml: a whole number >= 1, else 1 (read_config accepted the file)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1
