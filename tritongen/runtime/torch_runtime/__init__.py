"""tritongen's torch runtime: serves a Hugging Face checkpoint behind the `tensorrt_llm` tensor contract.

`model.py` (the Triton Python-backend model, built on `..serving`) is the only module here that talks to
Triton; everything else in this package is plain Python/numpy/torch so it can be tested and benchmarked
in-process.
"""
