"""Triton's entry point for the llmapi `tensorrt_llm` model: rendered as `tensorrt_llm/1/model.py`."""

from .llmapi.model import TritonPythonModel

__all__ = ["TritonPythonModel"]
