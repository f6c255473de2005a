"""The llmapi `tensorrt_llm` model: upstream's LLM-API contract, served by whichever executor this machine has.

This is the only module of the llmapi model that talks to Triton. It reads `model.yaml` (`config.py`), turns
each request's tensors into an `LlmRequest` (`contract.py`), hands it to an executor (`executors.py`:
`tensorrt_llm.LLM`, or tritongen's torch runtime without TensorRT-LLM) and sends its updates back:

- decoupled: `execute` returns at once; a responder thread sends each update (the latest one per request
  when several wait: the text is cumulative, so nothing is lost) and polls for cancelled requests every
  `triton_config.cancellation_check_period_ms`;
- not decoupled: `execute` waits for its requests and returns one response each.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import triton_python_backend_utils as pb_utils
from numpy.typing import NDArray

from .config import ConfigError, config_path, instance_devices, read_config
from .contract import (
    NEEDS_REQUEST_ID,
    LlmRequest,
    LlmUpdate,
    RequestError,
    check_parameters,
    is_stop_request,
    parse_request,
    response_arrays,
)
from .executors import Executor, create_executor

FINAL = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL


@dataclass
class _InFlight:
    """One request an executor is working on."""

    executor_id: str
    triton_id: str
    request: LlmRequest
    sender: Any  # decoupled: the response sender; else None
    triton_request: Any = None  # not decoupled: to poll for cancellation
    done: threading.Event = field(default_factory=threading.Event)
    final: LlmUpdate | None = None
    closed: bool = False


def _version_dir(args: dict[str, str]) -> Path:
    return Path(args["model_repository"]) / args["model_version"]


class TritonPythonModel:
    """The Triton entry points."""

    @staticmethod
    def auto_complete_config(auto_complete_model_config: Any) -> Any:
        """Where auto-complete runs, take Triton's batch size and decoupling from model.yaml, as upstream does.

        tritongen's config.pbtxt already says both (auto-complete is often disabled); a hand-made config
        without them gets them here. A value the config already sets differently is left to `check`.
        """
        try:
            # This file is 1/llmapi/model.py: the version directory that holds model.yaml is its grandparent.
            config = read_config(config_path(Path(__file__).resolve().parents[1]))
        except (ConfigError, OSError):
            return auto_complete_model_config  # initialize reports it
        # Each raises when the config already sets it differently: left as it is, `check` names the mismatch.
        with contextlib.suppress(Exception):
            auto_complete_model_config.set_max_batch_size(config.max_batch_size)
        with contextlib.suppress(Exception):
            auto_complete_model_config.set_model_transaction_policy({"decoupled": config.decoupled})
        return auto_complete_model_config

    def initialize(self, args: dict[str, str]) -> None:
        model_config = json.loads(args["model_config"])
        self.decoupled = pb_utils.using_decoupled_model_transaction_policy(model_config)
        self.declared = {output["name"] for output in model_config["output"]}
        try:
            config = read_config(config_path(_version_dir(args)))
            if config.decoupled != self.decoupled:
                raise ConfigError(
                    f"model.yaml says triton_config.decoupled: {str(config.decoupled).lower()} but config.pbtxt's "
                    f"model_transaction_policy says {str(self.decoupled).lower()}: make them agree"
                )
            if config.max_batch_size != 0:
                raise ConfigError("triton_config.max_batch_size must be 0: the LLM batches requests itself")
            ids = model_config.get("parameters", {}).get("gpu_device_ids", {}).get("string_value")
            devices = instance_devices(ids, args.get("model_instance_name", ""))
            if devices is not None:  # before anything imports CUDA: this instance sees only its GPUs
                os.environ["CUDA_VISIBLE_DEVICES"] = devices
                config.llm_args.setdefault("gpus_per_node", len(devices.split(",")))
            self.executor: Executor = create_executor(
                config, prefer=os.environ.get("TRITONGEN_LLMAPI_EXECUTOR")
            )
        except ConfigError as error:
            raise pb_utils.TritonModelException(str(error)) from None
        self.check_period = config.cancellation_check_period_ms / 1000
        self.ids = itertools.count()
        self.in_flight: dict[str, _InFlight] = {}
        self.in_flight_lock = threading.Lock()
        self.updates: queue.SimpleQueue[tuple[_InFlight, LlmUpdate] | None] = queue.SimpleQueue()
        self.responder = threading.Thread(
            target=self._respond_loop, name="tritongen-llmapi-responder", daemon=True
        )
        self.responder.start()
        pb_utils.Logger.log_info(
            f"llmapi model ready: {config.llm_args.get('model')} on the {self.executor.name} executor, "
            f"{'decoupled' if self.decoupled else 'not decoupled'}"
        )

    def execute(self, requests: list[Any]) -> list[Any] | None:
        started = [self._start(request) for request in requests]
        if self.decoupled:
            return None
        return [self._wait(item) for item in started]

    def finalize(self) -> None:
        self.executor.shutdown()
        self.updates.put(None)
        self.responder.join(timeout=5)

    # -- requests in -------------------------------------------------------------------------------------

    def _start(self, request: Any) -> _InFlight | Any:
        sender = request.get_response_sender() if self.decoupled else None

        # One pass over what the client sent: the contract asks for ~20 optional names, most of them absent.
        tensors = {tensor.name(): tensor for tensor in request.inputs()}

        def get(name: str) -> NDArray[Any] | None:
            tensor = tensors.get(name)
            return None if tensor is None else tensor.as_numpy()

        try:
            if is_stop_request(get):
                if not request.request_id():
                    raise RequestError(NEEDS_REQUEST_ID)
                self._stop(request.request_id())
                return self._answer(sender, pb_utils.InferenceResponse(output_tensors=[]))
            check_parameters(_parameters(request))
            parsed = parse_request(get, decoupled=self.decoupled)
        except RequestError as error:
            return self._answer(sender, _error_response(str(error)))
        except Exception as error:  # noqa: BLE001 - an unexpected input must not take the model down
            pb_utils.Logger.log_error(f"cannot read a request: {error!r}")
            return self._answer(sender, _error_response(f"cannot read the request: {error}"))
        item = _InFlight(str(next(self.ids)), request.request_id(), parsed, sender,
                         None if self.decoupled else request)  # fmt: skip
        with self.in_flight_lock:
            self.in_flight[item.executor_id] = item
        try:
            self.executor.submit(item.executor_id, parsed, lambda update: self._on_update(item, update))
        except Exception as error:  # noqa: BLE001 - the request gets the error, the model goes on
            with self.in_flight_lock:
                self.in_flight.pop(item.executor_id, None)
            message = str(error) if isinstance(error, RequestError) else f"cannot queue the request: {error}"
            return self._answer(sender, _error_response(message))
        return item

    def _answer(self, sender: Any, response: Any) -> Any:
        """Send an immediate answer (decoupled), or return it for `execute` to return."""
        if sender is not None:
            _send(sender, response, FINAL)
        return response

    def _stop(self, triton_id: str) -> None:
        """The `stop` input: end the in-flight request(s) with the same Triton request id."""
        with self.in_flight_lock:
            targets = [item for item in self.in_flight.values() if item.triton_id == triton_id]
        for item in targets:
            if self.executor.cancel(item.executor_id):
                pb_utils.Logger.log_info(f"request {triton_id} stopped by a stop request")

    def _wait(self, item: Any) -> Any:
        if not isinstance(item, _InFlight):
            return item
        while not item.done.wait(self.check_period):
            if item.triton_request is not None and item.triton_request.is_cancelled():
                self.executor.cancel(item.executor_id)
        with self.in_flight_lock:
            self.in_flight.pop(item.executor_id, None)
        update = item.final
        if update is None or update.error:
            return _error_response(update.error if update and update.error else "the request was cancelled",
                                   cancelled=update is None or update.cancelled)  # fmt: skip
        return _response(response_arrays(item.request, update, self.declared))

    # -- responses out -----------------------------------------------------------------------------------

    def _on_update(self, item: _InFlight, update: LlmUpdate) -> None:
        """Called in the executor's thread: hand over, never block it (beyond one send).

        The one answer of a non-streaming request is sent right here: nothing of it can be queued before it,
        and a hand-off to the responder thread would cost more than the send (half the model's CPU per
        request at concurrency 32 in the zero-cost benchmark).
        """
        if self.decoupled and update.finished and not item.request.streaming:
            self._send_update(item, update)
        elif self.decoupled:
            self.updates.put((item, update))
        elif update.finished:
            item.final = update
            item.done.set()

    def _respond_loop(self) -> None:
        while True:
            try:
                self._respond()
                return
            except Exception as error:  # noqa: BLE001 - one bad response must not stop the responder
                pb_utils.Logger.log_error(f"responder error (continuing): {error!r}")

    def _respond(self) -> None:
        next_check = time.monotonic() + self.check_period
        while True:
            batch: list[tuple[_InFlight, LlmUpdate]] = []
            try:
                first = self.updates.get(timeout=self.check_period)
            except queue.Empty:
                pass
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
            latest: dict[str, tuple[_InFlight, LlmUpdate]] = {}
            for item, update in batch:
                if (
                    update.finished
                    or item.executor_id not in latest
                    or not latest[item.executor_id][1].finished
                ):
                    latest[item.executor_id] = (item, update)
            for item, update in latest.values():
                self._send_update(item, update)
            if time.monotonic() >= next_check:
                self._check_cancellations()
                next_check = time.monotonic() + self.check_period

    def _send_update(self, item: _InFlight, update: LlmUpdate) -> None:
        if item.closed:
            return
        if update.finished:
            item.closed = True
            with self.in_flight_lock:
                self.in_flight.pop(item.executor_id, None)
        if update.error:
            _send(item.sender, _error_response(update.error, cancelled=update.cancelled), FINAL)
            return
        if not update.finished and not item.request.streaming:
            return
        arrays = response_arrays(item.request, update, self.declared)
        _send(item.sender, _response(arrays), FINAL if update.finished else 0)

    def _check_cancellations(self) -> None:
        with self.in_flight_lock:
            candidates = [item for item in self.in_flight.values() if item.sender is not None]
        for item in candidates:
            try:
                cancelled = item.sender.is_cancelled()
            except Exception:  # noqa: BLE001 - a sender that cannot answer is gone
                cancelled = True
            if cancelled and self.executor.cancel(item.executor_id):
                pb_utils.Logger.log_info(
                    f"request {item.triton_id or item.executor_id} cancelled by the client"
                )


def _parameters(request: Any) -> dict[str, Any]:
    """The request's parameters (where Triton puts generate-body keys the model does not declare)."""
    try:
        parameters = json.loads(request.parameters()) if hasattr(request, "parameters") else {}
    except (TypeError, ValueError):
        return {}
    return parameters if isinstance(parameters, dict) else {}


def _response(arrays: dict[str, NDArray[Any]]) -> Any:
    return pb_utils.InferenceResponse(
        output_tensors=[pb_utils.Tensor(name, value) for name, value in arrays.items()]
    )


def _error_response(message: str, *, cancelled: bool = False) -> Any:
    code = getattr(pb_utils.TritonError, "CANCELLED", None) if cancelled else None
    error = pb_utils.TritonError(message, code) if code is not None else pb_utils.TritonError(message)
    return pb_utils.InferenceResponse(output_tensors=[], error=error)


def _send(sender: Any, response: Any, flags: int) -> None:
    try:
        if response is None:
            sender.send(flags=flags)
        else:
            sender.send(response, flags=flags)
    except Exception as error:  # noqa: BLE001 - a client that went away must not stop the responder
        pb_utils.Logger.log_warn(f"could not send a response (client gone?): {error}")
