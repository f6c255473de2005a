"""Benchmark the torch runtime through Triton against in-process generation of the same checkpoint.

For each concurrency it measures decode throughput (generated tokens per second of wall time) and time
to first token for:

- `generate`: in-process `model.generate` on a batch of that many prompts (the baseline),
- `engine`:   in-process torch-runtime engine (continuous batching, no Triton),
- `triton`:   tritonserver serving `tensorrt_llm` with the torch runtime, `concurrency` clients each
              sending streaming gRPC requests back to back (direct `tensorrt_llm` requests, token ids),
- `whole`:    the same without streaming (one response per request): what per-token responses cost.

Every request generates exactly --output-len tokens (end_id -1) from the same chat-templated prompt.

    .venv/bin/python scripts/bench_serving.py                  # SmolLM2 example checkpoint, c=1 and c=8
    .venv/bin/python scripts/bench_serving.py --dtype bfloat16 --concurrency 1 4 8 16
    .venv/bin/python scripts/bench_serving.py --grpc-url 127.0.0.1:8001   # an already running server
"""

from __future__ import annotations

import argparse
import os
import queue
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

PROMPT = "Write a short story about a dragon who learns to bake bread."


@dataclass
class Measurement:
    """Throughput and time to first token of one way of generating at one concurrency."""

    tokens_per_s: float
    ttft_ms: float


def main() -> None:
    args = _arguments()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tritongen.testing.server import serve_tensorrt_llm
    from tritongen.testing.smollm2 import render_repository, smollm2_checkpoint

    if args.threads:
        torch.set_num_threads(args.threads)
    checkpoint = args.checkpoint or smollm2_checkpoint()
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    messages = [{"role": "user", "content": PROMPT}]
    prompt = list(
        tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)["input_ids"]
    )
    biggest = max(args.concurrency)
    print(
        f"checkpoint {checkpoint} ({args.dtype}), prompt {len(prompt)} tokens, {args.output_len} new tokens per "
        f"request, {args.rounds} round(s) per client, torch threads {torch.get_num_threads()}",
        flush=True,
    )

    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=getattr(torch, args.dtype)).eval()
    results: dict[str, dict[int, Measurement]] = {"generate": {}, "engine": {}, "triton": {}, "whole": {}}
    for concurrency in args.concurrency:
        results["generate"][concurrency] = _bench_generate(model, prompt, concurrency, args)
    del model

    engine = _in_process_engine(checkpoint, args, biggest)
    for concurrency in args.concurrency:
        results["engine"][concurrency] = _bench_engine(engine, prompt, concurrency, args)
    engine.shutdown()
    del engine

    def bench_server(grpc_url: str) -> None:
        for concurrency in args.concurrency:
            results["triton"][concurrency] = _bench_triton(
                grpc_url, prompt, concurrency, args, streaming=True
            )
            results["whole"][concurrency] = _bench_triton(
                grpc_url, prompt, concurrency, args, streaming=False
            )

    if args.grpc_url:
        bench_server(args.grpc_url)
    else:
        with tempfile.TemporaryDirectory(prefix="tritongen-bench-") as scratch:
            settings = (f"triton_max_batch_size={max(biggest, 1)}", f"torch_dtype={args.dtype}", "device=cpu",
                        f"max_input_len={len(prompt)}", f"max_seq_len={len(prompt) + args.output_len + 16}")  # fmt: skip
            repository = render_repository(checkpoint, Path(scratch) / "repository", settings=settings)
            with serve_tensorrt_llm(repository, Path(scratch) / "server.log") as server:
                bench_server(server.grpc_url)
    _print_table(results, args.concurrency)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--checkpoint", type=Path, help="Hugging Face checkpoint (default: the SmolLM2 example)"
    )
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--output-len", type=int, default=64, help="tokens generated per request")
    parser.add_argument("--rounds", type=int, default=2, help="requests each client sends, back to back")
    parser.add_argument("--threads", type=int, help="torch threads in this process (default: torch's)")
    parser.add_argument("--grpc-url", help="benchmark this running server instead of starting one")
    return parser.parse_args()


def _bench_generate(model, prompt: list[int], concurrency: int, args: argparse.Namespace) -> Measurement:
    import torch

    batch = torch.tensor([prompt] * concurrency)
    mask = torch.ones_like(batch)
    fixed = {"do_sample": False, "eos_token_id": None, "pad_token_id": 0, "attention_mask": mask}
    with torch.no_grad():
        model.generate(batch, max_new_tokens=2, **fixed)  # warm-up
        ttfts, rates = [], []
        for _ in range(args.rounds):
            started = time.perf_counter()
            model.generate(batch, max_new_tokens=1, **fixed)
            ttfts.append(time.perf_counter() - started)
            started = time.perf_counter()
            model.generate(batch, max_new_tokens=args.output_len, min_new_tokens=args.output_len, **fixed)
            rates.append(concurrency * args.output_len / (time.perf_counter() - started))
    return Measurement(statistics.mean(rates), 1000 * statistics.median(ttfts))


