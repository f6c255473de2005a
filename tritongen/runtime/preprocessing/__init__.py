"""The preprocessing model: prompt text -> token tensors."""
