"""Which backend version a hand-made repository was written for, and what that version does with a value.

A repository does not say its version, but its `parameters` keys do: every template release added or
removed some (the catalogue records each key's `since`/`until`), so the versions whose key sets are
closest to the repository's are the candidates. The shipped `1/model.py` files narrow them further
where two releases read a value differently (`FINGERPRINTS`). The judgement then holds a rule only
where every candidate agrees, and says which versions it assumed.

The facts below were read in triton-inference-server/tensorrtllm_backend at the tag named next to each;
none of that code is copied here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from tritongen.check._load import ModelFile
from tritongen.render.catalogue import CATALOGUE
from tritongen.render.catalogue_types import MODELS
from tritongen.versions import Version, v

# Every template release the catalogue knows: v0.5-v0.19 in the backend repository, then the
# triton_backend/ templates of TensorRT-LLM (v0.20 to v1.2).
RELEASES: tuple[Version, ...] = (
    *(v(f"0.{minor}") for minor in range(5, 22)),
    *(v(f"1.{minor}") for minor in range(3)),
)
# Below this share of shared keys, a repository is hand-written rather than a filled template.
_TEMPLATE_LIKE = 0.5


@dataclass(frozen=True)
class Fingerprint:
    """A line only some releases' `model.py` has: seeing it (or not) bounds the version."""

    model: str  # the model directory whose 1/model.py is read
    text: str  # a distinctive fragment of one line
    versions: tuple[Version, Version]  # the releases (inclusive) whose model.py has it
    tag: str  # where it was read


FINGERPRINTS: tuple[Fingerprint, ...] = (
    # v0.13.0 tensorrt_llm_bls/1/model.py: a `${`-prefixed or empty parameter means "use the default".
    Fingerprint("tensorrt_llm_bls", "get_valid_param_value", (v("0.13"), v("0.19")), "v0.13.0"),
    # v0.9.0-v0.12.0 tensorrt_llm_bls/1/model.py: the model name is taken from the parameter as written.
    Fingerprint("tensorrt_llm_bls", 'params["tensorrt_llm_model_name"]', (v("0.9"), v("0.12")), "v0.9.0"),
    # v0.11.0 preprocessing/1/model.py: an unreadable add_special_tokens warns and becomes True.
    Fingerprint("preprocessing", "Set it as True by default", (v("0.11"), v("0.19")), "v0.11.0"),
    # v0.8.0-v0.10.0 preprocessing/1/model.py: add_special_tokens read with "false" as the fallback.
    Fingerprint(
        "preprocessing", "{'string_value': \"false\"})['string_value']", (v("0.8"), v("0.10")), "v0.8.0"
    ),
)


@dataclass(frozen=True)
class AssumedVersion:
    """The releases a repository may have been written for (contiguous, oldest first) and why."""

    candidates: tuple[Version, ...]
    basis: str  # one line: how they were found
    known: bool  # False: hand-written, judged only by what every release does

    @property
    def label(self) -> str:
        first, last = self.candidates[0], self.candidates[-1]
        return _short(first) if first == last else f"{_short(first)}-{_short(last)}"

    def all(self, predicate: Callable[[Version], bool]) -> bool:
        """The rule holds for every candidate release."""
        return all(predicate(version) for version in self.candidates)

    def any(self, predicate: Callable[[Version], bool]) -> bool:
        return any(predicate(version) for version in self.candidates)

    def within(self, low: str, high: str | None = None) -> bool:
        """Every candidate is in [low, high] (releases, inclusive)."""
        return self.all(lambda version: v(low) <= version and (high is None or version <= v(high)))

    def outside(self, low: str, high: str | None = None) -> bool:
        """No candidate is in [low, high]."""
        return not self.any(lambda version: v(low) <= version and (high is None or version <= v(high)))

    def describe(self) -> str:
        return f"backend v{self.label} ({self.basis})" if self.known else f"no backend version ({self.basis})"


UNKNOWN = AssumedVersion(RELEASES, "no template keys to compare", known=False)


def _short(version: Version) -> str:
    return f"{version.major}.{version.minor}"


