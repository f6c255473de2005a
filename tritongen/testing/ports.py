"""Free loopback ports for test servers: the one helper every harness uses.

Each harness draws from its own range, so a test run, a benchmark and a reliability run on one machine
do not race for the same ports; picking is racy by nature (another process may bind a port between the
probe and the server's bind), so callers retry when the server reports a port in use.
"""

from __future__ import annotations

import random

from tritongen.launch.command import Ports
from tritongen.launch.preflight import port_is_free

SERVER_PORTS = (20000, 20999)  # start_server and shared_server (tests/test_python_models.py, test_client.py)
TORCH_PORTS = (21000, 21999)  # the torch runtime under explicit model control, and mpirun's rendezvous
LAUNCH_PORTS = (22000, 22999)  # `tritongen launch` of the tiny fixture (test_launch.py, stress_kill, bench)
RELIABILITY_PORTS = (24000, 24999)  # the reliability harness


def free_ports(
    count: int,
    port_range: tuple[int, int] = SERVER_PORTS,
    *,
    consecutive: bool = False,
    rng: random.Random | None = None,
) -> list[int]:
    """`count` distinct loopback ports in `port_range` (inclusive) that are free right now.

    `consecutive` asks for a run of adjacent ports (what `tritongen launch --http-port` documents for
    its three ports); `rng` makes the choice reproducible for a seeded run.
    """
    rng = rng or random.Random()
    low, high = port_range
    if consecutive:
        for _ in range(300):
            first = rng.randrange(low, high - count + 2)
            ports = list(range(first, first + count))
            if all(port_is_free("127.0.0.1", port) for port in ports):
                return ports
    else:
        candidates = list(range(low, high + 1))
        rng.shuffle(candidates)
        chosen: list[int] = []
        for port in candidates:
            if port_is_free("127.0.0.1", port):
                chosen.append(port)
                if len(chosen) == count:
                    return chosen
    raise RuntimeError(f"no {count} free ports in {low}-{high}")


def free_launch_ports(port_range: tuple[int, int] = LAUNCH_PORTS, rng: random.Random | None = None) -> Ports:
    """Three consecutive free ports as `tritongen launch` takes them (http, grpc, metrics)."""
    http, grpc, metrics = free_ports(3, port_range, consecutive=True, rng=rng)
    return Ports(http, grpc, metrics)


def port_flags(ports: Ports) -> list[str]:
    """The `tritongen launch` flags for `ports`."""
    return [
        "--http-port",
        str(ports.http),
        "--grpc-port",
        str(ports.grpc),
        "--metrics-port",
        str(ports.metrics),
    ]
