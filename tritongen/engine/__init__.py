"""The engine reader: any TensorRT-LLM engine `config.json` (v0.5 … 1.x) or Hugging Face checkpoint → `EngineSpec`."""

from tritongen.engine._legacy import decode_quant_mode, legacy_rank_file_name
from tritongen.engine.reader import read_engine
from tritongen.engine.spec import EngineLayout, EngineSpec, RankFile

__all__ = [
    "EngineLayout",
    "EngineSpec",
    "RankFile",
    "decode_quant_mode",
    "legacy_rank_file_name",
    "read_engine",
]
