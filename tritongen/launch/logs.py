"""Turn the launch's output stream into whole lines per rank, and keep the last lines of each.

Open MPI's output tagging (`--tag-output` in 4.x, `--output tag` in 5.x) prefixes every chunk a
rank writes with `[job,rank]<stdout>:`, and again after every newline inside the chunk, but a
chunk is not a line: tritonserver writes a message and its newline separately, and chunks of
different ranks interleave ("…disabled\"[1,0]<stderr>:W1122 …[1,1]<stderr>:\n"). So each rank gets
its own partial-line buffer. Text after a chunk's final newline that carries no tag is mpirun's own.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Callable

MPIRUN = "mpirun"  # the channel of mpirun's own messages
_TAG = re.compile(rb"\[[^\[\]\n,]+,(\d+)\]<std(?:out|err)>: ?")
_MAX_TAG = 64  # longest tag we wait for when a read ends in the middle of one


def channel_name(rank: int) -> str:
    return f"rank{rank}"


class RankLog:
    """Splits a launch's output into lines per channel ("rank0", "rank1", …, "mpirun")."""

    def __init__(self, emit: Callable[[str, str], None], *, tagged: bool, tail_lines: int = 200) -> None:
        self._emit = emit  # called with (channel, line) for every complete line
        self._tagged = tagged  # False: one tritonserver, every line is rank 0's
        self._tail_lines = tail_lines
        self._partial: dict[str, bytes] = {}
        self._tails: dict[str, deque[str]] = {}
        self._pending = b""  # bytes not yet routed (a tag may be cut by the read boundary)
        self._owner = MPIRUN if tagged else channel_name(0)
        self._lock = threading.Lock()

    def feed(self, data: bytes) -> None:
        """Route one chunk read from the pipe."""
        with self._lock:
            data = self._pending + data
            self._pending = b""
            if not self._tagged:
                self._append(self._owner, data)
                return
            cut = _incomplete_tag_start(data)
            data, self._pending = data[:cut], data[cut:]
            position = 0
            for match in _TAG.finditer(data):
                self._route(data[position : match.start()])
                self._owner = channel_name(int(match.group(1)))
                position = match.end()
            self._route(data[position:])

    def close(self) -> None:
        """End of stream: flush what is left, even without a final newline."""
        with self._lock:
            if self._pending:
                self._route(self._pending)
                self._pending = b""
            for channel, rest in list(self._partial.items()):
                if rest:
                    self._line(channel, rest)
            self._partial.clear()

    def tail(self, channel: str, count: int = 20) -> list[str]:
        """The last `count` lines of a channel."""
        with self._lock:
            return list(self._tails.get(channel, ()))[-count:]

    def _route(self, text: bytes) -> None:
        """Text after a tag belongs to that rank up to and including its newline; after it, to mpirun."""
        if not text:
            return
        if self._owner == MPIRUN:
            self._append(MPIRUN, text)
            return
        newline = text.find(b"\n")
        if newline < 0:
            self._append(self._owner, text)
            return
        self._append(self._owner, text[: newline + 1])
        self._owner = MPIRUN
        self._append(MPIRUN, text[newline + 1 :])

    def _append(self, channel: str, text: bytes) -> None:
        buffered = self._partial.get(channel, b"") + text
        *lines, rest = buffered.split(b"\n")
        self._partial[channel] = rest
        for line in lines:
            self._line(channel, line)

    def _line(self, channel: str, raw: bytes) -> None:
        line = raw.decode(errors="replace").rstrip("\r")
        self._tails.setdefault(channel, deque(maxlen=self._tail_lines)).append(line)
        self._emit(channel, line)


def _incomplete_tag_start(data: bytes) -> int:
    """Where a possibly cut-off tag begins at the end of `data` (len(data) when there is none)."""
    start = data.rfind(b"[", max(0, len(data) - _MAX_TAG))
    if start < 0 or b"\n" in data[start:] or b">:" in data[start:]:
        return len(data)
    return start
