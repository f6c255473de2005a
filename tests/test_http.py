"""`tritongen.http`: the pieces infer and bench share (against a real server: test_client, test_bench)."""

from __future__ import annotations

import pytest
from server_fixtures import free_ports

from tritongen.errors import ServerRequestError
from tritongen.http import (
    ModelContract,
    base_url,
    decode_sse_line,
    error_of_body,
    error_text,
    generate_url,
    probe_model,
    server_sent_events,
    shorten,
    text_of,
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("localhost:8000", "http://localhost:8000"),
        (" http://host:8000/ ", "http://host:8000"),
        ("https://host", "https://host"),
        ("127.0.0.1:9", "http://127.0.0.1:9"),
    ],
)
def test_base_url_adds_http_and_drops_the_slash(given: str, expected: str) -> None:
    assert base_url(given) == expected
    assert generate_url(given, "m", "generate") == f"{expected}/v2/models/m/generate"


def test_sse_lines_of_both_clients_decode_alike() -> None:
    """infer reads lines (iter_lines: no newline); the bench drivers keep the \\r\\n: the same result."""
    for ending in (b"", b"\n", b"\r\n"):
        assert decode_sse_line(b'data: {"text_output": "a"}' + ending) == {"text_output": "a"}
    assert decode_sse_line(b"data: [DONE]") is None
    assert decode_sse_line(b"event: ping") is None
    assert decode_sse_line(b"data: [1, 2]") == {"error": "stream chunk is not an object: [1, 2]"}
    lines = [b'data: {"text_output": "a"}', b"", b"data: {oops", b'data: {"error": "boom"}']
    assert list(server_sent_events(lines)) == [
        {"text_output": "a"},
        {"error": "unparsable stream chunk: {oops"},
        {"error": "boom"},
    ]


def test_error_bodies_give_the_servers_message() -> None:
    assert error_text(b'{"error": "Request for unknown model"}') == "Request for unknown model"
    assert error_text(b"<html>bad gateway</html>") is None
    assert error_text(b'{"text_output": "x"}') is None
    assert error_of_body(400, b'{"error": "too\\n long"}') == "HTTP 400: too long"
    assert error_of_body(502, b"bad gateway") == "HTTP 502: bad gateway"
    assert len(shorten("x" * 1000)) == 300 and shorten("a \n b") == "a b"


def test_text_of_takes_the_first_beam() -> None:
    assert text_of("hi") == "hi"
    assert text_of(["first", "second"]) == "first"
    assert text_of([]) == ""
    assert text_of(7) == "7"


def test_a_contract_names_each_option_as_its_version_does() -> None:
    v08 = ModelContract("ensemble", {"text_input": False, "random_seed": True, "min_length": True})
    assert (v08.input_for("seed"), v08.input_for("min_tokens"), v08.input_for("top_k")) == (
        "random_seed",
        "min_length",
        None,
    )
    latest = ModelContract("ensemble", {"seed": True, "random_seed": True, "stop_words": False})
    assert latest.input_for("seed") == "seed"
    assert latest.requires("stop_words") and not latest.requires("seed") and not latest.requires("bad_words")


def test_an_unreachable_server_is_one_exit_8_error() -> None:
    (port,) = free_ports(1)
    with pytest.raises(ServerRequestError) as caught:
        probe_model(f"127.0.0.1:{port}", "ensemble", timeout_s=5)
    assert caught.value.exit_code == 8
    assert caught.value.one_line() == (
        f"cannot reach the server at http://127.0.0.1:{port} (connection refused or host unreachable). "
        "Is it running? Start it with `tritongen launch`, or pass --url HOST:PORT."
    )
