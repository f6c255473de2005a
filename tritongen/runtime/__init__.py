"""The Python models tritongen deploys, as package code: typed, linted and unit-tested like the rest.

Triton's Python backend cannot import tritongen (the server's Python does not have it installed), so
`render` copies these files into each model's `1/` directory. `1/` then mirrors this package: the
entry point `entry_<model>.py` becomes `1/model.py`, and the subpackages it needs are copied beside it
(`1/common/`, `1/preprocessing/`, ...). The Python backend imports `1/model.py` as module `1.model`
(with the model directory on `sys.path`), so the relative imports below (`from .preprocessing.model
import ...`, `from ..common.parameters import ...`) resolve the same way in both places.

`layout.py` says which files each model gets. Everything else here imports only the standard library,
numpy, torch, transformers, tokenizers and `triton_python_backend_utils` (tests/test_python_models.py
checks it).
"""
