"""Backend / TensorRT-LLM version strings, parsed and compared.

TensorRT-LLM writes versions such as "0.8.0.dev2024013000", "0.17.0.post1" and "1.2.0rc6"; only the
release number matters for choosing templates, so pre/post/dev suffixes are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

from tritongen.errors import UsageError

_VERSION_RE = re.compile(r"^\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?")


@total_ordering
@dataclass(frozen=True)
class Version:
    """A release number (major, minor, patch); suffixes ignored."""

    major: int
    minor: int = 0
    patch: int = 0

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse "0.19", "v0.8.0", "1.2.0rc6", "0.8.0.dev2024013000"."""
        match = _VERSION_RE.match(text)
        if not match:
            raise UsageError(
                f"'{text}' is not a version number",
                hint="Give a TensorRT-LLM backend version such as 0.8, 0.19 or 1.2.",
            )
        major, minor, patch = (int(g) if g else 0 for g in match.groups())
        return cls(major, minor, patch)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return (self.major, self.minor, self.patch) < (other.major, other.minor, other.patch)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


def v(text: str) -> Version:
    """Shorthand for `Version.parse`, used by the catalogue's data tables."""
    return Version.parse(text)
