"""`tensorrt_llm` served by tritongen's torch runtime: a Hugging Face checkpoint behind the TRT-LLM contract.

This is the only module that talks to Triton. It reads the config.pbtxt parameters, turns each request's
tensors into a GenerationRequest (`contract.py`), hands it to the continuous-batching
engine (`engine.py`) and sends the engine's updates back:

- decoupled (default): `execute` returns at once; a responder thread sends one response per new token
  (or per small group of tokens when it falls behind) and the final flag, and polls for cancelled
  requests every `cancellation_check_period_ms`;
- not decoupled: `execute` waits for its requests and returns one response each.

With `tp_size` > 1 every MPI rank loads this model; ranks > 0 never return from `initialize`: they run
the steps rank 0 drives and exit when it goes away (like the TensorRT-LLM backend's worker ranks).
"""

from __future__ import annotations

import itertools
import json
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import triton_python_backend_utils as pb_utils
from numpy.typing import NDArray

from ..common.parameters import is_unset
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

FINAL = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL
DEFAULT_CANCELLATION_CHECK_MS = 100


@dataclass
class _InFlight:
    """One request the engine is working on."""

    engine_id: str
    triton_id: str
    cursor: ResponseCursor
    sender: Any  # decoupled: the response sender; else None
    request: Any = None  # not decoupled: the Triton request (to poll for cancellation)
    done: threading.Event = field(default_factory=threading.Event)
    final: EngineUpdate | None = None
    closed: bool = False


