"""The `llmapi` target: a Hugging Face checkpoint -> upstream's one-model LLM-API repository.

The repository is `tensorrt_llm/{config.pbtxt, 1/model.yaml, 1/model.py + runtime}` plus `tritongen.json`.
`1/model.yaml` is what upstream's model reads: every top-level key except `triton_config` goes to
`tensorrt_llm.LLM(**kwargs)` (the same dict `trtllm-serve --config` takes), so the LLM arguments are planned
here like the engine target's parameters: each with its value, source and reason, recorded in the manifest
for `tritongen explain`. Two upstream traps are closed by construction:

- `triton_config.decoupled` is applied only by `auto_complete_config`, which upstream's own launcher
  disables (`--disable-auto-complete-config`), so config.pbtxt always carries `model_transaction_policy`
  too, from the same setting;
- `triton_config.max_batch_size` must be 0 (batching happens inside the LLM): any other value is refused.

Overrides: `--set NAME=VALUE` (dotted for sections: `kv_cache_config.free_gpu_memory_fraction=0.5`,
`triton_config.decoupled=false`) and `--config FILE`, a trtllm-serve config YAML (optionally with a
`triton_config:` section). Known keys are type-checked; unknown ones are named with the closest match.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tritongen import __version__, defaults
from tritongen.engine.spec import EngineSpec
from tritongen.errors import OutputError, UsageError
from tritongen.render._write import FileStatus, check_output, existing_files, make_temporary, swap_into_place
from tritongen.render.catalogue_types import Source, Value
from tritongen.render.llmapi_contract import DEFAULT_VERSION, MODEL_NAME, Contract, contract_for
from tritongen.render.manifest import MANIFEST_NAME
from tritongen.render.pbtxt import refuse_marker_paths
from tritongen.runtime.layout import model_files
from tritongen.versions import Version

TARGETS = ("engine", "llmapi")
MODEL_YAML = "model.yaml"
DEFAULT_MAX_NUM_TOKENS = 8192  # TensorRT-LLM's LlmArgs default
DEFAULT_FREE_GPU_MEMORY_FRACTION = 0.9  # trtllm-serve's --kv_cache_free_gpu_memory_fraction default
DEFAULT_CANCELLATION_CHECK_MS = 100  # upstream model.py's default

# Every LLM argument tritongen type-checks, by dotted name: (type, one line). Sections not listed in
# `_OPAQUE_SECTIONS` are checked key by key; those listed pass through as the user wrote them.
LLM_ARGS: dict[str, tuple[type, str]] = {
    "model": (str, "Hugging Face checkpoint directory (or hub id) the LLM loads"),
    "tokenizer": (str, "tokenizer directory, when not the model's"),
    "backend": (str, "LLM backend: pytorch (the TensorRT engine backend was removed upstream)"),
    "tensor_parallel_size": (int, "tensor parallelism"),
    "pipeline_parallel_size": (int, "pipeline parallelism"),
    "context_parallel_size": (int, "context parallelism"),
    "moe_expert_parallel_size": (int, "MoE expert parallelism"),
    "moe_tensor_parallel_size": (int, "MoE tensor parallelism"),
    "gpus_per_node": (int, "GPUs per node"),
    "max_batch_size": (int, "the executor's in-flight batch size (not Triton's max_batch_size)"),
    "max_num_tokens": (int, "tokens per forward pass"),
    "max_seq_len": (int, "prompt + generated tokens per request"),
    "max_input_len": (int, "prompt tokens per request"),
    "max_beam_width": (int, "beam width"),
    "dtype": (str, "model dtype: auto, float16, bfloat16, float32"),
    "trust_remote_code": (bool, "run the checkpoint's own Python code"),
    "enable_chunked_prefill": (bool, "prefill long prompts in chunks"),
    "enable_attention_dp": (bool, "attention data parallelism"),
    "enable_iter_perf_stats": (bool, "iteration statistics"),
    "return_perf_metrics": (bool, "per-request perf metrics"),
    "kv_cache_config.free_gpu_memory_fraction": (float, "share of free GPU memory for the KV cache"),
    "kv_cache_config.enable_block_reuse": (bool, "KV-cache block reuse across requests"),
    "kv_cache_config.max_tokens": (int, "KV-cache size in tokens"),
    "triton_config.max_batch_size": (int, "Triton's batch dimension: must stay 0"),
    "triton_config.decoupled": (bool, "decoupled transaction policy: streaming works"),
    "triton_config.cancellation_check_period_ms": (int, "how often cancelled requests are looked for"),
    "triton_config.multimodal": (bool, "build multimodal prompts from image_url (TensorRT-LLM >= 1.3)"),
    # config.pbtxt, not model.yaml: several model instances on one machine (TensorRT-LLM PR #11153)
    "instance_count": (int, "instance_group count: LLM instances in one tritonserver, each on its GPUs"),
    "gpu_device_ids": (str, "GPUs of each instance, ';' between instances: \"0,1;2,3\""),
}
# Keys written into config.pbtxt rather than model.yaml.
PBTXT_KEYS = ("instance_count", "gpu_device_ids")
_OPAQUE_SECTIONS = (
    "quant_config", "calib_config", "build_config", "decoding_config", "peft_cache_config", "scheduler_config",
    "speculative_config", "lora_config", "moe_config", "cache_transceiver_config", "cuda_graph_config",
)  # fmt: skip
_SECTIONS = ("kv_cache_config", "triton_config")


@dataclass(frozen=True)
class LlmSetting:
    """One key of model.yaml (dotted for sections), with where its value came from and why."""

    name: str
    value: Any
    source: Source
    reason: str


@dataclass(frozen=True)
class LlmapiPlan:
    """Everything the llmapi target writes."""

    spec: EngineSpec
    version: Version
    version_reason: str
    contract: Contract
    settings: tuple[LlmSetting, ...]

    def value(self, name: str) -> Any:
        return next(s.value for s in self.settings if s.name == name)

    @property
    def decoupled(self) -> bool:
        return bool(self.value("triton_config.decoupled"))

    @property
    def world_size(self) -> int:
        """The LLM's ranks: tp x pp (x cp); the LLM spawns them itself."""
        size = 1
        for name in ("tensor_parallel_size", "pipeline_parallel_size", "context_parallel_size"):
            value = self._get(name)
            size *= value if isinstance(value, int) and value > 0 else 1
        return size

    def _get(self, name: str) -> Any:
        return next((s.value for s in self.settings if s.name == name), None)

    def model_yaml(self) -> dict[str, Any]:
        """model.yaml as a nested dict: LLM arguments first, `triton_config` last."""
        data: dict[str, Any] = {}
        for setting in self.settings:
            if setting.name in PBTXT_KEYS:
                continue
            head, _, tail = setting.name.partition(".")
            if tail:
                data.setdefault(head, {})[tail] = setting.value
            else:
                data[head] = setting.value
        data["triton_config"] = data.pop("triton_config")
        return data

    def trtllm_serve_config(self) -> dict[str, Any]:
        """The LLM part alone, as `trtllm-serve MODEL --config FILE` takes it (model/backend are flags there)."""
        return {k: v for k, v in self.model_yaml().items() if k not in ("triton_config", "model", "backend")}


