#!/usr/bin/env bash
# Issue "Prove it on real GPUs", part 1: one GPU (H100). Run from the repository root with .whl carried:
#   bash scripts/gpu/one_gpu.sh            (results in $OUT, default /tmp/gpu-out)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"
source scripts/gpu/prepare.sh
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 scripts/gpu/make_random_llama.py --tokenizer .whl/smollm2-tokenizer --output /tmp/llama-1b | tee "$OUT/checkpoint.json"
python3 scripts/gpu/bandwidth.py | tee "$OUT/bandwidth.json"
$TG render --engine /tmp/llama-1b --output /tmp/repo-1gpu --force
$TG launch /tmp/repo-1gpu --http-port 8000 --grpc-port 8001 --metrics-port 8002 > "$OUT/launch-1gpu.log" 2>&1 &
LAUNCH=$!
bash scripts/gpu/wait_ready.sh 8000 $LAUNCH
curl -sS -X POST localhost:8000/v2/models/ensemble/generate \
     -d '{"text_input": "How do I count to nine in French?", "max_tokens": 32}' | tee "$OUT/generate.json"; echo
curl -sS -N -X POST localhost:8000/v2/models/ensemble/generate_stream \
     -d '{"text_input": "How do I count to nine in French?", "max_tokens": 8, "stream": true}' | tee "$OUT/generate_stream.txt"
# Through the ensemble (text in, text out); then in-process generation of the same checkpoint
# on the same GPU, the baseline.
$TG bench --url http://127.0.0.1:8000 --concurrency 1,8,32 --max-tokens 64 --ignore-eos --requests 32 --warmup 2 --client threads \
    --json "$OUT/bench-1gpu.json" | tee "$OUT/bench-1gpu.txt" || true
kill -INT $LAUNCH; wait $LAUNCH || true
python3 scripts/gpu/in_process.py --checkpoint /tmp/llama-1b --batch 1 8 32 --new-tokens 64 | tee "$OUT/in-process.jsonl"
tail -3 "$OUT/launch-1gpu.log"
