"""A streamed sequence's tokens -> the new text of each step, never splitting a character.

Plain Python (no Triton imports), so it is tested on its own. The BLS decodes through the
postprocessing model; `windows()` says which token sequences to decode, `advance()` turns the decoded
texts into the characters to send now.
"""

from __future__ import annotations

from dataclasses import dataclass, field

REPLACEMENT = "\ufffd"


def trailing_incomplete(text: str) -> int:
    """How many U+FFFD end the text: bytes of a character whose rest has not arrived yet."""
    return len(text) - len(text.rstrip(REPLACEMENT))


@dataclass
class TextStream:
    """One streamed sequence's tokens and what of its text was sent (see the module doc)."""

    accumulate: bool
    tokens: list[int] = field(default_factory=list)
    prefix: int = 0  # window mode: first token of the context window
    read: int = 0  # window mode: tokens whose text was sent
    sent_chars: int = 0  # accumulate mode: characters of the full text that were sent

    def windows(self) -> list[list[int]]:
        if self.accumulate:
            return [self.tokens]
        return [self.tokens[self.prefix : self.read], self.tokens[self.prefix :]]

    def advance(self, texts: list[str], final: bool) -> str:
        """The new characters, given the decoded `windows()`; holds back an incomplete character."""
        if self.accumulate:
            text = texts[0]
            end = len(text) if final else len(text) - trailing_incomplete(text)
            delta = text[self.sent_chars : end]
            self.sent_chars = max(self.sent_chars, end)
            return delta
        prefix_text, new_text = texts
        if len(new_text) > len(prefix_text) and (final or not new_text.endswith(REPLACEMENT)):
            self.prefix, self.read = self.read, len(self.tokens)
            return new_text[len(prefix_text) :]
        return ""
