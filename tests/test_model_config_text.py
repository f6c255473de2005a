"""The protobuf-free config.pbtxt reader of the Python models, against protobuf on every real config.

The reference is protobuf's own text parser (Python; Triton runs the C++ one, same grammar) and
`MessageToDict(preserving_proto_field_name=True)`, normalised as described at `_protobuf_message` and
`_without_defaults`; on top of equality the JSON texts must match, so int vs float vs bool counts too.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format, text_format
from google.protobuf.descriptor import FieldDescriptor

from tritongen.check.validate import model_config_pb2
from tritongen.runtime.common import model_config_text
from tritongen.testing import CORPUS

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
FILLED = CORPUS / "filled_repos"
MODULE = Path(model_config_text.__file__)
GOLDEN_CONFIGS = sorted(GOLDEN.rglob("config.pbtxt"))
FILLED_CONFIGS = sorted(FILLED.rglob("config.pbtxt"))


parse = model_config_text.parse_model_config

INT64_TYPES = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED64,
    FieldDescriptor.TYPE_SINT64,
}


def _is_map(field: Any) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _protobuf_value(value: Any, field: Any) -> Any:
    """One value of MessageToDict with its int64 strings back to ints: proto3 JSON writes 64-bit integers
    as strings ("max_queue_delay_microseconds": "100"), Triton's model_config JSON and our reader as
    numbers. Fields of other types are left exactly as MessageToDict gives them."""
    if field.message_type is not None:
        return _protobuf_message(value, field.message_type)
    return int(value) if field.type in INT64_TYPES else value


def _protobuf_message(message: dict[str, Any], descriptor: Any) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in message.items():
        field = descriptor.fields_by_name[name]
        if _is_map(field):
            value_field = field.message_type.fields_by_name["value"]
            result[name] = {key: _protobuf_value(v, value_field) for key, v in value.items()}
        elif field.is_repeated:
            result[name] = [_protobuf_value(v, field) for v in value]
        else:
            result[name] = _protobuf_value(value, field)
    return result


def _without_defaults(message: dict[str, Any], descriptor: Any) -> dict[str, Any]:
    """Our dict less what MessageToDict cannot show: proto3 scalars equal to their default (0, "", false,
    the enum's 0 value such as KIND_AUTO) and empty repeated fields, which protobuf does not tell from
    absent ones. Everything else stays: messages the text sets (even empty ones, as MessageToDict keeps
    them), map entries whatever their value, fields with presence (oneof members). Every key must be a
    field of the message, so a misspelt or misplaced field fails the comparison too."""
    result: dict[str, Any] = {}
    for name, value in message.items():
        field = descriptor.fields_by_name[name]
        nested = field.message_type
        if _is_map(field) and isinstance(value, dict):
            value_type = nested.fields_by_name["value"].message_type
            result[name] = {
                k: _without_defaults(v, value_type) if value_type and isinstance(v, dict) else v
                for k, v in value.items()
            }
        elif field.is_repeated and isinstance(value, list):
            if value:
                result[name] = [
                    _without_defaults(v, nested) if nested and isinstance(v, dict) else v for v in value
                ]
        elif nested is not None and not field.is_repeated and isinstance(value, dict):
            result[name] = _without_defaults(value, nested)
        elif nested is None and not field.is_repeated:
            default = field.enum_type.values_by_number[0].name if field.enum_type else field.default_value
            if field.has_presence or value != default or type(value) is not type(default):
                result[name] = value
        else:  # the wrong shape (a list for a singular field, ...): kept, so the comparison shows it
            result[name] = value
    return result


def _protobuf_dict(text: str) -> dict[str, Any]:
    message = text_format.Parse(text, model_config_pb2().ModelConfig())
    as_json = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return _protobuf_message(as_json, message.DESCRIPTOR)


def test_configs_are_present() -> None:
    assert len(GOLDEN_CONFIGS) >= 30
    assert len(FILLED_CONFIGS) >= 50


def test_module_imports_only_the_standard_library() -> None:
    """It runs inside Triton's Python backend: no protobuf, no numpy, no tritongen."""
    tree = ast.parse(MODULE.read_text(encoding="utf-8"), feature_version=(3, 8))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"__future__", "re", "pathlib", "typing"}


