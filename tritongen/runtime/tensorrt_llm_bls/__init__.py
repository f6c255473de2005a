"""The tensorrt_llm_bls model: preprocessing -> LLM -> postprocessing in one Python model."""
