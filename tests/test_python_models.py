"""preprocessing, postprocessing and tensorrt_llm_bls on a real tritonserver, with real tokenizers.

Servers (fixtures/python_models/servers.py, one each per test process):
- around the stand-in `tensorrt_llm` (fixtures/python_models/tensorrt_llm_standin), which echoes
  the prompt's tokens, so every expected text is computed here with the same tokenizer:
  `latest` (hand-written latest configs, SmolLM2's byte-level tokenizer, chat template, streaming),
  `compat` (hand-written v0.8 and v0.5 configs, a SentencePiece-style tokenizer, the kind whose
  streamed chunks lose spaces and split characters when decoded alone), and `tritongen render` of
  real v0.5 / v0.8 / latest engine configs (the rendered configs must agree with these models);
- the real thing: `tritongen render` of the SmolLM2 checkpoint on the torch runtime.
The streaming detokenizers are also checked offline, property-based, against both tokenizers.
"""

from __future__ import annotations

import ast
import copy
import json
import re
import signal
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
import tritonclient.http as httpclient
from fixtures.python_models import servers
from fixtures.python_models.repos import build_repository, copy_model
from fixtures.python_models.servers import build_latest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_fixtures import RunningServer, start_server, stop_server
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

from tritongen.render.pipeline import render_engine
from tritongen.runtime import layout as runtime_layout
from tritongen.runtime.postprocessing import stream_text
from tritongen.runtime.tensorrt_llm_bls import text_stream
from tritongen.runtime.text import tokenizer_support
from tritongen.testing.render_cases import GOLDEN_CASES, render_case
from tritongen.testing.smollm2 import smollm2_checkpoint

# Spaces, Korean (3-byte characters split over byte-level tokens), emoji with a skin-tone modifier.
MULTIBYTE_TEXT = "Hello world 안녕하세요 세계 😀 café naïve 👍🏽 end"
REPLACEMENT = "\ufffd"


# -- tokenizers and servers (see fixtures/python_models/servers.py) ---------------------------------


# -- helpers ----------------------------------------------------------------------------------------