# -- overrides ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LlmOverride:
    name: str  # dotted
    value: Any
    source: Source
    origin: str


def parse_llm_sets(texts: Iterable[str]) -> list[LlmOverride]:
    """`--set NAME=VALUE`: the value is read as a YAML scalar (8, 0.5, true, text)."""
    found = []
    for text in texts:
        name, sep, raw = text.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--set {text}: expected NAME=VALUE", hint="For example --set max_batch_size=8.")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        found.append(LlmOverride(name.strip(), value, Source.FLAG, f"--set {text}"))
    return found


def load_llm_config(path: Path) -> list[LlmOverride]:
    """A trtllm-serve `--config` YAML (plus an optional `triton_config:` section), flattened to dotted keys."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"--config {path} does not exist", hint="Give the path of a YAML file.") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise UsageError(f"--config {path} is not readable YAML: {error}".splitlines()[0]) from None
    if data is None:
        return []
    if not isinstance(data, dict):
        raise UsageError(f"--config {path} must be a mapping of LLM arguments, not {type(data).__name__}")
    found = []
    for key, value in data.items():
        key = str(key)
        if key in _SECTIONS and isinstance(value, dict):
            found += [LlmOverride(f"{key}.{sub}", val, Source.FILE, f"{path}: {key}.{sub}")
                      for sub, val in value.items()]  # fmt: skip
        else:
            found.append(LlmOverride(key, value, Source.FILE, f"{path}: {key}"))
    return found


def _check_override(override: LlmOverride) -> Any:
    """The override's value, type-checked against `LLM_ARGS`; a UsageError naming the closest key."""
    name, value = override.name, override.value
    if name in _OPAQUE_SECTIONS:
        if not isinstance(value, dict):
            raise UsageError(f"{override.origin}: {name} must be a mapping (a YAML section)")
        return value
    if name not in LLM_ARGS:
        close = difflib.get_close_matches(name, [*LLM_ARGS, *_OPAQUE_SECTIONS], n=2, cutoff=0.6)
        hint = f"Did you mean {' or '.join(close)}?" if close else "`tritongen explain REPO` lists the keys."
        raise UsageError(f"{override.origin}: unknown LLM argument '{name}'", hint=hint)
    expected, _ = LLM_ARGS[name]
    if name == "gpu_device_ids" and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # one instance on one GPU: YAML reads "0" as a number
    ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise UsageError(
            f"{override.origin}: {name} must be {expected.__name__}, got {value!r}",
            hint=f"{name}: {LLM_ARGS[name][1]}.",
        )
    if expected is int and value < 0:
        raise UsageError(f"{override.origin}: {name} must be >= 0, got {value}")
    return value