@pytest.mark.parametrize(
    "path", GOLDEN_CONFIGS + FILLED_CONFIGS, ids=lambda p: str(p.relative_to(p.parents[3]))
)
def test_every_config_reads_as_protobuf_reads_it(path: Path) -> None:
    """Same values and same JSON types (int vs float vs bool) as protobuf's parse, after the
    normalisation above. A config protobuf rejects must be rejected too (none is today: the corpus's
    unfilled placeholders all sit inside quoted strings, so both parsers read them as text)."""
    text = path.read_text(encoding="utf-8")
    try:
        expected = _protobuf_dict(text)
    except text_format.ParseError:
        with pytest.raises(ValueError, match=r"^line \d+: "):
            parse(text)
        return
    ours = _without_defaults(parse(text), model_config_pb2().ModelConfig.DESCRIPTOR)
    assert ours == expected
    assert json.dumps(ours, sort_keys=True) == json.dumps(expected, sort_keys=True)


def test_shape_of_a_typical_config() -> None:
    config = parse(
        """
        name: "preprocessing"  # a comment
        backend: "python"
        max_batch_size: 64
        input [ { name: "QUERY" data_type: TYPE_STRING dims: [ -1 ] } ]
        output { name: "IDS" data_type: TYPE_INT32 dims: [ -1, 1 ] reshape: { shape: [ ] } }
        instance_group [ { count: 2, kind: KIND_CPU } ]
        dynamic_batching { preferred_batch_size: 8 max_queue_delay_microseconds: 100 }
        parameters { key: "tokenizer_dir" value: { string_value: "/models/tok" } }
        parameters: { key: "ratio" value: { string_value: "0.5" } }
        model_transaction_policy { decoupled: true }
        """
    )
    assert config == {
        "name": "preprocessing",
        "backend": "python",
        "max_batch_size": 64,
        "input": [{"name": "QUERY", "data_type": "TYPE_STRING", "dims": [-1]}],
        "output": [{"name": "IDS", "data_type": "TYPE_INT32", "dims": [-1, 1], "reshape": {"shape": []}}],
        "instance_group": [{"count": 2, "kind": "KIND_CPU"}],
        "dynamic_batching": {"preferred_batch_size": [8], "max_queue_delay_microseconds": 100},
        "parameters": {"tokenizer_dir": {"string_value": "/models/tok"}, "ratio": {"string_value": "0.5"}},
        "model_transaction_policy": {"decoupled": True},
    }


def test_ensemble_maps_and_lists_of_messages() -> None:
    config = parse(
        """
        ensemble_scheduling {
          step: [
            { model_name: "pre" model_version: -1 input_map { key: "QUERY" value: "text_input" } },
            { model_name: "llm" model_version: -1 output_map: { key: "out" value: "OUT" } }
          ]
        }
        """
    )
    steps = config["ensemble_scheduling"]["step"]
    assert steps[0] == {"model_name": "pre", "model_version": -1, "input_map": {"QUERY": "text_input"}}
    assert steps[1]["output_map"] == {"out": "OUT"}


def test_quoted_strings_and_escapes() -> None:
    config = parse(
        r"""
        name: 'single "quoted"'
        backend: "tab\there\nnew line \"q\" \'s\' back\\slash"
        platform: "hex \x41\x4a octal \101\060 utf8 \303\251 unicode \u00e9"
        default_model_filename: "con" 'cat' "enated"
        """
    )
    assert config["name"] == 'single "quoted"'
    assert config["backend"] == "tab\there\nnew line \"q\" 's' back\\slash"
    assert config["platform"] == "hex AJ octal A0 utf8 é unicode é"
    assert config["default_model_filename"] == "concatenated"


def test_comments_everywhere_and_hash_inside_strings() -> None:
    config = parse('# header\nname: "a # not a comment" # trailing\n# dims: [ 1 ]\nmax_batch_size: 1 #\n')
    assert config == {"name": "a # not a comment", "max_batch_size": 1}


def test_angle_brackets_semicolons_and_commas() -> None:
    config = parse(
        'name: "x"; max_batch_size: 0, input < name: "A"; data_type: TYPE_FP32; dims: [ 3 ] >;'
        "dynamic_batching: < default_queue_policy < timeout_action: DELAY, allow_timeout_override: false > >"
    )
    assert config["input"] == [{"name": "A", "data_type": "TYPE_FP32", "dims": [3]}]
    assert config["dynamic_batching"] == {
        "default_queue_policy": {"timeout_action": "DELAY", "allow_timeout_override": False}
    }


