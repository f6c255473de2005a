"""What each backend release does with a value left as `${placeholder}`: its default, or a failure.

Read in triton-inference-server/tensorrtllm_backend at the tags named in each entry (the C++ backend in
`inflight_batcher_llm/src/`, the Python models in `all_models/inflight_batcher_llm/*/1/model.py`); the
catalogue's documented `backend_default` fills in the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from tritongen.check._findings import CONSEQUENCES, Consequence
from tritongen.check.versions import AssumedVersion
from tritongen.render.catalogue import CATALOGUE
from tritongen.versions import Version, v


@dataclass(frozen=True)
class Outcome:
    """What releases [low, high] do with an unfilled value."""

    low: str
    high: str | None
    consequence: Consequence
    effect: str

    def covers(self, version: Version) -> bool:
        return v(self.low) <= version and (self.high is None or version <= v(self.high))


# (model role, placeholder name) -> outcomes by release range.
UNFILLED: dict[tuple[str, str], tuple[Outcome, ...]] = {
    # tensorrt_llm_bls/1/model.py v0.9.0-v0.12.0 passes the text on as the model to call; v0.13.0 added
    # get_valid_param_value, which maps `${...}` and "" to "tensorrt_llm".
    ("tensorrt_llm_bls", "tensorrt_llm_model_name"): (
        Outcome(
            "0.9",
            "0.12",
            "requests_fail",
            "every BLS request fails: it calls a model literally named '${tensorrt_llm_model_name}'",
        ),
        Outcome("0.13", None, "default_used", "placeholder left, default 'tensorrt_llm' used"),
    ),
    ("tensorrt_llm_bls", "tensorrt_llm_draft_model_name"): (
        Outcome(
            "0.9",
            "0.12",
            "default_used",
            "placeholder left: requests with num_draft_tokens call a model named "
            "'${tensorrt_llm_draft_model_name}' and fail; others are unaffected",
        ),
        Outcome("0.13", None, "default_used", "placeholder left, default: no draft model"),
    ),
    # preprocessing/1/model.py v0.8.0-v0.10.0 reads anything but true/1/t/y/yes as false; v0.11.0 warns on
    # an unreadable value and uses True.
    ("preprocessing", "add_special_tokens"): (
        Outcome(
            "0.8",
            "0.10",
            "default_used",
            "placeholder left, default false used: the BOS token is not added to prompts",
        ),
        Outcome("0.11", None, "default_used", "placeholder left, default true used"),
    ),
    # model_instance_state.cc: enable_kv_cache_reuse defaults to false before v0.19.0, true from it.
    ("tensorrt_llm", "enable_kv_cache_reuse"): (
        Outcome("0.7", "0.18", "default_used", "placeholder left, default false used"),
        Outcome("0.19", None, "default_used", "placeholder left, default true used"),
    ),
    # v0.5.0 libtensorrtllm.cc: 0.85; v0.8.0 model_instance_state.cc: 0.9.
    ("tensorrt_llm", "kv_cache_free_gpu_mem_fraction"): (
        Outcome("0.5", "0.7", "default_used", "placeholder left, default 0.85 used"),
        Outcome("0.8", None, "default_used", "placeholder left, default 0.9 used"),
    ),
    # v0.10.0 model_instance_state.cc: enable_trt_overlap is read only to log that it is ignored.
    ("tensorrt_llm", "enable_trt_overlap"): (
        Outcome("0.5", "0.9", "default_used", "placeholder left, default false used"),
        Outcome("0.10", None, "no_effect", "no effect: this release ignores enable_trt_overlap"),
    ),
    ("tensorrt_llm", "batch_scheduler_policy"): (
        Outcome("0.5", None, "default_used", "placeholder left, default guaranteed_no_evict used"),
    ),
    # model_instance_state.cc v0.6.0-v0.19.0: exclude_input_in_output falls back to false.
    ("tensorrt_llm", "exclude_input_in_output"): (
        Outcome(
            "0.6", None, "default_used", "placeholder left, default false used: outputs repeat the prompt"
        ),
    ),
    # model_instance_state.cc: without max_tokens_in_paged_kv_cache, kv_cache_free_gpu_mem_fraction alone
    # sizes the KV cache.
    ("tensorrt_llm", "max_tokens_in_paged_kv_cache"): (
        Outcome(
            "0.5",
            None,
            "default_used",
            "placeholder left, no token cap: kv_cache_free_gpu_mem_fraction sizes the KV cache",
        ),
    ),
    ("tensorrt_llm", "max_beam_width"): (
        Outcome("0.5", None, "default_used", "placeholder left, default 1 used"),
    ),
    ("tensorrt_llm_bls", "accumulate_tokens"): (
        Outcome("0.7", None, "default_used", "placeholder left, default false used"),
    ),
}


def unfilled(
    role: str | None, name: str, assumed: AssumedVersion, *, upstream: bool = True
) -> tuple[Consequence, str]:
    """The consequence of `${name}` left in a string value of a `role` model, for the assumed releases.

    Where the candidates disagree and one of them fails, the finding is a warning that names the
    releases that fail: an error must hold for every release the repository may be for. A Python model
    that ships its own code (`upstream=False`, e.g. tritongen's) is not held to upstream's reading.
    """
    if not upstream and role != "tensorrt_llm":
        return "default_used", "placeholder left; the model's own model.py decides what it means"
    outcomes = UNFILLED.get((role or "", name))
    if outcomes is None:
        return "default_used", _documented_default(role, name, assumed)
    seen = [o for o in outcomes if assumed.any(o.covers)]
    if not seen:
        return "default_used", _documented_default(role, name, assumed)
    if len(seen) == 1:
        return seen[0].consequence, seen[0].effect
    failing = [o for o in seen if CONSEQUENCES[o.consequence][0] == "error"]
    parts = "; ".join(f"v{o.low}-{'v' + o.high if o.high else 'latest'}: {o.effect}" for o in seen)
    if failing:
        return "advice", f"depends on the release: {parts}"
    return seen[-1].consequence, f"depends on the release: {parts}"


def _documented_default(role: str | None, name: str, assumed: AssumedVersion) -> str:
    defaults = {
        p.backend_default
        for p in CATALOGUE
        if p.model == role and p.name == name and p.backend_default and assumed.any(p.exists_in)
    }
    if len(defaults) == 1:
        return f"placeholder left, default used: {defaults.pop()}"
    return "placeholder left, the backend's default is used"


@dataclass(frozen=True)
class FlagReader:
    """How releases [low, high] of an upstream Python model read a true/false parameter: the text,
    lower-cased but not stripped, is matched against word lists; anything else becomes `fallback`."""

    role: str
    key: str
    low: str
    high: str | None
    true_words: tuple[str, ...]
    false_words: tuple[str, ...]
    fallback: bool
    source: str

    def covers(self, version: Version) -> bool:
        return v(self.low) <= version and (self.high is None or version <= v(self.high))


_YES = ("true", "1", "t", "y", "yes")
_NO = ("false", "0", "f", "n", "no")
FLAG_READERS: tuple[FlagReader, ...] = (
    FlagReader(
        "preprocessing",
        "add_special_tokens",
        "0.8",
        "0.10",
        _YES,
        _NO,
        False,
        "preprocessing/1/model.py v0.8.0",
    ),
    FlagReader(
        "preprocessing",
        "add_special_tokens",
        "0.11",
        None,
        _YES,
        _NO,
        True,
        "preprocessing/1/model.py v0.11.0",
    ),
    FlagReader(
        "postprocessing",
        "skip_special_tokens",
        "0.11",
        None,
        _YES,
        _NO,
        True,
        "postprocessing/1/model.py v0.11.0",
    ),
    # Only these four words are true; false words are listed so that a plausible false is not "invalid".
    FlagReader(
        "tensorrt_llm_bls",
        "accumulate_tokens",
        "0.7",
        None,
        ("true", "yes", "1", "t"),
        _NO,
        False,
        "tensorrt_llm_bls/1/model.py v0.7.0",
    ),
)


def flag_reading(role: str | None, key: str, text: str, assumed: AssumedVersion) -> tuple[str | None, bool]:
    """For a flag upstream's model reads: the value used instead of `text` when the assumed releases do
    not recognise it ("true"/"false"; None when they do), and whether every candidate agrees on that."""
    readers = [r for r in FLAG_READERS if r.role == role and r.key == key and assumed.any(r.covers)]
    if not readers:
        return None, True
    word = text.lower()
    replaced = {r.fallback for r in readers if word not in r.true_words + r.false_words}
    if not replaced:
        return None, True
    covered = all(any(r.covers(version) for r in readers) for version in assumed.candidates)
    unanimous = (
        covered and len(replaced) == 1 and all(word not in r.true_words + r.false_words for r in readers)
    )
    return ("true" if True in replaced else "false"), unanimous
