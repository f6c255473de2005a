"""Memory sizes as people write them ("80GiB", "62.05 GiB", "80GB", "512 MiB") and as the runtime logs them.

Binary units (KiB, MiB, GiB, TiB) are powers of 1024, decimal ones (kB, MB, GB, TB) powers of 1000, as
everywhere else: `nvidia-smi` and the TensorRT-LLM log speak GiB/MiB, so a GPU sold as "80GB" is best given
as the "total" its log or `nvidia-smi` prints (79.10 GiB on an H100). A bare number is bytes.
"""

from __future__ import annotations

import re

from tritongen.errors import UsageError

GIB = 1 << 30
MIB = 1 << 20
_UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
    "tib": 1 << 40,
    "k": 1000,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str, *, option: str = "size") -> int:
    """Bytes in `text`; a one-line UsageError naming `option` when it is not a positive size."""
    match = _SIZE.match(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise UsageError(
            f"{option} {text!r} is not a memory size",
            hint="Write a number and a unit, e.g. 80GiB, 62.05GiB, 512MiB or 80GB.",
        )
    size = int(float(match.group(1)) * _UNITS[unit])
    if size <= 0:
        raise UsageError(
            f"{option} {text!r} must be more than zero", hint="Give the memory in GiB, e.g. 80GiB."
        )
    return size


def gib(size: float) -> str:
    """`size` bytes as the runtime logs it: two decimals of GiB."""
    return f"{size / GIB:.2f} GiB"


def gib_short(size: float) -> str:
    """`size` bytes in GiB with one decimal, for sentences ("4.0 GiB")."""
    return f"{size / GIB:.1f} GiB"
