"""Rules that hold values to what the assumed backend release does with them (see `check.versions`).

Each fact is cited with the file and tag it was read at in triton-inference-server/tensorrtllm_backend.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from tritongen.check._findings import Findings, clip
from tritongen.check._load import PLACEHOLDER, LoadedRepo, ModelFile, as_bool
from tritongen.check.versions import UNKNOWN, AssumedVersion, known_keys, role, upstream_code
from tritongen.render.catalogue import CATALOGUE
from tritongen.versions import v

# Keys the C++ backend reads although no template lists them (model_instance_state.cc v0.13.0+).
_READ_WITHOUT_TEMPLATE = frozenset({"recv_poll_period_ms"})


@dataclass(frozen=True)
class _Required:
    """A `parameters` key a release reads without a fallback: without it the model cannot load."""

    role: str
    key: str
    low: str
    high: str | None
    source: str  # where it was read


_REQUIRED: tuple[_Required, ...] = (
    # model_config['parameters'][...] in initialize: a KeyError, so the model does not load.
    _Required("preprocessing", "tokenizer_dir", "0.5", None, "preprocessing/1/model.py v0.5.0-v0.19.0"),
    _Required("postprocessing", "tokenizer_dir", "0.5", None, "postprocessing/1/model.py v0.5.0-v0.19.0"),
    _Required("preprocessing", "tokenizer_type", "0.5", "0.8", "preprocessing/1/model.py v0.5.0-v0.8.0"),
    _Required("postprocessing", "tokenizer_type", "0.5", "0.8", "postprocessing/1/model.py v0.5.0-v0.8.0"),
    _Required("preprocessing", "visual_model_path", "0.12", "0.18", "preprocessing/1/model.py v0.12.0"),
    _Required("preprocessing", "multimodal_model_path", "0.19", None, "preprocessing/1/model.py v0.19.0"),
    # model_instance_state.cc v0.19.0 getGuidedDecodingConfigFromParams: GetParameter throws for a
    # missing key (model_state.cc), outside any try, while the model instance is created.
    _Required("tensorrt_llm", "tokenizer_dir", "0.19", None, "model_instance_state.cc v0.19.0"),
    _Required(
        "tensorrt_llm", "xgrammar_tokenizer_info_path", "0.19", None, "model_instance_state.cc v0.19.0"
    ),
    _Required("tensorrt_llm", "guided_decoding_backend", "0.19", None, "model_instance_state.cc v0.19.0"),
)


def required_keys(repo: LoadedRepo, out: Findings) -> None:
    """A key the assumed release reads without a fallback is missing: the model cannot load. Judged only
    where every candidate release reads it, and for a Python model only when its shipped model.py (if
    any) is upstream's, i.e. mentions the key."""
    assumed = repo.version or UNKNOWN
    for model in repo.parsed:
        kind = role(model)
        for need in _REQUIRED:
            if need.role != kind or need.key in model.config.parameters:
                continue
            if not assumed.within(need.low, need.high) or not _reads(model, need.key):
                continue
            out.error(
                model,
                need.key,
                f"the parameter '{need.key}' is missing and backend v{assumed.label} reads it without a "
                f"default ({need.source})",
                line=None,
                fix=f'add parameters {{ key: "{need.key}" value: {{ string_value: "" }} }} (or its value)',
            )


def _reads(model: ModelFile, key: str) -> bool:
    """The C++ model always runs upstream's code; a Python model's shipped model.py must mention `key`."""
    if model.is_trtllm:
        return True
    code = model.path.parent / "1" / "model.py"
    try:
        return not code.is_file() or key in code.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return True


def backend_name(repo: LoadedRepo, out: Findings) -> None:
    """A TensorRT-LLM model (it has gpt_model_type / gpt_model_path) whose backend is neither the C++
    backend nor Python: Triton looks for a backend of that name, finds none, and the model does not load
    (`${triton_backend}` left unfilled is the syntax rule's finding)."""
    for model in repo.parsed:
        backend = model.config.backend
        if not backend or backend in ("tensorrtllm", "python") or "${" in backend:
            continue
        if model.parameter("gpt_model_type") is None and model.parameter("gpt_model_path") is None:
            continue
        out.error(
            model,
            "backend",
            f"backend '{clip(backend)}' is not a Triton backend: the C++ TensorRT-LLM backend is 'tensorrtllm'",
            effect="the model cannot load: Triton finds no backend of that name",
            fix='backend: "tensorrtllm"',
        )


