"""What a benchmark run is asked to do (built by the CLI or a script; validated once, here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tritongen import defaults
from tritongen.bench.prompts import BUILTIN_PROMPTS
from tritongen.errors import UsageError
from tritongen.http import base_url

DEFAULT_CONCURRENCY = defaults.BENCH_CONCURRENCY
CLIENT_KINDS = ("threads", "asyncio")
# Which endpoints each API has; the first is the default (`--endpoint` left out).
API_ENDPOINTS: dict[str, tuple[str, ...]] = {
    "triton": ("generate_stream", "generate"),
    "openai": ("chat", "completions"),
}


def parse_levels(text: str) -> tuple[int, ...]:
    """ "1,2,4" → (1, 2, 4); ValueError, saying why, unless every level is a whole number ≥ 1."""
    try:
        levels = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a comma-separated list of integers") from None
    if not levels or any(level < 1 for level in levels):
        raise ValueError(f"{text!r} needs one or more levels, each at least 1")
    return levels


def parse_concurrency(text: str) -> tuple[int, ...]:
    """`parse_levels` for callers outside the CLI (whose option type reports the flag itself)."""
    try:
        return parse_levels(text)
    except ValueError as error:
        raise UsageError(f"--concurrency {error}") from None


def default_requests(concurrency: int) -> int:
    """Enough requests that every worker sends several: max(32, 4 × concurrency)."""
    return max(32, 4 * concurrency)


@dataclass(frozen=True)
class BenchConfig:
    """One sweep: every level runs `requests` requests (default_requests) or for `duration_s` seconds."""

    url: str = defaults.SERVER_URL
    model: str | None = defaults.MODEL  # None with api "openai": the first model /v1/models lists
    endpoint: str = defaults.BENCH_ENDPOINT
    api: str = "triton"  # "triton": /v2/models/M/generate[_stream]; "openai": /v1/chat/completions, ...
    concurrency: tuple[int, ...] = DEFAULT_CONCURRENCY
    requests: int | None = None
    duration_s: float | None = None
    prompts: tuple[str, ...] = BUILTIN_PROMPTS
    prompts_source: str = "built-in"
    max_tokens: int = defaults.MAX_TOKENS
    min_tokens: int | None = None
    warmup_requests: int = defaults.BENCH_WARMUP_REQUESTS
    timeout_s: float = defaults.REQUEST_TIMEOUT_S
    tokenizer_dir: Path | None = None
    client: str = defaults.BENCH_CLIENT
    extra_fields: Mapping[str, Any] = field(default_factory=dict)
    show_progress: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", base_url(self.url))
        if self.requests is not None and self.duration_s is not None:
            raise UsageError("give --requests or --duration, not both")
        if self.requests is not None and self.requests < 1:
            raise UsageError("--requests must be at least 1")
        if self.duration_s is not None and self.duration_s <= 0:
            raise UsageError("--duration must be positive")
        if self.max_tokens < 1:
            raise UsageError("--max-tokens must be at least 1")
        if self.min_tokens is not None and not 0 <= self.min_tokens <= self.max_tokens:
            raise UsageError("--min-tokens must be between 0 and --max-tokens")
        if self.warmup_requests < 0 or self.timeout_s <= 0:
            raise UsageError("--warmup must be 0 or more and --timeout positive")
        self._check_api()
        if self.client not in CLIENT_KINDS:
            raise UsageError(f"--client must be one of {', '.join(CLIENT_KINDS)}")
        if not self.concurrency or any(level < 1 for level in self.concurrency):
            raise UsageError("--concurrency needs one or more levels, each at least 1")
        if not self.prompts:
            raise UsageError("no prompts to send")

    def _check_api(self) -> None:
        """The endpoint, model and output-length options must make sense for the API."""
        if self.api not in API_ENDPOINTS:
            raise UsageError(f"--api must be one of {', '.join(API_ENDPOINTS)}")
        if self.endpoint not in API_ENDPOINTS[self.api]:
            raise UsageError(
                f"--endpoint {self.endpoint} is not an endpoint of --api {self.api}",
                hint=f"Use one of {', '.join(API_ENDPOINTS[self.api])}.",
            )
        if self.model is None and self.api != "openai":
            raise UsageError("--model is required with --api triton")
        if self.api == "openai" and self.min_tokens:
            raise UsageError(
                "--min-tokens and --ignore-eos have no OpenAI API field",
                hint="Pass the server's own extension with --field, e.g. ignore_eos=true for vLLM.",
            )

    def requests_at(self, concurrency: int) -> int | None:
        """Requests for one level (None: the level runs for duration_s)."""
        if self.duration_s is not None:
            return None
        return self.requests if self.requests is not None else default_requests(concurrency)

    def to_dict(self) -> dict[str, Any]:
        """The configuration as the JSON report records it (prompts by count and source, not text)."""
        return {
            "url": self.url,
            "model": self.model,
            "endpoint": self.endpoint,
            "api": self.api,
            "concurrency": list(self.concurrency),
            "requests_per_level": self.requests,  # None: max(32, 4 x concurrency), or duration_s
            "duration_s": self.duration_s,
            "prompts": {"source": self.prompts_source, "count": len(self.prompts)},
            "max_tokens": self.max_tokens,
            "min_tokens": self.min_tokens,
            "warmup_requests": self.warmup_requests,
            "timeout_s": self.timeout_s,
            "tokenizer_dir": str(self.tokenizer_dir) if self.tokenizer_dir else None,
            "client": self.client,
            "extra_fields": dict(self.extra_fields),
        }
