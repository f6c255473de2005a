#!/usr/bin/env bash
# Issue "Prove it on real GPUs", part 2: world size 2 across two GPUs (2xH200) with NCCL.
#   bash scripts/gpu/two_gpus.sh           (results in $OUT, default /tmp/gpu-out)
# 1. greedy parity: the same float32 checkpoint at tp 1 and tp 2, token for token;
# 2. the bench at tp 1 and tp 2 in bfloat16.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"
source scripts/gpu/prepare.sh
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpus.txt"
nvidia-smi topo -m > "$OUT/topo.txt" 2>&1 || true

serve() {  # serve NAME REPO EXTRA...: launch, wait, leaves LAUNCH set
    $TG launch "$2" --http-port 8000 --grpc-port 8001 --metrics-port 8002 > "$OUT/launch-$1.log" 2>&1 &
    LAUNCH=$!
    bash scripts/gpu/wait_ready.sh 8000 $LAUNCH
}
stop() { kill -INT $LAUNCH; wait $LAUNCH || true; }

for dtype in float32 bfloat16; do
    python3 scripts/gpu/make_random_llama.py --tokenizer .whl/smollm2-tokenizer --output /tmp/llama-$dtype --dtype $dtype \
        | tee "$OUT/checkpoint-$dtype.json"
    for tp in 1 2; do
        $TG render --engine /tmp/llama-$dtype --output /tmp/repo-$dtype-tp$tp --tp $tp --force
    done
done

for tp in 1 2; do
    serve parity-tp$tp /tmp/repo-float32-tp$tp
    python3 scripts/gpu/parity.py --url http://127.0.0.1:8000 --tokenizer .whl/smollm2-tokenizer --out "$OUT/ids-tp$tp.json"
    stop
done
python3 scripts/gpu/parity.py --compare "$OUT/ids-tp1.json" "$OUT/ids-tp2.json" | tee "$OUT/parity.json" || true

for tp in 1 2; do
    serve bench-tp$tp /tmp/repo-bfloat16-tp$tp
    curl -sS -X POST localhost:8000/v2/models/ensemble/generate -d '{"text_input": "How do I count to nine in French?", "max_tokens": 16}'; echo
    $TG bench --url http://127.0.0.1:8000 --concurrency 1,8,32 --max-tokens 64 --ignore-eos --requests 16 --warmup 1 --client threads \
        --json "$OUT/bench-tp$tp.json" | tee "$OUT/bench-tp$tp.txt"
    stop
done
