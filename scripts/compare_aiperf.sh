#!/usr/bin/env bash
# Run `tritongen bench` and NVIDIA AIPerf against the same running server, at the same concurrency,
# with the same prompts and the same output length, and print both sets of figures.
#
# AIPerf lives in its own virtualenv (it pins versions that conflict with ours); it is installed from
# PyPI on first use. It needs a LOCAL tokenizer (--tokenizer DIR): its `builtin` one downloads tiktoken
# files at start.
#
# --api triton (default): Triton's /generate_stream through AIPerf's `template` endpoint type (the body
#   is a Jinja template, `text_output` is read from each chunk); outputs forced to --max-tokens.
# --api openai: streamed /v1/chat/completions of any OpenAI-compatible server (`tritongen openai`, vLLM,
#   ...) through AIPerf's `chat` endpoint type, greedy (temperature 0) on both sides so both see the same
#   answers; the OpenAI API cannot force an output length, so answers end where the model stops or at
#   --max-tokens. AIPerf runs twice: counting tokens with its tokenizer (the raw message; what it reports
#   by default) and with --use-server-token-count (the server's usage: the chat-templated prompt).
#
#   scripts/compare_aiperf.sh --url http://127.0.0.1:8000 --tokenizer /path/to/SmolLM2-135M
#   scripts/compare_aiperf.sh --url http://127.0.0.1:23100 --tokenizer tests/fixtures/bench/word_tokenizer
#   scripts/compare_aiperf.sh --api openai --url http://127.0.0.1:9000 --concurrency 1 --tokenizer DIR
set -euo pipefail

URL="http://127.0.0.1:8000"
API="triton"
MODEL=""
CONCURRENCY=4
REQUESTS=64
MAX_TOKENS=32
WARMUP=4
TOKENIZER=""
AIPERF_VENV="${AIPERF_VENV:-/tmp/aiperf-venv}"
AIPERF_VERSION="0.13.0"
OUT=""

usage() {
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
    echo "options: --api triton|openai --url URL --model NAME --concurrency N --requests N --max-tokens N"
    echo "         --warmup N (model: ensemble for triton, the first of /v1/models for openai)"
    echo "         --tokenizer DIR (required) --aiperf-venv DIR --out DIR"
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --url) URL="$2"; shift 2 ;;
        --api) API="$2"; shift 2 ;;
        --model) MODEL="$2"; shift 2 ;;
        --concurrency) CONCURRENCY="$2"; shift 2 ;;
        --requests) REQUESTS="$2"; shift 2 ;;
        --max-tokens) MAX_TOKENS="$2"; shift 2 ;;
        --warmup) WARMUP="$2"; shift 2 ;;
        --tokenizer) TOKENIZER="$2"; shift 2 ;;
        --aiperf-venv) AIPERF_VENV="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "error: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done
if [[ "$API" != triton && "$API" != openai ]]; then
    echo "error: --api must be triton or openai" >&2
    exit 2
fi
if [[ -z "$TOKENIZER" || ! -d "$TOKENIZER" ]]; then
    echo "error: --tokenizer DIR (a local Hugging Face tokenizer directory) is required for AIPerf." >&2
    exit 2
fi

compare_openai() {
    # The prompts (one line each), and the model: the given one or the first that /v1/models lists.
    MODEL="$("$PYTHON" - "$URL" "$MODEL" "$OUT" <<'PY'
import json, sys
from pathlib import Path
from tritongen.bench.openai_api import probe_openai
from tritongen.bench.prompts import BUILTIN_PROMPTS

url, model, out = sys.argv[1], sys.argv[2] or None, Path(sys.argv[3])
prompts = [p.replace("\n", " ") for p in BUILTIN_PROMPTS]
(out / "prompts.txt").write_text("\n".join(prompts) + "\n")
(out / "prompts.jsonl").write_text("".join(json.dumps({"text": p}) + "\n" for p in prompts))
print(probe_openai(url, model)[0])
PY
)"
    echo "== tritongen bench --api openai (model $MODEL, concurrency $CONCURRENCY, $REQUESTS requests)" >&2
    "$ROOT/.venv/bin/tritongen" bench --api openai --url "$URL" --model "$MODEL" --endpoint chat \
        --concurrency "$CONCURRENCY" --requests "$REQUESTS" --max-tokens "$MAX_TOKENS" \
        --field temperature=0 --warmup "$WARMUP" --prompts "$OUT/prompts.txt" --quiet \
        --json "$OUT/tritongen.json" >"$OUT/tritongen.txt"
    local counting
    # AIPerf 0.13 in HF offline mode treats even a local directory as a hub id (snapshot_download) and
    # fails; online, a local directory is loaded as such, with no network access.
    for counting in tokenizer server; do
        echo "== aiperf $AIPERF_VERSION, chat, tokens counted by its $counting" >&2
        env -u HF_HUB_OFFLINE -u TRANSFORMERS_OFFLINE \
            "$AIPERF_VENV/bin/aiperf" profile -m "$MODEL" --url "$URL" --endpoint-type chat --streaming \
            --tokenizer "$TOKENIZER" --input-file "$OUT/prompts.jsonl" --custom-dataset-type single_turn \
            --dataset-sampling-strategy sequential --output-tokens-mean "$MAX_TOKENS" \
            --extra-inputs temperature:0 \
            $([[ "$counting" == server ]] && echo --use-server-token-count) \
            --concurrency "$CONCURRENCY" --request-count "$REQUESTS" --warmup-request-count "$WARMUP" \
            --artifact-dir "$OUT/aiperf-$counting" --ui-type none >"$OUT/aiperf-$counting.log" 2>&1 || {
            echo "error: aiperf failed; the end of its log ($OUT/aiperf-$counting.log):" >&2
            tail -20 "$OUT/aiperf-$counting.log" >&2
            exit 1
        }
    done
    "$PYTHON" - "$OUT" <<'PY'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
