"""CPU time of a server process tree (tritonserver and its triton_python_backend_stub children).

Read through psutil, which takes utime+stime from /proc/<pid>/stat. Only a server on this machine
can be measured; a server under mpirun should be given as the mpirun pid, so every rank counts.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import psutil

from tritongen.errors import ServerRequestError


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` and all its living descendants."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        raise ServerRequestError(f"the server process {pid} is gone") from None
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:  # a child that ended between the listing and the read
            continue
        total += times.user + times.system
    return total


def tree_size(pid: int) -> int:
    """How many processes the measurement covers (the server and its descendants)."""
    try:
        return 1 + len(psutil.Process(pid).children(recursive=True))
    except psutil.NoSuchProcess:
        return 0


def find_server_pid(url: str) -> int:
    """The pid of the local process listening on `url`'s port, or a one-line error saying what to do."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        listeners = [
            conn.pid
            for conn in psutil.net_connections(kind="tcp")
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid
        ]
    except psutil.AccessDenied:
        listeners = []
    if not listeners:
        raise ServerRequestError(
            f"no process on this machine that we may inspect listens on port {port}",
            hint="Server CPU time needs the server's pid: pass --server-pid PID (the mpirun pid for multi-rank).",
        )
    return int(listeners[0])