class TritonPythonModel:
    """The Triton entry points."""

    def initialize(self, args: dict[str, str]) -> None:
        model_config = json.loads(args["model_config"])
        parameters = {
            key: value.get("string_value", "") for key, value in model_config.get("parameters", {}).items()
        }
        self.decoupled = pb_utils.using_decoupled_model_transaction_policy(model_config)
        self.declared = {
            output["name"]: pb_utils.triton_string_to_numpy(output["data_type"])
            for output in model_config["output"]
        }
        try:
            settings = read_settings(
                parameters,
                decoupled=self.decoupled,
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
            decoupled=self.decoupled,
        )
        check_ms = parameters.get("cancellation_check_period_ms")
        self.check_period = (
            DEFAULT_CANCELLATION_CHECK_MS if check_ms is None or is_unset(check_ms) else int(check_ms)
        ) / 1000
        self.ids = itertools.count()
        self.in_flight: dict[str, _InFlight] = {}
        self.in_flight_lock = threading.Lock()
        self.updates: queue.SimpleQueue[tuple[_InFlight, EngineUpdate] | None] = queue.SimpleQueue()
        self.metrics = _Metrics(args["model_name"])
        self.responder = threading.Thread(target=self._respond_loop, name="tritongen-responder", daemon=True)
        self.responder.start()
        pb_utils.Logger.log_info(
            f"torch runtime ready: {settings.checkpoint_dir} on {self.engine.device} ({self.engine.model.dtype}), "
            f"max_batch_size {settings.max_batch_size}, max_seq_len {settings.max_seq_len}, "
            f"{'decoupled' if self.decoupled else 'not decoupled'}"
        )

    def execute(self, requests: list[Any]) -> list[Any] | None:
        """Decoupled: queue every request and return; otherwise wait for all of them."""
        started = [self._start(request) for request in requests]
        if self.decoupled:
            return None
        return [self._wait(item) for item in started]

    def finalize(self) -> None:
        self.engine.shutdown()
        self.updates.put(None)
        self.responder.join(timeout=5)

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
                    _send(sender, None, FINAL)
                return pb_utils.InferenceResponse(output_tensors=[])
            generation = parse_request(get, self.limits)
        except RequestError as error:  # the client's mistake: 400, for this request only
            return self._answer(sender, _error_response(str(error), invalid=True))
        except Exception as error:  # noqa: BLE001 - an unexpected input must not take the model down
            pb_utils.Logger.log_error(f"cannot read a request: {error!r}")
            return self._answer(sender, _error_response(f"cannot read the request: {error}"))
        item = _InFlight(
            engine_id=str(next(self.ids)),
            triton_id=request.request_id(),
            cursor=ResponseCursor(generation, arrival_ns=arrival),
            sender=sender,
            request=None if self.decoupled else request,
        )
        if generation.requested_output_len > generation.max_new_tokens:
            pb_utils.Logger.log_verbose(
                f"request {item.triton_id or item.engine_id}: request_output_len {generation.requested_output_len} "
                f"clamped to {generation.max_new_tokens} to fit max_seq_len"
            )
        with self.in_flight_lock:
            self.in_flight[item.engine_id] = item
        try:
            self.engine.submit(item.engine_id, generation, lambda update: self._on_update(item, update))
        except Exception as error:  # noqa: BLE001 - the request gets the error, the model goes on
            with self.in_flight_lock:
                self.in_flight.pop(item.engine_id, None)
            return self._answer(sender, _error_response(f"cannot queue the request: {error}"))
        return item

    def _answer(
        self, sender: object | None, response: pb_utils.InferenceResponse
    ) -> pb_utils.InferenceResponse:
        """Send an immediate answer (decoupled), or return it for `execute` to return."""
        if sender is not None:
            _send(sender, response, FINAL)
        return response

    def _stop(self, triton_id: str) -> None:
        """The `stop` input: end the in-flight request with the same Triton request id, with what it has."""
        with self.in_flight_lock:
            targets = [item for item in self.in_flight.values() if triton_id and item.triton_id == triton_id]
        for item in targets:
            update = self.engine.cancel(item.engine_id)
            if update is not None:
                pb_utils.Logger.log_info(f"request {triton_id} stopped by a stop request")
                self._on_update(item, update)

    def _wait(self, item: _InFlight | pb_utils.InferenceResponse) -> pb_utils.InferenceResponse:
        """Not decoupled: block until the request finishes (or its client goes away)."""
        if not isinstance(item, _InFlight):
            return item
        while not item.done.wait(self.check_period):
            if item.request is not None and item.request.is_cancelled():
                self._cancel(item)
        with self.in_flight_lock:
            self.in_flight.pop(item.engine_id, None)
        update = item.final
        if update is None or update.error:
            message = update.error if update is not None and update.error else "the request was cancelled"
            return _error_response(message, cancelled=update is None or update.cancelled)
        arrays = response_arrays(
            item.cursor,
            update.tokens,
            update.log_probs,
            now_ns=time.time_ns(),
            declared=self.declared,
        )
        return _response(arrays)

    # -- responses out -----------------------------------------------------------------------------------

    def _on_update(self, item: _InFlight, update: EngineUpdate) -> None:
        """Called in the engine's thread: hand over, never block it."""
        if self.decoupled:
            self.updates.put((item, update))
        elif update.finished:
            item.final = update
            item.done.set()

    def _respond_loop(self) -> None:
        """Run `_respond` until `finalize`; an error is logged, never fatal to the thread."""
        while True:
            try:
                self._respond()
                return
            except Exception as error:  # noqa: BLE001 - one bad response must not stop the responder
                pb_utils.Logger.log_error(f"responder error (continuing): {error!r}")

    def _respond(self) -> None:
        """Send queued updates (the latest per request when several wait) and poll for cancellations."""
        next_check = time.monotonic() + self.check_period
        while True:
            batch: list[tuple[_InFlight, EngineUpdate]] = []
            try:
                first = self.updates.get(timeout=self.check_period)
            except queue.Empty:
                pass  # nothing to send: still check for cancellations below
            else:
                if first is None:
                    return
                batch.append(first)
            while True:
                try:
                    more = self.updates.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    return
                batch.append(more)
            latest: dict[str, tuple[_InFlight, EngineUpdate]] = {}
            for item, update in batch:
                latest[item.engine_id] = (item, update)
            for item, update in latest.values():
                self._send_update(item, update)
            if time.monotonic() >= next_check:
                self._check_cancellations()
                self.metrics.refresh(self.engine.stats)
                next_check = time.monotonic() + self.check_period

    def _send_update(self, item: _InFlight, update: EngineUpdate) -> None:
        if item.closed:
            return
        if update.finished:
            item.closed = True
            with self.in_flight_lock:
                self.in_flight.pop(item.engine_id, None)
        if update.error:
            _send(item.sender, _error_response(update.error, cancelled=update.cancelled), FINAL)
            return
        if not update.finished and not item.cursor.request.streaming:
            return
        arrays = response_arrays(
            item.cursor,
            update.tokens,
            update.log_probs,
            now_ns=time.time_ns(),
            declared=self.declared,
        )
        sent = _send(item.sender, _response(arrays), FINAL if update.finished else 0)
        if not sent and not update.finished:  # the client is gone (an HTTP stream closed): stop now
            self._cancel(item)

    def _check_cancellations(self) -> None:
        with self.in_flight_lock:
            candidates = [item for item in self.in_flight.values() if item.sender is not None]
        for item in candidates:
            try:
                cancelled = item.sender.is_cancelled()
            except Exception:  # noqa: BLE001 - a sender that cannot answer is gone
                cancelled = True
            if cancelled:
                self._cancel(item)

    def _cancel(self, item: _InFlight) -> None:
        """The client went away: stop generating for `item`, free its cache, close it with CANCELLED."""
        update = self.engine.cancel(item.engine_id)
        if update is None:
            return  # it finished meanwhile; its final response is on its way
        pb_utils.Logger.log_info(
            f"request {item.triton_id or item.engine_id} cancelled by the client after {len(update.tokens)} "
            "generated tokens; generation stopped and its KV cache freed"
        )
        if item.sender is None:
            item.done.set()  # `_wait` answers it
            return
        with self.in_flight_lock:
            self.in_flight.pop(item.engine_id, None)
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


def _response(arrays: dict[str, NDArray[Any]]) -> pb_utils.InferenceResponse:
    return pb_utils.InferenceResponse(
        output_tensors=[pb_utils.Tensor(name, value) for name, value in arrays.items()]
    )


def _error_response(
    message: str, *, cancelled: bool = False, invalid: bool = False
) -> pb_utils.InferenceResponse:
    code = None
    if cancelled:
        code = getattr(pb_utils.TritonError, "CANCELLED", None)
    elif invalid:  # INVALID_ARG: HTTP 400 rather than 500
        code = getattr(pb_utils.TritonError, "INVALID_ARG", None)
    error = pb_utils.TritonError(message, code) if code is not None else pb_utils.TritonError(message)
    return pb_utils.InferenceResponse(output_tensors=[], error=error)


def _send(sender: Any, response: Any, flags: int) -> bool:
    """Send (a response, or only the flags), tolerating a client that has gone away: False then."""
    try:
        if response is None:
            sender.send(flags=flags)
        else:
            sender.send(response, flags=flags)
    except Exception as error:  # noqa: BLE001 - a client that went away must not stop the responder
        pb_utils.Logger.log_warn(f"could not send a response (client gone?): {error}")
        return False
    return True


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
