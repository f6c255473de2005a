#!/usr/bin/env bash
# Pipeline overhead of tritongen's own Python models, measured as upstream's baseline was: render the
# embedded SmolLM2 repository, swap its tensorrt_llm for a zero-cost stub (scripts/pipeline_stub), launch,
# and run scripts/bench_pipeline.py (max_tokens 1; server CPU ms per request from /proc).
#   scripts/bench_pipeline_stub.sh [--requests N] [--json FILE]     (extra arguments go to bench_pipeline.py)
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-8300}
WORK=$(mktemp -d)
trap 'kill -INT $LAUNCH 2>/dev/null; wait $LAUNCH 2>/dev/null; rm -rf "$WORK"' EXIT
.venv/bin/tritongen example smollm2 >/dev/null
.venv/bin/tritongen render --engine "${TRITONGEN_CACHE_DIR:-$HOME/.cache/tritongen}/examples/smollm2" \
    --output "$WORK/repo" >/dev/null
rm -rf "$WORK/repo/tensorrt_llm/1"
mkdir -p "$WORK/repo/tensorrt_llm/1"
cp scripts/pipeline_stub/model.py "$WORK/repo/tensorrt_llm/1/model.py"
.venv/bin/tritongen launch "$WORK/repo" --http-port $PORT --grpc-port $((PORT + 1)) --metrics-port $((PORT + 2)) \
    > "$WORK/launch.log" 2>&1 &
LAUNCH=$!
for _ in $(seq 1 120); do
    curl -sf "localhost:$PORT/v2/models/ensemble/ready" >/dev/null 2>&1 && break
    kill -0 $LAUNCH 2>/dev/null || { tail -20 "$WORK/launch.log"; exit 1; }
    sleep 1
done
.venv/bin/python scripts/bench_pipeline.py --url "http://127.0.0.1:$PORT" "$@"
