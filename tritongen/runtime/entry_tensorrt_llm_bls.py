"""Triton's entry point for `tensorrt_llm_bls`: rendered as `tensorrt_llm_bls/1/model.py` (see __init__.py)."""

from .tensorrt_llm_bls.model import TritonPythonModel

__all__ = ["TritonPythonModel"]
