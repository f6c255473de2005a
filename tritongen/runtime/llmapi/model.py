"""The llmapi `tensorrt_llm` model: upstream's LLM-API contract, served by whichever executor this machine has.

This is the only module of the llmapi model that talks to Triton. It reads `model.yaml` (`config.py`), turns
each request's tensors into an `LlmRequest` (`contract.py`), hands it to an executor (`executors.py`:
`tensorrt_llm.LLM`, or tritongen's torch runtime without TensorRT-LLM) and sends its updates back through
`..serving.in_flight` (shared with the torch runtime model):

- decoupled: `execute` returns at once; a responder thread sends each update (the latest one per request
  when several wait: the text is cumulative, so nothing is lost) and polls for cancelled requests every
  `triton_config.cancellation_check_period_ms`;
- not decoupled: `execute` waits for its requests and returns one response each.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import triton_python_backend_utils as pb_utils
from numpy.typing import NDArray

from ..serving.in_flight import InFlight, InFlightModel, error_response
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

_InFlight = InFlight[LlmRequest, LlmUpdate]


def _version_dir(args: dict[str, str]) -> Path:
    return Path(args["model_repository"]) / args["model_version"]


class TritonPythonModel(InFlightModel[LlmRequest, LlmUpdate]):
    """The Triton entry points (`execute`, `finalize` and the responder are `InFlightModel`'s)."""

    client_errors = (RequestError,)

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
        decoupled = pb_utils.using_decoupled_model_transaction_policy(model_config)
        self.declared = {output["name"] for output in model_config["output"]}
        try:
            config = read_config(config_path(_version_dir(args)))
            if config.decoupled != decoupled:
                raise ConfigError(
                    f"model.yaml says triton_config.decoupled: {str(config.decoupled).lower()} but config.pbtxt's "
                    f"model_transaction_policy says {str(decoupled).lower()}: make them agree"
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
        self._start_serving(
            decoupled=decoupled,
            check_period=config.cancellation_check_period_ms / 1000,
            thread_name="tritongen-llmapi-responder",
            shutdown=self.executor.shutdown,
            ready=f"llmapi model ready: {config.llm_args.get('model')} on the {self.executor.name} executor",
        )

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
            return self._answer(sender, error_response(str(error)))
        except Exception as error:  # noqa: BLE001 - an unexpected input must not take the model down
            pb_utils.Logger.log_error(f"cannot read a request: {error!r}")
            return self._answer(sender, error_response(f"cannot read the request: {error}"))
        return self._submit(
            request, sender, parsed, lambda key, listener: self.executor.submit(key, parsed, listener)
        )

    def _stop(self, triton_id: str) -> None:
        """The `stop` input: end the in-flight request(s) with the same Triton request id."""
        with self.in_flight_lock:
            targets = [item for item in self.in_flight.values() if item.triton_id == triton_id]
        for item in targets:
            if self.executor.cancel(item.key):
                pb_utils.Logger.log_info(f"request {triton_id} stopped by a stop request")

    # -- responses out -----------------------------------------------------------------------------------

    def _on_update(self, item: _InFlight, update: LlmUpdate) -> None:
        """Called in the executor's thread: hand over, never block it (beyond one send).

        The one answer of a non-streaming request is sent right here: nothing of it can be queued before it,
        and a hand-off to the responder thread would cost more than the send (half the model's CPU per
        request at concurrency 32 in the zero-cost benchmark).
        """
        if self.decoupled and update.finished and not item.work.streaming:
            self._send_update(item, update)
        else:
            super()._on_update(item, update)

    def _arrays(self, item: _InFlight, update: LlmUpdate) -> dict[str, NDArray[Any]]:
        return response_arrays(item.work, update, self.declared)

    def _streaming(self, item: _InFlight) -> bool:
        return item.work.streaming

    def _cancel(self, item: _InFlight) -> None:
        """The client went away: the executor ends the request with a final, cancelled update."""
        if self.executor.cancel(item.key):
            pb_utils.Logger.log_info(f"request {item.triton_id or item.key} cancelled by the client")


def _parameters(request: Any) -> dict[str, Any]:
    """The request's parameters (where Triton puts generate-body keys the model does not declare)."""
    try:
        parameters = json.loads(request.parameters()) if hasattr(request, "parameters") else {}
    except (TypeError, ValueError):
        return {}
    return parameters if isinstance(parameters, dict) else {}
