"""Read a Triton config.pbtxt (protobuf text format of ModelConfig) into the dict Triton gives a model.

Triton hands a Python-backend model only its own config, as `json.loads(args["model_config"])`. The
BLS model also needs its sibling models' configs, and the Python backend has no protobuf package to
parse them with, so this module parses the text itself: plain Python 3.8+ standard library only.

The result has the shape of Triton's JSON for the fields the text sets: repeated fields are lists
(even of one), maps such as `parameters` are dicts, integers are ints, floats floats, true/false bools,
enums their names. Fields the text leaves out are left out: no defaults are filled in.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

# The repeated (non-map) fields of every message reachable from ModelConfig in model_config.proto.
_REPEATED_NAMES = (
    "agents batch_input batch_output bool_false_true buckets control control_input "
    "cpu_execution_accelerator dim dims fp32_false_true gpu_execution_accelerator gpus graph_spec "
    "initial_state input instance_group int32_false_true metric_control model_warmup op_library_filename "
    "output preferred_batch_size profile resources secondary_devices shape source_input state step "
    "target_name versions"
)
REPEATED_FIELDS = frozenset(_REPEATED_NAMES.split())
# The map fields; a `value` the text leaves out is {} or "" by the type of the map's values. `input` is a
# map only in GraphSpec (entries with a `key`): in ModelConfig it is the repeated ModelInput.
MESSAGE_VALUED_MAPS = frozenset({"parameters", "input", "inputs", "priority_queue_policy"})
STRING_VALUED_MAPS = frozenset({"input_map", "output_map", "cc_model_filenames", "metric_tags"})

_TOKEN = re.compile(
    r"""(?P<space>\s+|\#[^\n]*)
    |(?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    |(?P<number>[-+]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[fF]?)(?![\w.]))
    |(?P<word>-?[A-Za-z_]\w*)
    |(?P<punct>[{}<>\[\]:,;])
    |(?P<bad>["']|.)""",
    re.VERBOSE,
)
_ESCAPE = re.compile(r"\\(?:([0-7]{1,3})|x([0-9a-fA-F]{1,2})|u([0-9a-fA-F]{4})|(.))", re.DOTALL)
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
_SIMPLE_ESCAPES.update((char, char) for char in "\\'\"?")  # \\ \' \" \? stand for themselves
_CLOSER = {"{": "}", "<": ">"}
_END = "end of text"  # the closer of the top-level message
_BOOLS = {"true": True, "True": True, "false": False, "False": False}


def _unquote(token: str, line: int) -> str:
    """The text of a quoted string token, its C escapes resolved as Triton's C++ protobuf parser does."""
    body, decoded, position = token[1:-1], bytearray(), 0
    for escape in _ESCAPE.finditer(body):
        decoded += body[position : escape.start()].encode()
        position = escape.end()
        octal, hexadecimal, unicode, char = escape.groups()
        if octal or hexadecimal:
            decoded.append((int(octal, 8) if octal else int(hexadecimal, 16)) & 0xFF)  # \777: as C++ does
        elif unicode:
            decoded += chr(int(unicode, 16)).encode()
        elif char in _SIMPLE_ESCAPES:
            decoded += _SIMPLE_ESCAPES[char].encode()
        else:
            raise ValueError(f"line {line}: unknown escape \\{char} in string {token}")
    decoded += body[position:].encode()
    try:
        return decoded.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"line {line}: string {token} is not valid UTF-8") from None


def _number(token: str) -> int | float:
    if re.fullmatch(r"[-+]?0[xX][0-9a-fA-F]+", token):
        return int(token, 16)
    if re.fullmatch(r"[-+]?0[0-7]+", token):
        return int(token, 8)
    if re.fullmatch(r"[-+]?\d+", token):
        return int(token)
    return float(token.rstrip("fF"))


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str, int]] = []  # (kind, text, line)
        line = 1
        for match in _TOKEN.finditer(text):
            kind, token = match.lastgroup or "bad", match.group()
            if kind == "bad":
                problem = "unterminated string" if token in "\"'" else f"unexpected character {token!r}"
                raise ValueError(f"line {line}: {problem}")
            if kind != "space":
                self.tokens.append((kind, token, line))
            line += token.count("\n")
        self.tokens.append(("end", _END, line))
        self.position = 0

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.position]

    def take(self, *expected: str) -> tuple[str, str, int]:
        kind, token, line = self.tokens[self.position]
        if expected and token not in expected:
            wanted = " or ".join(repr(e) for e in expected)
            raise ValueError(f"line {line}: expected {wanted}, found {token!r}")
        self.position += 1
        return kind, token, line

    def message(self, closer: str) -> dict[str, Any]:
        """Fields up to `closer` ('end of text' at the top level), then converted by `_to_json`."""
        fields: dict[str, list[Any]] = {}
        first_lines: dict[str, int] = {}
        bracketed: set[str] = set()  # only a repeated field can be written `name: [ ... ]`
        while self.peek()[1] != closer:
            if self.peek()[0] == "end":
                self.take(closer)  # raises: the message is not closed
            kind, name, line = self.take()
            if kind != "word" or name.startswith("-"):
                wanted = "a field name" if kind == "end" or closer == _END else f"a field name or {closer!r}"
                raise ValueError(f"line {line}: expected {wanted}, found {name!r}")
            if self.peek()[1] == ":":
                self.take()
            elif self.peek()[1] not in ("{", "<", "["):
                self.take(":")  # raises: a scalar needs its colon
            first_lines.setdefault(name, line)
            if self.peek()[1] == "[":
                bracketed.add(name)
            fields.setdefault(name, []).extend(self.values())
            if self.peek()[1] in (",", ";"):
                self.take()
        self.take(closer)
        return _to_json(fields, first_lines, bracketed)

    def values(self) -> list[Any]:
        if self.peek()[1] != "[":
            return [self.value()]
        self.take("[")
        items = [] if self.peek()[1] == "]" else [self.value()]
        while self.take("]", ",")[1] == ",":
            items.append(self.value())
        return items

    def value(self) -> Any:
        kind, token, line = self.take()
        if token in _CLOSER and kind == "punct":
            return self.message(_CLOSER[token])
        if kind == "string":
            text = _unquote(token, line)
            while self.peek()[0] == "string":  # adjacent strings concatenate, as in C
                text += _unquote(self.take()[1], line)
            return text
        if kind == "number":
            return _number(token)
        if kind == "word":
            if token.lstrip("-").lower() in ("inf", "infinity", "nan"):
                return float(token)
            return _BOOLS.get(token, token)  # an enum value's name stays a string
        raise ValueError(f"line {line}: expected a value, found {token!r}")