ours = json.loads((out / "tritongen.json").read_text())
level = ours["levels"][0]
runs = {
    counting: json.loads(next((out / f"aiperf-{counting}").rglob("profile_export_aiperf.json")).read_text())
    for counting in ("tokenizer", "server")
}

def aiperf(counting, name, stat):
    value = (runs[counting].get(name) or {}).get(stat)
    return float(value) if value is not None else None

def tritongen(name, stat=None):
    value = level.get(name)
    return float(value[stat]) if isinstance(value, dict) else (float(value) if value is not None else None)

rows = [
    ("requests/s", tritongen("requests_per_s"), *(aiperf(c, "request_throughput", "avg") for c in runs)),
    ("mean output tokens", tritongen("mean_output_tokens"),
     *(aiperf(c, "output_sequence_length", "avg") for c in runs)),
    ("mean input tokens", None, *(aiperf(c, "input_sequence_length", "avg") for c in runs)),
    ("TTFT p50 ms", tritongen("ttft_ms", "p50"), *(aiperf(c, "time_to_first_token", "p50") for c in runs)),
    ("ITL p50 ms", tritongen("itl_ms", "p50"), *(aiperf(c, "inter_token_latency", "p50") for c in runs)),
    ("e2e p50 ms", tritongen("e2e_ms", "p50"), *(aiperf(c, "request_latency", "p50") for c in runs)),
    ("e2e p99 ms", tritongen("e2e_ms", "p99"), *(aiperf(c, "request_latency", "p99") for c in runs)),
    ("failed requests", float(level["failed"]),
     *((aiperf(c, "error_request_count", "avg") or 0.0) for c in runs)),
]
show = lambda v: "-" if v is None else (f"{v:.0f}" if abs(v) >= 100 else f"{v:.2f}")
print(f"{'figure':<20}{'tritongen':>12}{'aiperf':>12}{'aiperf usage':>14}")
for name, a, b, c in rows:
    print(f"{name:<20}{show(a):>12}{show(b):>12}{show(c):>14}")
print(f"tritongen counted output tokens by: {level['token_count_method']}; aiperf by its tokenizer "
      "(the raw message and the answer text), 'aiperf usage' by the server's usage (--use-server-token-count)")
summary = {
    "tritongen": {k: v for k, v, *_ in rows},
    "aiperf": {k: b for k, _, b, _ in rows},
    "aiperf_usage": {k: c for k, _, _, c in rows},
    "tritongen_token_count_method": level["token_count_method"],
    "config": ours["config"],
    "environment": ours["environment"],
}
(out / "comparison.json").write_text(json.dumps(summary, indent=2) + "\n")
print(f"files: {out} (comparison.json: these figures)")
PY
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="$ROOT/.venv/bin/python"
TOKENIZER="$(cd "$TOKENIZER" && pwd)"
OUT="${OUT:-$(mktemp -d /tmp/compare-aiperf.XXXXXX)}"
mkdir -p "$OUT"

if [[ ! -x "$AIPERF_VENV/bin/aiperf" ]]; then
    echo "installing aiperf==$AIPERF_VERSION into $AIPERF_VENV ..." >&2
    python3 -m venv "$AIPERF_VENV"
    "$AIPERF_VENV/bin/pip" install -q "aiperf==$AIPERF_VERSION"
fi

if [[ "$API" == openai ]]; then
    compare_openai
    exit 0
fi
MODEL="${MODEL:-ensemble}"

