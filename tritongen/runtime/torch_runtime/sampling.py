"""Choosing the next token of every request in a batch, each with its own sampling settings.

Rows that only need argmax share one batched argmax; rows with penalties, biases or sampling are
handled one by one (a step holds at most max_batch_size rows). Each sampling request owns a
`torch.Generator` seeded from its seed, so its tokens do not depend on what else is in the batch.

Rows are isolated: every operation reads and writes its own row only, and a row whose decoding fails
(whatever its inputs) is reported through `on_failure` and given its own argmax, so no value of one
request can change the tokens, seed or banned words of another (the request contract refuses the
inputs known to fail; this is the guard for the ones nobody thought of).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .contract import GenerationRequest, SamplingParams


@dataclass
class TokenChooser:
    """Per-request decoding state that travels with the request (picklable until its first step)."""

    sampling: SamplingParams
    end_id: int
    bad_sequences: tuple[tuple[int, ...], ...]
    embedding_bias: tuple[float, ...] | None
    wants_log_probs: bool
    seed: int
    _generator: torch.Generator | None = None
    _bias: torch.Tensor | None = None

    @classmethod
    def for_request(cls, request: GenerationRequest) -> TokenChooser:
        """A chooser for `request`; unseeded sampling gets a random seed now, so every rank draws the same."""
        seed = request.sampling.seed if request.sampling.seed is not None else random.getrandbits(63)
        return cls(
            sampling=request.sampling,
            end_id=request.end_id,
            bad_sequences=request.bad_sequences,
            embedding_bias=request.embedding_bias,
            wants_log_probs=request.return_log_probs,
            seed=seed,
        )

    def __getstate__(self) -> dict[str, object]:
        """Generators and cached tensors are rebuilt on the receiving rank."""
        state = dict(self.__dict__)
        state["_generator"] = None
        state["_bias"] = None
        return state

    def needs_adjusting(self, generated_count: int) -> bool:
        """True when the raw logits must be changed before choosing."""
        holding_end = generated_count < self.sampling.min_tokens and self.end_id >= 0
        return (
            holding_end
            or self.sampling.penalized
            or bool(self.bad_sequences)
            or self.embedding_bias is not None
        )

    def adjust(self, logits: torch.Tensor, prompt: Sequence[int], generated: Sequence[int]) -> torch.Tensor:
        """Apply bias, penalties, banned words and min_tokens to one row of logits (in place)."""
        if self.embedding_bias is not None:
            if self._bias is None:
                self._bias = torch.tensor(self.embedding_bias, dtype=logits.dtype, device=logits.device)
            logits += self._bias
        if self.sampling.penalized:
            _apply_penalties(logits, self.sampling, prompt, generated)
        for word in self.bad_sequences:
            if len(word) == 1 or tuple(generated[len(generated) - len(word) + 1 :]) == word[:-1]:
                logits[word[-1]] = -float("inf")
        if len(generated) < self.sampling.min_tokens and self.end_id >= 0:
            logits[self.end_id] = -float("inf")
        return logits

    def sample(self, logits: torch.Tensor) -> tuple[int, torch.Tensor]:
        """Draw one token from `logits` (one row); return it and the temperature-scaled logits.

        A temperature so small that the scaled logits overflow is the greedy limit: argmax, unscaled. Logits
        with nothing left to draw (NaN, all -inf) raise, and the caller fails this request alone."""
        scaled = logits / self.sampling.temperature
        if bool(torch.isposinf(scaled).any()):
            return int(logits.argmax().item()), logits
        filtered = _top_k_top_p(scaled.clone(), self.sampling.top_k, self.sampling.top_p)
        if self._generator is None:
            self._generator = torch.Generator(device=logits.device)
            self._generator.manual_seed(self.seed)
        probabilities = torch.softmax(filtered, dim=-1)
        token = int(torch.multinomial(probabilities, num_samples=1, generator=self._generator).item())
        return token, scaled


@dataclass(frozen=True)
class Row:
    """One logits row of the step and the request it belongs to."""

    chooser: TokenChooser
    prompt: Sequence[int]
    generated: Sequence[int]


RowFailure = Callable[[int, Exception], None]


def choose_next_tokens(
    scores: torch.Tensor, rows: Sequence[Row], on_failure: RowFailure | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Next token and its log-probability for every row of `scores` ([rows, vocab], float32).

    A row whose decoding raises gets the argmax of its own logits and is reported to `on_failure(index,
    error)` (without one, the error propagates); the other rows are decoded as if it were not there."""
    failed: set[int] = set()

    def fail(index: int, error: Exception) -> None:
        if on_failure is None:
            raise error
        failed.add(index)
        on_failure(index, error)

    for index, row in enumerate(rows):
        if row.chooser.needs_adjusting(len(row.generated)):
            try:
                row.chooser.adjust(scores[index], row.prompt, row.generated)
            except Exception as error:  # noqa: BLE001 - this row's request fails, the batch goes on
                fail(index, error)
    tokens = scores.argmax(dim=-1)
    log_probs = torch.zeros(len(rows), dtype=torch.float32, device=scores.device)
    greedy_with_log_probs: list[int] = []
    for index, row in enumerate(rows):
        if index in failed:
            continue
        if not row.chooser.sampling.greedy:
            try:
                _sample_row(index, row.chooser, scores, tokens, log_probs)
            except Exception as error:  # noqa: BLE001 - this row's request fails, the batch goes on
                fail(index, error)
        elif row.chooser.wants_log_probs:
            greedy_with_log_probs.append(index)
    if greedy_with_log_probs:
        chosen = torch.tensor(greedy_with_log_probs, device=scores.device)
        row_log_probs = torch.log_softmax(scores[chosen], dim=-1)
        log_probs[chosen] = row_log_probs.gather(1, tokens[chosen].unsqueeze(1)).squeeze(1)
    return tokens, log_probs


