#!/usr/bin/env bash
# Pipeline overhead of the llmapi target (one Python model, no ensemble), measured as the ensemble's was
# (scripts/bench_pipeline_stub.sh): render the embedded SmolLM2 checkpoint with --target llmapi, launch it
# with the zero-cost executor (TRITONGEN_LLMAPI_EXECUTOR=zero-cost: the prompt tokenized, one token
# detokenized, no generation), and run scripts/bench_pipeline.py on tensorrt_llm (max_tokens 1).
#   scripts/bench_llmapi_pipeline.sh [--no-streaming] [bench_pipeline.py arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."
RENDER_ARGS=()
if [ "${1:-}" = --no-streaming ]; then RENDER_ARGS+=(--no-streaming); shift; fi
PORT=${PORT:-8310}
WORK=$(mktemp -d)
LAUNCH=
trap '[ -n "$LAUNCH" ] && { kill -INT $LAUNCH 2>/dev/null; wait $LAUNCH 2>/dev/null; }; rm -rf "$WORK"' EXIT
.venv/bin/tritongen example smollm2 >/dev/null
.venv/bin/tritongen render --engine "${TRITONGEN_CACHE_DIR:-$HOME/.cache/tritongen}/examples/smollm2" \
    --target llmapi --output "$WORK/repo" "${RENDER_ARGS[@]}" >/dev/null
TRITONGEN_LLMAPI_EXECUTOR=zero-cost .venv/bin/tritongen launch "$WORK/repo" --http-port $PORT \
    --grpc-port $((PORT + 1)) --metrics-port $((PORT + 2)) > "$WORK/launch.log" 2>&1 &
LAUNCH=$!
for _ in $(seq 1 120); do
    curl -sf "localhost:$PORT/v2/models/tensorrt_llm/ready" >/dev/null 2>&1 && break
    kill -0 $LAUNCH 2>/dev/null || { tail -20 "$WORK/launch.log"; exit 1; }
    sleep 1
done
.venv/bin/python scripts/bench_pipeline.py --url "http://127.0.0.1:$PORT" --models tensorrt_llm "$@"