def role(model: ModelFile) -> str | None:
    """The upstream model `model` plays: the C++ backend model, the BLS, or a model named like one."""
    if model.is_trtllm:
        return "tensorrt_llm"
    if (
        model.config is not None
        and model.config.backend == "python"
        and model.parameter("tensorrt_llm_model_name")
    ):
        return "tensorrt_llm_bls"
    if model.name in MODELS and model.name != "tensorrt_llm":
        return model.name
    return None


def template_keys(model: str, version: Version) -> frozenset[str]:
    """The `parameters` keys of `model`'s upstream template at `version` (C++ backend)."""
    return frozenset(
        p.parameter_key
        for p in CATALOGUE
        if p.model == model and not p.header and p.exists_in(version) and p.serves("trtllm")
    )


def known_keys(model: str, versions: Iterable[Version] = RELEASES) -> frozenset[str]:
    """Every key any of `versions` has in `model`'s template."""
    keys: set[str] = set()
    for version in versions:
        keys |= template_keys(model, version)
    return frozenset(keys)


def detect(models: Iterable[ModelFile], root: Path) -> AssumedVersion:
    """The releases whose template keys are closest to the repository's, narrowed by its model.py files."""
    present: dict[str, frozenset[str]] = {}
    for model in models:
        kind = role(model)
        if kind is not None and kind not in present and model.config is not None:
            present[kind] = frozenset(model.config.parameters.keys())
    if not any(present.values()):
        return UNKNOWN
    scores: dict[Version, float] = {}
    for version in RELEASES:
        shared = union = 0
        for kind, keys in present.items():
            expected = template_keys(kind, version)
            if kind == "tensorrt_llm_bls" and not expected:
                expected = frozenset({"<no BLS before v0.7>"})
            shared += len(keys & expected)
            union += len(keys | expected)
        scores[version] = shared / union if union else 0.0
    best = max(scores.values())
    candidates = tuple(version for version in RELEASES if scores[version] == best)
    basis = f"template keys match {best:.0%}"
    known = best >= _TEMPLATE_LIKE
    if not known:
        candidates, basis = RELEASES, f"hand-written: at most {best:.0%} of a template's keys"
    narrowed, seen = _fingerprint(root, candidates)
    if seen:
        basis += "; " + ", ".join(seen)
        if narrowed:
            candidates, known = narrowed, True
    return AssumedVersion(_contiguous(candidates), basis, known)


def _fingerprint(root: Path, candidates: tuple[Version, ...]) -> tuple[tuple[Version, ...], list[str]]:
    """Candidates kept by the shipped model.py files, and which files said so."""
    seen: list[str] = []
    kept = candidates
    texts: dict[str, str | None] = {}
    for print_ in FINGERPRINTS:
        if print_.model not in texts:
            texts[print_.model] = _read(root / print_.model / "1" / "model.py")
        text = texts[print_.model]
        if text is None or print_.text not in text:
            continue
        low, high = print_.versions
        narrowed = tuple(version for version in kept if low <= version <= high)
        if not narrowed:  # the key sets said otherwise: the code wins, it is what runs
            narrowed = tuple(version for version in RELEASES if low <= version <= high)
        kept = narrowed
        seen.append(f"{print_.model}/1/model.py is the v{_short(low)}-v{_short(high)} code")
    return kept, seen


def upstream_code(model: ModelFile) -> bool:
    """True when the model runs upstream's code for its release: the C++ backend, a Python model that
    ships no model.py here (it is elsewhere, presumably upstream's), or one whose model.py carries an
    upstream fingerprint. tritongen's own models and custom code decide for themselves."""
    if model.is_trtllm:
        return True
    text = _read(model.path.parent / "1" / "model.py")
    if text is None:
        return True
    kind = role(model)
    return any(print_.text in text for print_ in FINGERPRINTS if print_.model == kind)


def _contiguous(candidates: tuple[Version, ...]) -> tuple[Version, ...]:
    """The releases from the oldest to the newest candidate (ties between far-apart releases span them)."""
    return tuple(version for version in RELEASES if candidates[0] <= version <= candidates[-1])


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None
    except OSError:
        return None
