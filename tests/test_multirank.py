"""World size 2 end to end: `tritongen render --tp 2` + `tritongen launch` (real mpirun, gloo between
two tritonservers) must answer exactly as world size 1, through tensorrt_llm, the ensemble and streaming."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tritongen.cli import main
from tritongen.testing.engines import make_hf_checkpoint
from tritongen.testing.ports import free_ports

pytestmark = [
    pytest.mark.server,
    pytest.mark.mpi,
    pytest.mark.skipif(shutil.which("mpirun") is None, reason="needs mpirun"),
]

PROMPTS = ["How do I count to nine in French?", "Name three colours.", "Write one word about the sea."]
NEW_TOKENS = 12


def _render(checkpoint: Path, output: Path, tp: int) -> Path:
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "render",
                "--engine",
                str(checkpoint),
                "--output",
                str(output),
                "--tp",
                str(tp),
                "--set",
                "torch_dtype=float32",
                "--set",
                "device=cpu",
                "--set",
                "triton_max_batch_size=4",
            ]
        )
    assert exit_info.value.code == 0
    return output


def _answers(base: str, tokenizer_ids: list[list[int]]) -> dict[str, object]:
    """Greedy token ids straight from tensorrt_llm, and text through the ensemble (whole and streamed)."""
    ids = []
    for prompt_ids in tokenizer_ids:
        body = {
            "input_ids": prompt_ids,
            "input_lengths": [len(prompt_ids)],
            "request_output_len": [NEW_TOKENS],
            "end_id": [-1],
        }
        reply = requests.post(f"{base}/v2/models/tensorrt_llm/generate", json=body, timeout=120)
        assert reply.status_code == 200, reply.text
        ids.append(reply.json()["output_ids"])
    texts, streamed = [], []
    for prompt in PROMPTS:
        body = {"text_input": prompt, "max_tokens": NEW_TOKENS, "min_tokens": NEW_TOKENS}
        reply = requests.post(f"{base}/v2/models/ensemble/generate", json=body, timeout=120)
        assert reply.status_code == 200, reply.text
        texts.append(reply.json()["text_output"])
        with requests.post(
            f"{base}/v2/models/ensemble/generate_stream",
            json={**body, "stream": True},
            timeout=120,
            stream=True,
        ) as stream:
            events = [
                json.loads(line[5:])
                for line in stream.iter_lines(decode_unicode=True)
                if line.startswith("data:")
            ]
        assert all("error" not in event for event in events), events
        streamed.append("".join(event["text_output"] for event in events))
    return {"ids": ids, "texts": texts, "streamed": streamed}


def _serve_and_ask(repo: Path, log: Path, tokenizer_ids: list[list[int]]) -> dict[str, object]:
    http, grpc, metrics = free_ports(3)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with open(log, "wb") as sink:
        launch = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tritongen",
                "launch",
                str(repo),
                f"--http-port={http}",
                f"--grpc-port={grpc}",
                f"--metrics-port={metrics}",
                "--grace-period=5",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        try:
            base = f"http://127.0.0.1:{http}"
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                assert launch.poll() is None, log.read_text(errors="replace")[-3000:]
                try:
                    if requests.get(f"{base}/v2/models/ensemble/ready", timeout=2).status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                time.sleep(1)
            else:
                pytest.fail("not ready in 240 s:\n" + log.read_text(errors="replace")[-3000:])
            return _answers(base, tokenizer_ids)
        finally:
            launch.send_signal(signal.SIGINT)
            assert launch.wait(timeout=60) == 0, log.read_text(errors="replace")[-3000:]


def test_world_size_2_answers_exactly_as_world_size_1(smollm2_checkpoint_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    checkpoint = make_hf_checkpoint(
        tmp_path / "tiny",
        num_heads=4,
        num_kv_heads=2,
        hidden_size=64,
        num_layers=2,
        tokenizer_from=smollm2_checkpoint_dir,
        seed=3,
    )
    tokenizer = AutoTokenizer.from_pretrained(str(checkpoint))
    tokenizer_ids = [
        tokenizer(
            tokenizer.apply_chat_template(
                [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
            ),
            add_special_tokens=False,
        )["input_ids"]
        for p in PROMPTS
    ]
    one = _serve_and_ask(_render(checkpoint, tmp_path / "tp1", 1), tmp_path / "tp1.log", tokenizer_ids)
    log2 = tmp_path / "tp2.log"
    two = _serve_and_ask(_render(checkpoint, tmp_path / "tp2", 2), log2, tokenizer_ids)
    assert "world size 2" in log2.read_text(errors="replace") or "2 ranks" in log2.read_text(errors="replace")
    assert two["ids"] == one["ids"]
    assert all(len(ids) == NEW_TOKENS for ids in one["ids"])  # type: ignore[union-attr]
    assert two["texts"] == one["texts"]
    assert two["streamed"] == two["texts"]


def test_tp_2_is_refused_for_smollm2_heads(smollm2_checkpoint_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(
            ["render", "--engine", str(smollm2_checkpoint_dir), "--output", str(tmp_path / "r"), "--tp", "2"]
        )
    assert exit_info.value.code == 3
    assert not (tmp_path / "r").exists()
