"""In-flight batching of generation requests on a Hugging Face model, with transformers' continuous batching.

transformers' `ContinuousBatchingManager` owns the step loop: a background thread that, at every step,
admits waiting requests (prefill, chunked when long), decodes every active request by one token in the
same forward pass over a paged KV cache, and frees a request's pages when it finishes or is cancelled.
This module adds what the `tensorrt_llm` contract needs on top:

- per-request decoding (`sampling.choose_next_tokens` replaces the manager's batch-wide sampler),
- stop words and min_tokens (`ServedRequest.update_and_check_completion`),
- delivery of every update straight to a per-request listener (`ListenerRouter`), no polling.

With tensor parallelism the manager broadcasts each new request from rank 0 to the other ranks, so
every rank runs the same steps; the other ranks call `follow`, which only returns when the loop ends.
"""

from __future__ import annotations

import copy
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import torch
from transformers import AutoConfig, AutoModelForCausalLM, GenerationConfig

try:  # continuous batching's internals moved between releases; this is the layout of transformers 5.2x
    from transformers.distributed.configuration_utils import DistributedConfig
    from transformers.generation.configuration_utils import ContinuousBatchingConfig
    from transformers.generation.continuous_batching.continuous_api import OutputRouter
    from transformers.generation.continuous_batching.requests import (
        GenerationOutput,
        RequestState,
        RequestStatus,
    )
except ImportError as error:  # pragma: no cover - depends on the installed transformers
    raise ImportError(
        "tritongen's torch runtime needs the continuous-batching API of transformers 5.2x "
        f"(tested with 5.23): {error}"
    ) from error

from .contract import GenerationRequest, SamplingParams
from .sampling import Row, TokenChooser, choose_next_tokens
from .settings import RuntimeSettings

logger = logging.getLogger("tritongen_torch")

PAGE_SIZE = 64  # tokens per KV page: small pages waste little on short chat requests
MAX_BATCH_TOKENS = 512  # tokens per forward pass; longer prompts are prefilled in chunks
# Default KV cache budget. A full-size cache (every slot at max_seq_len) can be many GiB on CPU, where it
# shares RAM with everything else; requests that do not fit wait for pages to free up.
CPU_KV_CACHE_BYTES = 1 << 30
GPU_KV_CACHE_FREE_FRACTION = 0.9


@dataclass(frozen=True)
class EngineUpdate:
    """Everything generated so far for one request (the end token removed)."""

    tokens: list[int]
    log_probs: list[float]
    finished: bool
    error: str | None = None
    cancelled: bool = False


Listener = Callable[[EngineUpdate], None]


@dataclass(frozen=True)
class _Subscription:
    listener: Listener
    end_id: int  # stripped from the final output: the contract does not return the end token


@dataclass
class ServedRequest(RequestState):
    """A continuous-batching request that also knows its stop words, min_tokens and token chooser."""

    chooser: TokenChooser | None = None
    stop_sequences: tuple[tuple[int, ...], ...] = ()

    def generated(self) -> list[int]:
        """Tokens generated so far, also after a soft reset folded some of them into the prompt."""
        if self._true_initial_tokens:
            return [*self.initial_tokens[self._true_initial_tokens :], *self.generated_tokens]
        return self.generated_tokens

    def prompt(self) -> list[int]:
        """The original prompt."""
        return self.initial_tokens[: self._true_initial_tokens or len(self.initial_tokens)]

    def update_and_check_completion(self, token_id: int, logprob: float | None) -> bool:
        """The manager's end-token and length checks, then the stop words (once min_tokens is reached)."""
        finished = super().update_and_check_completion(token_id, logprob)
        if finished or not self.stop_sequences or self.status != RequestStatus.DECODING:
            return finished
        generated = self.generated()
        if self.chooser is not None and len(generated) < self.chooser.sampling.min_tokens:
            return False
        if any(
            len(generated) >= len(word) and tuple(generated[-len(word) :]) == word
            for word in self.stop_sequences
        ):
            self.status = RequestStatus.FINISHED
            return True
        return False

    def create_equivalent_initial_request(self) -> ServedRequest:
        """Keep our fields when the manager re-queues the request after evicting its cache."""
        fresh = super().create_equivalent_initial_request()
        clone = cast(ServedRequest, copy.copy(fresh))
        clone.__class__ = ServedRequest
        clone.chooser, clone.stop_sequences = self.chooser, self.stop_sequences
        return clone


