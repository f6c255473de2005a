"""Parsing and type-checking `--set` / `--config` overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tritongen.errors import UsageError
from tritongen.render.catalogue import CATALOGUE, TRITON_DATATYPES, entries_named
from tritongen.render.catalogue_types import Param, ParamType, Source
from tritongen.render.overrides import coerce, format_value, load_config_file, parse_set, resolve
from tritongen.versions import v


def entry(name: str, model: str = "tensorrt_llm") -> Param:
    return next(p for p in entries_named(name, model) if p.placeholder or p.until is None)


BEAM = entry("max_beam_width")
FRACTION = entry("kv_cache_free_gpu_mem_fraction")
DECOUPLED = entry("decoupled_mode")
LOGITS = entry("logits_datatype")
POLICY = entry("batch_scheduler_policy")
DEVICES = entry("gpu_device_ids")
TOKENIZER = entry("tokenizer_dir")
TYPED_EXAMPLES = {
    ParamType.INT: BEAM,
    ParamType.FLOAT: FRACTION,
    ParamType.BOOL: DECOUPLED,
    ParamType.DATATYPE: LOGITS,
    ParamType.STR: TOKENIZER,
    ParamType.CSV: DEVICES,
}


def test_parse_set_plain_and_scoped_keys() -> None:
    plain = parse_set("max_beam_width=2")
    assert (plain.model, plain.name, plain.raw, plain.source) == (None, "max_beam_width", "2", Source.FLAG)
    scoped = parse_set("tensorrt_llm.kv_cache_free_gpu_mem_fraction=0.5")
    assert (scoped.model, scoped.name, scoped.raw) == (
        "tensorrt_llm",
        "kv_cache_free_gpu_mem_fraction",
        "0.5",
    )
    assert parse_set("tokenizer_dir=/a=b").raw == "/a=b"  # only the first '=' separates
    assert parse_set("max_tokens_in_paged_kv_cache=").raw == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_beam_width", "expected KEY=VALUE"),
        ("=2", "is not a parameter key"),
        ("a.b.c=1", "is not a parameter key"),
        ("tensorrt_lm.max_beam_width=2", "unknown model 'tensorrt_lm'"),
    ],
)
def test_parse_set_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        parse_set(text)
    assert text in caught.value.message


def test_unknown_model_suggests_the_close_one() -> None:
    with pytest.raises(UsageError) as caught:
        parse_set("tensorrt_lm.max_beam_width=2")
    assert caught.value.hint is not None and caught.value.hint.startswith("Did you mean tensorrt_llm")


@pytest.mark.parametrize(
    ("param", "raw", "expected"),
    [
        (BEAM, "2", 2),
        (BEAM, " 4 ", 4),
        (BEAM, 3, 3),
        (FRACTION, "0.5", 0.5),
        (FRACTION, "1", 1.0),
        (FRACTION, 0.25, 0.25),
        (FRACTION, "5e-1", 0.5),
        (DECOUPLED, "TRUE", True),
        (DECOUPLED, "yes", True),
        (DECOUPLED, "1", True),
        (DECOUPLED, "No", False),
        (DECOUPLED, "false", False),
        (DECOUPLED, False, False),
        (DECOUPLED, 0, False),
        (LOGITS, "type_fp16", "TYPE_FP16"),
        (LOGITS, "TYPE_BF16", "TYPE_BF16"),
        (POLICY, "max_utilization", "max_utilization"),
        (DEVICES, "0, 1;2,3", "0,1;2,3"),
        (DEVICES, 0, "0"),
        (TOKENIZER, "/models/tok", "/models/tok"),
        (TOKENIZER, "", None),
        (TOKENIZER, None, None),
    ],
)
def test_coerce_accepts(param: Param, raw: object, expected: object) -> None:
    assert coerce(param, raw, "--set x") == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("param", "raw", "expected"),
    [
        (BEAM, "two", "a whole number >= 0"),
        (BEAM, "-1", "a whole number >= 0"),
        (BEAM, "1.5", "a whole number"),
        (BEAM, True, "a whole number"),
        (FRACTION, "nan", "a number"),
        (FRACTION, "inf", "a number"),
        (FRACTION, "half", "a number"),
        (DECOUPLED, "maybe", "true or false"),
        (DECOUPLED, 2, "true or false"),
        (LOGITS, "TYPE_INT8", "one of TYPE_FP32, TYPE_FP16, TYPE_BF16"),
        (POLICY, "fastest", "one of"),
        (DEVICES, "0,a", "comma-separated integers"),
        (TOKENIZER, "${tokenizer_dir}", "a text value"),
        (TOKENIZER, "a\nb", "a text value"),
        (TOKENIZER, "{{ x }}", "a text value"),
        (FRACTION, "1.5", "a number in (0, 1]"),
        (FRACTION, 0, "a number in (0, 1]"),
        (POLICY, "static_batch", "one of guaranteed_no_evict, max_utilization"),
    ],
)
def test_coerce_rejects_with_key_type_and_value(param: Param, raw: object, expected: str) -> None:
    with pytest.raises(UsageError) as caught:
        coerce(param, raw, "--set something")  # type: ignore[arg-type]
    message = caught.value.message
    assert param.name in message and expected in message and repr(raw) in message


def test_header_values_cannot_be_empty() -> None:
    with pytest.raises(UsageError, match="cannot be empty"):
        coerce(entry("triton_max_batch_size"), "", "--set triton_max_batch_size=")


def test_required_values_cannot_be_empty() -> None:
    """The backend throws on an empty gpt_model_type, so `--set batching_strategy=` fails fast (exit 2)."""
    with pytest.raises(UsageError, match="cannot be empty"):
        coerce(entry("batching_strategy"), " ", "--set batching_strategy=")


def test_resolve_applies_a_plain_name_to_every_model_that_has_it() -> None:
    targets = resolve(parse_set("triton_max_batch_size=4"), v("0.19"), "trtllm", "latest")
    assert {p.model for p in targets} == {
        "preprocessing",
        "tensorrt_llm",
        "postprocessing",
        "ensemble",
        "tensorrt_llm_bls",
    }
    scoped = resolve(parse_set("tensorrt_llm.triton_max_batch_size=4"), v("0.19"), "trtllm", "latest")
    assert [p.model for p in scoped] == ["tensorrt_llm"]


def test_resolve_accepts_the_parameters_key_as_an_alias() -> None:
    (target,) = resolve(parse_set("gpt_model_type=V1"), v("0.19"), "trtllm", "latest")
    assert target.name == "batching_strategy"


def test_unknown_key_names_close_matches() -> None:
    with pytest.raises(UsageError) as caught:
        resolve(parse_set("max_beam_widht=2"), v("0.19"), "trtllm", "latest")
    assert "unknown parameter 'max_beam_widht'" in caught.value.message
    assert caught.value.hint == "Did you mean max_beam_width?"


def test_key_of_another_version_says_which_versions_have_it() -> None:
    with pytest.raises(UsageError) as caught:
        resolve(parse_set("medusa_choices={0}"), v("0.8"), "trtllm", "v0.8")
    assert "does not exist in backend 0.8.0" in caught.value.message
    assert "tensorrt_llm 0.9.0 and later" in caught.value.message
    with pytest.raises(UsageError, match=r"0\.5\.0 to before 0\.8\.0"):
        resolve(parse_set("max_num_sequences=8"), v("0.19"), "trtllm", "latest")


def test_runtime_specific_keys() -> None:
    with pytest.raises(UsageError, match="only by tritongen's torch runtime"):
        resolve(parse_set("torch_dtype=float16"), v("1.2"), "trtllm", "latest")
    with pytest.raises(UsageError, match="only by the C\\+\\+ TensorRT-LLM backend"):
        resolve(parse_set("batching_strategy=V1"), v("1.2"), "torch", "latest")


def test_bls_key_for_a_generation_without_bls() -> None:
    with pytest.raises(UsageError, match="renders no tensorrt_llm_bls model"):
        resolve(parse_set("tensorrt_llm_bls.accumulate_tokens=true"), v("0.7"), "trtllm", "v0.5")


def test_config_file_flat_and_per_model(tmp_path: Path) -> None:
    path = tmp_path / "o.yaml"
    path.write_text(
        "max_beam_width: 2\ntensorrt_llm:\n  decoupled_mode: false\n  gpu_device_ids: [0, 1]\n"
        "ensemble.triton_max_batch_size: 4\n",
        encoding="utf-8",
    )
    found = [(o.model, o.name, o.raw, o.source) for o in load_config_file(path)]
    assert found == [
        (None, "max_beam_width", 2, Source.FILE),
        ("tensorrt_llm", "decoupled_mode", False, Source.FILE),
        ("tensorrt_llm", "gpu_device_ids", "0,1", Source.FILE),
        ("ensemble", "triton_max_batch_size", 4, Source.FILE),
    ]
    assert load_config_file(_write(tmp_path, "")) == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "must hold a mapping"),
        ("a: [\n", "is not valid YAML"),
        ("tensorrt_lm:\n  max_beam_width: 2\n", "unknown model 'tensorrt_lm'"),
        ("max_beam_width: {a: 1}\n", "unknown model 'max_beam_width'"),
        ("max_beam_width: [a, b]\n", "expected a single value"),
    ],
)
def test_config_file_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        load_config_file(_write(tmp_path, text))


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read --config"):
        load_config_file(tmp_path / "nope.yaml")


def _write(directory: Path, text: str) -> Path:
    path = directory / "overrides.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# -- properties ------------------------------------------------------------------------------------

VALUES = {
    ParamType.INT: st.integers(min_value=0, max_value=2**40),
    ParamType.FLOAT: st.floats(allow_nan=False, allow_infinity=False),
    ParamType.BOOL: st.booleans(),
    ParamType.DATATYPE: st.sampled_from(TRITON_DATATYPES),
    ParamType.STR: st.text(st.characters(min_codepoint=32, exclude_characters="${%"), min_size=1).filter(
        lambda text: text.strip() == text
    ),
    ParamType.CSV: st.lists(st.lists(st.integers(0, 64), min_size=1, max_size=4), min_size=1, max_size=3).map(
        lambda groups: ";".join(",".join(map(str, group)) for group in groups)
    ),
}


@pytest.mark.parametrize("kind", list(ParamType))
@given(data=st.data())
def test_typed_values_round_trip_through_text(kind: ParamType, data: st.DataObject) -> None:
    param = TYPED_EXAMPLES[kind]
    strategy = VALUES[kind]
    if param.bounds is not None:  # a bounded number round-trips inside its bounds (outside: refused above)
        strategy = st.floats(min_value=param.bounds[0], max_value=param.bounds[1], exclude_min=True)
    value = data.draw(strategy)
    assert coerce(param, format_value(value), "--set") == value
    assert coerce(param, value, "--config") == value  # YAML gives typed values


@given(text=st.text())
def test_garbage_flags_raise_only_usage_errors(text: str) -> None:
    try:
        override = parse_set(text)
        resolve(override, v("1.2"), "trtllm", "latest")
    except UsageError:
        pass


@pytest.mark.parametrize("param", [p for p in CATALOGUE if p.exists_in(v("1.2"))], ids=lambda p: p.name)
@given(raw=st.one_of(st.text(), st.integers(), st.floats(), st.booleans(), st.none()))
def test_garbage_values_raise_only_usage_errors(param: Param, raw: object) -> None:
    try:
        value = coerce(param, raw, "--set x")  # type: ignore[arg-type]
    except UsageError as error:
        assert param.name in error.message
    else:
        assert value is None or coerce(param, format_value(value), "--set x") == value
