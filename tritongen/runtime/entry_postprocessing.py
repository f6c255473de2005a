"""Triton's entry point for `postprocessing`: rendered as `postprocessing/1/model.py` (see __init__.py)."""

from .postprocessing.model import TritonPythonModel

__all__ = ["TritonPythonModel"]