def unknown_keys(repo: LoadedRepo, out: Findings) -> None:
    """A tensorrt_llm parameter no release reads (a typo, an invented key), or one the assumed release
    does not read (removed before it, or added after it): it has no effect."""
    assumed = repo.version or UNKNOWN
    every = known_keys("tensorrt_llm") | _READ_WITHOUT_TEMPLATE
    these = known_keys("tensorrt_llm", assumed.candidates) | _READ_WITHOUT_TEMPLATE
    for model in repo.parsed:
        if not model.is_trtllm:
            continue
        for key in model.config.parameters:
            if key not in every:
                hint = _closest(key, every)
                out.warn(
                    model,
                    key,
                    f"no backend release reads the parameter '{clip(key)}'",
                    consequence="no_effect",
                    effect="no effect: unknown key",
                    fix=hint,
                )
            elif assumed.known and key not in these:
                out.warn(
                    model,
                    key,
                    f"backend v{assumed.label} does not read '{clip(key)}' (other releases do)",
                    consequence="no_effect",
                    effect=f"no effect in v{assumed.label}",
                    fix="remove it, or use the template of the release you run",
                )


def _closest(key: str, every: frozenset[str]) -> str:
    """The real key a mistaken one most likely meant, by its spelling or by a template placeholder name
    (`batching_type` is close to `${batching_strategy}`, whose key is gpt_model_type)."""
    by_name = {p.name: p.parameter_key for p in CATALOGUE if p.model == "tensorrt_llm" and not p.header}
    by_name.update({k: k for k in every})
    close = difflib.get_close_matches(key, sorted(by_name), n=1, cutoff=0.5)
    if not close:
        return "remove it"
    real = by_name[close[0]]
    via = f" (the template's ${{{close[0]}}})" if real != close[0] else ""
    return f"the closest real key is {real}{via}"


def scheduler_policy(repo: LoadedRepo, out: Findings) -> None:
    """max_utilization in decoupled mode is replaced by guaranteed_no_evict in v0.5-v0.11: always before
    v0.8 (libtensorrtllm.cc v0.5.0, model_instance_state.cc v0.7.0), and unless enable_chunked_context is
    true from v0.8 (model_instance_state.cc v0.8.0-v0.11.0); v0.12.0 dropped the override."""
    assumed = repo.version or UNKNOWN
    for model in repo.parsed:
        if not model.is_trtllm or not model.decoupled:
            continue
        if (model.parameter("batch_scheduler_policy") or "").strip() != "max_utilization":
            continue
        chunked = as_bool(model.set_parameter("enable_chunked_context")) is True
        overridden = _overridden(assumed, chunked)
        if overridden is None:
            continue
        if overridden:
            before_chunking = assumed.within("0.5", "0.7")
            out.warn(
                model,
                "batch_scheduler_policy",
                f"backend v{assumed.label} replaces max_utilization with guaranteed_no_evict in decoupled mode"
                + ("" if before_chunking else " unless enable_chunked_context is true"),
                consequence="no_effect",
                effect="overridden: guaranteed_no_evict is used",
                fix="write guaranteed_no_evict"
                if before_chunking
                else "set enable_chunked_context=true (the engine needs paged context FMHA), or write "
                "guaranteed_no_evict",
            )
        else:
            out.warn(
                model,
                "batch_scheduler_policy",
                "v0.5-v0.11 replace max_utilization with guaranteed_no_evict in decoupled mode (v0.8-v0.11 "
                f"unless enable_chunked_context is true); this repository may be for v{assumed.label}",
                consequence="advice",
                effect="may be overridden, depending on the release",
            )


