"""Token ids -> text, for whole sequences and for streamed chunks, without losing spaces or bytes.

Through the ensemble every streamed chunk (the new tokens of one `tensorrt_llm` response) reaches
postprocessing as a request of its own. Decoding a chunk alone goes wrong in two ways: SentencePiece
decoders drop the leading space of a sequence ("▁world" -> "world"), and a character whose UTF-8
bytes span two chunks decodes as two U+FFFD. The ensemble cannot route any per-request state from
preprocessing to postprocessing (Triton refuses a step that mixes tensors from before and after a
decoupled step), but it does pass the client's request id to every step. So:

- A chunk with a request id continues that id's stream: we keep a short window of its last tokens
  and how many characters of the window's text were already sent, decode window + chunk, and send
  only the new characters, holding back a trailing incomplete character until its bytes arrive (the
  "prefix offset" technique of incremental detokenizers). The window is a few tokens, so the cost
  does not grow with the stream. A chunk that starts with BOS starts a new stream (a client that
  reuses an id for a new non-streamed request gets the same text as the first time).
- A chunk without a request id cannot be told apart from other clients' chunks, so nothing is
  carried over. A one-token chunk (what streaming sends) is decoded after a fixed anchor token, so
  it keeps its leading space; anything longer (a non-streamed output) is decoded plainly, exactly as
  Hugging Face decodes it. A character split between such chunks shows as U+FFFD. Send an `id`
  (tritongen infer always does), or use tensorrt_llm_bls, which keeps the stream state itself.

With one postprocessing instance (what tritongen deploys for streaming) the windows stay in its
memory. With several they live in a `FileWindowStore` shared by every instance of one server (one
small file per live stream, locked while a chunk is decoded), so consecutive chunks of a stream may
land on different instances. That is enough while a stream's tokens come slower than a chunk is
decoded; when they come faster, several instances can take two chunks of one stream at once and
finish them out of order (and Triton then sends them out of order), which no state can repair. So
streaming through the ensemble wants one postprocessing instance (with dynamic batching, one
instance decodes many streams per call). Windows unused for `ttl_s` are forgotten.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

REPLACEMENT = "\ufffd"
WINDOW_TOKENS = 6  # context kept per stream: enough for any UTF-8 character (<= 4 byte tokens)
DEFAULT_TTL_S = 60.0  # consecutive chunks of a stream arrive well within this
MAX_STREAMED_CHUNK = 32  # more new tokens than a streamed step brings (even with speculative decoding)


@dataclass
class StreamWindow:
    """The recent tokens of one stream and how much of their text the client already has."""

    tokens: list[int] = field(default_factory=list)
    sent_chars: int = 0


class WindowStore(Protocol):
    """Where stream windows live between chunks; `acquire` locks a key until `release`.

    `release(key, window)` saves `window`; `release(key, None)` leaves the stored one as it was;
    `release(key, None, forget=True)` deletes it.
    """

    def acquire(self, key: Hashable) -> StreamWindow | None: ...

    def release(self, key: Hashable, window: StreamWindow | None, forget: bool = False) -> None: ...

    def remove_all(self) -> None:
        """Forget every window (the model is unloading)."""


class MemoryWindowStore:
    """Windows in this process (one instance, or tests): LRU-bounded, expiring after `ttl_s`."""

    def __init__(self, ttl_s: float = DEFAULT_TTL_S, max_streams: int = 4096) -> None:
        self.ttl_s = ttl_s
        self.max_streams = max_streams
        self.windows: OrderedDict[Hashable, tuple[StreamWindow, float]] = OrderedDict()

    def acquire(self, key: Hashable) -> StreamWindow | None:
        entry = self.windows.get(key)
        if entry is None or time.monotonic() - entry[1] > self.ttl_s:
            return None
        return entry[0]

    def release(self, key: Hashable, window: StreamWindow | None, forget: bool = False) -> None:
        if forget:
            self.windows.pop(key, None)
        if window is None:
            return
        self.windows[key] = (window, time.monotonic())
        self.windows.move_to_end(key)
        while len(self.windows) > self.max_streams:
            self.windows.popitem(last=False)

    def remove_all(self) -> None:
        self.windows.clear()


class FileWindowStore:
    """Windows as small JSON files in `directory`, shared by the instances of one server.

    Each key's file is locked (flock) from `acquire` to `release`, so an instance that gets the next
    chunk of a stream waits for the one still decoding the previous chunk.
    """

    def __init__(self, directory: Path, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.directory = directory
        self.ttl_s = ttl_s
        self.directory.mkdir(parents=True, exist_ok=True)
        self.held: dict[Hashable, int] = {}
        self.last_sweep = 0.0

    def _path(self, key: Hashable) -> Path:
        return self.directory / hashlib.sha256(repr(key).encode()).hexdigest()[:40]

    def acquire(self, key: Hashable) -> StreamWindow | None:
        self._sweep()
        self.directory.mkdir(parents=True, exist_ok=True)  # another instance may have finalized
        descriptor = os.open(self._path(key), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        self.held[key] = descriptor
        try:
            state = json.loads(os.pread(descriptor, 1 << 20, 0) or b"null")
        except ValueError:
            return None
        if not isinstance(state, dict) or time.time() - float(state.get("time", 0)) > self.ttl_s:
            return None
        return StreamWindow(tokens=[int(t) for t in state["tokens"]], sent_chars=int(state["sent_chars"]))

    def release(self, key: Hashable, window: StreamWindow | None, forget: bool = False) -> None:
        descriptor = self.held.pop(key, None)
        if descriptor is None:
            return
        try:
            if forget:  # emptied first: an instance waiting on this file's lock must read "nothing"
                os.ftruncate(descriptor, 0)
                with contextlib.suppress(OSError):
                    self._path(key).unlink()
            elif window is not None:
                data = json.dumps(
                    {"tokens": window.tokens, "sent_chars": window.sent_chars, "time": time.time()}
                )
                os.ftruncate(descriptor, 0)
                os.pwrite(descriptor, data.encode(), 0)
        finally:
            os.close(descriptor)  # also releases the lock

    def _sweep(self) -> None:
        """Now and then, delete the files of streams that ended long ago."""
        now = time.time()
        if now - self.last_sweep < self.ttl_s:
            return
        self.last_sweep = now
        with contextlib.suppress(OSError):
            for path in list(self.directory.iterdir()):
                with contextlib.suppress(OSError):
                    if now - path.stat().st_mtime > 2 * self.ttl_s:
                        path.unlink()

    def remove_all(self) -> None:
        """Delete every window (at unload; instances finalize at the same time, so anything may be gone)."""
        with contextlib.suppress(OSError):
            for path in list(self.directory.iterdir()):
                with contextlib.suppress(OSError):
                    path.unlink()
            self.directory.rmdir()


@dataclass
class DecodeJob:
    """One sequence to decode in the batch call, and what to do with the text afterwards."""

    ids: list[int]
    key: Hashable | None = None  # stream key when the result continues a stream (its lock is held)
    skip_chars: int = 0  # characters of the decoded text that are context, not new
    new_tokens: int = 0  # how many of `ids` this chunk brought


def trailing_incomplete(text: str) -> int:
    """How many U+FFFD end the text: bytes of a character whose rest has not arrived yet."""
    return len(text) - len(text.rstrip(REPLACEMENT))


class StreamDecoder:
    """Plans and finishes the decoding of full sequences and streamed chunks (see the module doc).

    Every `plan_chunk` with a key must be followed by `finish` (or `abandon`) for that job: the key's
    window stays locked in between. A key must not be planned twice before it is finished.
    """

    def __init__(
        self,
        tokenizer: Any,
        skip_special_tokens: bool,
        store: WindowStore | None = None,
        decode_batch: Callable[[Sequence[Sequence[int]]], list[str]] | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.skip_special_tokens = skip_special_tokens
        self.store: WindowStore = store if store is not None else MemoryWindowStore()
        self.decode_batch = decode_batch  # a faster equivalent of the tokenizer's batch_decode
        self.bos_id = tokenizer.bos_token_id
        self.anchor, self.anchor_chars = self._find_anchor()
        self.needs_context = self._strips_leading_space()

    def _find_anchor(self) -> tuple[list[int], int]:
        """A plain token whose text is stable, so text(anchor + chunk) = text(anchor) + text(chunk)."""
        for candidate in ("a", "x", "0", "."):
            ids = self.tokenizer.encode(candidate, add_special_tokens=False)
            if not ids:
                continue
            text = self.decode_many([ids])[0]
            if text and REPLACEMENT not in text:
                return ids, len(text)
        return [], 0

    def _strips_leading_space(self) -> bool:
        """SentencePiece-style decoders drop a sequence's leading space, so a stream must remember
        that a chunk is not its start; byte-level ones decode a token the same anywhere."""
        spaced = self.tokenizer.encode(" and", add_special_tokens=False)
        alone, after_anchor = self.decode_many([spaced, self.anchor + spaced])
        return alone != after_anchor[self.anchor_chars :]

    def decode_many(self, sequences: Sequence[Sequence[int]]) -> list[str]:
        """One tokenizer call for many sequences."""
        if not sequences:
            return []
        if self.decode_batch is not None:
            return self.decode_batch(sequences)
        return list(
            self.tokenizer.batch_decode(
                [list(s) for s in sequences], skip_special_tokens=self.skip_special_tokens
            )
        )

    # -- planning ---------------------------------------------------------------------------------

    def plan_full(self, ids: Sequence[int]) -> DecodeJob:
        """A whole sequence (non-streamed output, or beams that are resent whole)."""
        return DecodeJob(ids=list(ids))

    def plan_chunk(self, key: Hashable | None, ids: Sequence[int]) -> DecodeJob:
        """A chunk of stream `key` (None: a chunk without a request id, see the module doc)."""
        ids = list(ids)
        starts_sequence = bool(ids) and ids[0] == self.bos_id
        if key is None:
            if len(ids) != 1 or starts_sequence:
                return DecodeJob(ids=ids)
            return DecodeJob(ids=self.anchor + ids, skip_chars=self.anchor_chars)
        window = self.store.acquire(key)
        if window is None or starts_sequence:
            window = StreamWindow()
        return DecodeJob(ids=window.tokens + ids, key=key, skip_chars=window.sent_chars, new_tokens=len(ids))

    # -- finishing --------------------------------------------------------------------------------

    def finish(self, job: DecodeJob, text: str) -> str:
        """The text to send for `job`, given the decoded text of `job.ids`; saves the stream window."""
        new_text = text[job.skip_chars :]
        if job.key is None:
            return new_text
        held = trailing_incomplete(new_text)
        if held == 0 and (not self.needs_context or job.new_tokens > MAX_STREAMED_CHUNK):
            # Nothing to carry: byte-level text needs no context, and a long chunk is a whole
            # (non-streamed) output. Keeps the store to the streams that are mid-character.
            self.store.release(job.key, None, forget=True)
            return new_text
        window = StreamWindow(tokens=job.ids, sent_chars=len(text) - held)
        if held == 0 and len(window.tokens) >= 4 * WINDOW_TOKENS:
            window = self._trimmed(window)
        self.store.release(job.key, window)
        return new_text[: len(new_text) - held]

    def abandon(self, job: DecodeJob) -> None:
        """Release a planned job's window unchanged (the request failed before decoding)."""
        if job.key is not None:
            self.store.release(job.key, None)

    def _trimmed(self, window: StreamWindow) -> StreamWindow:
        """The last few tokens, starting on a character boundary, all of their text already sent."""
        candidates = [window.tokens[-size:] for size in range(WINDOW_TOKENS, WINDOW_TOKENS + 4)]
        for kept, kept_text in zip(candidates, self.decode_many(candidates), strict=True):
            if kept_text and not kept_text.startswith(REPLACEMENT):
                return StreamWindow(tokens=kept, sent_chars=len(kept_text))
        return window
