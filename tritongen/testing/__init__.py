"""Test harness shared by the test suite and the scripts (as `numpy.testing` or `click.testing` are).

For a source checkout: it runs the real parts (tritonserver, `tritongen launch`, mpirun, the SmolLM2
checkpoint) and knows where the vendored test data lives. Modules:

- `paths`: `CORPUS` (real engine configs and filled repositories), the tests and fixtures directories;
- `ports`: the one free-port helper;
- `server`: start/stop a tritonserver on a repository (`start_server`, `running_server`,
  `serve_tensorrt_llm`, `shared_server`);
- `launch`: `tritongen launch` of the tiny fixture repository, and the processes it leaves behind;
- `smollm2`: the SmolLM2-135M-Instruct checkpoint and repositories rendered for it;
- `engines`, `render_cases`: engine directories, tokenizers and checkpoints; the golden render cases;
- `reliability`: load, faults, fuzzed engines and requests, and their report.

Only the light names are imported here; import the modules for the rest (they pull in requests,
hypothesis, transformers... only when used).
"""

from tritongen.testing.paths import CORPUS, FIXTURES_DIR, SOURCE_ROOT, TESTS_DIR
from tritongen.testing.ports import free_launch_ports, free_ports, port_flags

__all__ = [
    "CORPUS",
    "FIXTURES_DIR",
    "SOURCE_ROOT",
    "TESTS_DIR",
    "free_launch_ports",
    "free_ports",
    "port_flags",
]
