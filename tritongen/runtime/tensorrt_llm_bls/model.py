"""tensorrt_llm_bls: the ensemble's pipeline as one Python model (preprocessing -> LLM -> postprocessing).

It takes the user-facing names (text_input, max_tokens, stream, top_k, ...) and returns text_output
plus the LLM outputs its config declares (cum_log_probs, output_log_probs, ...).

The preprocessing and postprocessing models of this repository run inside this process: their code
(a copy ships in this model's `1/`) with their own config.pbtxt, loaded here once, so a request costs
one call to the LLM instead of three model calls (each a round trip through the server and another
process). When a sibling cannot be run that way (not a Python model, its code is not byte for byte the
copy shipped here, e.g. edited by hand or from another tritongen, or it fails to initialize here), it
is called as a model instead.

Unlike the ensemble it keeps each stream's tokens itself, so streamed text never loses spaces or
splits characters:
  accumulate_tokens=true   re-decode all tokens so far on every step and send the new characters;
  accumulate_tokens=false  decode a short window (the prefix-offset technique): same text, less work.
Either way a trailing incomplete character waits for its remaining bytes.

When the client goes away (an HTTP connection closed, a gRPC stream cancelled) it stops the LLM's
request (a `stop` request with the same request id, as upstream does): a stream at its next token, a
whole answer (non-streaming /generate) within `CANCELLATION_POLL_S`, polled by one watcher thread.
Triton 2.51's ensemble does not pass a cancellation on to its steps: only this model and the LLM
model itself stop generating for a client that left.

Parameters (empty or unfilled fill_template placeholder = default):
  accumulate_tokens               true|false (default false)
  tensorrt_llm_model_name         the LLM model to call (default tensorrt_llm)
  tensorrt_llm_draft_model_name   speculative decoding: not supported, must stay unset
  multimodal_encoders_name        multimodal: not supported; requests with images are refused
"""

from __future__ import annotations

import json
import queue
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils
from numpy.typing import NDArray

from ..common.model_config_text import load_model_config
from ..common.parameters import parse_bool, request_parameters, string_parameter
from ..postprocessing import model as postprocessing_model
from ..preprocessing import model as preprocessing_model
from .text_stream import TextStream

# The sibling models this one can run in-process, by model name: the code shipped beside this file.
IN_PROCESS_CODE: dict[str, ModuleType] = {
    "preprocessing": preprocessing_model,
    "postprocessing": postprocessing_model,
}

# user-facing name -> the preprocessing input it feeds
TO_PREPROCESSING = {
    "text_input": "QUERY",
    "decoder_text_input": "DECODER_QUERY",
    "max_tokens": "REQUEST_OUTPUT_LEN",
    "bad_words": "BAD_WORDS_DICT",
    "stop_words": "STOP_WORDS_DICT",
    "embedding_bias_words": "EMBEDDING_BIAS_WORDS",
    "embedding_bias_weights": "EMBEDDING_BIAS_WEIGHTS",
    "end_id": "END_ID",
    "pad_id": "PAD_ID",
    "prompt_table_extra_id": "PROMPT_TABLE_EXTRA_ID",
}
# preprocessing output -> the LLM input it feeds
FROM_PREPROCESSING = {
    "INPUT_ID": "input_ids",
    "REQUEST_INPUT_LEN": "input_lengths",
    "REQUEST_OUTPUT_LEN": "request_output_len",
    "OUT_END_ID": "end_id",
    "OUT_PAD_ID": "pad_id",
    "STOP_WORDS_IDS": "stop_words_list",
    "BAD_WORDS_IDS": "bad_words_list",
    "EMBEDDING_BIAS": "embedding_bias",
    "DECODER_INPUT_ID": "decoder_input_ids",
    "REQUEST_DECODER_INPUT_LEN": "decoder_input_lengths",
    "OUT_PROMPT_TABLE_EXTRA_IDS": "prompt_table_extra_ids",
}
# user-facing name -> LLM name, where they differ (§4.3 of the backend reference)
RENAMED = {
    "top_k": "runtime_top_k",
    "top_p": "runtime_top_p",
    "length_penalty": "len_penalty",
    "stream": "streaming",
}
# user-facing inputs the LLM takes under the same name (each version declares its own subset)
SAME_NAME = (
    "temperature", "repetition_penalty", "min_tokens", "min_length", "presence_penalty",
    "frequency_penalty", "seed", "random_seed", "beam_width", "num_return_sequences",
    "exclude_input_in_output", "return_log_probs", "return_context_logits", "return_generation_logits",
    "return_perf_metrics", "return_num_input_tokens", "return_num_output_tokens",
    "prompt_embedding_table", "prompt_vocab_size", "lora_task_id", "lora_weights", "lora_config",
    "guided_decoding_guide_type", "guided_decoding_guide",
)  # fmt: skip
# Decoupled: requests served at once, each on a worker thread for its whole stream; more wait their turn.
MAX_CONCURRENT_REQUESTS = 1024
# How often the requests waiting for a whole answer are checked for a client that went away (seconds).
CANCELLATION_POLL_S = 0.1
MULTIMODAL_INPUTS = (
    "image_input",
    "image_bytes_input",
    "image_url_input",
    "image_sizes_input",
    "video_bytes_input",
)


