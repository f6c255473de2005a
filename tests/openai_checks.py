"""What every target must do through the OpenAI route, asked with the real `openai` SDK.

Shared by the ensemble/BLS tests (test_openai.py) and the llmapi tests (test_openai_llmapi.py), so the
two targets are held to the same contract by the same code.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest

CHAT: dict[str, Any] = {
    "model": "smollm2",
    "temperature": 0,
    "max_tokens": 20,
    "messages": [{"role": "user", "content": "Name three colours."}],
}


def streamed_deltas_join_to_the_whole_answer(client: openai.OpenAI) -> tuple[Any, list[Any]]:
    """Greedy chat whole and streamed with usage: deltas (more than two) join to the whole text, one role
    chunk first, a finish reason only on the last choice chunk, then one usage chunk equal to the whole's."""
    whole = client.chat.completions.create(**CHAT)
    chunks = list(client.chat.completions.create(**CHAT, stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert len([p for p in pieces if p]) > 2  # streamed as deltas, not one piece at the end
    assert "".join(pieces) == whole.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == whole.choices[0].finish_reason and set(finishes[:-1]) == {None}
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage  # include_usage: a last usage chunk
    return whole, chunks


def bad_input_is_a_400_and_the_next_request_works(
    client: openai.OpenAI, change: dict[str, Any], message: str
) -> None:
    """The SDK raises BadRequestError with an OpenAI-shaped body, and the route still answers."""
    request: dict[str, Any] = {
        "model": "smollm2",
        "max_tokens": 4,
        "messages": [{"role": "user", "content": "Hi"}],
        **change,
    }
    with pytest.raises(openai.BadRequestError, match=message.replace("(", r"\(")) as caught:
        client.chat.completions.create(**request)
    error = caught.value.body
    assert isinstance(error, dict) and set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    ok = client.chat.completions.create(
        model="smollm2", max_tokens=2, messages=[{"role": "user", "content": "Hi"}]
    )
    assert ok.choices[0].message.content
