"""Triton's entry point for `preprocessing`: rendered as `preprocessing/1/model.py` (see __init__.py)."""

from .preprocessing.model import TritonPythonModel

__all__ = ["TritonPythonModel"]