def generate(server: RunningServer, model: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = requests.post(f"{server.base_url}/v2/models/{model}/generate", json=body, timeout=120)
    return response.status_code, response.json()


def generate_stream(
    server: RunningServer, model: str, body: dict[str, Any]
) -> tuple[int, list[dict[str, Any]]]:
    body = {**body, "stream": True}
    response = requests.post(f"{server.base_url}/v2/models/{model}/generate_stream", json=body, timeout=120)
    events = [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]
    return response.status_code, events


def streamed_text(events: list[dict[str, Any]]) -> str:
    assert all("error" not in e for e in events), events
    return "".join(e["text_output"] for e in events)


def infer(
    server: RunningServer, model: str, inputs: dict[str, np.ndarray], parameters: dict[str, Any] | None = None
) -> dict[str, np.ndarray]:
    """Call one model directly (not through the ensemble); returns every output it sent."""
    client = httpclient.InferenceServerClient(server.http_url, network_timeout=120)
    tensors = []
    for name, value in inputs.items():
        tensor = httpclient.InferInput(name, list(value.shape), np_to_triton_dtype(value.dtype))
        tensor.set_data_from_numpy(value)
        tensors.append(tensor)
    result = client.infer(model, tensors, parameters=parameters)
    outputs = result.get_response()["outputs"]
    return {o["name"]: result.as_numpy(o["name"]) for o in outputs}


def text_tensor(*texts: str) -> np.ndarray:
    return np.array([[t.encode()] for t in texts], dtype=np.object_)


def ids(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def echo_body(text: str, tokenizer: Any, **extra: Any) -> dict[str, Any]:
    """A request whose stand-in output is exactly `text` (its own tokens, once)."""
    return {
        "text_input": text,
        "max_tokens": len(ids(tokenizer, text)),
        "apply_chat_template": False,
        "exclude_input_in_output": True,
        **extra,
    }


def assert_still_serving(server: RunningServer, model: str = "ensemble") -> None:
    status, body = generate(
        server, model, {"text_input": "ok then", "max_tokens": 2, "apply_chat_template": False}
    )
    assert status == 200, body
    server.assert_alive()


# -- streaming detokenization, offline (the pure modules the models import) ------------------------


# Words from several scripts, so random texts mix 1- to 4-byte characters, spaces and punctuation.
PIECES = st.sampled_from(
    [
        "Hello",
        "world",
        "안녕하세요",
        "세계",
        "😀",
        "👍🏽",
        "café",
        "naïve",
        "日本語",
        "e\u0301",
        ".",
        ",",
        "!",
        "\n",
    ]
)
TEXTS = st.lists(st.tuples(PIECES, st.sampled_from(["", " ", "  "])), min_size=1, max_size=20).map(
    lambda parts: "".join(word + gap for word, gap in parts)
)


def chunked(tokens: list[int], sizes: list[int]) -> list[list[int]]:
    chunks, start, index = [], 0, 0
    while start < len(tokens):
        size = sizes[index % len(sizes)]
        chunks.append(tokens[start : start + size])
        start, index = start + size, index + 1
    return chunks


@pytest.mark.parametrize("tokenizer_name", ["smollm2", "llama"])
class TestStreamingDetokenizationOffline:
    """Property: however the tokens are chunked, the streamed pieces join to the whole decoded text."""

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(text=TEXTS, sizes=st.lists(st.integers(1, 4), min_size=1, max_size=5))
    def test_postprocessing_chunks_with_an_id(self, tokenizer_name, request, tmp_path, text, sizes):
        tokenizer = request.getfixturevalue(tokenizer_name)
        tokens = ids(tokenizer, text)
        whole = tokenizer.decode(tokens, skip_special_tokens=True)
        key = uuid.uuid4().hex  # one stream per example (a reused id would continue the old stream)
        for store in (stream_text.MemoryWindowStore(), stream_text.FileWindowStore(tmp_path / "windows")):
            decoder = stream_text.StreamDecoder(tokenizer, True, store)
            pieces = []
            for chunk in chunked(tokens, sizes):
                job = decoder.plan_chunk(key, chunk)
                pieces.append(decoder.finish(job, decoder.decode_many([job.ids])[0]))
            assert "".join(pieces) == whole.rstrip(REPLACEMENT)
            assert not any(REPLACEMENT in piece for piece in pieces)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(text=TEXTS, sizes=st.lists(st.integers(1, 4), min_size=1, max_size=5), accumulate=st.booleans())
    def test_bls_text_stream(self, tokenizer_name, request, text, sizes, accumulate):
        tokenizer = request.getfixturevalue(tokenizer_name)
        tokens = ids(tokenizer, text)
        stream = text_stream.TextStream(accumulate)
        pieces = []
        for chunk in chunked(tokens, sizes):
            stream.tokens.extend(chunk)
            pieces.append(
                stream.advance(
                    tokenizer.batch_decode(stream.windows(), skip_special_tokens=True), final=False
                )
            )
        pieces.append(
            stream.advance(tokenizer.batch_decode(stream.windows(), skip_special_tokens=True), final=True)
        )
        assert "".join(pieces) == tokenizer.decode(tokens, skip_special_tokens=True)
        assert not any(REPLACEMENT in piece for piece in pieces[:-1])

    def test_a_new_stream_under_a_reused_id_decodes_like_the_first(self, tokenizer_name, request):
        """A chunk that starts with BOS resets the window, so reusing an id is harmless."""
        tokenizer = request.getfixturevalue(tokenizer_name)
        decoder = stream_text.StreamDecoder(tokenizer, True)
        sequence = [tokenizer.bos_token_id, *ids(tokenizer, "Hello world")]
        texts = []
        for _ in range(2):
            job = decoder.plan_chunk("reused-id", sequence)
            texts.append(decoder.finish(job, decoder.decode_many([job.ids])[0]))
        assert texts == [tokenizer.decode(sequence, skip_special_tokens=True)] * 2


@pytest.mark.parametrize("tokenizer_name", ["smollm2", "llama"])
class TestTokenizerFastPaths:
    """The models call `tokenizers` directly and paste the chat template around the prompt: both must
    give exactly what transformers gives, and both must actually be taken for these tokenizers."""

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(texts=st.lists(TEXTS, min_size=1, max_size=4), special=st.booleans())
    def test_encoder_gives_transformers_ids(self, tokenizer_name, request, texts, special):
        tokenizer = request.getfixturevalue(tokenizer_name)
        encode = tokenizer_support.prompt_encoder(tokenizer)
        assert encode.__name__ == "through_backend"
        expected = tokenizer(texts, add_special_tokens=special, return_attention_mask=False)["input_ids"]
        assert encode(texts, special) == expected

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(text=TEXTS, cut=st.integers(0, 6), skip=st.booleans())
    def test_decoder_gives_transformers_text(self, tokenizer_name, request, text, cut, skip):
        tokenizer = request.getfixturevalue(tokenizer_name)
        decode = tokenizer_support.token_decoder(tokenizer, skip)
        assert decode.__name__ == "through_backend"
        tokens = tokenizer(text)["input_ids"]  # with BOS where the tokenizer adds one
        sequences = [tokens, tokens[cut:], tokens[: cut + 1], [tokens[-1]]]  # cut: split characters
        assert decode(sequences) == tokenizer.batch_decode(sequences, skip_special_tokens=skip)

    def test_slow_or_disagreeing_backends_fall_back_to_transformers(self, tokenizer_name, request):
        tokenizer = request.getfixturevalue(tokenizer_name)

        class Disagreeing:  # the same tokenizer, but its backend encodes and decodes differently
            is_fast = True
            backend_tokenizer = tokenizer_support  # has no encode_batch / decode_batch: fails the probe

            def __call__(self, *args, **kwargs):
                return tokenizer(*args, **kwargs)

            def __getattr__(self, name):
                return getattr(tokenizer, name)

        assert tokenizer_support.prompt_encoder(Disagreeing()).__name__ == "through_transformers"
        assert tokenizer_support.token_decoder(Disagreeing(), True).__name__ == "through_transformers"


@pytest.mark.parametrize("tokenizer_name", ["smollm2", "llama"])
def test_prompt_byte_limit_never_refuses_what_fits_in_max_input_len(tokenizer_name, request) -> None:
    """The densest text max_input_len tokens can spell (the longest token, repeated) is within the byte
    limit; ordinary text at the limit is far over max_input_len tokens (the limit is a safe bound)."""
    tokenizer = request.getfixturevalue(tokenizer_name)
    limit = tokenizer_support.prompt_byte_limit(tokenizer, 50)
    assert limit is not None and tokenizer_support.prompt_byte_limit(tokenizer, None) is None
    longest = max(range(len(tokenizer)), key=lambda i: len(tokenizer.decode([i]).encode()))
    densest = tokenizer.decode([longest] * 50).encode()
    assert len(densest) <= limit
    ordinary = ("Hello world 안녕하세요 " * (limit // 10))[:limit]
    assert len(ids(tokenizer, ordinary)) > 50
    tokenizer_support.check_prompt_bytes(densest, limit, "text_input", 50)
    with pytest.raises(tokenizer_support.InputError, match=f"more than {limit} bytes cannot fit in"):
        tokenizer_support.check_prompt_bytes(b"x" * (limit + 1), limit, "text_input", 50)


def test_decoder_keeps_transformers_clean_up_of_spaces() -> None:
    """A WordPiece tokenizer whose transformers decode removes spaces before punctuation: the raw
    `tokenizers` decode differs on the probes, so the model keeps transformers' decode."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = {"[UNK]", *" ".join(tokenizer_support.PROBE_TEXTS).replace("'", " ' ").split()}
    backend = Tokenizer(models.WordPiece({w: i for i, w in enumerate(sorted(words))}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="[UNK]", clean_up_tokenization_spaces=True
    )
    decode = tokenizer_support.token_decoder(tokenizer, True)
    assert decode.__name__ == "through_transformers"
    sequence = tokenizer.encode("Hi , so . Yes !", add_special_tokens=False)
    assert (
        decode([sequence]) == tokenizer.batch_decode([sequence], skip_special_tokens=True) == ["Hi, so. Yes!"]
    )


class TestChatTemplateAffixes:
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(prompt=TEXTS)
    def test_affixes_equal_the_rendered_template(self, smollm2, prompt):
        affixes = tokenizer_support.chat_template_affixes(smollm2)
        assert affixes is not None
        rendered = smollm2.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
        assert affixes[0] + prompt + affixes[1] == rendered

    @pytest.mark.parametrize(
        "template",
        [
            "{{ messages[0]['content'] | trim }}",  # changes the prompt
            "{% if messages[0]['content'] | length > 20 %}long: {% endif %}{{ messages[0]['content'] }}",
            "{{ strftime_now('%d %b %Y') }} {{ messages[0]['content'] }}",  # reads the clock
            "{{ messages[0]['content'] }} and again {{ messages[0]['content'] }}",
        ],
    )
    def test_templates_that_are_not_a_plain_frame_are_rendered_per_request(self, smollm2, template):
        tokenizer = copy.deepcopy(smollm2)
        tokenizer.chat_template = template
        assert tokenizer_support.chat_template_affixes(tokenizer) is None

    def test_no_template_no_affixes(self, llama):
        assert getattr(llama, "chat_template", None) is None
        assert tokenizer_support.chat_template_affixes(llama) is None


# -- preprocessing ----------------------------------------------------------------------------------


class TestPreprocessing:
    pytestmark = pytest.mark.server

    def test_chat_template_is_applied_when_the_tokenizer_has_one(self, latest, smollm2):
        outputs = infer(
            latest,
            "preprocessing",
            {"QUERY": text_tensor("Hi"), "REQUEST_OUTPUT_LEN": np.array([[5]], np.int32)},
        )
        templated = smollm2.apply_chat_template(
            [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
        )
        expected = smollm2(templated, add_special_tokens=False)["input_ids"]
        assert outputs["INPUT_ID"].tolist() == [expected]
        assert outputs["REQUEST_INPUT_LEN"].tolist() == [[len(expected)]]
        assert outputs["REQUEST_OUTPUT_LEN"].tolist() == [[5]]

    def test_request_parameter_turns_the_chat_template_off(self, latest, smollm2):
        inputs = {"QUERY": text_tensor("Hi there"), "REQUEST_OUTPUT_LEN": np.array([[5]], np.int32)}
        outputs = infer(latest, "preprocessing", inputs, parameters={"apply_chat_template": False})
        assert outputs["INPUT_ID"].tolist() == [ids(smollm2, "Hi there")]

    def test_end_and_pad_ids_default_to_the_tokenizer_and_follow_the_request(self, latest, smollm2):
        base = {"QUERY": text_tensor("Hi"), "REQUEST_OUTPUT_LEN": np.array([[5]], np.int32)}
        defaults = infer(latest, "preprocessing", base)
        assert defaults["OUT_END_ID"].tolist() == [[smollm2.eos_token_id]]
        assert defaults["OUT_PAD_ID"].tolist() == [[smollm2.pad_token_id]]
        chosen = infer(
            latest,
            "preprocessing",
            {**base, "END_ID": np.array([[7]], np.int32), "PAD_ID": np.array([[9]], np.int32)},
        )
        assert (chosen["OUT_END_ID"].tolist(), chosen["OUT_PAD_ID"].tolist()) == ([[7]], [[9]])

    def test_stop_and_bad_words_become_id_lists_with_end_offsets(self, latest, smollm2):
        words = np.array([[b" world", b" good day", b""]], dtype=np.object_)  # "" means nothing
        inputs = {
            "QUERY": text_tensor("Hi"),
            "REQUEST_OUTPUT_LEN": np.array([[5]], np.int32),
            "STOP_WORDS_DICT": words,
            "BAD_WORDS_DICT": np.array([[b" world"]], dtype=np.object_),
        }
        outputs = infer(latest, "preprocessing", inputs)
        first, second = ids(smollm2, " world"), ids(smollm2, " good day")
        assert outputs["STOP_WORDS_IDS"].tolist() == [
            [first + second, [len(first), len(first) + len(second)] + [-1] * (len(first) + len(second) - 2)]
        ]
        assert outputs["BAD_WORDS_IDS"].tolist() == [[first, [len(first)] + [-1] * (len(first) - 1)]]

    def test_no_words_give_empty_lists(self, latest):
        outputs = infer(
            latest,
            "preprocessing",
            {"QUERY": text_tensor("Hi"), "REQUEST_OUTPUT_LEN": np.array([[5]], np.int32)},
        )
        assert outputs["STOP_WORDS_IDS"].shape == (1, 2, 0)
        assert outputs["EMBEDDING_BIAS"].shape == (1, 0)

    def test_embedding_bias_words_weigh_their_tokens(self, latest, smollm2):
        inputs = {
            "QUERY": text_tensor("Hi"),
            "REQUEST_OUTPUT_LEN": np.array([[5]], np.int32),
            "EMBEDDING_BIAS_WORDS": np.array([[b" world", b" day"]], dtype=np.object_),
            "EMBEDDING_BIAS_WEIGHTS": np.array([[2.5, -1.0]], dtype=np.float32),
        }
        bias = infer(latest, "preprocessing", inputs)["EMBEDDING_BIAS"]
        assert bias.shape == (1, len(smollm2))
        (world,), (day,) = ids(smollm2, " world"), ids(smollm2, " day")
        assert bias[0, world] == 2.5 and bias[0, day] == -1.0
        assert np.count_nonzero(bias) == 2

    def test_mismatched_embedding_bias_is_a_client_error(self, latest):
        inputs = {
            "QUERY": text_tensor("Hi"),
            "REQUEST_OUTPUT_LEN": np.array([[5]], np.int32),
            "EMBEDDING_BIAS_WORDS": np.array([[b" world", b" day"]], dtype=np.object_),
            "EMBEDDING_BIAS_WEIGHTS": np.array([[2.5]], dtype=np.float32),
        }
        with pytest.raises(
            InferenceServerException, match="2 words but embedding_bias_weights has 1"
        ) as error:
            infer(latest, "preprocessing", inputs)
        assert error.value.status() == "400"

    def test_latest_contract_outputs_only_what_applies(self, latest):
        outputs = infer(
            latest,
            "preprocessing",
            {"QUERY": text_tensor("Hi"), "REQUEST_OUTPUT_LEN": np.array([[5]], np.int32)},
        )
        assert set(outputs) == {  # upstream always sends the decoder pair (one pad id, length 1)
            "INPUT_ID", "REQUEST_INPUT_LEN", "BAD_WORDS_IDS", "STOP_WORDS_IDS", "EMBEDDING_BIAS",
            "REQUEST_OUTPUT_LEN", "OUT_END_ID", "OUT_PAD_ID", "DECODER_INPUT_ID", "REQUEST_DECODER_INPUT_LEN",
        }  # fmt: skip
        with_decoder = infer(
            latest,
            "preprocessing",
            {
                "QUERY": text_tensor("Hi"),
                "DECODER_QUERY": text_tensor("Bonjour"),
                "REQUEST_OUTPUT_LEN": np.array([[5]], np.int32),
            },
        )
        assert with_decoder["REQUEST_DECODER_INPUT_LEN"].tolist() == [
            [with_decoder["DECODER_INPUT_ID"].shape[1]]
        ]

    def test_multimodal_inputs_are_refused_clearly(self, latest):
        inputs = {
            "QUERY": text_tensor("Hi"),
            "REQUEST_OUTPUT_LEN": np.array([[5]], np.int32),
            "IMAGE_URL": text_tensor("http://example.invalid/cat.png"),
        }
        with pytest.raises(
            InferenceServerException, match="multimodal input IMAGE_URL is not supported"
        ) as error:
            infer(latest, "preprocessing", inputs)
        assert error.value.status() == "400"

    def test_concurrent_requests_are_tokenized_together(self, latest, smollm2):
        """Dynamic batching hands several requests to one execute; each still gets its own ids."""
        prompts = [f"prompt number {i} " + "word " * i for i in range(8)]
        client = httpclient.InferenceServerClient(latest.http_url)
        before = client.get_inference_statistics("preprocessing")["model_stats"][0]

        def one(prompt: str) -> list[int]:
            outputs = infer(
                latest,
                "preprocessing",
                {"QUERY": text_tensor(prompt), "REQUEST_OUTPUT_LEN": np.array([[3]], np.int32)},
                parameters={"apply_chat_template": False},
            )
            return outputs["INPUT_ID"][0].tolist()

        with ThreadPoolExecutor(len(prompts)) as pool:
            results = list(pool.map(one, prompts))
        assert results == [ids(smollm2, p) for p in prompts]
        after = client.get_inference_statistics("preprocessing")["model_stats"][0]
        requests_served = after["inference_count"] - before["inference_count"]
        executions = after["execution_count"] - before["execution_count"]
        assert requests_served == len(prompts)
        assert executions < requests_served, "no two requests shared an execute call"

    def test_add_special_tokens_follows_the_parameter(self, compat, llama):
        """v0.8 ships add_special_tokens "False"; v0.5 has no such parameter, so the default (true)."""
        bos = llama.bos_token_id
        v08 = infer(
            compat,
            "preprocessing",
            {"QUERY": text_tensor("Hello world"), "REQUEST_OUTPUT_LEN": np.array([[5]], np.int32)},
        )
        v05 = infer(
            compat,
            "preprocessing_v05",
            {
                "QUERY": text_tensor("Hello world"),
                "REQUEST_OUTPUT_LEN": np.array([[5]], np.uint32),
                "BAD_WORDS_DICT": text_tensor(""),
                "STOP_WORDS_DICT": text_tensor(""),
            },
        )
        assert v08["INPUT_ID"].tolist() == [ids(llama, "Hello world")]
        assert v05["INPUT_ID"].tolist() == [[bos, *ids(llama, "Hello world")]]

    def test_pad_id_falls_back_to_eos(self, compat, llama):
        """The SentencePiece-style tokenizer has no pad token: EOS pads, as upstream."""
        assert llama.pad_token is None
        outputs = infer(
            compat,
            "preprocessing",
            {"QUERY": text_tensor("Hi"), "REQUEST_OUTPUT_LEN": np.array([[5]], np.int32)},
        )
        assert outputs["OUT_END_ID"].tolist() == outputs["OUT_PAD_ID"].tolist() == [[llama.eos_token_id]]

    def test_older_contracts_get_exactly_their_outputs_and_types(self, compat):
        v08 = infer(
            compat,
            "preprocessing",
            {"QUERY": text_tensor("Hello"), "REQUEST_OUTPUT_LEN": np.array([[5]], np.int32)},
        )
        assert set(v08) == {
            "INPUT_ID", "REQUEST_INPUT_LEN", "BAD_WORDS_IDS", "STOP_WORDS_IDS", "EMBEDDING_BIAS",
            "REQUEST_OUTPUT_LEN", "OUT_END_ID", "OUT_PAD_ID",
        }  # fmt: skip
        v05 = infer(
            compat,
            "preprocessing_v05",
            {
                "QUERY": text_tensor("Hello"),
                "REQUEST_OUTPUT_LEN": np.array([[5]], np.uint32),
                "BAD_WORDS_DICT": text_tensor(""),
                "STOP_WORDS_DICT": text_tensor(" world"),
            },
        )
        assert set(v05) == {
            "INPUT_ID",
            "REQUEST_INPUT_LEN",
            "BAD_WORDS_IDS",
            "STOP_WORDS_IDS",
            "REQUEST_OUTPUT_LEN",
        }
        assert v05["REQUEST_OUTPUT_LEN"].dtype == np.uint32
        assert v05["STOP_WORDS_IDS"].shape[:2] == (1, 2)


# -- postprocessing ---------------------------------------------------------------------------------


class TestPostprocessing:
    pytestmark = pytest.mark.server

    def test_sequence_length_cuts_the_padding(self, latest, smollm2):
        tokens = ids(smollm2, "Hello world")
        padded = np.array([[tokens + ids(smollm2, " garbage padding")]], dtype=np.int32)
        outputs = infer(
            latest,
            "postprocessing",
            {"TOKENS_BATCH": padded, "SEQUENCE_LENGTH": np.array([[len(tokens)]], np.int32)},
        )
        assert outputs["OUTPUT"].tolist() == [b"Hello world"]  # flat, as upstream (test_wire_compat.py)

    def test_every_beam_and_batch_row_is_decoded(self, latest, smollm2):
        rows = [
            [ids(smollm2, "one two"), ids(smollm2, "three")],
            [ids(smollm2, "four"), ids(smollm2, "five six")],
        ]
        width = max(len(t) for row in rows for t in row)
        tokens = np.array([[t + [0] * (width - len(t)) for t in row] for row in rows], dtype=np.int32)
        lengths = np.array([[len(t) for t in row] for row in rows], dtype=np.int32)
        outputs = infer(latest, "postprocessing", {"TOKENS_BATCH": tokens, "SEQUENCE_LENGTH": lengths})
        assert outputs["OUTPUT"].tolist() == [b"one two", b"three", b"four", b"five six"]  # row-major, flat

    def test_skip_special_tokens(self, latest, compat, smollm2, llama):
        """latest is deployed with skip_special_tokens false, v0.8 with its literal "True"."""
        with_marker = [smollm2.convert_tokens_to_ids("<|im_start|>"), *ids(smollm2, "user")]
        kept = infer(
            latest,
            "postprocessing",
            {
                "TOKENS_BATCH": np.array([[with_marker]], np.int32),
                "SEQUENCE_LENGTH": np.array([[len(with_marker)]], np.int32),
            },
        )
        assert kept["OUTPUT"].tolist() == [b"<|im_start|>user"]
        with_bos = [llama.bos_token_id, *ids(llama, "Hello world")]
        skipped = infer(
            compat,
            "postprocessing",
            {
                "TOKENS_BATCH": np.array([[with_bos]], np.int32),
                "SEQUENCE_LENGTH": np.array([[len(with_bos)]], np.int32),
                "CUM_LOG_PROBS": np.zeros((1, 1), np.float32),
                "OUTPUT_LOG_PROBS": np.zeros((1, 1, 1), np.float32),
            },
        )
        assert skipped["OUTPUT"].tolist() == [b"Hello world"]

    def test_v08_passes_log_probs_through(self, compat, llama):
        tokens = ids(llama, "Hello")
        outputs = infer(
            compat,
            "postprocessing",
            {
                "TOKENS_BATCH": np.array([[tokens]], np.int32),
                "SEQUENCE_LENGTH": np.array([[len(tokens)]], np.int32),
                "CUM_LOG_PROBS": np.array([[-1.5]], np.float32),
                "OUTPUT_LOG_PROBS": np.array([[[-0.5, -1.0]]], np.float32),
            },
        )
        assert outputs["OUT_CUM_LOG_PROBS"].tolist() == [[-1.5]]
        assert outputs["OUT_OUTPUT_LOG_PROBS"].tolist() == [[[-0.5, -1.0]]]
        assert set(outputs) >= {"OUT_CONTEXT_LOGITS", "OUT_GENERATION_LOGITS"}  # zero placeholders

    @pytest.mark.parametrize("chunk", [1, 2, 3])
    def test_chunks_with_a_request_id_decode_like_the_whole(self, compat, llama, chunk):
        """SentencePiece-style: spaces and byte-fallback characters survive chunked decoding."""
        tokens = ids(llama, MULTIBYTE_TEXT)
        client = httpclient.InferenceServerClient(compat.http_url)
        pieces = []
        for start in range(0, len(tokens), chunk):
            part = tokens[start : start + chunk]
            inputs = []
            for name, value in {
                "TOKENS_BATCH": np.array([[part]], np.int32),
                "SEQUENCE_LENGTH": np.array([[len(part)]], np.int32),
                "CUM_LOG_PROBS": np.zeros((1, 1), np.float32),
                "OUTPUT_LOG_PROBS": np.zeros((1, 1, 1), np.float32),
            }.items():
                tensor = httpclient.InferInput(name, list(value.shape), np_to_triton_dtype(value.dtype))
                tensor.set_data_from_numpy(value)
                inputs.append(tensor)
            result = client.infer("postprocessing", inputs, request_id=f"chunks-{chunk}")
            pieces.append(result.as_numpy("OUTPUT")[0].decode())
        assert "".join(pieces) == MULTIBYTE_TEXT
        assert not any(REPLACEMENT in p for p in pieces)


# -- the ensemble end to end ------------------------------------------------------------------------


class TestEnsemble:
    pytestmark = pytest.mark.server

    def test_generate_echoes_through_all_three_steps(self, latest, smollm2):
        status, body = generate(latest, "ensemble", echo_body("The quick brown fox", smollm2))
        assert status == 200, body
        assert body["text_output"] == "The quick brown fox"
        assert body["model_name"] == "ensemble"

    def test_output_includes_the_prompt_unless_excluded(self, latest, smollm2):
        request = {**echo_body("The fox", smollm2), "exclude_input_in_output": False}
        status, body = generate(latest, "ensemble", request)
        assert (status, body["text_output"]) == (200, "The foxThe fox")

    def test_chat_template_on_by_default(self, latest, smollm2):
        templated = smollm2.apply_chat_template(
            [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
        )
        count = len(smollm2(templated, add_special_tokens=False)["input_ids"])
        status, body = generate(
            latest,
            "ensemble",
            # end_id -1: the template holds EOS (<|im_end|>), where the echo would otherwise stop
            {"text_input": "Hi", "max_tokens": count, "exclude_input_in_output": True, "end_id": -1},
        )
        assert status == 200, body
        assert body["text_output"] == templated
        assert "<|im_start|>assistant\n" in body["text_output"]

    def test_stop_words_end_the_answer(self, latest, smollm2):
        request = {**echo_body("one two three four", smollm2), "stop_words": [" three"]}
        assert generate(latest, "ensemble", request)[1]["text_output"] == "one two three"

    def test_bad_words_are_never_produced(self, latest, smollm2):
        request = {**echo_body("one two three", smollm2), "bad_words": [" two"], "max_tokens": 4}
        assert generate(latest, "ensemble", request)[1]["text_output"] == "one threeone three"

    def test_end_id_stops_generation(self, latest, smollm2):
        (three,) = ids(smollm2, " three")
        request = {**echo_body("one two three four", smollm2), "end_id": three}
        assert generate(latest, "ensemble", request)[1]["text_output"] == "one two"

    def test_streamed_multibyte_text_joins_to_the_whole(self, latest, smollm2):
        request = echo_body(MULTIBYTE_TEXT, smollm2, id="multibyte-ensemble")
        status, whole = generate(latest, "ensemble", {**request, "id": "multibyte-whole"})
        assert (status, whole["text_output"]) == (200, MULTIBYTE_TEXT)
        status, events = generate_stream(latest, "ensemble", request)
        assert status == 200
        # one event per token, and the runtime's empty final response
        assert len(events) == len(ids(smollm2, MULTIBYTE_TEXT)) + 1 and events[-1]["text_output"] == ""
        assert streamed_text(events) == MULTIBYTE_TEXT
        assert not any(REPLACEMENT in e["text_output"] for e in events)

    def test_streaming_with_a_sentencepiece_tokenizer_keeps_spaces(self, compat, llama):
        request = echo_body(MULTIBYTE_TEXT, llama, id="multibyte-llama")
        status, events = generate_stream(compat, "ensemble", request)
        assert status == 200
        assert streamed_text(events) == MULTIBYTE_TEXT

    def test_streaming_without_an_id_still_keeps_spaces(self, compat, llama):
        """No id: no state can be kept, but each chunk is decoded after an anchor, so words stay apart."""
        text = "Streaming text must keep its spaces"
        status, events = generate_stream(compat, "ensemble", echo_body(text, llama))
        assert status == 200
        assert streamed_text(events).strip() == text

    def test_v08_ensemble_passes_log_probs_and_uses_min_length_names(self, compat, llama):
        """v0.8 has no exclude_input_in_output: the output repeats the prompt, then the echo."""
        request = {
            **echo_body("Hello world", llama),
            "return_log_probs": True,
            "min_length": 1,
            "random_seed": 3,
        }
        status, body = generate(compat, "ensemble", request)
        assert status == 200, body
        assert body["text_output"] == "Hello world Hello world"
        assert body["cum_log_probs"] == pytest.approx(-0.5 * 2 * len(ids(llama, "Hello world")))

    def test_v05_ensemble_with_uint32_lengths_and_required_word_lists(self, compat, llama):
        request = {"text_input": "Hello world", "max_tokens": 3, "bad_words": "", "stop_words": ""}
        status, body = generate(compat, "ensemble_v05", request)
        assert status == 200, body
        # v0.5: BOS added (no add_special_tokens parameter yet), prompt echoed in the output.
        prompt = [llama.bos_token_id, *ids(llama, "Hello world")]
        expected = llama.decode(prompt + prompt[:3], skip_special_tokens=True)
        assert body["text_output"] in (expected, [expected])
        status, body = generate(compat, "ensemble_v05", {"text_input": "Hello", "max_tokens": 3})
        assert status == 400 and "missing required input(s) ['bad_words','stop_words']" in body["error"]


# -- the BLS ----------------------------------------------------------------------------------------


class TestBls:
    pytestmark = pytest.mark.server

    def test_generate_matches_the_ensemble(self, latest, smollm2):
        request = {**echo_body("The quick brown fox", smollm2), "exclude_input_in_output": False}
        status, bls = generate(latest, "tensorrt_llm_bls", request)
        assert status == 200, bls
        assert bls["text_output"] == generate(latest, "ensemble", request)[1]["text_output"]
        assert bls["text_output"] == "The quick brown foxThe quick brown fox"

    @pytest.mark.parametrize("model", ["tensorrt_llm_bls", "tensorrt_llm_bls_window"])
    def test_streamed_multibyte_text_joins_to_the_whole(self, latest, smollm2, model):
        """accumulate_tokens true (re-decode all) and false (a window): the same, exact text."""
        status, events = generate_stream(latest, model, echo_body(MULTIBYTE_TEXT, smollm2))
        assert status == 200
        assert streamed_text(events) == MULTIBYTE_TEXT
        assert not any(REPLACEMENT in e["text_output"] for e in events)

    def test_calls_the_llm_its_parameter_names(self, latest, smollm2):
        """tensorrt_llm_bls_window is deployed with tensorrt_llm_model_name tensorrt_llm_alt."""
        client = httpclient.InferenceServerClient(latest.http_url)

        def served(model: str) -> int:
            return client.get_inference_statistics(model)["model_stats"][0]["inference_count"]

        before = served("tensorrt_llm_alt"), served("tensorrt_llm")
        status, body = generate(latest, "tensorrt_llm_bls_window", echo_body("one two", smollm2))
        assert (status, body["text_output"]) == (200, "one two")
        assert (served("tensorrt_llm_alt"), served("tensorrt_llm")) == (before[0] + 1, before[1])

    def test_runs_preprocessing_and_postprocessing_in_its_own_process(self, latest, smollm2):
        """One LLM call per request: the sibling models' code runs inside the BLS, not as model calls."""
        client = httpclient.InferenceServerClient(latest.http_url)

        def served() -> tuple[int, ...]:
            return tuple(
                client.get_inference_statistics(m)["model_stats"][0]["inference_count"]
                for m in ("preprocessing", "postprocessing", "tensorrt_llm")
            )

        before = served()
        status, body = generate(latest, "tensorrt_llm_bls", echo_body("in process", smollm2))
        assert (status, body["text_output"]) == (200, "in process")
        status, events = generate_stream(latest, "tensorrt_llm_bls", echo_body("in process", smollm2))
        assert (status, streamed_text(events)) == (200, "in process")
        assert served() == (before[0], before[1], before[2] + 2)

    def test_calls_the_sibling_models_when_it_cannot_run_them_itself(self, smollm2, tmp_path):
        """When a sibling's code is not the BLS's own copy (edited by hand, another tritongen), the BLS
        calls the preprocessing and postprocessing models, with the same answers."""
        repository = build_latest(servers.smollm2_dir(), tmp_path / "repository")
        edited = repository / "preprocessing" / "1" / "preprocessing" / "model.py"
        edited.write_text(edited.read_text() + "# edited by hand\n")
        server = start_server(repository, tmp_path / "tritonserver.log")
        try:
            client = httpclient.InferenceServerClient(server.http_url)
            before = client.get_inference_statistics("preprocessing")["model_stats"][0]["inference_count"]
            body = echo_body(MULTIBYTE_TEXT, smollm2)
            status, answer = generate(server, "tensorrt_llm_bls", body)
            assert (status, answer["text_output"]) == (200, MULTIBYTE_TEXT)
            status, events = generate_stream(server, "tensorrt_llm_bls", body)
            assert (status, streamed_text(events)) == (200, MULTIBYTE_TEXT)
            after = client.get_inference_statistics("preprocessing")["model_stats"][0]["inference_count"]
            assert after == before + 2
            log = (tmp_path / "tritonserver.log").read_text(errors="replace")
            assert "calling preprocessing as a model (slower)" in log
            assert "its preprocessing/model.py is not the code shipped with tensorrt_llm_bls" in log
        finally:
            stop_server(server)

    def test_streaming_passes_log_probs_per_token(self, latest, smollm2):
        status, events = generate_stream(
            latest, "tensorrt_llm_bls", {**echo_body("one two", smollm2), "return_log_probs": True}
        )
        assert status == 200
        assert [e["cum_log_probs"] for e in events] == [-0.5] * len(ids(smollm2, "one two")) + [0.0]

    def test_chat_template_and_parameters_reach_preprocessing(self, latest, smollm2):
        status, body = generate(
            latest, "tensorrt_llm_bls", {"text_input": "Hi", "max_tokens": 3, "exclude_input_in_output": True}
        )
        assert status == 200 and body["text_output"].startswith("<|im_start|>system")

    def test_non_decoupled_bls_refuses_to_stream_clearly(self, compat, llama):
        status, body = generate(
            compat, "tensorrt_llm_bls", {**echo_body("Hello world", llama), "stream": True}
        )
        assert status == 400
        assert "decoupled" in body["error"]
        status, body = generate(compat, "tensorrt_llm_bls", echo_body("Hello world", llama))
        # v0.8 has no exclude_input_in_output input (generate makes it a parameter): prompt + echo
        assert (status, body["text_output"]) == (200, "Hello world Hello world")

    def test_client_going_away_stops_the_llm_stream(self, latest, smollm2):
        """200 tokens at 20 ms would take 4 s: leaving after 3 must stop the stand-in's stream early."""
        log = latest.log_path
        seen_before = log.read_text(errors="replace").count("stopped early")
        request = {**echo_body("tick tock", smollm2), "max_tokens": 200, "stream": True}
        response = requests.post(
            f"{latest.base_url}/v2/models/tensorrt_llm_bls/generate_stream",
            json=request,
            stream=True,
            timeout=30,
        )
        received = 0
        for line in response.iter_lines():
            received += line.startswith(b"data:")
            if received == 3:
                break
        response.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if log.read_text(errors="replace").count("stopped early") > seen_before:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the tensorrt_llm stream ran on after the client left")
        assert_still_serving(latest, "tensorrt_llm_bls")

    def test_draft_model_is_refused_at_load(self, smollm2_dir, tmp_path):
        full = build_repository(tmp_path / "full", ["latest"], smollm2_dir)
        alone = tmp_path / "bls-only"
        copy_model(
            full,
            "tensorrt_llm_bls",
            "tensorrt_llm_bls",
            {"tensorrt_llm_draft_model_name": "draft"},
            into=alone,
        )
        with pytest.raises(RuntimeError, match="speculative decoding is not supported"):
            stop_server(start_server(alone, tmp_path / "server.log", ready_timeout_s=120))


# -- bad input --------------------------------------------------------------------------------------


BAD_REQUESTS = [
    pytest.param({"max_tokens": 5}, "missing required input(s) ['text_input']", id="no text_input"),
    pytest.param({"text_input": "", "max_tokens": 5}, "text_input is empty", id="empty text"),
    pytest.param(
        {"text_input": "Hi", "max_tokens": 0}, "max_tokens must be at least 1, got 0", id="max_tokens 0"
    ),
    pytest.param(
        {"text_input": "Hi", "max_tokens": -4},
        "max_tokens must be at least 1, got -4",
        id="negative max_tokens",
    ),
    pytest.param(
        {"text_input": "Hi", "max_tokens": 1000, "apply_chat_template": False},
        "exceeds this engine's max_seq_len of 300 tokens: set max_tokens to at most 299",
        id="max_tokens beyond max_seq_len",
    ),
    pytest.param(
        {"text_input": "word " * 250, "max_tokens": 5, "apply_chat_template": False},
        "but this engine accepts at most 200 input tokens (max_input_len)",
        id="prompt too long",
    ),
    pytest.param({"text_input": "Hi"}, "missing required input(s) ['max_tokens']", id="no max_tokens"),
]


class TestBadInput:
    pytestmark = pytest.mark.server

    @pytest.mark.parametrize("model", ["ensemble", "tensorrt_llm_bls"])
    @pytest.mark.parametrize(("request_body", "message"), BAD_REQUESTS)
    def test_generate_answers_400_with_a_clear_message(self, latest, model, request_body, message):
        status, body = generate(latest, model, request_body)
        assert status == 400, body
        assert message in body["error"]
        assert_still_serving(latest, model)

    @pytest.mark.parametrize("model", ["ensemble", "tensorrt_llm_bls"])
    def test_a_prompt_over_the_byte_limit_is_refused_before_it_is_tokenized(self, latest, model, smollm2):
        """8 MB of text: refused from its size (max_input_len 200 x the longest token's bytes x 4), in
        far less time than tokenizing it would take (seconds, in the process that serves everyone)."""
        limit = tokenizer_support.prompt_byte_limit(smollm2, 200)
        started = time.monotonic()
        status, body = generate(latest, model, {"text_input": "word " * 1_600_000, "max_tokens": 5})
        elapsed = time.monotonic() - started
        assert status == 400, body
        assert (
            f"text_input is 8000000 bytes: more than {limit} bytes cannot fit in max_input_len 200"
            in (body["error"])
        )
        assert elapsed < 4.0, f"refusing took {elapsed:.1f} s"
        assert_still_serving(latest, model)

    def test_images_sent_to_the_bls_are_refused_clearly(self, latest):
        request = {"text_input": "Hi", "max_tokens": 5, "image_url_input": "http://x.invalid/a.png"}
        status, body = generate(latest, "tensorrt_llm_bls", request)
        assert status == 400
        assert "image_url_input: multimodal requests are not supported" in body["error"]

    @pytest.mark.parametrize("model", ["ensemble", "tensorrt_llm_bls"])
    def test_generate_stream_sends_an_error_event(self, latest, model):
        status, events = generate_stream(latest, model, {"text_input": "Hi", "max_tokens": 0})
        assert status == 400
        assert len(events) == 1 and "max_tokens must be at least 1" in events[0]["error"]
        assert_still_serving(latest, model)

    @pytest.mark.parametrize(
        ("request_body", "message"),
        [
            (
                {"text_input": "Hi", "max_tokens": "many"},
                "attempt to access JSON non-signed-integer as signed-integer",
            ),
            ({"text_input": 5, "max_tokens": 3}, "attempt to access JSON non-string as string"),
            (
                {"text_input": "Hi", "max_tokens": 3, "temperature": "hot"},
                "attempt to access JSON non-number as double",
            ),
        ],
    )
    def test_wrong_types_are_refused_by_triton_itself(self, latest, request_body, message):
        """Triton 2.51 parses generate JSON before any model runs: HTTP 500, and no input name."""
        response = requests.post(
            f"{latest.base_url}/v2/models/ensemble/generate", json=request_body, timeout=30
        )
        assert response.status_code == 500
        assert message in response.json()["error"]
        assert_still_serving(latest)

    def test_limits_unknown_to_preprocessing_are_enforced_by_the_llm(self, compat, llama):
        """v0.8 preprocessing is not told max_seq_len (64 here): the runtime's error, still a 400."""
        status, body = generate(compat, "ensemble", {"text_input": "Hello world", "max_tokens": 100})
        assert status == 400
        assert "exceeds max_seq_len 64" in body["error"]
        assert_still_serving(compat)

    def test_batch_of_prompts_to_the_bls_is_refused_clearly(self, latest):
        inputs = {"text_input": text_tensor("a", "b"), "max_tokens": np.array([[2], [2]], np.int32)}
        with pytest.raises(InferenceServerException, match="one prompt per request, got a batch of 2"):
            client_infer_decoupled(latest, "tensorrt_llm_bls", inputs)


def client_infer_decoupled(server: RunningServer, model: str, inputs: dict[str, np.ndarray]) -> None:
    """Decoupled models answer over gRPC streams only; raise the first error the stream carries."""
    import tritonclient.grpc as grpcclient

    results: list[Any] = []
    done = threading.Event()

    def callback(result: Any, error: Any) -> None:
        results.append(error or result)
        done.set()

    client = grpcclient.InferenceServerClient(server.grpc_url)
    client.start_stream(callback=callback)
    tensors = []
    for name, value in inputs.items():
        tensor = grpcclient.InferInput(name, list(value.shape), np_to_triton_dtype(value.dtype))
        tensor.set_data_from_numpy(value)
        tensors.append(tensor)
    client.async_stream_infer(model, tensors)
    done.wait(30)
    client.stop_stream()
    if results and isinstance(results[0], InferenceServerException):
        raise results[0]


# -- rendered repositories (the template engineer's configs) around the stand-in -------------------


@pytest.fixture(scope="module", params=["v0.5", "v0.8", "latest"])
def rendered(request: pytest.FixtureRequest) -> tuple[str, RunningServer, Any]:
    version = request.param
    tokenizer_name = servers.RENDERED_ENGINES[version][2]
    directory = servers.smollm2_dir() if tokenizer_name == "smollm2" else servers.llama_dir()
    return version, servers.rendered_standin_server(version), servers.load_tokenizer(directory)


class TestRenderedContracts:
    """`tritongen render` output for real v0.5 / v0.8 / latest engine configs, served with these
    models and the stand-in LLM: the rendered configs and the models agree on every tensor."""

    pytestmark = pytest.mark.server

    def test_ensemble_generates(self, rendered):
        version, server, tokenizer = rendered
        text = "Hello world"
        # the rendered preprocessing adds special tokens (BOS for the SentencePiece-style tokenizer)
        request = {
            "text_input": text,
            "max_tokens": len(tokenizer(text)["input_ids"]),
            "apply_chat_template": False,
        }
        if version == "v0.5":
            request |= {"bad_words": "", "stop_words": ""}
        status, body = generate(server, "ensemble", request)
        assert status == 200, body
        output = body["text_output"][0] if isinstance(body["text_output"], list) else body["text_output"]
        assert output.endswith(text) and text in output  # with or without the prompt, per version

    def test_ensemble_streams_multibyte_text_exactly(self, rendered):
        version, server, tokenizer = rendered
        if version == "v0.5":
            pytest.skip("v0.5 has no exclude_input_in_output and its stand-in LLM is not decoupled")
        request = {
            **echo_body(MULTIBYTE_TEXT, tokenizer, id=f"rendered-{version}"),
            "max_tokens": len(tokenizer(MULTIBYTE_TEXT)["input_ids"]),
        }
        status, events = generate_stream(server, "ensemble", request)
        assert status == 200
        joined = streamed_text(events)
        assert joined.endswith(MULTIBYTE_TEXT)  # v0.8 streams only new tokens, as latest
        assert not any(REPLACEMENT in e["text_output"] for e in events)

    def test_bls_streams_and_generates(self, rendered):
        version, server, tokenizer = rendered
        if version == "v0.5":
            pytest.skip("v0.5 has no tensorrt_llm_bls")
        request = {
            **echo_body(MULTIBYTE_TEXT, tokenizer),
            "max_tokens": len(tokenizer(MULTIBYTE_TEXT)["input_ids"]),
        }
        status, events = generate_stream(server, "tensorrt_llm_bls", request)
        assert status == 200
        assert streamed_text(events).endswith(MULTIBYTE_TEXT)
        status, body = generate(server, "tensorrt_llm_bls", {**request, "max_tokens": 2})
        assert status == 200, body

    def test_bad_input_is_a_400(self, rendered):
        version, server, _ = rendered
        request = {"text_input": "", "max_tokens": 3} | (
            {"bad_words": "", "stop_words": ""} if version == "v0.5" else {}
        )
        status, body = generate(server, "ensemble", request)
        assert status == 400 and "text_input is empty" in body["error"]
        server.assert_alive()


# -- the real thing: `tritongen render` of SmolLM2 on the torch runtime -----------------------------


@pytest.fixture(scope="module")
def smollm2_real() -> RunningServer:
    return servers.rendered_smollm2_server()


GREEDY = {"top_k": 1}


class TestRenderedSmolLM2:
    """The rendered repository (templates + these models + the torch runtime) answering for real."""

    pytestmark = pytest.mark.server

    @pytest.mark.parametrize("model", ["ensemble", "tensorrt_llm_bls"])
    def test_answers_a_question_through_the_chat_template(self, smollm2_real, model):
        request = {"text_input": "What is the capital of France?", "max_tokens": 20, **GREEDY}
        status, body = generate(smollm2_real, model, request)
        assert status == 200, body
        assert "Paris" in body["text_output"]

    @pytest.mark.parametrize("model", ["ensemble", "tensorrt_llm_bls"])
    def test_streamed_korean_joins_to_the_whole_answer(self, smollm2_real, model):
        """Korean from a byte-level tokenizer: most characters span two or three tokens."""
        request = {"text_input": "Say hello in Korean.", "max_tokens": 24, "id": f"korean-{model}", **GREEDY}
        status, whole = generate(smollm2_real, model, request)
        assert status == 200, whole
        status, events = generate_stream(smollm2_real, model, {**request, "id": f"korean-stream-{model}"})
        assert status == 200
        joined = streamed_text(events)
        assert any("\uac00" <= ch <= "\ud7a3" for ch in joined), joined  # the answer has Hangul
        assert not any(REPLACEMENT in e["text_output"] for e in events)
        assert joined == whole["text_output"].rstrip(REPLACEMENT)  # a cut-off last character is held back

    def test_stop_words_and_log_probs_reach_the_runtime(self, smollm2_real):
        request = {
            "text_input": "Hi",
            "max_tokens": 16,
            "stop_words": ["!"],
            "return_log_probs": True,
            **GREEDY,
        }
        status, body = generate(smollm2_real, "ensemble", request)
        assert status == 200, body
        assert body["text_output"].endswith("!") and body["text_output"].count("!") == 1
        assert body["cum_log_probs"] < 0

    def test_prompt_longer_than_the_engine_takes_is_a_400(self, smollm2_real):
        status, body = generate(smollm2_real, "ensemble", {"text_input": "word " * 5000, "max_tokens": 5})
        assert status == 400
        assert "max_input_len" in body["error"]
        assert_still_serving(smollm2_real)

    def test_max_tokens_beyond_the_engine_is_a_400(self, smollm2_real):
        status, body = generate(smollm2_real, "ensemble", {"text_input": "Hi", "max_tokens": 100000})
        assert status == 400 and "max_seq_len" in body["error"]

    def test_bls_stream_stops_the_runtime_when_the_client_leaves(self, smollm2_real):
        def stops() -> int:
            return smollm2_real.log_path.read_text(errors="replace").count("stopped by a stop request")

        stops_before = stops()
        request = {"text_input": "Write a very long story about a dragon.", "max_tokens": 400, "stream": True}
        response = requests.post(
            f"{smollm2_real.base_url}/v2/models/tensorrt_llm_bls/generate_stream",
            json=request,
            stream=True,
            timeout=60,
        )
        received = 0
        for line in response.iter_lines():
            received += line.startswith(b"data:")
            if received == 3:
                break
        response.close()
        deadline = time.monotonic() + 15
        while stops() == stops_before:
            assert time.monotonic() < deadline, "the runtime kept generating after the client left"
            time.sleep(0.3)
        assert_still_serving(smollm2_real, "tensorrt_llm_bls")


# -- what `render` ships: package code, copied as it is, importing only what the server's Python has ----

RUNTIME_ROOT = runtime_layout.RUNTIME_ROOT
SHIPPED_THIRD_PARTY = {"numpy", "torch", "transformers", "tokenizers", "triton_python_backend_utils"}
# The llmapi model reads model.yaml (PyYAML: a TensorRT-LLM dependency) and imports tensorrt_llm where present.
_EXTRA_THIRD_PARTY = {"llmapi": {"yaml", "tensorrt_llm"}}


def _module_file(parts: list[str]) -> str | None:
    """`1/`-relative path of the module `parts` (relative to the runtime root), if the package has it."""
    for candidate in ("/".join(parts) + ".py", "/".join([*parts, "__init__.py"])):
        if parts and (RUNTIME_ROOT / candidate).is_file():
            return candidate
    return None


def _imports_of(kind: str) -> list[tuple[str, str, str | None]]:
    """(shipped file, import as written, the shipped file it needs or None for an absolute import)."""
    found = []
    for rel, path in runtime_layout.model_files(kind).items():
        package = Path(rel).parent.parts[1:]  # `1/` itself is the top-level package "1"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(rel, alias.name, None) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                found.append((rel, node.module or "", None))
            elif isinstance(node, ast.ImportFrom):
                written = "." * node.level + (node.module or "")
                if node.level - 1 > len(package):
                    found.append((rel, written, "beyond the top-level package"))
                    continue
                base = list(package[: len(package) - (node.level - 1)]) + (node.module or "").split(".")
                base = [part for part in base if part]
                targets = [_module_file(base)] if node.module else []
                targets += [
                    _module_file([*base, a.name]) for a in node.names if _module_file([*base, a.name])
                ]
                found += [(rel, written, f"1/{t}" if t else "missing") for t in targets]
    return found


@pytest.mark.parametrize("kind", sorted(runtime_layout.MODELS))
def test_shipped_code_imports_only_what_the_server_python_has(kind):
    """The server's Python has numpy, torch, transformers, tokenizers and the backend's utils, not
    tritongen: every absolute import is one of those or the standard library, and every relative
    import reaches a file shipped in the same `1/` (no sys.path inserts, no loading by path)."""
    shipped = set(runtime_layout.model_files(kind))
    imports = _imports_of(kind)
    absolute = {(rel, name) for rel, name, target in imports if target is None}
    foreign = {
        (rel, name)
        for rel, name in absolute
        if name.split(".")[0]
        not in sys.stdlib_module_names | SHIPPED_THIRD_PARTY | _EXTRA_THIRD_PARTY.get(kind, set())
    }
    assert not foreign
    unresolved = {(rel, name, target) for rel, name, target in imports if target and target not in shipped}
    assert not unresolved
    assert any(target == "1/common/parameters.py" for _, _, target in imports)  # the scan sees them
    for rel, path in runtime_layout.model_files(kind).items():
        source = path.read_text(encoding="utf-8")
        assert "sys.path" not in source and "spec_from_file_location" not in source, rel


def test_every_runtime_module_is_shipped_and_templates_hold_no_python():
    """Each runtime module reaches some model (layout.py itself only tells render what to copy)."""
    shipped = {path for kind in runtime_layout.MODELS for path in runtime_layout.model_files(kind).values()}
    package = set(RUNTIME_ROOT.rglob("*.py")) - {RUNTIME_ROOT / "__init__.py", RUNTIME_ROOT / "layout.py"}
    assert package - shipped == set()
    templates = RUNTIME_ROOT.parents[1] / "templates"
    assert templates.is_dir() and not [p for p in templates.rglob("*") if p.is_file() and p.suffix != ".j2"]


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_rendered_models_hold_exactly_the_package_files(case, tmp_path):
    result = render_case(case, tmp_path)
    repo = result.output
    for model in result.plan.models:
        kind = "tensorrt_llm_torch" if model == "tensorrt_llm" else model
        expected = runtime_layout.model_files(kind) if kind in runtime_layout.MODELS else {}
        if model == "tensorrt_llm" and result.plan.runtime != "torch":
            expected = {}
        present = {
            path.relative_to(repo / model).as_posix(): path
            for path in (repo / model).rglob("*")
            if path.is_file()
            and "engine" not in path.relative_to(repo / model).parts
            and path.name != "config.pbtxt"
        }
        assert set(present) == set(expected), model
        for rel, path in expected.items():
            assert present[rel].read_bytes() == path.read_bytes(), f"{model}/{rel}"
    for path in repo.rglob("*"):
        if path.is_file() and not path.is_symlink() and "engine" not in path.relative_to(repo).parts:
            text = path.read_text(encoding="utf-8")
            assert "${" not in text and "{{" not in text, path.relative_to(repo)


# A Python error in a model's log: a traceback, an exception line, or Triton's error-level log line ...
PYTHON_ERROR = re.compile(r"Traceback \(most recent call last\)|\b[A-Z]\w*(Error|Exception)\b|^E\d{4} ")
# ... except the server core's own two about CUDA on a machine without a GPU (no model's doing).
NO_GPU = re.compile(
    r'^E\d{4} [^]]* (server|ensemble_scheduler)\.cc:\d+\] "(CudaDriverHelper has not been initialized'
    r"|unable to create stream for ensemble: CUDA driver version is insufficient)"
)


@pytest.mark.server
def test_a_normal_launch_logs_no_python_error(tmp_path):
    """Start, serve generate and generate_stream (ensemble and BLS), stop: the server's log holds every
    model's output, `initialize` to `finalize` (which runs at the stop), and none of it is an error."""
    repository = tmp_path / "smollm2"
    sets = ["bls_instance_count=1", "preprocessing_instance_count=1", "postprocessing_instance_count=1"]
    render_engine(smollm2_checkpoint(), output=repository, sets=sets)
    # Time for every model to finalize at the stop, also on a busy machine (the harness default is 5 s).
    server = start_server(repository, tmp_path / "tritonserver.log", exit_timeout_s=120)
    try:
        for model in ("ensemble", "tensorrt_llm_bls"):
            request = {"text_input": "Hi", "max_tokens": 8, **GREEDY}
            status, body = generate(server, model, request)
            assert status == 200, body
            status, events = generate_stream(server, model, {**request, "id": f"clean-{model}"})
            assert status == 200 and streamed_text(events), events
        server.process.send_signal(signal.SIGTERM)  # tritonserver alone: it unloads (finalizes) its models
        server.process.wait(timeout=150)
    finally:
        stop_server(server)
    log = server.log()
    for model in ("preprocessing", "postprocessing", "tensorrt_llm_bls", "tensorrt_llm"):
        assert f"successfully unloaded '{model}'" in log, log[-3000:]  # its finalize ran
    assert [line for line in log.splitlines() if PYTHON_ERROR.search(line) and not NO_GPU.search(line)] == []