# -- the plan -----------------------------------------------------------------------------------------


def choose_version(requested: str | None) -> tuple[Version, str]:
    if requested:
        return Version.parse(requested), f"--backend-version {requested}"
    return DEFAULT_VERSION, (
        f"TensorRT-LLM {DEFAULT_VERSION}, what the newest Triton container (26.07) ships; --backend-version "
        "picks another"
    )


def build_llmapi_plan(
    spec: EngineSpec,
    *,
    backend_version: str | None = None,
    overrides: Iterable[LlmOverride] = (),
    streaming: bool = True,
    tp_given: bool = False,
    pp_given: bool = False,
    tokenizer: Path | None = None,
) -> LlmapiPlan:
    """Every model.yaml key with its source and reason (see the module docstring)."""
    if not spec.is_checkpoint:
        raise UsageError(
            f"--target llmapi serves a Hugging Face checkpoint, and {spec.path} is a TensorRT engine",
            hint="The LLM API (PyTorch backend) cannot load TensorRT engines; pass the checkpoint, or drop "
            "--target for the engine target.",
        )
    version, version_reason = choose_version(backend_version)
    contract = contract_for(version)
    engine, default, flag = Source.ENGINE, Source.DEFAULT, Source.FLAG
    rows: list[LlmSetting] = [
        LlmSetting("model", str(spec.path), Source.DERIVED, "the checkpoint directory (--engine)"),
        LlmSetting("backend", "pytorch", default,
                   "the only LLM backend left upstream (TensorRT-LLM #15918 removed backend: tensorrt)"),
        LlmSetting("tensor_parallel_size", spec.tp_size, flag if tp_given else default,
                   "--tp" if tp_given else "one rank unless --tp says otherwise"),
        LlmSetting("pipeline_parallel_size", spec.pp_size, flag if pp_given else default,
                   "--pp" if pp_given else "one stage unless --pp says otherwise"),
        LlmSetting("max_batch_size", spec.max_batch_size, engine,
                   f"tritongen's in-flight batch for a checkpoint ({spec.max_batch_size}); the LLM executor's "
                   "batch, unrelated to Triton's max_batch_size (which stays 0)"),
        LlmSetting("max_num_tokens", spec.max_num_tokens or DEFAULT_MAX_NUM_TOKENS,
                   engine if spec.max_num_tokens else default, "TensorRT-LLM's default tokens per forward pass"),
        LlmSetting("max_seq_len", spec.max_seq_len, engine,
                   f"the checkpoint's context ({spec.max_position_embeddings or 'unknown'}), capped at "
                   f"{spec.max_seq_len}"),
        LlmSetting("kv_cache_config.free_gpu_memory_fraction", DEFAULT_FREE_GPU_MEMORY_FRACTION, default,
                   "trtllm-serve's default, written out so it is easy to find and lower"),
        LlmSetting("instance_count", 1, default, "upstream's config.pbtxt: one LLM instance"),
        LlmSetting("triton_config.max_batch_size", 0, default,
                   "upstream: batching happens inside the LLM; Triton's batch dimension must stay 0"),
        LlmSetting("triton_config.decoupled", streaming, flag if not streaming else default,
                   "--no-streaming: whole responses only" if not streaming else
                   "tritongen default: streaming works (generate_stream with streaming: true); also written as "
                   "model_transaction_policy in config.pbtxt, which upstream's launcher would otherwise drop"),
        LlmSetting("triton_config.cancellation_check_period_ms", DEFAULT_CANCELLATION_CHECK_MS, default,
                   "upstream model.py's default"),
    ]  # fmt: skip
    if tokenizer is not None:
        rows.insert(1, LlmSetting("tokenizer", str(tokenizer.absolute()), flag, "--tokenizer"))
    settings = {row.name: row for row in rows}
    for override in sorted(overrides, key=lambda o: o.source.precedence):
        value = _check_override(override)
        settings[override.name] = LlmSetting(override.name, value, override.source, override.origin)
    _check_plan(settings, contract)
    return LlmapiPlan(spec, version, version_reason, contract, tuple(settings.values()))