class ListenerRouter(OutputRouter):
    """Hands every output to its request's listener, in the generation thread, instead of a shared queue."""

    def __init__(self, engine: TorchEngine) -> None:
        super().__init__()
        self._engine = engine

    def deliver(self, output: GenerationOutput) -> None:
        self._engine._dispatch(output)

    def deliver_batch(self, outputs: list[GenerationOutput]) -> None:
        for output in outputs:
            self._engine._dispatch(output)


@dataclass
class EngineStats:
    """Counters for metrics and tests."""

    active: int = 0
    generated_tokens: int = 0
    finished: int = 0
    cancelled: int = 0


class TorchEngine:
    """A loaded model plus its continuous-batching loop."""

    def __init__(self, settings: RuntimeSettings) -> None:
        self.settings = settings
        self.model = load_model(settings)
        self.device = self.model.device
        generation = self.model.generation_config
        self.eos_id = _first_id(generation.eos_token_id, self.model.config.eos_token_id, default=-1)
        self.pad_id = _first_id(generation.pad_token_id, self.model.config.pad_token_id, default=self.eos_id)
        self.vocab_size = int(self.model.config.get_text_config().vocab_size)
        self.stats = EngineStats()
        self._listeners: dict[str, _Subscription] = {}
        self._lock = threading.Lock()
        self._manager = self._create_manager()

    def _create_manager(self) -> Any:
        settings = self.settings
        kv_tokens = settings.kv_cache_tokens or default_kv_cache_tokens(self.model, settings)
        logger.info("KV cache: %d tokens in pages of %d", kv_tokens, PAGE_SIZE)
        cb_config = ContinuousBatchingConfig(
            page_size=PAGE_SIZE,
            num_blocks=max(math.ceil(kv_tokens / PAGE_SIZE), settings.max_batch_size),
            max_batch_tokens=max(MAX_BATCH_TOKENS, settings.max_batch_size),
            max_requests_per_batch=settings.max_batch_size,
            max_blocks_per_request=0,  # the block-table fast path needs flash attention; keep one code path
            return_logprobs=True,  # our sampler fills them; the manager carries them to the outputs
            use_cuda_graph=False,  # the per-request sampler is Python and cannot be captured
            use_async_batching=False,  # the sampler reads the batch it is sampling for
            allow_block_sharing=False,
        )
        # EOS is per request (end_id); the manager's default must not stop anything by itself.
        generation = GenerationConfig(  # type: ignore[no-untyped-call]  # transformers leaves it unannotated
            do_sample=False, eos_token_id=-1, max_new_tokens=settings.max_seq_len
        )
        manager = self.model.init_continuous_batching(
            generation_config=generation, continuous_batching_config=cb_config
        )
        manager.output_router = ListenerRouter(self)
        manager.warmup()  # creates the batch processor now, so its sampler can be replaced before the loop runs
        batch_processor = manager.batch_processor
        batch_processor.model_runner._sample = self._make_sampler(batch_processor)
        manager.start()
        return manager

    def _make_sampler(self, batch_processor: Any) -> Callable[[torch.Tensor, torch.Tensor], None]:
        """The replacement for the manager's sampler.

        Logits rows belong, in order, to the batch's requests that get a token this step (a request whose
        prompt is still being prefilled in chunks gets none; trailing rows are padding).
        """

        def sample(scores: torch.Tensor, output_ids: torch.Tensor) -> None:
            states = [
                f.state for f in batch_processor.inputs_and_outputs.requests_in_batch if f.has_new_token
            ]
            logits = scores[0, : len(states)]
            failures: list[tuple[str, Exception]] = []

            def on_failure(index: int, error: Exception) -> None:
                failures.append((states[index].request_id, error))

            try:
                tokens, log_probs = choose_next_tokens(
                    logits, [_row_of(state) for state in states], on_failure=on_failure
                )
            except Exception:  # a bug outside any one row: no request may get another's tokens
                logger.exception("per-request decoding failed; using argmax for this step")
                tokens, log_probs = logits.argmax(dim=-1), torch.zeros(len(states), device=logits.device)
            for request_id, error in failures:
                self.fail(request_id, f"decoding this request failed: {error!r}")
            count = tokens.shape[0]
            self.stats.generated_tokens += count
            output_ids[0, :count].copy_(tokens)
            output_ids[1, :count].copy_(log_probs.view(dtype=torch.int32))

        return sample

    def submit(self, request_id: str, request: GenerationRequest, listener: Listener) -> None:
        """Queue `request`; `listener` gets every update (each token when streaming, else the last one)."""
        if not self._manager.is_running():  # it stopped after a fatal error: its requests failed, start anew
            logger.error("the generation loop had stopped; restarting it")
            self._manager.start()
        chooser = TokenChooser.for_request(request)
        state = ServedRequest(
            request_id=request_id,
            initial_tokens=list(request.prompt),
            max_new_tokens=request.max_new_tokens,
            eos_token_id=request.end_id,
            streaming=request.streaming,
            chooser=chooser,
            stop_sequences=request.stop_sequences,
        )
        with self._lock:
            self._listeners[request_id] = _Subscription(listener, request.end_id)
            self.stats.active += 1
        self._manager.input_queue.put(state, block=True, timeout=10)
        self._manager._wake_up_loop.set()

    def cancel(self, request_id: str) -> EngineUpdate | None:
        """Stop generating `request_id` and free its cache.

        Returns what it had generated (a final, cancelled update), or None when it had already finished.
        """
        with self._lock:
            if self._listeners.pop(request_id, None) is None:
                return None
            self.stats.active -= 1
            self.stats.cancelled += 1
        tokens, log_probs = self._snapshot(request_id)  # before the loop drops the request
        self._manager.cancel_request(request_id)
        return EngineUpdate(tokens, log_probs, finished=True, cancelled=True)

    def fail(self, request_id: str, message: str) -> None:
        """End `request_id` with an error (its decoding failed); safe to call from the generation loop."""
        with self._lock:
            subscription = self._listeners.pop(request_id, None)
            if subscription is None:
                return
            self.stats.active -= 1
        logger.error("request %s failed: %s", request_id, message)
        self._manager.cancel_request(request_id)
        _safe_call(subscription.listener, EngineUpdate([], [], finished=True, error=message))

    def _snapshot(self, request_id: str) -> tuple[list[int], list[float]]:
        """Best-effort copy of what a running request has generated (read while the loop may append)."""
        scheduler = getattr(self._manager.batch_processor, "scheduler", None)
        state = None
        if scheduler is not None:
            state = scheduler.active_requests.get(request_id) or scheduler.waiting_requests.get(request_id)
        if not isinstance(state, ServedRequest):
            return [], []
        tokens, log_probs = list(state.generated()), list(state.logprobs)
        count = min(len(tokens), len(log_probs))
        return tokens[:count], log_probs[:count]

    def is_running(self) -> bool:
        """True while the generation loop is alive."""
        return bool(self._manager.is_running())

    def follow(self) -> None:
        """On ranks > 0: run the steps rank 0 drives until its loop ends (never returns while it lives)."""
        thread = self._manager._generation_thread
        if thread is not None:
            thread.join()

    def shutdown(self) -> None:
        """Stop the loop; requests still running get an error update."""
        self._manager.stop(block=True, timeout=10)
        with self._lock:
            subscriptions, self._listeners = self._listeners, {}
        for subscription in subscriptions.values():
            _safe_call(
                subscription.listener,
                EngineUpdate([], [], finished=True, error="the model is being unloaded"),
            )

    def _dispatch(self, output: GenerationOutput) -> None:
        """Turn a manager output into an EngineUpdate for its listener (runs in the generation thread)."""
        finished = output.is_finished()
        with self._lock:
            subscription = self._listeners.get(output.request_id)
            if subscription is not None and finished:
                del self._listeners[output.request_id]
                self.stats.active -= 1
                self.stats.finished += 1
        if subscription is None:  # cancelled meanwhile, or a follower rank
            return
        tokens, log_probs = list(output.generated_tokens), list(output.logprobs)
        if finished and tokens and tokens[-1] == subscription.end_id:
            tokens, log_probs = tokens[:-1], log_probs[: len(tokens) - 1]
        _safe_call(
            subscription.listener, EngineUpdate(tokens, log_probs, finished=finished, error=output.error)
        )


