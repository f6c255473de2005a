"""preprocessing: prompt text -> the token tensors `tensorrt_llm` takes (the ensemble's first step).

It adapts to the contract version it is deployed with: it reads its own config.pbtxt to learn which
inputs and outputs exist and their types (v0.5: UINT32 lengths and no END_ID/PAD_ID; v0.8; latest
with DECODER_* and multimodal tensors) and produces exactly the declared outputs it can fill.
All prompts of one `execute` call (several requests when Triton batches them) are tokenized by one
tokenizer call. Bad requests get an INVALID_ARG error (HTTP 400) and never disturb the others.

Parameters (config.pbtxt `parameters`, all optional except tokenizer_dir; empty or unfilled fill_template placeholder = default):
  tokenizer_dir        directory of the Hugging Face tokenizer
  add_special_tokens   true|false (default true): BOS etc. around raw prompts
  apply_chat_template  auto|true|false (default auto: when the tokenizer defines a chat template);
                       a request parameter `apply_chat_template` overrides it per request
  max_input_len        longest prompt in tokens the engine accepts
  max_seq_len          longest prompt + max_tokens the engine accepts
  vocab_size           length of EMBEDDING_BIAS (the engine's vocabulary; default: the tokenizer's)
Upstream's tokenizer_type, multimodal_model_path, gpt_model_path, max_num_images and hf_model_path
are accepted and ignored (text only: requests with images or video get a clear error).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils
from numpy.typing import NDArray

from ..common.parameters import (
    FALSE_WORDS,
    TRUE_WORDS,
    ConfigError,
    bool_parameter,
    int_parameter,
    request_parameters,
    string_parameter,
)
from ..text.tokenizer_support import (
    InputError,
    chat_template_affixes,
    check_prompt_bytes,
    decode_utf8,
    load_tokenizer,
    prompt_byte_limit,
    prompt_encoder,
    require_batching,
    tensor_specs,
)

# The names users send to the ensemble / BLS, used in error messages.
USER_NAMES = {
    "QUERY": "text_input",
    "DECODER_QUERY": "decoder_text_input",
    "REQUEST_OUTPUT_LEN": "max_tokens",
    "BAD_WORDS_DICT": "bad_words",
    "STOP_WORDS_DICT": "stop_words",
    "EMBEDDING_BIAS_WORDS": "embedding_bias_words",
    "EMBEDDING_BIAS_WEIGHTS": "embedding_bias_weights",
    "END_ID": "end_id",
    "PAD_ID": "pad_id",
}
MULTIMODAL_INPUTS = ("IMAGE_BYTES", "IMAGE_URL", "IMAGES", "IMAGE_SIZES", "VIDEO_BYTES")


@dataclass
class ParsedRequest:
    """One request's rows, validated, waiting for the batch-wide tokenizer calls."""

    prompts: list[str]
    add_special_tokens: bool
    output_lens: NDArray[Any]  # [rows, 1]
    end_ids: list[int]
    pad_ids: list[int]
    stop_words: list[list[str]] | None = None
    bad_words: list[list[str]] | None = None
    bias_words: list[list[str]] | None = None
    bias_weights: list[NDArray[Any]] | None = None
    decoder_prompts: list[str] | None = None
    prompt_table_extra_ids: NDArray[Any] | None = None
    requested: set[str] = field(default_factory=set)


def _tensor(inputs: dict[str, Any], name: str) -> NDArray[Any] | None:
    tensor = inputs.get(name)
    return None if tensor is None else tensor.as_numpy()


def _strings(array: NDArray[Any], name: str) -> list[list[str]]:
    """A [rows, n] BYTES tensor as text, rows kept; empty strings dropped (clients send "" for none)."""
    rows = array.reshape(array.shape[0], -1)
    return [[w for w in (decode_utf8(v, USER_NAMES.get(name, name)) for v in row) if w] for row in rows]


def invalid(message: str) -> Any:
    """An INVALID_ARG error response: the generate endpoint answers it with HTTP 400."""
    return pb_utils.InferenceResponse(
        output_tensors=[], error=pb_utils.TritonError(message, pb_utils.TritonError.INVALID_ARG)
    )


