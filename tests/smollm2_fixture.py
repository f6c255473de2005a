"""The SmolLM2-135M-Instruct checkpoint as a session fixture, over `tritongen.testing.smollm2`.

`smollm2_checkpoint_dir` builds the checkpoint once into the tritongen cache (see tests/conftest.py:
one cache per test session) and hands the directory to every test that asks; import it into a test
module, or rely on conftest.py's `pytest_plugins`, to use it. The render and serve helpers are
re-exported so test modules import them as they always have.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tritongen.testing.server import serve_tensorrt_llm
from tritongen.testing.smollm2 import render_repository, smollm2_checkpoint

__all__ = ["render_repository", "serve_tensorrt_llm", "smollm2_checkpoint", "smollm2_checkpoint_dir"]


@pytest.fixture(scope="session")
def smollm2_checkpoint_dir() -> Path:
    """Session fixture: the SmolLM2-135M-Instruct checkpoint (see `smollm2_checkpoint`)."""
    return smollm2_checkpoint()
