"""The shared stand-in servers of fixtures/python_models/servers.py, and their tokenizers, as fixtures.

Loaded for every test module through conftest.py's `pytest_plugins`, so that the client tests and the
Python-model tests ask for the same `latest` and `compat` servers by name instead of each declaring them;
a module that needs a different `smollm2` (test_serving_faults.py) declares its own, which wins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fixtures.python_models import servers
from server_fixtures import RunningServer


@pytest.fixture(scope="module")
def latest() -> RunningServer:
    """`servers.latest_server()`: the latest contract with the SmolLM2 tokenizer (one server per process)."""
    return servers.latest_server()


@pytest.fixture(scope="module")
def compat() -> RunningServer:
    """`servers.compat_server()`: the v0.8 and v0.5 model sets (one server per process)."""
    return servers.compat_server()


@pytest.fixture(scope="session")
def smollm2() -> Any:
    """The SmolLM2 tokenizer, loaded with transformers."""
    return servers.load_tokenizer(servers.smollm2_dir())


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """The SmolLM2 tokenizer's directory."""
    return servers.smollm2_dir()


@pytest.fixture(scope="session")
def llama() -> Any:
    """The SentencePiece-style (Llama) tokenizer of the compat server, loaded with transformers."""
    return servers.load_tokenizer(servers.llama_dir())
