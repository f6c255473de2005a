"""The llmapi model: upstream's LLM-API `tensorrt_llm` contract, driven by `tensorrt_llm.LLM` or the torch runtime."""
