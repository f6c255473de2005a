"""`tritongen render` against hostile engine directories and signals: clear errors, no hang, nothing left.

Each test runs the real entry point in a child process (a hang must fail the test, not the run;
signals must be the real ones).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tritongen.testing.engines import make_engine_dir, make_tokenizer_dir, modern_config

CLI = [sys.executable, "-c", "import sys; from tritongen.cli import main; main(sys.argv[1:])"]
HANG_S = 60  # a two-cycle walk never finishes; a correct render of these tiny engines takes seconds


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tokenizer_dir(tmp_path_factory.mktemp("tokenizer"))


@pytest.fixture
def engine(tmp_path: Path) -> Path:
    return make_engine_dir(tmp_path / "engines", modern_config("0.19.0", tp=1), name="llama")


def render(engine: Path, tokenizer: Path, output: Path, placement: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *CLI,
            "render",
            "--engine",
            str(engine),
            "--tokenizer",
            str(tokenizer),
            "--output",
            str(output),
            "--placement",
            placement,
        ],
        capture_output=True,
        text=True,
        timeout=HANG_S,
        check=False,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )


def leftovers(directory: Path) -> list[str]:
    """Temporary render directories (`.NAME.tritongen-*`) left beside the output."""
    return sorted(p.name for p in directory.iterdir() if ".tritongen-" in p.name)


@pytest.mark.parametrize("placement", ["copy", "hardlink"])
def test_a_symlink_cycle_in_the_engine_is_a_one_line_engine_error(
    engine: Path, tokenizer: Path, tmp_path: Path, placement: str
) -> None:
    (engine / "extra").mkdir()
    (engine / "extra" / "back").symlink_to(engine, target_is_directory=True)
    result = render(engine, tokenizer, tmp_path / "repo", placement)
    assert result.returncode == 3, result.stderr
    assert f"error: {engine}/extra/back is a symlink cycle: it leads back to {engine}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "repo").exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("placement", ["copy", "hardlink"])
def test_two_symlink_cycles_fail_fast_instead_of_hanging(
    engine: Path, tokenizer: Path, tmp_path: Path, placement: str
) -> None:
    (engine / "a").symlink_to(".", target_is_directory=True)
    (engine / "b").symlink_to(".", target_is_directory=True)
    started = time.monotonic()
    result = render(engine, tokenizer, tmp_path / "repo", placement)
    assert result.returncode == 3, result.stderr
    assert time.monotonic() - started < 30
    assert f"error: {engine}/a is a symlink cycle" in result.stderr
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda e: (e / "self").symlink_to("self"), "self is a symlink loop"),
        (lambda e: (e / "gone").symlink_to(e / "nowhere"), "gone is a broken symlink"),
    ],
)
def test_a_looping_or_dangling_link_is_named(
    engine: Path, tokenizer: Path, tmp_path: Path, make: object, message: str
) -> None:
    assert callable(make)
    make(engine)
    result = render(engine, tokenizer, tmp_path / "repo", "copy")
    assert result.returncode == 3, result.stderr
    assert message in result.stderr
    assert leftovers(tmp_path) == []


def test_a_link_to_a_directory_outside_is_followed(engine: Path, tokenizer: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "lora.bin").write_bytes(b"weights")
    (engine / "lora").symlink_to(outside, target_is_directory=True)
    result = render(engine, tokenizer, tmp_path / "repo", "copy")
    assert result.returncode == 0, result.stderr
    assert (
        tmp_path / "repo" / "tensorrt_llm" / "1" / "engine" / "lora" / "lora.bin"
    ).read_bytes() == b"weights"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_a_copy_render_exits_130_and_leaves_nothing(
    engine: Path, tokenizer: Path, tmp_path: Path, signum: signal.Signals
) -> None:
    # A FIFO nobody writes to: the copy blocks on it (it sorts last: the files before it are copied
    # by then), so the signal lands mid-copy every time.
    os.mkfifo(engine / "zz_slow.bin")
    output = tmp_path / "repo"
    process = subprocess.Popen(
        [
            *CLI,
            "render",
            "--engine",
            str(engine),
            "--tokenizer",
            str(tokenizer),
            "--output",
            str(output),
            "--placement",
            "copy",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )
    try:
        deadline = time.monotonic() + HANG_S
        while not any(
            (tmp_path / name / "tensorrt_llm" / "1" / "engine" / "config.json").exists()
            for name in leftovers(tmp_path)
        ):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the render never reached the copy"
            time.sleep(0.05)
        process.send_signal(signum)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    assert "error: interrupted." in err
    assert "Traceback" not in err
    assert leftovers(tmp_path) == []
    assert not output.exists()


@pytest.mark.parametrize("marker", ["${", "{{", "{%"])
@pytest.mark.parametrize("which", ["output", "engine"])
def test_a_path_holding_a_template_marker_is_refused_up_front(
    engine: Path, tokenizer: Path, tmp_path: Path, marker: str, which: str
) -> None:
    """Such a path would sit in gpt_model_path and read as an unfilled placeholder: exit 2, one line."""
    hostile = tmp_path / f"a{marker}b"
    hostile.mkdir()
    if which == "engine":
        moved = hostile / "engine"
        engine.rename(moved)
        engine = moved
    output = hostile / "repo" if which == "output" else tmp_path / "repo"
    result = render(engine, tokenizer, output, "symlink")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"holds '{marker}'" in lines[0] and "Traceback" not in result.stderr
    assert not output.exists()
