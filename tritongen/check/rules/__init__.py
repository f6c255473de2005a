"""The rules `check` runs, in order. Each is `rule(repo, out) -> None`: it reads the loaded repository
and writes findings, each with its consequence (`Findings.error`/`warn`); none depends on another's result,
so a rule is added by writing it (in a module of its own, e.g. `rules/llmapi.py`) and listing it here."""

from __future__ import annotations

from collections.abc import Callable

from tritongen.check._findings import Findings
from tritongen.check._load import LoadedRepo
from tritongen.check.rules.backend import (
    backend_name,
    bls_target,
    required_keys,
    scheduler_policy,
    unknown_keys,
)
from tritongen.check.rules.engine import trtllm_engine
from tritongen.check.rules.ensemble import batch_sizes, ensemble_wiring
from tritongen.check.rules.llmapi import llmapi_settings
from tritongen.check.rules.manifest import manifest_engine
from tritongen.check.rules.syntax import duplicate_tensors, syntax, unreadable
from tritongen.check.rules.tokenizer import tokenizer_settings
from tritongen.check.rules.torch import torch_checkpoint
from tritongen.check.rules.trtllm import trtllm_settings
from tritongen.check.rules.values import allowed_values

Rule = Callable[[LoadedRepo, Findings], None]

RULES: tuple[Rule, ...] = (
    unreadable,
    syntax,
    allowed_values,
    trtllm_settings,
    trtllm_engine,
    torch_checkpoint,
    llmapi_settings,
    tokenizer_settings,
    duplicate_tensors,
    ensemble_wiring,
    batch_sizes,
    backend_name,
    required_keys,
    bls_target,
    scheduler_policy,
    unknown_keys,
    manifest_engine,
)

__all__ = ["RULES", "Rule"]
