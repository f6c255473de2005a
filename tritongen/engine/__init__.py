"""The engine reader: any TensorRT-LLM engine `config.json` (v0.5 … 1.x) or Hugging Face checkpoint → `EngineSpec`."""

from tritongen.engine.reader import read_engine
from tritongen.engine.spec import EngineLayout, EngineSpec, RankFile

__all__ = ["EngineLayout", "EngineSpec", "RankFile", "read_engine"]
