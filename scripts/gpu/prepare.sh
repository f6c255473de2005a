#!/usr/bin/env bash
# Source this on a GPU machine that cannot reach a registry: it installs the wheels carried in .whl/
# (see docs/benchmarks-gpu.md for how to make them) into the machine's own Python environment (the
# Python-backend stubs ignore PYTHONPATH, so the packages must be in its site-packages) and puts the
# repository first on PYTHONPATH, so `python3 -m tritongen` works with the machine's own torch.
SITE=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade .whl/*.whl
# The Python backend of tritonserver 2.51 (nvidia-pytriton 0.7, which requires numpy<2) corrupts string
# tensors under numpy 2 ("unpack_from requires a buffer of at least ..."): numpy 1.26 is carried, and
# scipy (built for numpy 2 on these images, imported by transformers only if present) is removed.
python3 -m pip uninstall -q -y scipy 2>/dev/null || true
tar xJf .whl/pytriton-slim-py3*.tar.xz -C "$SITE"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
# Never use NVLink multicast on shared hosts (it can take the GPUs out of service).
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
TG="python3 -m tritongen"
