#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite: lint, format, types, then pytest against a real
# tritonserver, real mpirun and the real SmolLM2 checkpoint. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
.venv/bin/ruff check tritongen tests scripts
.venv/bin/ruff format --check tritongen tests scripts
.venv/bin/mypy
exec .venv/bin/pytest "$@"
