"""`tensorrt_llm` served by tritongen's torch runtime: a Hugging Face checkpoint behind the TRT-LLM contract.

This is the only module of the torch runtime that talks to Triton. It reads the config.pbtxt parameters,
turns each request's tensors into a GenerationRequest (`contract.py`), hands it to the continuous-batching
engine (`engine.py`) and sends the engine's updates back through `..serving.in_flight` (shared with the
llmapi model):

- decoupled (default): `execute` returns at once; a responder thread sends one response per new token
  (or per small group of tokens when it falls behind) and the final flag, and polls for cancelled
  requests every `cancellation_check_period_ms`;
- not decoupled: `execute` waits for its requests and returns one response each.

With `tp_size` > 1 every MPI rank loads this model; ranks > 0 never return from `initialize`: they run
the steps rank 0 drives and exit when it goes away (like the TensorRT-LLM backend's worker ranks).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import triton_python_backend_utils as pb_utils
from numpy.typing import NDArray

from ..common.parameters import is_unset
from ..serving.in_flight import FINAL, InFlight, InFlightModel, error_response, send
from . import distributed
from .contract import (
    ModelLimits,
    RequestError,
    ResponseCursor,
    is_stop_request,
    parse_request,
    response_arrays,
)
from .engine import EngineStats, EngineUpdate, TorchEngine
from .settings import SettingsError, read_settings

DEFAULT_CANCELLATION_CHECK_MS = 100

_InFlight = InFlight[ResponseCursor, EngineUpdate]


class TritonPythonModel(InFlightModel[ResponseCursor, EngineUpdate]):
    """The Triton entry points (`execute`, `finalize` and the responder are `InFlightModel`'s)."""

    def initialize(self, args: dict[str, str]) -> None:
        model_config = json.loads(args["model_config"])
        parameters = {
            key: value.get("string_value", "") for key, value in model_config.get("parameters", {}).items()
        }
        decoupled = pb_utils.using_decoupled_model_transaction_policy(model_config)
        self.declared = {
            output["name"]: pb_utils.triton_string_to_numpy(output["data_type"])
            for output in model_config["output"]
        }
        try:
            settings = read_settings(
                parameters,
                decoupled=decoupled,
                config_max_batch_size=int(model_config.get("max_batch_size", 0)),
                model_max_positions=_max_positions(parameters.get("gpt_model_path", "")),
            )
        except SettingsError as error:
            raise pb_utils.TritonModelException(str(error)) from None
        world = distributed.World.from_environment()
        if world.size != settings.tp_size:
            raise pb_utils.TritonModelException(
                f"tp_size is {settings.tp_size} but {world.size} rank(s) were started; "
                f"launch tritonserver under mpirun with {settings.tp_size} ranks"
            )
        if world.size > 1:
            distributed.initialize(world, settings)
        self.engine = TorchEngine(settings)
        if world.rank > 0:
            distributed.follow_forever(self.engine, world)  # never returns
        self.limits = ModelLimits(
            vocab_size=self.engine.vocab_size,
            max_input_len=settings.max_input_len,
            max_seq_len=settings.max_seq_len,
            eos_id=self.engine.eos_id,
            pad_id=self.engine.pad_id,
            exclude_input_in_output=settings.exclude_input_in_output,
            decoupled=decoupled,
        )
        check_ms = parameters.get("cancellation_check_period_ms")
        check_period = (
            DEFAULT_CANCELLATION_CHECK_MS if check_ms is None or is_unset(check_ms) else int(check_ms)
        ) / 1000
        self.metrics = _Metrics(args["model_name"])
        self._start_serving(
            decoupled=decoupled,
            check_period=check_period,
            thread_name="tritongen-responder",
            shutdown=self.engine.shutdown,
            ready=f"torch runtime ready: {settings.checkpoint_dir} on {self.engine.device} "
            f"({self.engine.model.dtype}), max_batch_size {settings.max_batch_size}, "
            f"max_seq_len {settings.max_seq_len}",
        )

    # -- requests in -------------------------------------------------------------------------------------

    def _start(self, request: Any) -> _InFlight | Any:
        """Parse and submit one request; answer it at once when it is invalid or a stop request."""
        arrival = time.time_ns()
        sender = request.get_response_sender() if self.decoupled else None

        def get(name: str) -> NDArray[Any] | None:
            tensor = pb_utils.get_input_tensor_by_name(request, name)
            return None if tensor is None else tensor.as_numpy()

        try:
            if is_stop_request(get):
                self._stop(request.request_id())
                if sender is not None:  # the stop request itself has nothing to say: just close it
                    send(sender, None, FINAL)
                return pb_utils.InferenceResponse(output_tensors=[])
            generation = parse_request(get, self.limits)
        except RequestError as error:  # the client's mistake: 400, for this request only
            return self._answer(sender, error_response(str(error), invalid=True))
        except Exception as error:  # noqa: BLE001 - an unexpected input must not take the model down
            pb_utils.Logger.log_error(f"cannot read a request: {error!r}")
            return self._answer(sender, error_response(f"cannot read the request: {error}"))
        started = self._submit(
            request,
            sender,
            ResponseCursor(generation, arrival_ns=arrival),
            lambda key, listener: self.engine.submit(key, generation, listener),
        )
        if isinstance(started, InFlight) and generation.requested_output_len > generation.max_new_tokens:
            pb_utils.Logger.log_verbose(
                f"request {started.triton_id or started.key}: request_output_len {generation.requested_output_len} "
                f"clamped to {generation.max_new_tokens} to fit max_seq_len"
            )
        return started

    def _stop(self, triton_id: str) -> None:
        """The `stop` input: end the in-flight request with the same Triton request id, with what it has."""
        with self.in_flight_lock:
            targets = [item for item in self.in_flight.values() if triton_id and item.triton_id == triton_id]
        for item in targets:
            update = self.engine.cancel(item.key)
            if update is not None:
                pb_utils.Logger.log_info(f"request {triton_id} stopped by a stop request")
                self._on_update(item, update)

    # -- responses out -----------------------------------------------------------------------------------

    def _arrays(self, item: _InFlight, update: EngineUpdate) -> dict[str, NDArray[Any]]:
        return response_arrays(
            item.work, update.tokens, update.log_probs, now_ns=time.time_ns(), declared=self.declared
        )

    def _streaming(self, item: _InFlight) -> bool:
        return item.work.request.streaming

    def _every_check_period(self) -> None:
        self._check_cancellations()
        self.metrics.refresh(self.engine.stats)

    def _cancel(self, item: _InFlight) -> None:
        """The client went away: stop generating for `item`, free its cache, close it with CANCELLED."""
        update = self.engine.cancel(item.key)
        if update is None:
            return  # it finished meanwhile; its final response is on its way
        pb_utils.Logger.log_info(
            f"request {item.triton_id or item.key} cancelled by the client after {len(update.tokens)} "
            "generated tokens; generation stopped and its KV cache freed"
        )
        if item.sender is None:
            item.done.set()  # `_wait` answers it
            return
        with self.in_flight_lock:
            self.in_flight.pop(item.key, None)
        # Queue the closing response behind any update still waiting, so it is the last one sent.
        closing = EngineUpdate(
            [], [], finished=True, error="the request was cancelled by the client", cancelled=True
        )
        self.updates.put((item, closing))


class _Metrics:
    """Custom Prometheus metrics on tritonserver's metrics port (where the Python backend supports them)."""

    def __init__(self, model_name: str) -> None:
        self.sent_tokens = 0
        self.active: Any = None
        self.tokens: Any = None
        self.families: tuple[Any, ...]
        try:  # the families must outlive their metrics, so both are kept
            self.families = (
                pb_utils.MetricFamily(
                    name="tritongen_torch_active_requests",
                    description="Requests the torch runtime is generating for",
                    kind=pb_utils.MetricFamily.GAUGE,
                ),
                pb_utils.MetricFamily(
                    name="tritongen_torch_generated_tokens_total",
                    description="Tokens generated by the torch runtime",
                    kind=pb_utils.MetricFamily.COUNTER,
                ),
            )
            labels = {"model": model_name}
            self.active, self.tokens = (family.Metric(labels=labels) for family in self.families)
        except Exception:  # noqa: BLE001 - older Python backends have no custom metrics
            self.families = ()

    def refresh(self, stats: EngineStats) -> None:
        if self.active is None:
            return
        self.active.set(stats.active)
        generated = stats.generated_tokens
        if generated > self.sent_tokens:
            self.tokens.increment(generated - self.sent_tokens)
            self.sent_tokens = generated


def _max_positions(checkpoint: str) -> int | None:
    """The checkpoint's context length, the default for max_seq_len."""
    try:
        with open(Path(checkpoint) / "config.json") as handle:
            config = json.load(handle)
    except (OSError, ValueError):
        return None
    value = config.get("max_position_embeddings") or config.get("text_config", {}).get(
        "max_position_embeddings"
    )
    return int(value) if value else None
