"""Triton's entry point for `tensorrt_llm` on the torch runtime: rendered as `tensorrt_llm/1/model.py`."""

from .torch_runtime.model import TritonPythonModel

__all__ = ["TritonPythonModel"]
