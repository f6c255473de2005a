"""The repository's own tokenizer: chat messages → the prompt text the deployment is sent, and token counts.

The route renders the chat template itself (several turns, system prompts, a `--chat-template` override)
and asks the preprocessing model not to template again. The preprocessing model then tokenizes that text
with its `add_special_tokens` setting; the route counts prompt tokens the same way, so `usage` is what
the engine saw. A template that writes the BOS token itself would get a second one from
`add_special_tokens`, so its leading BOS text is dropped when the tokenizer adds one anyway: the ids are
then exactly those of `apply_chat_template(..., tokenize=True)`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tritongen.errors import TokenizerError
from tritongen.openai.protocol import ChatMessage, RouteError


class PromptBuilder:
    """Chat template and token counting with one Hugging Face tokenizer."""

    def __init__(
        self, tokenizer_dir: Path, chat_template: str | None = None, add_special_tokens: bool = True
    ) -> None:
        try:
            from transformers import AutoTokenizer
        except ImportError:
            raise TokenizerError(
                "the OpenAI route needs transformers to load the repository's tokenizer",
                hint="pip install 'tritongen[serve]' (or transformers) into this environment.",
            ) from None
        try:
            self.tokenizer: Any = AutoTokenizer.from_pretrained(str(tokenizer_dir))
        except Exception as error:  # noqa: BLE001 - transformers raises many kinds for a bad directory
            raise TokenizerError(
                f"cannot load the tokenizer in {tokenizer_dir}: {type(error).__name__}: {error}",
                hint="Pass --tokenizer DIR (a directory with tokenizer.json or tokenizer.model).",
            ) from None
        self.tokenizer_dir = tokenizer_dir
        self.chat_template = chat_template
        self.add_special_tokens = add_special_tokens
        if chat_template is None and not getattr(self.tokenizer, "chat_template", None):
            self.has_chat_template = False
        else:
            self.has_chat_template = True
        bos = getattr(self.tokenizer, "bos_token", None)
        adds_bos = bool(bos) and add_special_tokens and self._adds_bos()
        self._bos_to_strip: str | None = bos if adds_bos else None
        self._fast_count = self._backend_counter()

    def _backend_counter(self) -> Any:
        """The `tokenizers` encoder behind a fast tokenizer, if it counts exactly as the tokenizer's own
        call on probe texts (it skips transformers' per-call overhead: most of the route's counting CPU)."""
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if backend is None:
            return None
        probes = ["Hello world", " spaced  out ", "naïve café 東京 🙂", "line\nbreak\n\n", ""]
        if self.has_chat_template:
            with contextlib.suppress(Exception):
                probes.append(self.chat_prompt([ChatMessage(role="user", content="Hi there!")]))
        try:
            for text in probes:
                for special in (True, False):
                    expected = self.tokenizer(text, add_special_tokens=special)["input_ids"]
                    if len(backend.encode(text, add_special_tokens=special).ids) != len(expected):
                        return None
        except Exception:  # noqa: BLE001 - anything odd about the backend: keep the tokenizer's own call
            return None
        return backend

    def _adds_bos(self) -> bool:
        bos_id = getattr(self.tokenizer, "bos_token_id", None)
        ids = self.tokenizer("a", add_special_tokens=True)["input_ids"]
        return bos_id is not None and bool(ids) and ids[0] == bos_id

    def chat_prompt(self, messages: Sequence[ChatMessage]) -> str:
        """The templated prompt text, as the preprocessing model should tokenize it."""
        if not self.has_chat_template:
            raise RouteError(
                "this deployment's tokenizer has no chat template: use /v1/completions, or start the route "
                "with --chat-template FILE",
                param="messages",
            )
        conversation = []
        for index, message in enumerate(messages):
            entry: dict[str, Any] = {
                key: value
                for key, value in message.model_dump(exclude_none=True).items()
                if key not in ("content", "role")
            }
            entry["role"] = message.role
            entry["content"] = message.text(index)
            conversation.append(entry)
        try:
            text = self.tokenizer.apply_chat_template(
                conversation, tokenize=False, add_generation_prompt=True, chat_template=self.chat_template
            )
        except Exception as error:  # noqa: BLE001 - a template's own checks (raise_exception) can raise anything
            raise RouteError(
                f"the chat template rejected these messages: {error}", param="messages"
            ) from None
        text = str(text)
        if self._bos_to_strip and text.startswith(self._bos_to_strip):
            text = text[len(self._bos_to_strip) :]
        return text

    def count(self, text: str, special: bool | None = None) -> int:
        """Tokens in `text` as the preprocessing model tokenizes a prompt (special: add_special_tokens)."""
        add = self.add_special_tokens if special is None else special
        if self._fast_count is not None:
            return len(self._fast_count.encode(text, add_special_tokens=add).ids)
        return len(self.tokenizer(text, add_special_tokens=add)["input_ids"])
