#!/usr/bin/env bash
# Pipeline overhead of tritongen's own Python models, measured as upstream's baseline was: render the
# embedded SmolLM2 repository, swap its tensorrt_llm for a zero-cost stub (scripts/pipeline_stub), launch,
# and run scripts/bench_pipeline.py (max_tokens 1; server CPU ms per request from /proc).
#   scripts/bench_pipeline_stub.sh [--no-streaming] [--floor] [bench_pipeline.py arguments...]
#     --no-streaming  render with --no-streaming (nothing decoupled), as upstream's quick start fills it
#     --floor         also swap preprocessing, postprocessing and tensorrt_llm_bls for zero-cost models
#                     (scripts/pipeline_stub/floor): what Triton's own structure costs per request
set -euo pipefail
cd "$(dirname "$0")/.."
RENDER_ARGS=() FLOOR=0
while [ $# -gt 0 ]; do
    case "$1" in
        --no-streaming) RENDER_ARGS+=(--no-streaming); shift ;;
        --floor) FLOOR=1; shift ;;
        *) break ;;
    esac
done
PORT=${PORT:-8300}
WORK=$(mktemp -d)
LAUNCH=
trap '[ -n "$LAUNCH" ] && { kill -INT $LAUNCH 2>/dev/null; wait $LAUNCH 2>/dev/null; }; rm -rf "$WORK"' EXIT
.venv/bin/tritongen example smollm2 >/dev/null
.venv/bin/tritongen render --engine "${TRITONGEN_CACHE_DIR:-$HOME/.cache/tritongen}/examples/smollm2" \
    --output "$WORK/repo" "${RENDER_ARGS[@]}" >/dev/null
swap() {  # swap MODEL's code for FILE
    rm -rf "$WORK/repo/$1/1"
    mkdir -p "$WORK/repo/$1/1"
    cp "$2" "$WORK/repo/$1/1/model.py"
}
swap tensorrt_llm scripts/pipeline_stub/model.py
if [ "$FLOOR" = 1 ]; then
    for model in preprocessing postprocessing tensorrt_llm_bls; do
        swap $model scripts/pipeline_stub/floor/$model.py
    done
fi
.venv/bin/tritongen launch "$WORK/repo" --http-port $PORT --grpc-port $((PORT + 1)) --metrics-port $((PORT + 2)) \
    > "$WORK/launch.log" 2>&1 &
LAUNCH=$!
for _ in $(seq 1 120); do
    curl -sf "localhost:$PORT/v2/models/ensemble/ready" >/dev/null 2>&1 && break
    kill -0 $LAUNCH 2>/dev/null || { tail -20 "$WORK/launch.log"; exit 1; }
    sleep 1
done
.venv/bin/python scripts/bench_pipeline.py --url "http://127.0.0.1:$PORT" "$@"