def _sample_row(
    index: int, chooser: TokenChooser, scores: torch.Tensor, tokens: torch.Tensor, log_probs: torch.Tensor
) -> None:
    """Draw row `index`'s token (and its log-probability when asked for) into `tokens` / `log_probs`."""
    token, scaled = chooser.sample(scores[index])
    tokens[index] = token
    if chooser.wants_log_probs:
        log_probs[index] = torch.log_softmax(scaled, dim=-1)[token]


def _apply_penalties(
    logits: torch.Tensor, sampling: SamplingParams, prompt: Sequence[int], generated: Sequence[int]
) -> None:
    """Repetition penalty over prompt and output (HF/TRT-LLM style); presence/frequency over the output only."""
    if sampling.repetition_penalty != 1.0:
        seen = torch.tensor(sorted({*prompt, *generated}), dtype=torch.long, device=logits.device)
        values = logits[seen]
        logits[seen] = torch.where(
            values > 0, values / sampling.repetition_penalty, values * sampling.repetition_penalty
        )
    if generated and (sampling.presence_penalty or sampling.frequency_penalty):
        ids, counts = torch.unique(
            torch.tensor(list(generated), dtype=torch.long, device=logits.device), return_counts=True
        )
        logits[ids] -= sampling.presence_penalty + sampling.frequency_penalty * counts.to(logits.dtype)


def _top_k_top_p(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """Mask everything outside the top-k tokens and the top-p nucleus (top_k 0 / top_p 0 or 1: no limit)."""
    if 0 < top_k < logits.shape[-1]:
        threshold = torch.topk(logits, top_k).values[-1]
        logits[logits < threshold] = -float("inf")
    if 0.0 < top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        probabilities = torch.softmax(sorted_logits, dim=-1)
        mass_before = torch.cumsum(probabilities, dim=-1) - probabilities
        logits[order[mass_before > top_p]] = -float("inf")
    return logits