def _overridden(assumed: AssumedVersion, chunked: bool) -> bool | None:
    """True: every candidate overrides; False: some do; None: none does."""
    last = "0.7" if chunked else "0.11"
    if assumed.within("0.5", last):
        return True
    if assumed.outside("0.5", last):
        return None
    return False


def bls_target(repo: LoadedRepo, out: Findings) -> None:
    """The BLS calls its tensorrt_llm model as it is itself: a non-decoupled BLS sends every request with
    exec(decoupled=False) (tensorrt_llm_bls/1/model.py v0.7.0-v0.8.0, lib/triton_decoder.py v0.9.0+),
    which Triton rejects for a decoupled model. accumulate_tokens only acts while streaming, i.e. in a
    decoupled BLS (model.py v0.8.0, lib/decode.py v0.9.0+)."""
    assumed = repo.version or UNKNOWN
    for bls in repo.parsed:
        if role(bls) != "tensorrt_llm_bls" and bls.name != "tensorrt_llm_bls":
            continue
        literal = upstream_code(bls)  # tritongen's own BLS reads "" and `${...}` as tensorrt_llm
        name = _target_name(bls, assumed if literal else _DEFAULTING)
        target = repo.models.get(name) if name else None
        if literal and bls.parameter("tensorrt_llm_model_name") == "" and assumed.within("0.9", "0.12"):
            out.error(
                bls,
                "tensorrt_llm_model_name",
                "tensorrt_llm_model_name is empty and this release calls the model as written",
                consequence="requests_fail",
                effect="every BLS request fails: it calls a model named ''",
                fix="fill it (tensorrt_llm) or remove the parameter",
            )
        elif name and target is None:
            out.error(
                bls,
                "tensorrt_llm_model_name",
                f"the BLS calls '{clip(name)}', which is not a model of this repository",
                consequence="requests_fail",
                effect="every BLS request fails: the model it calls does not exist",
                fix="name the tensorrt_llm model of this repository",
            )
        elif (
            literal
            and target is not None
            and target.config is not None
            and target.decoupled
            and not bls.decoupled
        ):
            # tritongen's own BLS calls a decoupled LLM with exec(decoupled=True) whatever its own mode, so a
            # plain BLS in front of a decoupled tensorrt_llm serves ModelInfer while the ensemble streams.
            out.error(
                bls,
                "decoupled",
                f"the BLS is not decoupled but '{clip(name)}' is: the BLS calls it with "
                "exec(decoupled=False), which Triton rejects for a decoupled model",
                consequence="requests_fail",
                effect="every BLS request fails",
                fix="set decoupled: true in the BLS too (or false in both)",
            )
        elif target is not None and target.config is not None and bls.decoupled and not target.decoupled:
            out.warn(
                bls,
                "decoupled",
                f"the BLS is decoupled but '{clip(name)}' is not: streaming requests through the BLS fail "
                "('Streaming is only supported if model is deployed using decoupled mode')",
                fix="set decoupled: true in both, or false in both",
            )
        if as_bool(bls.set_parameter("accumulate_tokens")) and not bls.decoupled:
            out.warn(
                bls,
                "accumulate_tokens",
                "accumulate_tokens only acts while streaming, which needs a decoupled BLS",
                consequence="no_effect",
                effect="no effect: the BLS is not decoupled",
                fix="remove it, or make the BLS (and tensorrt_llm) decoupled",
            )


_DEFAULTING = AssumedVersion((v("0.13"),), "a BLS that maps an unset name to tensorrt_llm", known=True)


def _target_name(bls: ModelFile, assumed: AssumedVersion) -> str | None:
    """The model the BLS calls; None when it depends on the release or is a placeholder that the syntax
    rule reports (v0.9-v0.12 take it as written, v0.13+ map `${...}` and "" to tensorrt_llm)."""
    text = bls.parameter("tensorrt_llm_model_name")
    if text is None or (text == "" and assumed.outside("0.9", "0.12")):
        return "tensorrt_llm"
    if text == "" or PLACEHOLDER.search(text):
        return "tensorrt_llm" if assumed.outside("0.9", "0.12") else None
    return text