def _to_json(
    fields: dict[str, list[Any]], first_lines: dict[str, int], bracketed: set[str]
) -> dict[str, Any]:
    """Collected fields -> Triton's JSON shape: lists for repeated fields, dicts for maps, else the last."""
    result: dict[str, Any] = {}
    for name, values in fields.items():
        entries = [v for v in values if isinstance(v, dict) and set(v) <= {"key", "value"}]
        if name in STRING_VALUED_MAPS or (
            name in MESSAGE_VALUED_MAPS and (name != "input" or any("key" in e for e in entries))
        ):
            if len(entries) != len(values):
                raise ValueError(f"line {first_lines[name]}: map field {name!r} takes key/value messages")
            result[name] = {
                str(e.get("key", "")): e.get("value", "" if name in STRING_VALUED_MAPS else {})
                for e in entries
            }
        else:
            result[name] = values if name in REPEATED_FIELDS or name in bracketed else values[-1]
    return result


def parse_model_config(text: str) -> dict[str, Any]:
    """config.pbtxt text -> dict; raises ValueError ("line N: ...") on malformed text."""
    return _Parser(text).message(_END)


def load_model_config(path: str | Path) -> dict[str, Any]:
    """Read and parse a config.pbtxt; the ValueError names the file."""
    try:
        return parse_model_config(Path(path).read_text(encoding="utf-8"))
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
