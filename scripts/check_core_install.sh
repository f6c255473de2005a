#!/usr/bin/env bash
# Prove that core tritongen installs into an environment like an NGC Triton / TensorRT-LLM container
# without changing its transformers, numpy or tokenizers (issue #7, item 5).
#
# A fresh venv first gets an older transformers stack (what a container ships), then `pip install .`
# (core only, no extras). The script prints the versions before and after, fails if any changed, and runs
# render + check + explain on a small engine to show core works there.
#   scripts/check_core_install.sh [TRANSFORMERS_VERSION] [NUMPY_VERSION]
set -euo pipefail
cd "$(dirname "$0")/.."
TRANSFORMERS=${1:-4.56.2}
NUMPY=${2:-1.26.4}
PYTHON=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PYTHON" -m venv "$work/venv"
pip=("$work/venv/bin/python" -m pip install -q --disable-pip-version-check)
"${pip[@]}" "transformers==$TRANSFORMERS" "numpy==$NUMPY"
versions() {
    "$work/venv/bin/python" - <<'PY'
import importlib.metadata as m
for name in ("transformers", "tokenizers", "numpy", "torch"):
    try:
        print(f"{name}=={m.version(name)}")
    except m.PackageNotFoundError:
        print(f"{name}: not installed")
PY
}
before=$(versions)
echo "before: $(echo $before)"
"${pip[@]}" .
after=$(versions)
echo "after:  $(echo $after)"
if [ "$before" != "$after" ]; then
    echo "check_core_install: installing tritongen changed the environment" >&2
    exit 1
fi
# Core works there, without torch: render a TensorRT-LLM 0.19 engine layout (stand-in rank files and a
# small tokenizer, made by the project's own venv), check it (the tokenizer loads with the container's
# transformers), explain a value, plan its KV cache, and dry-run its launch.
.venv/bin/python - "$work" <<'PY'
import sys
from pathlib import Path

from tritongen.testing.engines import make_engine_dir, make_tokenizer_dir, modern_config

work = Path(sys.argv[1])
make_engine_dir(work, modern_config("0.19.0", tp=1), name="engine")
make_tokenizer_dir(work / "tokenizer")
PY
tg="$work/venv/bin/tritongen"
"$tg" --version
"$tg" render --engine "$work/engine" --tokenizer "$work/tokenizer" --output "$work/repo"
"$tg" check "$work/repo"
"$tg" explain "$work/repo" triton_max_batch_size
"$tg" plan "$work/repo" --gpu-memory 80GiB
"$tg" launch "$work/repo" --dry-run --tritonserver /bin/true >/dev/null
echo "check_core_install: OK (transformers, tokenizers and numpy unchanged; render, check, explain, plan and launch --dry-run run)"
