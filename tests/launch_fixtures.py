"""Fixtures for tests that run `tritongen launch` as a user would (a real process, real signals).

Loaded for every test module through `pytest_plugins` in conftest.py, so the launch tests and the
launch-fault tests share one cache and one clean-up of whatever a failing test leaves running.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tritongen.testing.launch import Launch


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tritongen cache for the session: state files stay out of ~/.cache, backends are prepared once."""
    return tmp_path_factory.mktemp("tritongen-cache")


@pytest.fixture
def env(cache_dir: Path) -> dict[str, str]:
    return {**os.environ, "TRITONGEN_CACHE_DIR": str(cache_dir)}


@pytest.fixture
def launches() -> Iterator[list[Launch]]:
    """Launches a test started; whatever a failing test leaves running is killed afterwards."""
    started: list[Launch] = []
    yield started
    for launch in started:
        launch.kill()


def start(launches: list[Launch], repo: Path, env: dict[str, str], tmp_path: Path, *extra: str) -> Launch:
    """Start `tritongen launch REPO` (logging to a file under tmp_path) and register it for clean-up."""
    launch = Launch.start(repo, env, tmp_path / f"launch{len(launches)}.log", *extra)
    launches.append(launch)
    return launch
