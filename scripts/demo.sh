#!/usr/bin/env bash
# The main job on the embedded default, from a fresh clone:
#   set up -> build the SmolLM2-135M-Instruct checkpoint -> render the model repository ->
#   launch tritonserver (supervised) -> ask /generate and /generate_stream -> stop the server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
PORT=${PORT:-8000}
PROMPT=${PROMPT:-"How do I count to nine in French?"}
TG=.venv/bin/tritongen

$TG example smollm2 --output examples/smollm2
$TG render --engine examples/smollm2 --output model_repos/smollm2 --force
$TG check model_repos/smollm2

$TG launch model_repos/smollm2 --http-port "$PORT" --grpc-port $((PORT + 1)) --metrics-port $((PORT + 2)) &
LAUNCH=$!
trap 'kill -INT $LAUNCH 2>/dev/null || true; wait $LAUNCH 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
    curl -sf "localhost:$PORT/v2/models/ensemble/ready" >/dev/null 2>&1 && break
    kill -0 $LAUNCH 2>/dev/null || { echo "demo: the server did not start" >&2; exit 1; }
    sleep 1
done

body=$(printf '{"text_input": "%s", "max_tokens": 64}' "$PROMPT")
echo
echo "\$ curl -X POST localhost:$PORT/v2/models/ensemble/generate -d '$body'"
curl -sS -X POST "localhost:$PORT/v2/models/ensemble/generate" -d "$body"
echo; echo
stream_body=$(printf '{"text_input": "%s", "max_tokens": 12, "stream": true}' "$PROMPT")
echo "\$ curl -N -X POST localhost:$PORT/v2/models/ensemble/generate_stream -d '$stream_body'"
curl -sS -N -X POST "localhost:$PORT/v2/models/ensemble/generate_stream" -d "$stream_body"
echo "(one event per token)"
echo
echo "\$ tritongen infer --prompt '$PROMPT' --stream"
$TG infer --url "localhost:$PORT" --prompt "$PROMPT" --stream --max-tokens 64
echo
kill -INT $LAUNCH
wait $LAUNCH || true
trap - EXIT
echo "demo: server stopped"