# The same prompts for both tools, and an AIPerf body with exactly the fields tritongen would send
# (min_tokens = max_tokens where the model accepts it, so both measure the same output length).
"$PYTHON" - "$URL" "$MODEL" "$MAX_TOKENS" "$OUT" <<'PY'
import json, sys
from pathlib import Path
from tritongen.bench.client import shape_requests
from tritongen.http import probe_model
from tritongen.bench.prompts import BUILTIN_PROMPTS

url, model, max_tokens, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
shape = shape_requests(probe_model(url, model), url, "generate_stream", max_tokens, min_tokens=max_tokens)
prompts = [p.replace("\n", " ") for p in BUILTIN_PROMPTS]
(out / "prompts.txt").write_text("\n".join(prompts) + "\n")
(out / "prompts.jsonl").write_text("".join(json.dumps({"text": p}) + "\n" for p in prompts))
fields = json.dumps(dict(shape.fields))
(out / "template.json").write_text('{"text_input": {{ text|tojson }}, ' + fields[1:] + "\n")
for note in shape.notes:
    print(f"note: {note}", file=sys.stderr)
PY

echo "== tritongen bench (concurrency $CONCURRENCY, $REQUESTS requests, $MAX_TOKENS tokens)" >&2
"$ROOT/.venv/bin/tritongen" bench --url "$URL" --model "$MODEL" --endpoint generate_stream \
    --concurrency "$CONCURRENCY" --requests "$REQUESTS" --max-tokens "$MAX_TOKENS" --ignore-eos \
    --warmup "$WARMUP" --prompts "$OUT/prompts.txt" --tokenizer "$TOKENIZER" --quiet \
    --json "$OUT/tritongen.json" >"$OUT/tritongen.txt"

echo "== aiperf $AIPERF_VERSION (same settings)" >&2
"$AIPERF_VENV/bin/aiperf" profile -m "$MODEL" --url "$URL" \
    --endpoint-type template --custom-endpoint "/v2/models/$MODEL/generate_stream" --streaming \
    --extra-inputs "payload_template:$OUT/template.json" --extra-inputs response_field:text_output \
    --tokenizer "$TOKENIZER" --input-file "$OUT/prompts.jsonl" --custom-dataset-type single_turn \
    --dataset-sampling-strategy sequential --output-tokens-mean "$MAX_TOKENS" \
    --concurrency "$CONCURRENCY" --request-count "$REQUESTS" --warmup-request-count "$WARMUP" \
    --artifact-dir "$OUT/aiperf" --ui-type none >"$OUT/aiperf.log" 2>&1 || {
    echo "error: aiperf failed; the end of its log ($OUT/aiperf.log):" >&2
    tail -20 "$OUT/aiperf.log" >&2
    exit 1
}

"$PYTHON" - "$OUT" <<'PY'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
ours = json.loads((out / "tritongen.json").read_text())["levels"][0]
theirs = json.loads(next((out / "aiperf").rglob("profile_export_aiperf.json")).read_text())

def aiperf(name, stat):
    value = (theirs.get(name) or {}).get(stat)
    return float(value) if value is not None else None

def tritongen(name, stat):
    value = ours.get(name)
    return float(value.get(stat)) if isinstance(value, dict) else (float(value) if value is not None else None)

rows = [
    ("requests/s", tritongen("requests_per_s", None), aiperf("request_throughput", "avg")),
    ("output tokens/s", tritongen("output_tokens_per_s", None), aiperf("output_token_throughput", "avg")),
    ("mean output tokens", tritongen("mean_output_tokens", None), aiperf("output_sequence_length", "avg")),
    ("TTFT p50 ms", tritongen("ttft_ms", "p50"), aiperf("time_to_first_token", "p50")),
    ("TTFT p99 ms", tritongen("ttft_ms", "p99"), aiperf("time_to_first_token", "p99")),
    ("ITL p50 ms", tritongen("itl_ms", "p50"), aiperf("inter_token_latency", "p50")),
    ("ITL p99 ms", tritongen("itl_ms", "p99"), aiperf("inter_token_latency", "p99")),
    ("e2e p50 ms", tritongen("e2e_ms", "p50"), aiperf("request_latency", "p50")),
    ("e2e p99 ms", tritongen("e2e_ms", "p99"), aiperf("request_latency", "p99")),
    ("failed requests", float(ours["failed"]), aiperf("error_request_count", "avg") or 0.0),
]
show = lambda v: "-" if v is None else (f"{v:.0f}" if abs(v) >= 100 else f"{v:.2f}")
print(f"{'figure':<20}{'tritongen':>12}{'aiperf':>12}")
for name, a, b in rows:
    print(f"{name:<20}{show(a):>12}{show(b):>12}")
print(f"tritongen counted tokens by: {ours['token_count_method']}; aiperf by its tokenizer")
print(f"files: {out}")
PY
