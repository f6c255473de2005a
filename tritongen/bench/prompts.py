"""The prompts a benchmark sends: a fixed built-in set, or one prompt per line of a file."""

from __future__ import annotations

from pathlib import Path

from tritongen.errors import UsageError

# Varied in length and topic, so tokenization and prefill cost are not one repeated best case.
# The order is fixed: request i sends prompt i % len(prompts), so runs are comparable.
BUILTIN_PROMPTS: tuple[str, ...] = (
    "What is the capital of France?",
    "Write a haiku about the ocean at night.",
    "Explain in simple terms how a transformer language model predicts the next word.",
    "List five fruits that are high in vitamin C.",
    "Translate to Spanish: The weather is lovely today and we are going to the beach.",
    "Summarize the plot of Romeo and Juliet in three sentences.",
    "def fibonacci(n):\n    # Complete this Python function so it returns the n-th Fibonacci number.",
    "Why is the sky blue? Give a short scientific explanation suitable for a curious ten-year-old.",
    "Once upon a time, in a village at the edge of a great forest, there lived a clockmaker who",
    "What are the main differences between TCP and UDP, and when would you choose each one?",
    "Give me a recipe for a quick vegetarian dinner using chickpeas, spinach and rice.",
    "The quick brown fox",
    "Describe the water cycle, naming each stage and what drives it, in a short paragraph.",
    "Write a polite email declining a meeting invitation because of a scheduling conflict.",
    "In one paragraph, argue for and against working from home.",
    "Count from one to twenty in words, separated by commas.",
)


def load_prompts(path: Path) -> tuple[str, ...]:
    """One prompt per non-empty line of `path` (a literal "\\n" inside a line stands for a newline)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read the prompts file {path}: {error}") from None
    prompts = tuple(line.replace("\\n", "\n") for line in lines if line.strip())
    if not prompts:
        raise UsageError(f"the prompts file {path} has no prompts", hint="Write one prompt per line.")
    return prompts
