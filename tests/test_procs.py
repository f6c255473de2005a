"""tritongen.launch.procs on real process trees: which processes the supervisor counts as model stubs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tritongen.launch import procs

# A stand-in stub: the Python interpreter under python_backend's stub name (so the kernel's `comm` and
# argv[0] look like the real one), run on a model.py path and a region name as the real stub is. It
# forks a child that keeps its name and argv, as a `subprocess` call inside a loading model does.
FORKING_MODEL = textwrap.dedent(
    """
    import os, sys, time
    if os.fork() == 0:
        time.sleep(30)
        os._exit(0)
    print("forked", flush=True)
    time.sleep(30)
    """
)

# The stand-in server: starts the stub as its direct child, as tritonserver does.
SERVER = textwrap.dedent(
    """
    import subprocess, sys, time
    stub = subprocess.Popen([sys.argv[1], sys.argv[2], "test_region"], stdout=subprocess.PIPE, text=True)
    print(stub.pid, flush=True)
    print(stub.stdout.readline().strip(), flush=True)
    time.sleep(30)
    """
)


def test_only_the_servers_own_children_count_as_stubs(tmp_path: Path) -> None:
    stub_binary = tmp_path / procs.STUB_NAME
    shutil.copy(sys.executable, stub_binary)
    model = tmp_path / "repo" / "preprocessing" / "1" / "model.py"
    model.parent.mkdir(parents=True)
    model.write_text(FORKING_MODEL)
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(stub_binary), str(model)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        stub_pid = int(server.stdout.readline())
        assert server.stdout.readline().strip() == "forked"
        time.sleep(0.2)  # the forked child is in the process table by now
        table = procs.process_table()
        forked = [p for p in table.values() if p.ppid == stub_pid]
        assert forked and forked[0].name == table[stub_pid].name  # the child looks like a stub
        stubs = procs.python_stubs(table, {0: table[server.pid]})
        assert [(s.proc.pid, s.model, s.region) for s in stubs] == [
            (stub_pid, "preprocessing", "test_region")
        ]
    finally:
        procs.kill_leftover_descendants(procs.descendants(procs.process_table(), server.pid))
        server.kill()
        server.wait()