def _check_plan(settings: dict[str, LlmSetting], contract: Contract) -> None:
    batch = settings["triton_config.max_batch_size"]
    if batch.value != 0:
        raise UsageError(
            f"{batch.reason}: triton_config.max_batch_size must be 0, not {batch.value}",
            hint="The LLM batches in flight itself; set the top-level max_batch_size for its batch size.",
        )
    backend = settings["backend"]
    if backend.value != "pytorch":
        raise UsageError(
            f"{backend.reason}: backend must be pytorch, not {backend.value}",
            hint="TensorRT-LLM removed the TensorRT engine backend (#15918); drop the backend key.",
        )
    _check_instances(settings)
    multimodal = settings.get("triton_config.multimodal")
    if multimodal is not None and multimodal.value and "image_url" not in contract.input_names:
        raise UsageError(
            f"{multimodal.reason}: triton_config.multimodal needs the image_url input of TensorRT-LLM >= 1.3",
            hint="Pass --backend-version 1.3 (only if the container's TensorRT-LLM is that new).",
        )


def _check_instances(settings: dict[str, LlmSetting]) -> None:
    """Upstream's multi-instance rule: one `gpu_device_ids` group per instance, each of tp x pp GPUs."""
    count = settings["instance_count"]
    if count.value < 1:
        raise UsageError(f"{count.reason}: instance_count must be at least 1, not {count.value}")
    ids = settings.get("gpu_device_ids")
    if ids is None:
        return
    groups = [group.split(",") for group in str(ids.value).split(";")]
    if len(groups) != count.value:
        raise UsageError(
            f"{ids.reason}: gpu_device_ids has {len(groups)} group(s) but instance_count is {count.value}",
            hint="Give one comma-separated GPU list per instance, ';' between them, e.g. 0,1;2,3.",
        )
    world = 1
    for name in ("tensor_parallel_size", "pipeline_parallel_size", "context_parallel_size"):
        value = settings[name].value if name in settings else 1
        world *= value if isinstance(value, int) and value > 0 else 1
    for group in groups:
        if not all(part.strip().isdigit() for part in group) or len(group) != world:
            raise UsageError(
                f"{ids.reason}: each gpu_device_ids group needs tp x pp = {world} GPU id(s), got {','.join(group)}",
                hint="Each instance runs the whole LLM on its own GPUs.",
            )


