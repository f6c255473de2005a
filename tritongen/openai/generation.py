"""One generation through the deployment: upstream events → text deltas, stop sequences, finish reason, usage.

OpenAI's `stop` strings are not part of the answer, while the ensemble and the BLS stop *after* the stop
word's tokens and return them. So the route holds back any tail of the text that could still become a
stop string, cuts the text where one appears (and stops reading, which cancels the rest upstream), and
never shows a stop string in a delta. Without a stop string nothing is held back and each event's text
goes out as it comes.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from tritongen.openai.prompts import PromptBuilder
from tritongen.openai.targets import Sampling, Target
from tritongen.openai.upstream import Upstream


class StopScanner:
    """Releases text that can no longer be the start of a stop string; reports the first full match."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = stops
        self.held = ""
        self.hit = False

    def push(self, piece: str) -> str:
        """The text that can be shown now; sets `hit` when a stop string appeared (the rest is dropped)."""
        if not self.stops:
            return piece
        text = self.held + piece
        cut = min((i for i in (text.find(stop) for stop in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self.hit = True
            self.held = ""
            return text[:cut]
        keep = 0
        for stop in self.stops:  # the longest tail of text that is a proper prefix of a stop string
            for length in range(min(len(stop) - 1, len(text)), keep, -1):
                if text.endswith(stop[:length]):
                    keep = length
                    break
        self.held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep]

    def flush(self) -> str:
        """What is still held when the model finished without completing a stop string."""
        held, self.held = self.held, ""
        return held


@dataclass
class Generation:
    """One request's run: iterate `deltas()`, then read `finish_reason` and the counts."""

    upstream: Upstream
    target: Target
    builder: PromptBuilder
    prompt: str
    prompt_tokens: int | None  # None: not counted yet (the model reports it, or it is counted at the end)
    sampling: Sampling
    text: list[str] = field(default_factory=list)
    finish_reason: str = "stop"
    completion_tokens: int = 0

    async def deltas(self) -> AsyncGenerator[str, None]:
        reader = self.target.reader(self.sampling.stop)
        scanner = StopScanner(self.sampling.stop)
        body = self.target.body(self.prompt, self.sampling, stream=True)
        events = self.upstream.generate_stream(self.target.model, body, self.target.abandon(body))
        async with aclosing(events):  # leaving early closes the upstream stream: Triton cancels it
            async for event in events:
                shown = scanner.push(reader.feed(event))
                if shown:
                    self.text.append(shown)
                    yield shown
                if scanner.hit:
                    break
        # What the reader held back (a cumulative stream's unsettled end) is scanned like the rest; after a
        # stop string nothing more is shown.
        tail = "" if scanner.hit else scanner.push(reader.finish())
        if not scanner.hit:
            tail += scanner.flush()
        if tail:
            self.text.append(tail)
            yield tail
        counted = reader.completion_tokens
        self.completion_tokens = (
            counted if counted is not None else self.builder.count("".join(self.text), False)
        )
        if reader.prompt_tokens is not None:
            self.prompt_tokens = reader.prompt_tokens
        elif self.prompt_tokens is None:
            self.prompt_tokens = self.builder.count(self.prompt)
        if not scanner.hit and self.completion_tokens >= self.sampling.max_tokens:
            self.finish_reason = "length"

    async def run(self) -> str:
        """The whole answer."""
        async for _ in self.deltas():
            pass
        return "".join(self.text)

    def usage(self) -> dict[str, Any]:
        prompt = self.prompt_tokens or 0  # counted once the generation ran
        return {
            "prompt_tokens": prompt,
            "completion_tokens": self.completion_tokens,
            "total_tokens": prompt + self.completion_tokens,
        }
