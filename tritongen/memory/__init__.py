"""`tritongen plan`: how much KV cache the GPUs will hold, how many sequences fit, and what to change.

- `runtime`: the TensorRT-LLM runtime's own formulas (with their sources), pure functions;
- `model`: an engine or checkpoint as the planner sees it (KV geometry and weights per pipeline stage);
- `settings`: a repository's KV-cache settings (config.pbtxt, or an llmapi model.yaml);
- `plan`: the plan, its recommendation, its text and JSON forms;
- `target`: from the command line's inputs to a plan; `preflight`: the check render and launch run.
"""

from tritongen.memory.plan import GpuMemory, MemoryPlan, Recommendation, describe, plan_model, to_json
from tritongen.memory.preflight import Problem, kv_cache_line, preflight
from tritongen.memory.target import gpu_memory, load_target, plan_target
from tritongen.memory.units import parse_size

__all__ = [
    "GpuMemory",
    "MemoryPlan",
    "Problem",
    "Recommendation",
    "describe",
    "gpu_memory",
    "kv_cache_line",
    "load_target",
    "parse_size",
    "plan_model",
    "plan_target",
    "preflight",
    "to_json",
]