# -- files ------------------------------------------------------------------------------------------


def config_text(plan: LlmapiPlan) -> str:
    """tensorrt_llm/config.pbtxt from the Jinja template."""
    from tritongen.render.pbtxt import _environment

    contract = plan.contract
    return (
        _environment()
        .get_template("llmapi/tensorrt_llm/config.pbtxt.j2")
        .render(
            name=MODEL_NAME,
            decoupled="true" if plan.decoupled else "false",
            inputs=contract.inputs,
            outputs=contract.outputs,
            contract=contract.name,
            commit=contract.commit[:8],
            version=str(plan.version),
            instance_count=plan.value("instance_count"),
            gpu_device_ids=next((s.value for s in plan.settings if s.name == "gpu_device_ids"), None),
        )
    )


def model_yaml_text(plan: LlmapiPlan) -> str:
    header = (
        "# LLM arguments for tensorrt_llm.LLM (the same keys as `trtllm-serve --config`) plus triton_config.\n"
        "# Rendered by tritongen; `tritongen explain REPO` says where each value came from.\n"
        "# triton_config.decoupled is also written into config.pbtxt (model_transaction_policy): keep both\n"
        "# in step, or re-render with --set triton_config.decoupled=...\n"
    )
    return header + yaml.safe_dump(plan.model_yaml(), sort_keys=False, default_flow_style=False)


def trtllm_serve_config_text(plan: LlmapiPlan) -> str:
    header = (
        f"# trtllm-serve {plan.value('model')} --backend pytorch --config THIS_FILE\n"
        "# The LLM arguments of the llmapi repository tritongen rendered (its 1/model.yaml less triton_config).\n"
    )
    return header + yaml.safe_dump(plan.trtllm_serve_config(), sort_keys=False, default_flow_style=False)