class Workers:
    """Daemon threads that each serve one request at a time and then wait for the next: starting a
    thread per request costs more than a short request itself. Daemon, so that a stream still running
    never keeps the stub process from exiting when the model unloads."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.jobs: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]]] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.started = 0
        self.idle = 0

    def submit(self, job: Callable[..., None], *args: Any) -> None:
        with self.lock:
            if self.idle > 0:
                self.idle -= 1  # an idle worker takes this job
                start = False
            else:
                start = self.started < self.limit  # at the limit, the job waits for a worker
                self.started += start
        self.jobs.put((job, args))
        if start:
            threading.Thread(target=self._work, name=f"bls-{self.started}", daemon=True).start()

    def _work(self) -> None:
        while True:
            job, args = self.jobs.get()
            try:
                job(*args)
            except Exception:  # noqa: BLE001 - a job reports its own errors; keep the worker alive
                pb_utils.Logger.log_error(f"tensorrt_llm_bls: {traceback.format_exc()}")
            with self.lock:
                self.idle += 1


class CancellationWatch:
    """One daemon thread that polls the requests waiting for the LLM and calls `stop(request_id)` for
    each whose client went away: a worker blocked on a whole (non-streamed) answer cannot look itself."""

    def __init__(self, stop: Callable[[str], None], period_s: float = CANCELLATION_POLL_S) -> None:
        self.stop = stop
        self.period_s = period_s
        self.watched: dict[str, Callable[[], bool]] = {}
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def add(self, request_id: str, cancelled: Callable[[], bool]) -> None:
        with self.lock:
            self.watched[request_id] = cancelled
            if self.thread is None:
                self.thread = threading.Thread(target=self._poll, name="bls-cancellation", daemon=True)
                self.thread.start()

    def remove(self, request_id: str) -> None:
        with self.lock:
            self.watched.pop(request_id, None)

    def _poll(self) -> None:
        """The checks run under the lock, so once `remove` returns its request is never asked again: on
        a sender that has sent its final flag, is_cancelled() crashes tritonserver 2.51."""
        while True:
            time.sleep(self.period_s)
            gone = []
            with self.lock:
                for request_id, cancelled in list(self.watched.items()):
                    try:
                        left = cancelled()
                    except Exception:  # noqa: BLE001 - a sender that cannot answer belongs to a gone client
                        left = True
                    if left:
                        del self.watched[request_id]
                        gone.append(request_id)
            for request_id in gone:  # outside the lock: a stop is a call to the LLM
                pb_utils.Logger.log_info(f"tensorrt_llm_bls: client of {request_id} went away; stopping it")
                self.stop(request_id)


class InProcessModel:
    """A sibling Python model (preprocessing, postprocessing) run in this process with its own config
    and the copy of its code shipped with this model: a call costs a function call instead of a round
    trip through the server."""

    def __init__(self, model_dir: Path, code: ModuleType) -> None:
        self.name = model_dir.name
        config = load_model_config(model_dir / "config.pbtxt")
        if config.get("backend") != "python":
            raise ValueError(f"{self.name} is not a Python model (backend '{config.get('backend')}')")
        versions = sorted(
            (d for d in model_dir.iterdir() if d.name.isdigit() and (d / "model.py").is_file()),
            key=lambda d: int(d.name),
        )
        if not versions:
            raise ValueError(f"{self.name} has no <version>/model.py")
        different = differing_code(versions[-1], self.name)
        if different is not None:
            raise ValueError(f"its {different} is not the code shipped with tensorrt_llm_bls")
        self.model = code.TritonPythonModel()
        self.model.initialize(
            {
                "model_config": json.dumps(config),
                "model_repository": str(model_dir),
                "model_version": versions[-1].name,
                "model_name": self.name,
                "model_instance_kind": "CPU",
                "model_instance_name": f"{self.name}_in_tensorrt_llm_bls",
                "model_instance_device_id": "0",
            }
        )

    def execute(self, inputs: list[Any], requested: list[str], parameters: dict[str, Any]) -> Any:
        request = pb_utils.InferenceRequest(
            model_name=self.name, inputs=inputs, requested_output_names=requested, parameters=parameters
        )
        return self.model.execute([request])[0]


# The root of the code shipped with this model: its `1/` when deployed, tritongen/runtime in the package.
SHIPPED_ROOT = Path(__file__).resolve().parents[1]


def differing_code(version_dir: Path, name: str) -> str | None:
    """The first Python file of a sibling's version directory that differs from this model's copy of
    it (its `model.py` is compared with `entry_<name>.py`), or None when the sibling runs this code."""
    for path in sorted(version_dir.rglob("*.py")):
        rel = path.relative_to(version_dir)
        if "__pycache__" in rel.parts:
            continue
        ours = SHIPPED_ROOT / (f"entry_{name}.py" if rel.as_posix() == "model.py" else rel)
        if not ours.is_file() or ours.read_bytes() != path.read_bytes():
            return rel.as_posix()
    return None


def in_process(model_dir: Path) -> InProcessModel | None:
    """The sibling model loaded here, or None (then it is called as a model) with the reason logged."""
    try:
        return InProcessModel(model_dir, IN_PROCESS_CODE[model_dir.name])
    except Exception as error:  # noqa: BLE001 - any failure: fall back to calling the model
        pb_utils.Logger.log_warn(
            f"tensorrt_llm_bls: calling {model_dir.name} as a model (slower): it cannot run in this "
            f"process: {error}"
        )
        return None


class RequestError(Exception):
    """A request that cannot be served: `code` is a pb_utils.TritonError code (INVALID_ARG = HTTP 400)."""

    def __init__(self, message: str, code: Any = None) -> None:
        super().__init__(message)
        self.code = pb_utils.TritonError.INVALID_ARG if code is None else code


def declared_inputs(config_path: Path) -> set[str] | None:
    """The input names a sibling model's config.pbtxt declares (None when it cannot be read)."""
    try:
        config = load_model_config(config_path)
    except (OSError, ValueError):
        return None
    return {str(entry.get("name")) for entry in config.get("input", [])}


