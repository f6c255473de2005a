"""Checks that run before anything starts: free ports (and who holds them), GPUs, /dev/shm.

A busy port is the most common way a second launch fails (reference §6 item 11); saying *which*
tritongen launch holds it, and how to stop it, turns the error into one command.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
from collections.abc import Mapping
from pathlib import Path

from tritongen.errors import LaunchError
from tritongen.launch import shm
from tritongen.launch.command import Ports
from tritongen.launch.state import LaunchState, all_states, state_path

SHM = Path("/dev/shm")
SHM_PER_RANK = 64 * 1024 * 1024  # older Python backends want 64 MiB per model instance (§6 item 12)


def port_is_free(host: str, port: int) -> bool:
    """Whether tritonserver could bind `host:port` now (SO_REUSEADDR like the server: TIME_WAIT is fine)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise LaunchError(
                f"cannot bind {host}:{port} ({error.strerror})",
                hint="Check --host: it must be an address of this machine.",
            ) from error
    return True


def check_ports(host: str, ports: Ports) -> list[str]:
    """Raise LaunchError if a port is taken; return notes about stale state files that were removed."""
    notes: list[str] = []
    wanted = set(ports.named().values())
    for state in all_states():
        if not wanted & set(state.ports.values()):
            continue
        if state.is_stale():
            state_path(state.http_port).unlink(missing_ok=True)
            mapped = shm.mapped_regions()  # the regions of a launch that died with its launcher, if unused
            shm.remove(name for name in state.shm if name not in mapped)
            notes.append(
                f"removed the stale state of a launch on port {state.http_port} "
                f"(pid {state.launcher_pid} is gone)"
            )
            continue
        raise _held_by_launch(state, min(wanted & set(state.ports.values())))
    busy = [port for port in ports.named().values() if not port_is_free(host, port)]
    if busy:
        named = ", ".join(f"{name} {port}" for name, port in ports.named().items() if port in busy)
        raise LaunchError(
            f"port {busy[0]} is already in use ({named}) on {host}",
            hint="Stop what listens there, or choose other ports with --http-port/--grpc-port/--metrics-port.",
        )
    return notes


def _held_by_launch(state: LaunchState, port: int) -> LaunchError:
    owner = state.launcher_pid if state.launcher_alive() else state.session
    return LaunchError(
        f"a tritongen launch (pid {owner}) is already serving on port {port}",
        hint=f"Stop it first: `tritongen stop --http-port {state.http_port}`.",
    )


def visible_gpus(env: Mapping[str, str]) -> int:
    """GPUs this process may use: CUDA_VISIBLE_DEVICES when set, else what `nvidia-smi -L` lists."""
    selected = env.get("CUDA_VISIBLE_DEVICES")
    if selected is not None:
        devices = [d for d in selected.split(",") if d.strip()]
        return 0 if devices[:1] == ["-1"] else len(devices)
    nvidia_smi = shutil.which("nvidia-smi", path=env.get("PATH"))
    if nvidia_smi is None:
        return 0
    try:
        listing = subprocess.run([nvidia_smi, "-L"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(1 for line in listing.stdout.splitlines() if line.startswith("GPU "))


def gpu_problem(world_size: int, *, torch_runtime: bool, env: Mapping[str, str]) -> str | None:
    """Why `world_size` ranks cannot each get a GPU here, or None.

    The torch runtime also runs on CPU: on a machine without GPUs it needs none.
    """
    count = visible_gpus(env)
    if torch_runtime and count == 0:
        return None
    if count >= world_size:
        return None
    where = (
        f"CUDA_VISIBLE_DEVICES={env['CUDA_VISIBLE_DEVICES']}"
        if "CUDA_VISIBLE_DEVICES" in env
        else "nvidia-smi -L"
    )
    return f"world size {world_size} needs {world_size} GPUs but {count} are visible ({where})"


def shm_problem(world_size: int) -> str | None:
    """A warning when /dev/shm is too small for the Python models' shared memory, or None."""
    if not SHM.is_dir():
        return None
    stats = os.statvfs(SHM)
    free = stats.f_bavail * stats.f_frsize
    if free >= SHM_PER_RANK * world_size:
        return None
    return (
        f"/dev/shm has only {free // (1024 * 1024)} MiB free; Python models may fail to start "
        "(in Docker, pass --shm-size=2g)"
    )
