"""Shared fixtures: an isolated tritongen cache per test session, and the SmolLM2 checkpoint in it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tritongen.defaults import CACHE_DIR_ENV
from tritongen.testing.server import stop_shared_servers

pytest_plugins = ["smollm2_fixture", "launch_fixtures", "stand_in_servers_fixture"]


@pytest.fixture(scope="session", autouse=True)
def tritongen_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """$TRITONGEN_CACHE_DIR for the whole session: a fresh directory, unless the user set one.

    Tests then never read or write the user's ~/.cache/tritongen (launch state files, the prepared
    Python backend, the SmolLM2 checkpoint). One cache per session, not per test: the checkpoint built
    into it takes about 30 s, so every test of the session shares it. Set TRITONGEN_CACHE_DIR to keep
    one across sessions (a warm cache makes short runs faster).
    """
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        yield Path(configured)
        return
    path = tmp_path_factory.mktemp("tritongen-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_DIR_ENV, str(path))
        yield path
    stop_shared_servers()  # they run on the prepared backend and the checkpoint in this cache
    shutil.rmtree(path, ignore_errors=True)  # the checkpoint alone is 0.5 GB: do not leave it behind
