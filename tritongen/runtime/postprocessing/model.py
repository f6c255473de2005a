"""postprocessing: `tensorrt_llm` output ids -> text (the ensemble's last step).

It adapts to the contract version it is deployed with (read from its own config.pbtxt): v0.5 has no
SEQUENCE_LENGTH; v0.8 also passes log probs and logits through to OUT_*; latest maps only
TOKENS_BATCH/SEQUENCE_LENGTH -> OUTPUT. SEQUENCE_LENGTH cuts the padding off each beam. All the
sequences of one `execute` call are decoded by one tokenizer call.

Streamed chunks are decoded so that spaces and multi-byte characters survive: see stream_text.py
(the state is keyed by the request id, which the ensemble passes to every step; it stays in memory
with one instance and is shared through small files in the temp directory with several).

Parameters (empty or unfilled fill_template placeholder = default):
  tokenizer_dir          directory of the Hugging Face tokenizer
  skip_special_tokens    true|false (default true)
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils
from numpy.typing import NDArray

from ..common.parameters import ConfigError, bool_parameter, request_parameters, string_parameter
from ..text.tokenizer_support import load_tokenizer, require_batching, tensor_specs, token_decoder
from .stream_text import DecodeJob, FileWindowStore, MemoryWindowStore, StreamDecoder, WindowStore

PASS_THROUGH = {  # v0.8: tensors that only travel through postprocessing
    "CUM_LOG_PROBS": "OUT_CUM_LOG_PROBS",
    "OUTPUT_LOG_PROBS": "OUT_OUTPUT_LOG_PROBS",
    "CONTEXT_LOGITS": "OUT_CONTEXT_LOGITS",
    "GENERATION_LOGITS": "OUT_GENERATION_LOGITS",
}
# Request parameter {"decode": "whole"}: decode each sequence on its own, no stream state. The BLS
# uses it: it keeps its streams' tokens itself and asks for whole windows.
DECODE_PARAMETER = "decode"


def as_beams(tokens: NDArray[Any]) -> NDArray[Any]:
    """TOKENS_BATCH as [batch, beams, tokens], also when a response carries no tokens at all."""
    if tokens.ndim == 3:
        return tokens
    if tokens.ndim == 2:
        return tokens[:, np.newaxis, :]
    return tokens.reshape(tokens.shape[0] if tokens.ndim else 1, 1, -1)


def _stream_key(request: Any, whole: bool) -> str | None:
    """The stream a chunk continues: its request id (the ensemble passes the client's id)."""
    if whole:
        return None
    return request.request_id() or None


class TritonPythonModel:
    """Detokenize output ids, batched, with streaming-safe chunk decoding."""

    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        try:
            require_batching(config, "postprocessing")
            self.inputs = tensor_specs(config, "input")
            self.outputs = tensor_specs(config, "output")
            tokenizer = load_tokenizer(string_parameter(config, "tokenizer_dir"))
            skip_special_tokens = bool_parameter(config, "skip_special_tokens", True)
        except ConfigError as error:
            raise pb_utils.TritonModelException(f"postprocessing: {error}") from None
        instances = sum(int(group.get("count", 1)) for group in config.get("instance_group", [])) or 1
        self.store: WindowStore
        if instances == 1:  # the windows stay in this process: no file per stream chunk
            self.store = MemoryWindowStore()
        else:  # one directory per server (the stubs' parent) and model, shared by all its instances
            self.store = FileWindowStore(
                Path(tempfile.gettempdir()) / f"tritongen-streams-{os.getppid()}-{args['model_name']}"
            )
            pb_utils.Logger.log_warn(
                f"postprocessing runs {instances} instances: chunks of one stream can then be decoded "
                "concurrently and out of order when tokens come faster than they are decoded, which "
                "garbles text streamed through the ensemble; deploy one instance (with dynamic batching) "
                "for streaming. tensorrt_llm_bls is not affected."
            )
        self.decoder = StreamDecoder(
            tokenizer, skip_special_tokens, self.store, token_decoder(tokenizer, skip_special_tokens)
        )

    def execute(self, requests: list[Any]) -> list[Any]:
        """Decode in rounds: two chunks of one stream in this batch are decoded one after the other."""
        responses: list[Any] = [None] * len(requests)
        whole = [request_parameters(request).get(DECODE_PARAMETER) == "whole" for request in requests]
        waiting = list(range(len(requests)))
        while waiting:
            this_round, later, keys = [], [], set()
            for index in waiting:
                key = _stream_key(requests[index], whole[index])
                if key is not None and key in keys:
                    later.append(index)
                    continue
                keys.add(key)
                this_round.append(index)
            self._decode_round(requests, whole, this_round, responses)
            waiting = later
        return responses

    def _decode_round(
        self, requests: list[Any], whole: list[bool], indices: list[int], responses: list[Any]
    ) -> None:
        planned: list[tuple[int, Any, list[list[DecodeJob]]]] = []
        for index in indices:
            request = requests[index]
            try:
                planned.append((index, request, self._plan(request, whole[index])))
            except ValueError as error:  # malformed tensors: this request's error, not the batch's
                responses[index] = pb_utils.InferenceResponse(
                    output_tensors=[],
                    error=pb_utils.TritonError(f"postprocessing: {error}", pb_utils.TritonError.INVALID_ARG),
                )
        try:
            jobs = [job for _, _, rows in planned for row in rows for job in row]
            texts = iter(self.decoder.decode_many([job.ids for job in jobs]))
        except Exception:
            for _, _, rows in planned:
                for row in rows:
                    for job in row:
                        self.decoder.abandon(job)
            raise
        for index, request, rows in planned:
            strings = [[self.decoder.finish(job, next(texts)).encode("utf-8") for job in row] for row in rows]
            responses[index] = self._response(request, strings)

    def _plan(self, request: Any, whole: bool) -> list[list[DecodeJob]]:
        """One decode job per (batch row, beam); single-beam chunks continue their stream."""
        tokens = as_beams(pb_utils.get_input_tensor_by_name(request, "TOKENS_BATCH").as_numpy())
        lengths_tensor = pb_utils.get_input_tensor_by_name(request, "SEQUENCE_LENGTH")
        if lengths_tensor is None:
            lengths = np.full(tokens.shape[:2], tokens.shape[-1])
        else:
            lengths = lengths_tensor.as_numpy().reshape(tokens.shape[:2])
        key = _stream_key(request, whole)
        rows: list[list[DecodeJob]] = []
        try:
            for row, (beams, beam_lengths) in enumerate(zip(tokens, lengths, strict=True)):
                jobs: list[DecodeJob] = []
                rows.append(jobs)
                for ids, length in zip(beams, beam_lengths, strict=True):
                    ids = ids[: max(0, int(length))].tolist()
                    if len(beams) == 1 and not whole:  # beams > 1 are resent whole on every response
                        jobs.append(self.decoder.plan_chunk(None if key is None else (key, row), ids))
                    else:
                        jobs.append(self.decoder.plan_full(ids))
        except Exception:
            for job in (job for jobs in rows for job in jobs):
                self.decoder.abandon(job)
            raise
        return rows

    def _response(self, request: Any, strings: list[list[bytes]]) -> Any:
        # OUTPUT is one flat array of batch x beam texts, as upstream returns it in every version (v0.5
        # declares [-1, -1] but sends it flat too): clients read `text_output[0]` as the first text.
        flat = [text for row in strings for text in row]
        tensors = [pb_utils.Tensor("OUTPUT", np.array(flat, dtype=np.object_))]
        for source, target in PASS_THROUGH.items():
            if target not in self.outputs:
                continue
            tensor = pb_utils.get_input_tensor_by_name(request, source)
            if tensor is not None:
                tensors.append(pb_utils.Tensor(target, tensor.as_numpy()))
            else:  # optional logits not asked for: a zero placeholder, as the ensemble expects
                rank = 1 + len(self.outputs[target].dims)
                shape = (len(strings),) + (1,) * (rank - 1)
                tensors.append(
                    pb_utils.Tensor(target, np.zeros(shape, dtype=self.outputs[target].numpy_type))
                )
        return pb_utils.InferenceResponse(output_tensors=tensors)

    def finalize(self) -> None:
        """Forget the stream windows (the server is unloading this model)."""
        self.store.remove_all()