def to_word_list(words_per_row: list[list[str]], ids_of: dict[str, list[int]]) -> NDArray[Any]:
    """[rows, 2, N] int32: row 0 the concatenated ids, row 1 the cumulative end offsets padded with -1."""
    flat_ids, offsets = [], []
    for words in words_per_row:
        ids: list[int] = []
        ends: list[int] = []
        for word in words:
            word_ids = ids_of[word]
            if word_ids:
                ids += word_ids
                ends.append(len(ids))
        flat_ids.append(ids)
        offsets.append(ends)
    width = max(1, *(len(ids) for ids in flat_ids))
    result = np.zeros((len(words_per_row), 2, width), dtype=np.int32)
    result[:, 1, :] = -1
    for row, (ids, ends) in enumerate(zip(flat_ids, offsets, strict=True)):
        result[row, 0, : len(ids)] = ids
        result[row, 1, : len(ends)] = ends
    return result


class TritonPythonModel:
    """Tokenize prompts, stop/bad words and embedding-bias words for `tensorrt_llm`."""

    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        try:
            require_batching(config, "preprocessing")
            self.inputs = tensor_specs(config, "input")
            self.outputs = tensor_specs(config, "output")
            self.tokenizer = load_tokenizer(string_parameter(config, "tokenizer_dir"))
            self.add_special_tokens = bool_parameter(config, "add_special_tokens", True)
            self.chat_template_default = self._chat_template_mode(
                string_parameter(config, "apply_chat_template", "auto")
            )
            self.max_input_len = int_parameter(config, "max_input_len")
            self.max_seq_len = int_parameter(config, "max_seq_len")
            self.vocab_size = int_parameter(config, "vocab_size") or len(self.tokenizer)
        except ConfigError as error:
            raise pb_utils.TritonModelException(f"preprocessing: {error}") from None
        self.encode = prompt_encoder(self.tokenizer)
        self.max_prompt_bytes = prompt_byte_limit(self.tokenizer, self.max_input_len)
        self.chat_affixes = chat_template_affixes(self.tokenizer)
        self.end_id = self.tokenizer.eos_token_id if self.tokenizer.eos_token_id is not None else -1
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.end_id
        multimodal = string_parameter(config, "multimodal_model_path")
        if multimodal is not None:
            pb_utils.Logger.log_warn(
                f"preprocessing: multimodal_model_path '{multimodal}' is ignored: this preprocessing is "
                "text-only and refuses requests with images or video"
            )
        if self.end_id == -1:
            pb_utils.Logger.log_warn(
                "preprocessing: the tokenizer has no EOS token; requests without end_id never stop on EOS"
            )

    def _chat_template_mode(self, value: str | None) -> bool:
        """auto -> whether the tokenizer has a chat template; true without one is a config error."""
        has_template = bool(getattr(self.tokenizer, "chat_template", None))
        text = (value or "auto").lower()
        if text == "auto":
            return has_template
        if text in TRUE_WORDS:
            if not has_template:
                raise ConfigError("apply_chat_template is true but the tokenizer defines no chat template")
            return True
        if text in FALSE_WORDS:
            return False
        raise ConfigError(f"parameter 'apply_chat_template' must be auto, true or false, not '{value}'")

    # -- execute ---------------------------------------------------------------------------------

    def execute(self, requests: list[Any]) -> list[Any]:
        parsed: list[ParsedRequest | Any] = []
        for request in requests:
            try:
                parsed.append(self._parse(request))
            except InputError as error:
                parsed.append(invalid(str(error)))
        valid = [p for p in parsed if isinstance(p, ParsedRequest)]
        input_ids = self._tokenize_prompts(valid)
        decoder_ids = self._tokenize_decoder_prompts(valid)
        word_ids = self._tokenize_words(valid)
        responses = []
        for item in parsed:
            if not isinstance(item, ParsedRequest):
                responses.append(item)
                continue
            try:
                responses.append(
                    self._respond(item, input_ids[id(item)], decoder_ids.get(id(item)), word_ids)
                )
            except InputError as error:
                responses.append(invalid(str(error)))
        return responses

    def _parse(self, request: Any) -> ParsedRequest:
        inputs = {tensor.name(): tensor for tensor in request.inputs()}
        for name in MULTIMODAL_INPUTS:
            if name in inputs:
                raise InputError(
                    f"multimodal input {name} is not supported by this deployment (text-only preprocessing)"
                )
        query = _tensor(inputs, "QUERY")
        if query is None:
            raise InputError("text_input is required")
        rows = query.shape[0]
        prompts = []
        for row in query.reshape(rows, -1):
            if row.size != 1:
                raise InputError(f"text_input must hold one prompt per request, got {row.size} strings")
            text = self._prompt_text(row[0], "text_input")
            if text == "":
                raise InputError("text_input is empty: send the prompt text")
            prompts.append(text)
        use_template = self._template_for(request)
        if use_template:
            prompts = [self._templated(p) for p in prompts]
        output_lens = self._output_lens(inputs, rows)
        parsed = ParsedRequest(
            prompts=prompts,
            add_special_tokens=False if use_template else self.add_special_tokens,
            output_lens=output_lens,
            end_ids=self._ids(inputs, "END_ID", rows, self.end_id),
            pad_ids=self._ids(inputs, "PAD_ID", rows, self.pad_id),
            requested=set(request.requested_output_names() or self.outputs),
        )
        for name, attribute in (("STOP_WORDS_DICT", "stop_words"), ("BAD_WORDS_DICT", "bad_words")):
            array = _tensor(inputs, name)
            if array is not None:
                setattr(parsed, attribute, _strings(array, name))
        self._parse_embedding_bias(inputs, parsed)
        decoder = _tensor(inputs, "DECODER_QUERY")
        if decoder is not None:
            parsed.decoder_prompts = [
                self._prompt_text(row.reshape(-1)[0], "decoder_text_input") for row in decoder
            ]
        extra = _tensor(inputs, "PROMPT_TABLE_EXTRA_ID")
        if extra is not None:
            parsed.prompt_table_extra_ids = extra.reshape(rows, -1)[:, :1]
        return parsed

    def _prompt_text(self, value: Any, what: str) -> str:
        """A prompt element as text, refused by its size before anything costly (see prompt_byte_limit)."""
        check_prompt_bytes(value, self.max_prompt_bytes, what, self.max_input_len)
        return decode_utf8(value, what)

    def _template_for(self, request: Any) -> bool:
        """The model-wide chat-template choice, unless the request parameter `apply_chat_template` says."""
        override = request_parameters(request).get("apply_chat_template")
        if override is None:
            return self.chat_template_default
        text = str(override).lower()
        if text in TRUE_WORDS:
            if not getattr(self.tokenizer, "chat_template", None):
                raise InputError("apply_chat_template was requested but the tokenizer has no chat template")
            return True
        if text in FALSE_WORDS:
            return False
        raise InputError(f"request parameter apply_chat_template must be true or false, not '{override}'")

    def _templated(self, prompt: str) -> str:
        if self.chat_affixes is not None:  # the template is before + prompt + after: no render needed
            return self.chat_affixes[0] + prompt + self.chat_affixes[1]
        try:
            return str(
                self.tokenizer.apply_chat_template(
                    [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
                )
            )
        except Exception as error:  # noqa: BLE001 - a template's own checks (jinja) can raise anything
            raise InputError(f"the tokenizer's chat template failed on this prompt: {error}") from None

    def _output_lens(self, inputs: dict[str, Any], rows: int) -> NDArray[Any]:
        lens = _tensor(inputs, "REQUEST_OUTPUT_LEN")
        if lens is None:
            raise InputError("max_tokens is required")
        lens = lens.reshape(rows, -1)[:, :1]
        smallest = int(lens.min())
        if smallest < 1:
            raise InputError(f"max_tokens must be at least 1, got {smallest}")
        return lens

    def _ids(self, inputs: dict[str, Any], name: str, rows: int, default: int) -> list[int]:
        array = _tensor(inputs, name)
        if array is None:
            return [default] * rows
        return [int(v) for v in array.reshape(rows, -1)[:, 0]]

    def _parse_embedding_bias(self, inputs: dict[str, Any], parsed: ParsedRequest) -> None:
        words = _tensor(inputs, "EMBEDDING_BIAS_WORDS")
        weights = _tensor(inputs, "EMBEDDING_BIAS_WEIGHTS")
        if words is None and weights is None:
            return
        if words is None or weights is None:
            raise InputError("embedding_bias_words and embedding_bias_weights must be sent together")
        rows = words.shape[0]
        raw_words = [[decode_utf8(v, "embedding_bias_words") for v in row] for row in words.reshape(rows, -1)]
        weight_rows = [np.asarray(row, dtype=np.float32) for row in weights.reshape(rows, -1)]
        for row_words, row_weights in zip(raw_words, weight_rows, strict=True):
            if len(row_words) != len(row_weights):
                raise InputError(
                    f"embedding_bias_words has {len(row_words)} words but embedding_bias_weights "
                    f"has {len(row_weights)} weights"
                )
        parsed.bias_words = raw_words
        parsed.bias_weights = weight_rows

    # -- batch-wide tokenization -----------------------------------------------------------------

    def _tokenize_prompts(self, parsed: list[ParsedRequest]) -> dict[int, list[list[int]]]:
        """One tokenizer call per add_special_tokens setting (normally one) for every prompt here."""
        result: dict[int, list[list[int]]] = {}
        for flag in (True, False):
            group = [p for p in parsed if p.add_special_tokens is flag]
            result.update(self._encode_grouped({id(p): p.prompts for p in group}, flag))
        return result

    def _tokenize_decoder_prompts(self, parsed: list[ParsedRequest]) -> dict[int, list[list[int]]]:
        """Encoder-decoder engines: DECODER_QUERY texts, one call for the batch."""
        texts = {id(p): p.decoder_prompts for p in parsed if p.decoder_prompts is not None}
        return self._encode_grouped(texts, self.add_special_tokens)

    def _encode_grouped(self, texts_by_key: dict[int, list[str]], flag: bool) -> dict[int, list[list[int]]]:
        texts = [text for group in texts_by_key.values() for text in group]
        if not texts:
            return {key: [] for key in texts_by_key}
        ids = self.encode(texts, flag)
        result, position = {}, 0
        for key, group in texts_by_key.items():
            result[key] = ids[position : position + len(group)]
            position += len(group)
        return result

    def _tokenize_words(self, parsed: list[ParsedRequest]) -> dict[str, list[int]]:
        """Stop, bad and bias words of the whole batch, tokenized by one call."""
        words: set[str] = set()
        for p in parsed:
            for rows in (p.stop_words, p.bad_words, p.bias_words):
                for row in rows or []:
                    words.update(row)
        ordered = sorted(words)
        if not ordered:
            return {}
        ids = self.encode(ordered, False)
        return dict(zip(ordered, ids, strict=True))

    # -- responses -------------------------------------------------------------------------------

    def _check_lengths(self, input_ids: list[list[int]], output_lens: NDArray[Any]) -> None:
        for ids, output_len in zip(input_ids, output_lens[:, 0], strict=True):
            length = len(ids)
            if length == 0:
                raise InputError("text_input produced no tokens: send a longer prompt")
            if self.max_input_len is not None and length > self.max_input_len:
                raise InputError(
                    f"the prompt is {length} tokens long but this engine accepts at most "
                    f"{self.max_input_len} input tokens (max_input_len): shorten the prompt"
                )
            if self.max_seq_len is not None and length + int(output_len) > self.max_seq_len:
                room = self.max_seq_len - length
                raise InputError(
                    f"the prompt ({length} tokens) plus max_tokens ({int(output_len)}) exceeds this "
                    f"engine's max_seq_len of {self.max_seq_len} tokens: "
                    + (f"set max_tokens to at most {room}" if room > 0 else "shorten the prompt")
                )

    def _respond(
        self,
        parsed: ParsedRequest,
        input_ids: list[list[int]],
        decoder_ids: list[list[int]] | None,
        word_ids: dict[str, list[int]],
    ) -> Any:
        self._check_lengths(input_ids, parsed.output_lens)
        rows = len(input_ids)
        tensors: dict[str, NDArray[Any]] = {}
        padded = np.full((rows, max(len(ids) for ids in input_ids)), parsed.pad_ids[0], dtype=np.int64)
        for row, ids in enumerate(input_ids):
            padded[row, : len(ids)] = ids
        tensors["INPUT_ID"] = padded
        tensors["REQUEST_INPUT_LEN"] = np.array([[len(ids)] for ids in input_ids])
        tensors["REQUEST_OUTPUT_LEN"] = parsed.output_lens
        tensors["OUT_END_ID"] = np.array(parsed.end_ids).reshape(rows, 1)
        tensors["OUT_PAD_ID"] = np.array(parsed.pad_ids).reshape(rows, 1)
        empty_words = np.empty((rows, 2, 0), dtype=np.int32)
        tensors["STOP_WORDS_IDS"] = (
            to_word_list(parsed.stop_words, word_ids) if parsed.stop_words else empty_words
        )
        tensors["BAD_WORDS_IDS"] = (
            to_word_list(parsed.bad_words, word_ids) if parsed.bad_words else empty_words
        )
        if "EMBEDDING_BIAS" in parsed.requested:
            tensors["EMBEDDING_BIAS"] = self._embedding_bias(parsed, word_ids, rows)
        if decoder_ids is None:
            # No decoder_text_input: upstream still returns one pad id per row (length 1), which the
            # backend ignores for decoder-only engines; clients (end_to_end_test.py) read and resend it.
            tensors["DECODER_INPUT_ID"] = np.array(parsed.pad_ids).reshape(rows, 1)
            tensors["REQUEST_DECODER_INPUT_LEN"] = np.ones((rows, 1), dtype=np.int32)
        else:
            decoder_ids = [ids or [parsed.pad_ids[0]] for ids in decoder_ids]
            width = max(len(ids) for ids in decoder_ids)
            decoder = np.full((rows, width), parsed.pad_ids[0], dtype=np.int64)
            for row, ids in enumerate(decoder_ids):
                decoder[row, : len(ids)] = ids
            tensors["DECODER_INPUT_ID"] = decoder
            tensors["REQUEST_DECODER_INPUT_LEN"] = np.array([[len(ids)] for ids in decoder_ids])
        if parsed.prompt_table_extra_ids is not None:
            tensors["OUT_PROMPT_TABLE_EXTRA_IDS"] = np.where(
                padded >= self.vocab_size, parsed.prompt_table_extra_ids, 0
            )
        output_tensors = [
            pb_utils.Tensor(name, value.astype(self.outputs[name].numpy_type, copy=False))
            for name, value in tensors.items()
            if name in self.outputs and name in parsed.requested
        ]
        return pb_utils.InferenceResponse(output_tensors=output_tensors)

    def _embedding_bias(
        self, parsed: ParsedRequest, word_ids: dict[str, list[int]], rows: int
    ) -> NDArray[Any]:
        if parsed.bias_words is None or parsed.bias_weights is None:
            return np.empty((rows, 0), dtype=np.float32)
        bias = np.zeros((rows, self.vocab_size), dtype=np.float32)
        for row, (words, weights) in enumerate(zip(parsed.bias_words, parsed.bias_weights, strict=True)):
            for word, weight in zip(words, weights, strict=True):
                for token in word_ids.get(word, []):
                    if token >= self.vocab_size:
                        raise InputError(
                            f"embedding bias word '{word}' has token id {token}, outside the "
                            f"vocabulary of {self.vocab_size}"
                        )
                    bias[row, token] += weight
        return bias

    def finalize(self) -> None:
        """Nothing to release: the tokenizer is plain memory."""
