"""tritongen's torch runtime: serves a Hugging Face checkpoint behind the `tensorrt_llm` tensor contract.

`model.py` (the Triton Python-backend model) is the only module that talks to Triton; everything in this
package is plain Python/numpy/torch so it can be tested and benchmarked in-process.
"""
