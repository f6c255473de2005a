"""Greedy token ids for a fixed prompt set, straight from the `tensorrt_llm` model of a running server.

python scripts/gpu/parity.py --url http://127.0.0.1:8000 --tokenizer DIR --out ids.json
python scripts/gpu/parity.py --compare a.json b.json      # exit 1 unless token for token equal
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import requests

PROMPTS = [
    "How do I count to nine in French?",
    "Write a haiku about tensor parallelism.",
    "What is the capital of Australia?",
    "Explain in one sentence why the sky is blue.",
    "List three prime numbers greater than fifty.",
    "Translate 'good morning' into Korean.",
    "Give me a recipe for pancakes.",
    "Summarize the plot of Hamlet in two sentences.",
]


def collect(url: str, tokenizer_dir: Path, max_tokens: int) -> list[list[int]]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    outputs = []
    for prompt in PROMPTS:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
        )
        ids = [int(i) for i in tokenizer(text, add_special_tokens=False)["input_ids"]]
        body = {
            "input_ids": ids,
            "input_lengths": [len(ids)],
            "request_output_len": [max_tokens],
            "end_id": [-1],
            "exclude_input_in_output": [True],
        }
        response = requests.post(f"{url}/v2/models/tensorrt_llm/generate", json=body, timeout=600)
        response.raise_for_status()
        data = response.json()
        tokens = data["output_ids"]
        while tokens and isinstance(tokens[0], list):
            tokens = tokens[0]
        length = data.get("sequence_length", len(tokens))
        length = length[0] if isinstance(length, list) else length
        outputs.append([int(t) for t in tokens][: int(length)])
    return outputs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url")
    parser.add_argument("--tokenizer", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--compare", nargs=2, type=Path)
    args = parser.parse_args()
    if args.compare:
        a, b = (json.loads(p.read_text()) for p in args.compare)
        same = [x == y for x, y in zip(a, b, strict=True)]
        first = [
            next((i for i, (s, t) in enumerate(zip(x, y, strict=False)) if s != t), None)
            for x, y in zip(a, b, strict=True)
        ]
        print(
            json.dumps(
                {
                    "prompts": len(same),
                    "identical": sum(same),
                    "first_difference": first,
                    "tokens_compared": sum(len(x) for x in a),
                }
            )
        )
        sys.exit(0 if all(same) else 1)
    ids = collect(args.url, args.tokenizer, args.max_tokens)
    args.out.write_text(json.dumps(ids))
    print(f"{len(ids)} prompts, {sum(map(len, ids))} tokens -> {args.out}")


if __name__ == "__main__":
    main()
