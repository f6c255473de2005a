"""The shared test harness itself (`tritongen.testing`): the one free-port helper and the session cache."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from tritongen.defaults import cache_dir
from tritongen.testing import CORPUS, free_launch_ports, free_ports, port_flags


def test_free_ports_never_returns_a_bound_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"no 1 free ports in {port}-{port}"):
            free_ports(1, (port, port))
    assert free_ports(1, (port, port)) == [port]  # free again once closed (SO_REUSEADDR, as tritonserver)


def test_free_ports_are_distinct_and_in_range() -> None:
    chosen = free_ports(5, (30100, 30199))
    assert len(set(chosen)) == 5 and all(30100 <= port <= 30199 for port in chosen)


def test_launch_ports_are_three_consecutive_ones() -> None:
    ports = free_launch_ports((30000, 30099))
    assert (ports.grpc, ports.metrics) == (ports.http + 1, ports.http + 2)
    assert ports.http >= 30000 and ports.metrics <= 30099
    flags = port_flags(ports)  # read as (flag, value) pairs; strict: a flag without its value fails
    assert list(zip(flags[::2], flags[1::2], strict=True)) == [
        ("--http-port", str(ports.http)),
        ("--grpc-port", str(ports.grpc)),
        ("--metrics-port", str(ports.metrics)),
    ]


def test_the_session_has_its_own_tritongen_cache(tritongen_cache_dir: Path) -> None:
    """Everything tritongen caches during the tests goes to the session's directory (conftest.py)."""
    assert cache_dir() == tritongen_cache_dir
    assert os.environ["TRITONGEN_CACHE_DIR"] == str(tritongen_cache_dir)


def test_the_corpus_is_vendored_beside_the_tests_and_every_entry_has_its_source() -> None:
    assert CORPUS.is_relative_to(Path(__file__).resolve().parent)
    sources = (CORPUS / "SOURCES.md").read_text()
    engines = sorted(path.name for path in (CORPUS / "engines").iterdir())
    repos = sorted(path.name for path in (CORPUS / "filled_repos").iterdir())
    assert len(engines) == 15 and len(repos) >= 13
    undocumented = [name for name in engines + repos if f"`{name}`" not in sources]
    assert undocumented == [], "every vendored file needs its provenance in tests/corpus/SOURCES.md"