def _in_process_engine(checkpoint: Path, args: argparse.Namespace, max_batch: int):
    from tritongen.runtime.torch_runtime.engine import TorchEngine
    from tritongen.runtime.torch_runtime.settings import read_settings

    parameters = {"gpt_model_path": str(checkpoint), "torch_dtype": args.dtype, "device": "cpu",
                  "max_batch_size": str(max_batch), "max_seq_len": "1024"}  # fmt: skip
    return TorchEngine(
        read_settings(parameters, decoupled=True, config_max_batch_size=max_batch, model_max_positions=None)
    )


def _bench_engine(engine, prompt: list[int], concurrency: int, args: argparse.Namespace) -> Measurement:
    from tritongen.runtime.torch_runtime.contract import GenerationRequest

    request = GenerationRequest(
        prompt=tuple(prompt), max_new_tokens=args.output_len, end_id=-1, pad_id=0, streaming=True
    )
    counter = iter(range(1 << 62))

    def client(ttfts: list[float]) -> None:
        for _ in range(args.rounds):
            done, first = threading.Event(), []
            started = time.perf_counter()

            def listen(update, done=done, first=first, started=started) -> None:
                if update.tokens and not first:
                    first.append(time.perf_counter() - started)
                if update.finished:
                    done.set()

            engine.submit(f"bench-{next(counter)}", request, listen)
            done.wait()
            ttfts.extend(first)

    return _run_clients(client, concurrency, args)


def _bench_triton(
    grpc_url: str, prompt: list[int], concurrency: int, args: argparse.Namespace, *, streaming: bool
) -> Measurement:
    import tritonclient.grpc as grpcclient

    def inputs() -> list:
        tensors = []
        for name, value, datatype in (
            ("input_ids", np.array([prompt], dtype=np.int32), "INT32"),
            ("input_lengths", np.array([[len(prompt)]], dtype=np.int32), "INT32"),
            ("request_output_len", np.array([[args.output_len]], dtype=np.int32), "INT32"),
            ("end_id", np.array([[-1]], dtype=np.int32), "INT32"),
            ("streaming", np.array([[streaming]]), "BOOL"),
        ):
            tensor = grpcclient.InferInput(name, list(value.shape), datatype)
            tensor.set_data_from_numpy(value)
            tensors.append(tensor)
        return tensors

    def client(ttfts: list[float]) -> None:
        events: queue.Queue = queue.Queue()
        connection = grpcclient.InferenceServerClient(grpc_url)
        connection.start_stream(
            callback=lambda result, error: events.put((time.perf_counter(), result, error))
        )
        try:
            for round_number in range(args.rounds):
                started, first = time.perf_counter(), None
                connection.async_stream_infer("tensorrt_llm", inputs(), request_id=str(round_number))
                while True:
                    at, result, error = events.get(timeout=600)
                    if error is not None:
                        raise RuntimeError(f"request failed: {error}")
                    first = first or at - started
                    if result.get_response().parameters["triton_final_response"].bool_param:
                        break
                ttfts.append(first)
        finally:
            connection.stop_stream()
            connection.close()

    client([])  # warm-up
    return _run_clients(client, concurrency, args)


def _run_clients(client, concurrency: int, args: argparse.Namespace) -> Measurement:
    """Run `concurrency` closed-loop clients; throughput over the wall time of all of them."""
    ttfts: list[float] = []
    threads = [threading.Thread(target=client, args=(ttfts,)) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return Measurement(concurrency * args.rounds * args.output_len / elapsed, 1000 * statistics.median(ttfts))


def _print_table(results: dict[str, dict[int, Measurement]], levels: list[int]) -> None:
    header = (
        f"{'concurrency':>11} | {'generate tok/s':>14} | {'engine tok/s':>12} | {'triton tok/s':>12} | "
        f"{'whole tok/s':>11} | {'triton/generate':>15} | {'TTFT gen ms':>11} | {'TTFT engine ms':>14} | "
        f"{'TTFT triton ms':>14}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for level in levels:
        gen, eng, tri, whole = (results[name][level] for name in ("generate", "engine", "triton", "whole"))
        print(
            f"{level:>11} | {gen.tokens_per_s:>14.1f} | {eng.tokens_per_s:>12.1f} | {tri.tokens_per_s:>12.1f} | "
            f"{whole.tokens_per_s:>11.1f} | {tri.tokens_per_s / gen.tokens_per_s:>14.0%} | {gen.ttft_ms:>11.0f} | "
            f"{eng.ttft_ms:>14.0f} | {tri.ttft_ms:>14.0f}"
        )
    if len(levels) > 1:
        low, high = levels[0], levels[-1]
        scale = {name: results[name][high].tokens_per_s / results[name][low].tokens_per_s for name in results}
        print(
            f"\nthroughput at concurrency {high} vs {low}: "
            + ", ".join(f"{name} x{factor:.1f}" for name, factor in scale.items())
        )


if __name__ == "__main__":
    main()
