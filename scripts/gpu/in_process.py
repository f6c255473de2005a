"""In-process greedy decode throughput of a checkpoint (the baseline for serving through Triton).

    python scripts/gpu/in_process.py --checkpoint DIR --batch 1 8 32 --new-tokens 64
Prints one JSON line per batch size: generated tokens/s over the whole batch and per sequence.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from transformers import AutoModelForCausalLM


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--prompt-len", type=int, default=43)
    args = parser.parse_args()
    model = AutoModelForCausalLM.from_pretrained(args.checkpoint, dtype="auto").to("cuda").eval()
    for batch in args.batch:
        ids = torch.randint(3, model.config.vocab_size, (batch, args.prompt_len), device="cuda")
        kwargs = {"max_new_tokens": args.new_tokens, "min_new_tokens": args.new_tokens, "do_sample": False}
        model.generate(ids, max_new_tokens=4, do_sample=False)  # warm-up
        torch.cuda.synchronize()
        start = time.perf_counter()
        model.generate(ids, **kwargs)
        torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        print(
            json.dumps(
                {
                    "batch": batch,
                    "new_tokens": args.new_tokens,
                    "seconds": round(seconds, 3),
                    "tokens_per_s": round(batch * args.new_tokens / seconds, 1),
                    "per_sequence_tokens_per_s": round(args.new_tokens / seconds, 1),
                }
            )
        )


if __name__ == "__main__":
    main()