def manifest_text(plan: LlmapiPlan) -> str:
    spec = plan.spec
    data: dict[str, Any] = {
        "schema": 1,
        "tritongen": __version__,
        "target": "llmapi",
        "backend_version": str(plan.version),
        "backend_version_reason": plan.version_reason,
        "generation": "llmapi",
        "runtime": "llmapi",
        "contract": {"name": plan.contract.name, "trtllm_commit": plan.contract.commit},
        "models": [MODEL_NAME],
        "engine": {
            "path": str(spec.path),
            "location": str(spec.path),
            "placement": "reference",
            "layout": spec.layout.value,
            "config_sha256": spec.config_sha256,
            "architecture": spec.architecture,
            "dtype": spec.dtype,
            "tp_size": plan.value("tensor_parallel_size"),
            "pp_size": plan.value("pipeline_parallel_size"),
            "world_size": plan.world_size,
            "processes": 1,
        },
        "warnings": list(spec.warnings),
        "parameters": {
            MODEL_NAME: {
                s.name: {
                    "key": s.name,
                    "value": _json_value(s.value),
                    "source": s.source.value,
                    "reason": s.reason,
                }
                for s in plan.settings
            }
        },
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _json_value(value: Any) -> Value:
    """Manifest values are scalars (explain prints them); a pass-through section is kept as compact JSON."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return value  # type: ignore[no-any-return]


def render_files(plan: LlmapiPlan) -> dict[str, bytes]:
    """Every file of the repository, by relative path."""
    files = {
        f"{MODEL_NAME}/config.pbtxt": config_text(plan).encode(),
        f"{MODEL_NAME}/1/{MODEL_YAML}": model_yaml_text(plan).encode(),
        MANIFEST_NAME: manifest_text(plan).encode(),
    }
    for rel, path in runtime_files().items():
        files[f"{MODEL_NAME}/{rel}"] = path.read_bytes()
    return dict(sorted(files.items()))


def runtime_files() -> dict[str, Path]:
    """tritongen's llmapi model code: `1/model.py` + the packages it imports (`tritongen.runtime.layout`)."""
    return model_files("llmapi")


@dataclass(frozen=True)
class LlmapiResult:
    output: Path
    plan: LlmapiPlan
    files: tuple[FileStatus, ...]
    dry_run: bool
    written: bool
    warnings: tuple[str, ...]


def render_llmapi(
    engine: Path,
    *,
    output: Path | None = None,
    backend_version: str | None = None,
    sets: Iterable[str] = (),
    config_file: Path | None = None,
    force: bool = False,
    dry_run: bool = False,
    tp_size: int | None = None,
    pp_size: int | None = None,
    streaming: bool = True,
    trtllm_serve_config: Path | None = None,
    tokenizer: Path | None = None,
) -> LlmapiResult:
    """Read the checkpoint, plan model.yaml, render, validate, and move the repository into place."""
    from tritongen.engine.reader import read_engine

    refuse_marker_paths(engine=engine, output=output, tokenizer=tokenizer)
    overrides = (load_llm_config(config_file) if config_file is not None else []) + parse_llm_sets(sets)
    spec = read_engine(engine, tp_size=tp_size, pp_size=pp_size)
    plan = build_llmapi_plan(
        spec,
        backend_version=backend_version,
        overrides=overrides,
        streaming=streaming,
        tp_given=tp_size is not None,
        pp_given=pp_size is not None,
        tokenizer=tokenizer,
    )
    target = Path(os.path.normpath((output or defaults.REPOS_DIR / f"{spec.path.name}-llmapi").absolute()))
    if target == spec.path or target in spec.path.parents:
        raise OutputError(f"{target} holds the checkpoint; rendering there would replace it",
                          hint="Choose an --output outside the checkpoint directory.")  # fmt: skip
    check_output(target, create_parent=False)
    files = render_files(plan)
    existing = existing_files(target)
    statuses = [
        FileStatus(rel, "create" if rel not in existing
                   else "identical" if existing[rel].read_bytes() == content else "overwrite")
        for rel, content in files.items()
    ] + [FileStatus(rel, "remove") for rel in existing if rel not in files]  # fmt: skip
    statuses.sort(key=lambda s: s.path)
    changed = any(s.status != "identical" for s in statuses)
    has_content = target.is_dir() and any(target.iterdir())
    result = LlmapiResult(target, plan, tuple(statuses), dry_run, False, tuple(spec.warnings))
    if dry_run:
        return result
    if has_content and not changed:
        _write_serve_config(plan, trtllm_serve_config)
        return result
    if has_content and not force:
        count = sum(1 for s in statuses if s.status != "identical")
        raise OutputError(f"{target} exists and {count} of its files would change; use --force to replace it",
                          hint="Or --dry-run to see which, or choose another --output.")  # fmt: skip
    temporary = make_temporary(target)
    try:
        for rel, content in files.items():
            path = temporary / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        warnings = _validate(temporary)
        swap_into_place(temporary, target)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    _write_serve_config(plan, trtllm_serve_config)
    return LlmapiResult(target, plan, tuple(statuses), False, True, (*spec.warnings, *warnings))


def _write_serve_config(plan: LlmapiPlan, path: Path | None) -> None:
    """`--emit-trtllm-serve-config`: written once the repository is in place (it describes that repository)."""
    if path is None:
        return
    try:
        path.write_text(trtllm_serve_config_text(plan), encoding="utf-8")
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}",
                          hint="Choose a writable --emit-trtllm-serve-config path.") from None  # fmt: skip


def _validate(root: Path) -> tuple[str, ...]:
    from tritongen.check.validate import check_repository
    from tritongen.errors import ValidationError

    report = check_repository(root, load_tokenizer=False)
    if report.errors:
        listing = "; ".join(str(finding) for finding in report.errors)
        raise ValidationError(f"the rendered repository has {len(report.errors)} error(s), so nothing was "
                              f"written: {listing}", hint="Fix the --set/--config values named above.")  # fmt: skip
    return tuple(str(finding) for finding in report.warnings)
