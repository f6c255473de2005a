"""The reliability suite: load, faults, fuzzed engine directories and requests, stub and launcher deaths,
hostile repository paths; each part bounded.

Shared by tests/test_reliability.py (the reduced sizes, under `@pytest.mark.reliability`) and
scripts/reliability.py (a table and a JSON document; `--full` for the full sizes). Every part returns
a `PartResult`: how many trials or requests, how many passed and failed, the key figures, and the
first failures described well enough to reproduce them.

1. load: the real SmolLM2 stack (`tritongen render` + `tritongen launch`), mixed ensemble/BLS and
   streaming/non-streaming requests, 10% closed by the client midway; every other request must get
   exactly one complete answer carrying its own `id`; server memory (RSS of tritonserver and its
   Python-backend stubs, from /proc) before and after.
2. faults: world size 2 under mpirun (the tiny launch fixture), `kill -9` of a random rank at a random
   moment under load; `tritongen launch` must exit non-zero within 10 s and leave no process behind.
3. engine-fuzz: hypothesis-mutated `config.json` files and directory layouts through the real CLI;
   never a traceback, only documented exit codes, never a partial write.
4. request-fuzz: hypothesis-generated malformed generate/generate_stream bodies against the real stack;
   the server stays up and ready, no 5xx but Triton's known front-end parse errors, and valid requests
   keep working.
4b. serving-faults (same stack): clients leaving after their first token on every path, with the
   tokens generated after they left counted; seeded sampling requests sharing the batch with hostile
   ones (NaN temperature, end_id outside the vocabulary, ...) keep their exact text; megabytes of
   prompt are refused quickly with a 400.

5. stub-death: the SmolLM2 stack at world size 1 (and, full size, the torch runtime at tp 2), `kill -9`
   of a random Python-backend stub; `tritongen launch` must exit 7 naming the model within 10 s,
   readiness must fail, and no process or `/dev/shm` region may be left.
6. supervisor-death: `kill -9` of `tritongen launch` itself (SmolLM2 at world size 1, the tiny fixture
   at world size 2 under mpirun, the torch runtime at tp 2); every process of the launch and its
   shared memory must be gone within 10 s.
7. hostile-paths: `tritongen render --slurm --k8s` into fuzzed repository paths (newlines, `$(...)`,
   backticks, quotes, unicode); the script and the LeaderWorkerSet run with stand-in srun/mpirun/
   tritonserver: no injected command runs and every argv carries the exact path. No server.

Ports: 24000-24999 (loopback). Sizes: `QUICK` (CI) or `FULL`; `TRITONGEN_RELIABILITY=quick|full`.

Modules: `report` (sizes, `PartResult`, the table), `machine` (ports, the server process tree, memory,
machine facts), `stack` (the SmolLM2 serving stack), one module per part (`load`, `faults`, `engine_fuzz`,
`request_fuzz`, `launch_faults` for stub-death and supervisor-death, `hostile_paths`) and `suite` (all parts
in one run; `suite.STANDALONE` is the registry of parts that need no shared stack). The names below are
what tests and scripts use.
"""

from tritongen.testing.reliability.engine_fuzz import run_engine_fuzz
from tritongen.testing.reliability.faults import EXIT_WITHIN_S, run_faults
from tritongen.testing.reliability.hostile_paths import run_hostile_paths
from tritongen.testing.reliability.launch_faults import run_stub_death, run_supervisor_death
from tritongen.testing.reliability.load import MEMORY_GROWTH_LIMIT_PCT, run_load
from tritongen.testing.reliability.machine import machine_facts, server_processes
from tritongen.testing.reliability.report import (
    FULL,
    PARTS,
    QUICK,
    PartResult,
    Sizes,
    format_table,
    key_figures,
    mode_from_env,
    sizes_for,
)
from tritongen.testing.reliability.request_fuzz import run_request_fuzz
from tritongen.testing.reliability.serving_faults import Endpoints, run_serving_faults
from tritongen.testing.reliability.stack import ServingStack, serving_stack
from tritongen.testing.reliability.suite import run_parts, run_standalone

__all__ = [
    "EXIT_WITHIN_S",
    "FULL",
    "MEMORY_GROWTH_LIMIT_PCT",
    "PARTS",
    "QUICK",
    "Endpoints",
    "PartResult",
    "ServingStack",
    "Sizes",
    "format_table",
    "key_figures",
    "machine_facts",
    "mode_from_env",
    "run_engine_fuzz",
    "run_faults",
    "run_hostile_paths",
    "run_load",
    "run_parts",
    "run_request_fuzz",
    "run_serving_faults",
    "run_standalone",
    "run_stub_death",
    "run_supervisor_death",
    "server_processes",
    "serving_stack",
    "sizes_for",
]
