"""The Python backend's shared-memory regions in /dev/shm: owner-only, and never left behind.

Each Python-model instance shares one region with its tritonserver (`<rank's prefix><UUID>`, the
prefix from `command.shm_prefix`); every request's tensors, prompts included, pass through it.
Two problems, both fixed here rather than in the backend:

- The backend creates them with mode 0644 whatever the umask (Boost.Interprocess fchmod()s the
  new file), so any local user could read the prompts. The launcher chmods each region to 0600 as
  soon as it sees the stub that uses it, before the server is ready to take requests.
- A server that dies without its orderly shutdown (kill -9, a crash, a killed launcher) never
  unlinks them: 1 MiB or more per instance, with the last requests in it, until the next reboot.
  The launcher removes its regions after every teardown; the next launch (and the watchdog after a
  killed launcher) removes any region that no process maps any more.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path

SHM = Path("/dev/shm")
REGION = re.compile(r"prefix\d+_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ORPHAN_MIN_AGE_S = 5.0  # a region this young may belong to a server between its shm_open and its mmap


def restrict(names: Iterable[str]) -> None:
    """Make our regions readable and writable by their owner only (the server and stubs run as us)."""
    for name in names:
        path = SHM / name
        with contextlib.suppress(OSError):
            info = path.lstat()
            if info.st_uid == os.geteuid() and info.st_mode & 0o077:
                path.chmod(0o600)


def remove(names: Iterable[str]) -> list[str]:
    """Unlink the regions that still exist; return those removed."""
    removed: list[str] = []
    for name in names:
        if REGION.fullmatch(name):
            with contextlib.suppress(FileNotFoundError, PermissionError):
                (SHM / name).unlink()
                removed.append(name)
    return removed


def orphans(min_age: float = ORPHAN_MIN_AGE_S) -> list[str]:
    """Our Python-backend regions that no process maps: left by a server that died.

    A live server and its stub map their region for as long as the model is loaded, so a region
    nobody maps is dead. The age limit keeps a server that is starting right now (between its
    shm_open and its mmap) from losing its region.
    """
    if not SHM.is_dir():
        return []
    now = time.time()
    candidates: list[str] = []
    for entry in SHM.iterdir():
        if not REGION.fullmatch(entry.name):
            continue
        with contextlib.suppress(OSError):
            info = entry.lstat()
            if info.st_uid == os.geteuid() and now - info.st_ctime >= min_age:
                candidates.append(entry.name)
    if not candidates:
        return []
    mapped = mapped_regions()
    return [name for name in candidates if name not in mapped]


def mapped_regions() -> set[str]:
    """Names of /dev/shm files mapped by any process whose memory map we may read."""
    found: set[str] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            maps = (entry / "maps").read_text(errors="replace")
        except OSError:
            continue
        for line in maps.splitlines():
            where = line.find(" /dev/shm/")
            if where >= 0:
                found.add(line[where + len(" /dev/shm/") :].removesuffix(" (deleted)"))
    return found
