"""Counting output tokens, and saying how they were counted.

Preference order: the server's own count (`num_output_tokens`, `sequence_length`), then one token per
streamed chunk, then the tokenizer (`--tokenizer DIR`), and last whitespace-separated words, an estimate
that the JSON labels as such.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from tritongen.bench.client import RequestRecord

SERVER = "server:{field}"
CHUNKS = "streamed_chunks"
TOKENIZER = "tokenizer"
WORDS = "whitespace_words (estimate: pass --tokenizer)"


class _Encoder(Protocol):
    def encode(self, text: str, add_special_tokens: bool = ...) -> list[int]: ...


class TokenCounter:
    """Counts each request's output tokens with the best method its response allows."""

    def __init__(self, tokenizer_dir: Path | None = None) -> None:
        self._encoder: _Encoder | None = None
        if tokenizer_dir is not None:
            from tritongen.tokenizer import load_tokenizer

            self._encoder = load_tokenizer(tokenizer_dir)  # type: ignore[assignment]

    def count(self, record: RequestRecord) -> tuple[int, str]:
        """(tokens, method) for one successful request."""
        if record.server_tokens is not None and record.server_token_field:
            return record.server_tokens, SERVER.format(field=record.server_token_field)
        if record.streaming:
            return len(record.chunk_times_s), CHUNKS
        if self._encoder is not None:
            return len(self._encoder.encode(record.text, add_special_tokens=False)), TOKENIZER
        return len(record.text.split()), WORDS