def test_scalar_types() -> None:
    config = parse(
        "max_batch_size: 0x10 version_policy { specific { versions: [ 1, -2, 010 ] } }"
        " model_warmup [ { batch_size: 4 } ] optimization { priority: PRIORITY_MAX }"
        " parameters { key: \"f\" value { string_value: '1.5' } }"
        " instance_group [ { secondary_devices { device_id: 3 } } ]"
    )
    assert config["max_batch_size"] == 16
    assert config["version_policy"] == {"specific": {"versions": [1, -2, 8]}}
    assert config["parameters"] == {"f": {"string_value": "1.5"}}
    assert config["instance_group"] == [{"secondary_devices": [{"device_id": 3}]}]
    numbers = parse("a: 1.5 b: -2e3 c: .5 d: 3f e: inf f: -1 g: true h: False")
    assert numbers == {
        "a": 1.5,
        "b": -2000.0,
        "c": 0.5,
        "d": 3.0,
        "e": float("inf"),
        "f": -1,
        "g": True,
        "h": False,
    }
    assert [type(v) for v in numbers.values()] == [float] * 5 + [int, bool, bool]


def test_singular_field_repeated_keeps_the_last_and_repeated_field_collects() -> None:
    config = parse(
        "max_batch_size: 1 max_batch_size: 2 input { name: 'a' dims: 1 dims: 2 } input { name: 'b' }"
    )
    assert config == {"max_batch_size": 2, "input": [{"name": "a", "dims": [1, 2]}, {"name": "b"}]}


def test_a_field_written_as_a_list_is_a_list_even_if_not_known_as_repeated() -> None:
    config = parse("future_field: [ 1 ] other_future: [ ] input [ { name: 'a', future_dims: [ 2, 3 ] } ]")
    assert config == {
        "future_field": [1],
        "other_future": [],
        "input": [{"name": "a", "future_dims": [2, 3]}],
    }


def test_map_value_left_out_is_the_default() -> None:
    config = parse('parameters { key: "flag" } ensemble_scheduling { step { input_map { key: "k" } } }')
    assert config["parameters"] == {"flag": {}}
    assert config["ensemble_scheduling"]["step"] == [{"input_map": {"k": ""}}]


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ('name: "x"\ninput {\n  name: "a"\n', 4, "expected '}', found 'end of text'"),
        ('name: "x"\n\nmax_batch_size: ${max_batch_size}\n', 3, "unexpected character '$'"),
        ('name: "x"\nbackend: "python\n', 2, "unterminated string"),
        ('name "x"\n', 1, "expected ':', found '\"x\"'"),
        ('name: "x"\n}\n', 2, "expected a field name, found '}'"),
        ("dims: [ 1, ]", 1, "expected a value, found ']'"),
        ("dims: [ 1 2 ]", 1, "expected ']' or ',', found '2'"),
        ("input < name: 'a' }", 1, "expected a field name or '>', found '}'"),
        ("\n\nname: 'bad \\q escape'", 3, "unknown escape \\q"),
        ("\nparameters: 'flat'", 2, "map field 'parameters' takes key/value messages"),
    ],
)
def test_malformed_text_raises_value_error_with_line(text: str, line: int, problem: str) -> None:
    with pytest.raises(ValueError, match=rf"^line {line}: ") as raised:
        parse(text)
    message = str(raised.value)
    assert problem in message
    assert "\n" not in message


def test_load_model_config_reads_utf8_and_names_the_file(tmp_path: Path) -> None:
    good = tmp_path / "config.pbtxt"
    good.write_text('name: "café"\nmax_batch_size: 8\n', encoding="utf-8")
    assert model_config_text.load_model_config(good) == {"name": "café", "max_batch_size": 8}
    assert model_config_text.load_model_config(str(good))["max_batch_size"] == 8
    bad = tmp_path / "bad.pbtxt"
    bad.write_text('name: "x"\ninput [ {\n', encoding="utf-8")
    with pytest.raises(ValueError, match=f"^{re.escape(str(bad))}: line 3: expected"):
        model_config_text.load_model_config(bad)