def is_decoupled(config_path: Path) -> bool | None:
    """Whether a model's config.pbtxt sets decoupled mode (None when it cannot be read)."""
    try:
        config = load_model_config(config_path)
    except (OSError, ValueError):
        return None
    decoupled = config.get("model_transaction_policy", {}).get("decoupled", False)
    return parse_bool(str(decoupled)) is True  # true, True, t or 1, as protobuf's text format takes


def client_parameters(request: Any) -> dict[str, Any]:
    """The client's request parameters, passed on to preprocessing (BLS requests take str/int/bool)."""
    return {
        key: value
        for key, value in request_parameters(request).items()
        if isinstance(value, (str, int, bool))
    }


def request_inputs(request: Any) -> dict[str, NDArray[Any]]:
    """The request's tensors by name, read once (each `request.inputs()` builds new wrappers)."""
    return {tensor.name(): tensor.as_numpy() for tensor in request.inputs()}


def flag(inputs: dict[str, NDArray[Any]], name: str) -> bool:
    value = inputs.get(name)
    return value is not None and value.size > 0 and bool(value.reshape(-1)[0])


def as_batched(array: NDArray[Any]) -> NDArray[Any]:
    """Inputs declared with `reshape: { shape: [ ] }` arrive as [batch]; other models want [batch, 1]."""
    return array.reshape(-1, 1) if array.ndim == 1 else array


def has_tokens(llm_response: Any) -> bool:
    ids = pb_utils.get_output_tensor_by_name(llm_response, "output_ids")
    return ids is not None and ids.as_numpy().size > 0