def default_kv_cache_tokens(model: Any, settings: RuntimeSettings) -> int:
    """Room for every slot at max_seq_len, capped by a memory budget (but always one full sequence)."""
    config = model.config.get_text_config()
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    bytes_per_token = 2 * config.num_hidden_layers * kv_heads * head_dim * model.dtype.itemsize
    if model.device.type == "cuda":
        free_bytes, _ = torch.cuda.mem_get_info(model.device)
        budget = int(free_bytes * GPU_KV_CACHE_FREE_FRACTION)
    else:
        budget = CPU_KV_CACHE_BYTES
    wanted = settings.max_batch_size * settings.max_seq_len
    return max(settings.max_seq_len, min(wanted, budget // int(bytes_per_token)))


_PLAIN_GREEDY = TokenChooser(
    SamplingParams(), end_id=-1, bad_sequences=(), embedding_bias=None, wants_log_probs=False, seed=0
)


def _row_of(state: RequestState) -> Row:
    """The sampler's view of a request (warm-up requests of the manager itself decode greedily)."""
    if isinstance(state, ServedRequest) and state.chooser is not None:
        return Row(state.chooser, state.prompt(), state.generated())
    return Row(_PLAIN_GREEDY, state.initial_tokens, state.generated_tokens)


def load_model(settings: RuntimeSettings) -> Any:
    """Load the checkpoint on the configured device and dtype, sharded over the ranks when tp_size > 1.

    With tp_size > 1 the process group must already be initialized (`distributed.initialize`).
    """
    dtype: Any = "auto" if settings.torch_dtype == "auto" else getattr(torch, settings.torch_dtype)
    kwargs: dict[str, Any] = {"dtype": dtype, "attn_implementation": "sdpa"}
    if settings.tp_size > 1:
        _check_divisible(settings)
        kwargs["distributed_config"] = DistributedConfig(tp_size=settings.tp_size, tp_plan="auto")
    # Any: transformers' annotations of the Auto classes' from_pretrained do not type-check as a call.
    auto_class: Any = AutoModelForCausalLM
    model = auto_class.from_pretrained(settings.checkpoint_dir, **kwargs)
    if settings.tp_size == 1:
        device = settings.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        model = model.to(device)
    return model.eval()


def _check_divisible(settings: RuntimeSettings) -> None:
    """Tensor parallelism splits attention heads: say so plainly when tp_size cannot split them."""
    config = AutoConfig.from_pretrained(settings.checkpoint_dir).get_text_config()
    for name in ("num_attention_heads", "num_key_value_heads"):
        heads = getattr(config, name, None)
        if heads and heads % settings.tp_size:
            raise ValueError(
                f"tp_size {settings.tp_size} does not divide the checkpoint's {name} ({heads}); "
                "choose a tp_size that divides it"
            )


def _first_id(*candidates: Any, default: int) -> int:
    for candidate in candidates:
        if isinstance(candidate, list) and candidate:
            candidate = candidate[0]
        if isinstance(candidate, int):
            return candidate
    return default


def _safe_call(listener: Listener, update: EngineUpdate) -> None:
    """A failing listener must never take the generation loop down with it."""
    try:
        listener(update)
    except Exception:
        logger.exception("a response listener failed")
