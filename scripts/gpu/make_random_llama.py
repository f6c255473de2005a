"""Write a ~1B-parameter Llama checkpoint with random weights (no download is possible on GPU machines).

The shape is TinyLlama-1.1B's (hidden 2048, 22 layers, 32 heads / 4 KV heads, MLP 5632) with the
SmolLM2 tokenizer's vocabulary, so prompts tokenize like the CPU default. Random weights make the text
meaningless, but every figure that matters here — bytes read per decode step, tokens/s, greedy parity
between world sizes — is the same as for trained weights of that shape.

    python scripts/gpu/make_random_llama.py --tokenizer DIR --output /tmp/llama-1b [--dtype bfloat16]
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", type=Path, required=True, help="tokenizer files to copy in (SmolLM2)")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float16", "float32"))
    parser.add_argument("--layers", type=int, default=22)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    vocab = json.loads((args.tokenizer / "tokenizer.json").read_text())["model"]["vocab"]
    config = LlamaConfig(
        vocab_size=max(vocab.values()) + 1,
        hidden_size=2048,
        intermediate_size=5632,
        num_hidden_layers=args.layers,
        num_attention_heads=32,
        num_key_value_heads=4,
        max_position_embeddings=4096,
        rms_norm_eps=1e-5,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
        tie_word_embeddings=False,
        initializer_range=0.02,
        dtype=args.dtype,
    )
    torch.manual_seed(args.seed)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = LlamaForCausalLM(config).to(getattr(torch, args.dtype)).eval()
    model.generation_config = GenerationConfig(bos_token_id=1, eos_token_id=2, pad_token_id=2)
    args.output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.output)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy2(args.tokenizer / name, args.output / name)
    params = sum(p.numel() for p in model.parameters())
    print(
        json.dumps(
            {
                "checkpoint": str(args.output),
                "parameters": params,
                "dtype": args.dtype,
                "weight_bytes": params * model.dtype.itemsize,
            }
        )
    )


if __name__ == "__main__":
    main()