class TritonPythonModel:
    """Serve text in, text out over the preprocessing, LLM and postprocessing models."""

    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        self.decoupled = pb_utils.using_decoupled_model_transaction_policy(config)
        self.inputs = {entry["name"] for entry in config.get("input", [])}
        self.outputs = {entry["name"] for entry in config.get("output", [])}
        self.accumulate = parse_bool(string_parameter(config, "accumulate_tokens", "false") or "") is True
        self.llm_name = string_parameter(config, "tensorrt_llm_model_name", "tensorrt_llm") or "tensorrt_llm"
        draft = string_parameter(config, "tensorrt_llm_draft_model_name")
        if draft is not None:
            raise pb_utils.TritonModelException(
                f"tensorrt_llm_bls: tensorrt_llm_draft_model_name is '{draft}', but speculative decoding "
                "is not supported by this BLS; leave the parameter empty"
            )
        self.multimodal_encoders = string_parameter(config, "multimodal_encoders_name")
        if self.multimodal_encoders is not None:
            pb_utils.Logger.log_warn(
                f"tensorrt_llm_bls: multimodal_encoders_name '{self.multimodal_encoders}' is ignored: "
                "requests with images are refused (text only)"
            )
        repository = Path(args["model_repository"]).parent
        self.llm_decoupled = is_decoupled(repository / self.llm_name / "config.pbtxt")
        post_inputs = declared_inputs(repository / "postprocessing" / "config.pbtxt") or set()
        self.postprocessing_wants_log_probs = "CUM_LOG_PROBS" in post_inputs  # the v0.8 contract
        self.workers = Workers(MAX_CONCURRENT_REQUESTS)
        self.cancellation = CancellationWatch(self._stop)
        self.preprocessing = in_process(repository / "preprocessing")
        self.postprocessing = in_process(repository / "postprocessing")

    # -- Triton entry points -----------------------------------------------------------------------

    def execute(self, requests: list[Any]) -> list[Any] | None:
        if self.decoupled:  # every request on a thread of its own (reused: starting one costs more)
            for request in requests:
                self.workers.submit(self._serve_decoupled, request)
            return None
        return [self._serve_single(request) for request in requests]

    def _serve_single(self, request: Any) -> Any:
        try:
            responses = list(self._generate(request, cancelled=request.is_cancelled))
            return responses[-1]
        except Exception as error:  # noqa: BLE001 - every failure becomes this request's error
            return self._error_response(error)

    def _serve_decoupled(self, request: Any) -> None:
        sender = request.get_response_sender()
        final = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL
        responses = self._generate(request, cancelled=sender.is_cancelled)
        try:
            # Each response, then the final flag on its own: sending a response together with the
            # final flag from a worker thread corrupted python_backend 2.51's stub heap under load.
            for response in responses:
                sender.send(response)
        except Exception as error:  # noqa: BLE001 - every failure becomes this request's error
            responses.close()  # stops the LLM's stream if one is running
            try:
                sender.send(self._error_response(error), flags=final)
            except Exception as send_error:  # noqa: BLE001 - the client is gone; nothing left to tell
                pb_utils.Logger.log_warn(f"tensorrt_llm_bls: could not send an error response: {send_error}")
            return
        sender.send(flags=final)

    def _error_response(self, error: Exception) -> Any:
        if isinstance(error, RequestError):
            return pb_utils.InferenceResponse(
                output_tensors=[], error=pb_utils.TritonError(str(error), error.code)
            )
        pb_utils.Logger.log_error(f"tensorrt_llm_bls: {traceback.format_exc()}")
        return pb_utils.InferenceResponse(
            output_tensors=[],
            error=pb_utils.TritonError(f"tensorrt_llm_bls: {error}", pb_utils.TritonError.INTERNAL),
        )

    # -- the pipeline ------------------------------------------------------------------------------

    def _generate(self, request: Any, cancelled: Any) -> Any:
        """Yield the responses for one request: one, or one per streamed step."""
        inputs = request_inputs(request)
        self._refuse_unsupported(inputs)
        streaming = flag(inputs, "stream")
        if streaming and not self.decoupled:
            raise RequestError(
                "stream=true needs tensorrt_llm_bls deployed with decoupled mode "
                "(model_transaction_policy.decoupled: true); this deployment is not decoupled"
            )
        if streaming and self.llm_decoupled is False:
            raise RequestError(
                f"stream=true needs the '{self.llm_name}' model deployed with decoupled mode; it is not"
            )
        llm_inputs = self._preprocess(inputs, client_parameters(request))
        for name, value in self._passthrough_inputs(inputs).items():
            llm_inputs[name] = value
        request_id = uuid.uuid4().hex
        llm_request = pb_utils.InferenceRequest(
            model_name=self.llm_name,
            inputs=[pb_utils.Tensor(name, value) for name, value in llm_inputs.items()],
            requested_output_names=[],
            request_id=request_id,
        )
        if not streaming:
            yield self._to_text(self._whole_answer(llm_request, request_id, cancelled), None)
            return
        stream = TextStream(self.accumulate)
        try:
            for llm_response in self._llm_responses(llm_request):
                if cancelled():
                    self._stop(request_id)
                    return
                yield self._to_text(llm_response, stream)
        except GeneratorExit:  # our caller gave up on the stream (e.g. sending to the client failed)
            self._stop(request_id)
            raise
        tail = self._flush(stream)
        if tail:
            yield self._text_response([tail.encode("utf-8")], None)

    def _whole_answer(self, llm_request: Any, request_id: str, cancelled: Callable[[], bool]) -> Any:
        """The LLM response with the tokens (a runtime may add an empty final one); the LLM is stopped
        when the client goes away meanwhile (this thread is blocked: the watcher looks for it)."""
        answer = None
        self.cancellation.add(request_id, cancelled)
        try:
            for llm_response in self._llm_responses(llm_request):
                if answer is None or has_tokens(llm_response):
                    answer = llm_response
        finally:
            self.cancellation.remove(request_id)
        if cancelled():
            raise RequestError("the client went away", getattr(pb_utils.TritonError, "CANCELLED", None))
        if answer is None:
            raise RequestError(f"'{self.llm_name}' sent no response", pb_utils.TritonError.INTERNAL)
        return answer

    def _refuse_unsupported(self, inputs: dict[str, NDArray[Any]]) -> None:
        for name in MULTIMODAL_INPUTS:
            if name in inputs:
                raise RequestError(f"{name}: multimodal requests are not supported by this deployment")
        draft_tokens = inputs.get("num_draft_tokens")
        if draft_tokens is not None and draft_tokens.size and int(draft_tokens.reshape(-1)[0]) > 0:
            raise RequestError("num_draft_tokens: speculative decoding is not supported by this deployment")
        text = inputs.get("text_input")
        if text is not None and text.shape[0] != 1:
            raise RequestError(
                f"tensorrt_llm_bls serves one prompt per request, got a batch of {text.shape[0]}; "
                "send one request per prompt"
            )

    def _preprocess(
        self, inputs: dict[str, NDArray[Any]], parameters: dict[str, Any]
    ) -> dict[str, NDArray[Any]]:
        """The LLM's token inputs; `parameters` are the client's (e.g. apply_chat_template per request)."""
        tensors = [
            pb_utils.Tensor(name, as_batched(inputs[user_name]))
            for user_name, name in TO_PREPROCESSING.items()
            if user_name in inputs
        ]
        if self.preprocessing is not None:
            response = self.preprocessing.execute(tensors, list(FROM_PREPROCESSING), parameters)
        else:
            response = pb_utils.InferenceRequest(
                model_name="preprocessing", inputs=tensors, requested_output_names=[], parameters=parameters
            ).exec()
        self._raise_for(response)
        llm_inputs = {}
        for tensor in response.output_tensors():
            target = FROM_PREPROCESSING.get(tensor.name())
            value = tensor.as_numpy() if target else None
            if target and value is not None and value.size > 0:  # empty word lists / bias: not sent
                llm_inputs[target] = value
        return llm_inputs

    def _passthrough_inputs(self, inputs: dict[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
        return {
            RENAMED.get(user_name, user_name): as_batched(inputs[user_name])
            for user_name in (*RENAMED, *SAME_NAME)
            if user_name in inputs
        }

    def _llm_responses(self, llm_request: Any) -> Any:
        single = self.llm_decoupled is False
        responses = [llm_request.exec()] if single else llm_request.exec(decoupled=True)
        for response in responses:
            self._raise_for(response)
            if not response.output_tensors():  # the empty final response of a decoupled stream
                continue
            yield response

    def _stop(self, request_id: str) -> None:
        """Tell the LLM to end the stream `request_id` (the client went away)."""
        stop = pb_utils.InferenceRequest(
            model_name=self.llm_name,
            inputs=[
                pb_utils.Tensor("input_ids", np.zeros((1, 1), dtype=np.int32)),
                pb_utils.Tensor("input_lengths", np.zeros((1, 1), dtype=np.int32)),
                pb_utils.Tensor("request_output_len", np.zeros((1, 1), dtype=np.int32)),
                pb_utils.Tensor("stop", np.ones((1, 1), dtype=np.bool_)),
            ],
            requested_output_names=[],
            request_id=request_id,
        )
        try:
            for _ in stop.exec(decoupled=True) if self.llm_decoupled is not False else [stop.exec()]:
                pass
        except Exception as error:  # noqa: BLE001 - the stream is over for the client either way
            pb_utils.Logger.log_warn(f"tensorrt_llm_bls: stopping {request_id} failed: {error}")

    @staticmethod
    def _raise_for(response: Any) -> None:
        if response.has_error():
            error = response.error()
            code = error.code() if hasattr(error, "code") else pb_utils.TritonError.INTERNAL
            raise RequestError(error.message(), code)

    # -- tokens -> text ----------------------------------------------------------------------------

    def _to_text(self, llm_response: Any, stream: TextStream | None) -> Any:
        """text_output (+ the LLM outputs this model declares) for one LLM response."""
        ids = pb_utils.get_output_tensor_by_name(llm_response, "output_ids").as_numpy()
        ids = ids.reshape(-1, ids.shape[-1]) if ids.ndim >= 2 and ids.size else ids.reshape(1, -1)
        lengths_tensor = pb_utils.get_output_tensor_by_name(llm_response, "sequence_length")
        lengths = (
            lengths_tensor.as_numpy().reshape(-1)
            if lengths_tensor is not None
            else np.full(ids.shape[0], ids.shape[-1])
        )
        beams = [row[: int(length)].tolist() for row, length in zip(ids, lengths, strict=True)]
        if stream is not None and len(beams) == 1:
            stream.tokens.extend(beams[0])
            text = stream.advance(self._decode(stream.windows()), final=False)
            return self._text_response([text.encode("utf-8")], llm_response)
        texts = self._decode(beams)  # whole beams: non-streamed, or beams resent on every step
        return self._text_response([t.encode("utf-8") for t in texts], llm_response)

    def _flush(self, stream: TextStream) -> str:
        if not stream.tokens:
            return ""
        return stream.advance(self._decode(stream.windows()), final=True)

    def _decode(self, sequences: list[list[int]]) -> list[str]:
        """Ask postprocessing to decode whole sequences (it keeps no stream state for these)."""
        width = max(1, *(len(s) for s in sequences))
        tokens = np.zeros((len(sequences), 1, width), dtype=np.int32)
        for row, sequence in enumerate(sequences):
            tokens[row, 0, : len(sequence)] = sequence
        lengths = np.array([[len(s)] for s in sequences], dtype=np.int32)
        inputs = [pb_utils.Tensor("TOKENS_BATCH", tokens), pb_utils.Tensor("SEQUENCE_LENGTH", lengths)]
        if self.postprocessing_wants_log_probs:
            inputs.append(pb_utils.Tensor("CUM_LOG_PROBS", np.zeros((len(sequences), 1), dtype=np.float32)))
            inputs.append(
                pb_utils.Tensor("OUTPUT_LOG_PROBS", np.zeros((len(sequences), 1, 1), dtype=np.float32))
            )
        if self.postprocessing is not None:
            response = self.postprocessing.execute(inputs, ["OUTPUT"], {"decode": "whole"})
        else:
            response = pb_utils.InferenceRequest(
                model_name="postprocessing",
                inputs=inputs,
                requested_output_names=["OUTPUT"],
                parameters={"decode": "whole"},
            ).exec()
        self._raise_for(response)
        output = pb_utils.get_output_tensor_by_name(response, "OUTPUT").as_numpy().reshape(-1)
        return [value.decode("utf-8") if isinstance(value, bytes) else str(value) for value in output]

    def _text_response(self, text: list[bytes], llm_response: Any) -> Any:
        """text_output is one flat array of the beams' texts, as upstream's BLS returns it (shape [beams]:
        its clients read `text_output[0]` as the text)."""
        tensors = [pb_utils.Tensor("text_output", np.array(text, dtype=np.object_))]
        if llm_response is not None:
            for tensor in llm_response.output_tensors():
                if tensor.name() in self.outputs and tensor.name() != "text_output":
                    tensors.append(tensor)
        return pb_utils.InferenceResponse(output_tensors=tensors)

    def finalize(self) -> None:
        """Streams run on daemon threads; nothing to release."""
