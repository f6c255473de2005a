"""A real tritonserver for tests: the harness is `tritongen.testing.server` (scripts use it too).

Kept under this name so test modules import it as they always have.
"""

from tritongen.testing.ports import free_ports
from tritongen.testing.server import RunningServer, running_server, shared_server, start_server, stop_server

__all__ = ["RunningServer", "free_ports", "running_server", "shared_server", "start_server", "stop_server"]
