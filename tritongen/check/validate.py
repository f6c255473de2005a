"""Validation of a model repository: Triton's ModelConfig protobuf, ensemble wiring, engine lints.

Used by `render` (on the temporary directory, before the atomic rename) and by `tritongen check`
on any repository, hand-made ones included. Errors are what stops the server from loading or
serving correctly; warnings are what works but is probably not what the user meant.
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from tritongen.errors import EngineError, TokenizerError, ValidationError

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
BATCHING_STRATEGIES = ("V1", "v1", "inflight_batching", "inflight_fused_batching")
SCHEDULER_POLICIES = ("max_utilization", "guaranteed_no_evict", "static_batch")
TOKENIZER_TYPES = ("t5", "auto", "llama")
MANIFEST = "tritongen.json"


@dataclass(frozen=True)
class Finding:
    """One problem: where it is and what it is."""

    severity: str  # "error" or "warning"
    file: str  # path relative to the repository root, e.g. "tensorrt_llm/config.pbtxt"
    line: int | None  # 1-based line in that file, when known
    param: str | None  # the parameter / field / tensor concerned
    message: str  # one line: what is wrong and how to fix it

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        what = f" [{self.param}]" if self.param else ""
        return f"{where}:{what} {self.message}"


@dataclass
class Report:
    """The result of checking a repository."""

    root: Path
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]


@dataclass
class ModelFile:
    """One model directory's config: raw text, parsed message (None when unparsable), location."""

    name: str
    path: Path
    text: str
    config: Any  # model_config_pb2.ModelConfig | None

    @property
    def rel(self) -> str:
        return f"{self.name}/config.pbtxt"

    def line_of(self, needle: str) -> int | None:
        """First line that mentions `needle` (a parameter key, a tensor name)."""
        quoted, field_name = f'"{needle}"', re.compile(rf"^\s*{re.escape(needle)}\s*:")
        lines = self.text.splitlines()
        for number, line in enumerate(lines, start=1):
            if quoted in line:
                return number
        for number, line in enumerate(lines, start=1):
            if field_name.match(line):
                return number
        return None

    def parameter(self, key: str) -> str | None:
        """A `parameters` string value, or None when the key is absent."""
        if self.config is None or key not in self.config.parameters:
            return None
        return str(self.config.parameters[key].string_value)

    @property
    def is_trtllm(self) -> bool:
        """The C++ TensorRT-LLM backend model."""
        return self.config is not None and self.config.backend == "tensorrtllm"

    @property
    def is_torch_runtime(self) -> bool:
        """tritongen's torch runtime: a Python model that serves a checkpoint at gpt_model_path."""
        return self.config is not None and self.config.backend == "python" and self.parameter(
            "gpt_model_path"
        ) is not None and self.parameter("torch_dtype") is not None


_PB2: ModuleType | None = None


def model_config_pb2() -> ModuleType:
    """Triton's generated ModelConfig module, loaded from tritonclient without importing grpc (fast)."""
    global _PB2
    if _PB2 is None:
        spec = importlib.util.find_spec("tritonclient")
        if spec is None or not spec.submodule_search_locations:
            raise ValidationError(
                "tritonclient is not installed, so config.pbtxt files cannot be parsed",
                hint="pip install 'tritonclient[all]'.",
            )
        path = Path(next(iter(spec.submodule_search_locations))) / "grpc" / "model_config_pb2.py"
        module_spec = importlib.util.spec_from_file_location("tritongen_model_config_pb2", path)
        if module_spec is None or module_spec.loader is None:
            raise ValidationError(f"cannot load {path}", hint="Reinstall tritonclient[all].")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        _PB2 = module
    return _PB2


def parse_model_config(text: str) -> Any:
    """Parse config.pbtxt text into a ModelConfig; raises google.protobuf ParseError."""
    from google.protobuf import text_format

    message = model_config_pb2().ModelConfig()
    text_format.Parse(text, message)
    return message


class _Checker:
    """Accumulates findings for one repository."""

    def __init__(self, root: Path, engine_dir: Path | None, load_tokenizer: bool) -> None:
        self.root = root
        self.engine_dir = engine_dir
        self.load_tokenizer = load_tokenizer
        self.report = Report(root)
        self.models: dict[str, ModelFile] = {}

    def add(self, severity: str, model: ModelFile | str, param: str | None, message: str,
            line: int | None = None) -> None:
        rel = model.rel if isinstance(model, ModelFile) else model
        if line is None and isinstance(model, ModelFile) and param:
            line = model.line_of(param)
        self.report.findings.append(Finding(severity, rel, line, param, message))

    def error(self, model: ModelFile | str, param: str | None, message: str, line: int | None = None) -> None:
        self.add("error", model, param, message, line)

    def warn(self, model: ModelFile | str, param: str | None, message: str, line: int | None = None) -> None:
        self.add("warning", model, param, message, line)

    # -- loading -------------------------------------------------------------------------------

    def load(self) -> None:
        from google.protobuf.text_format import ParseError

        for config_path in sorted(self.root.glob("*/config.pbtxt")):
            name = config_path.parent.name
            try:
                text = config_path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                self.error(f"{name}/config.pbtxt", None, f"cannot read the file: {error}")
                continue
            model = ModelFile(name, config_path, text, None)
            self.models[name] = model
            header_placeholders = self._scan_text(model)
            try:
                model.config = parse_model_config(text)
            except (ParseError, ValueError, UnicodeError) as error:
                if not header_placeholders:
                    line, message = _parse_error_location(str(error))
                    self.error(model, None, f"not a valid Triton ModelConfig: {message}", line)
                continue
            if model.config.name and model.config.name != name:
                self.error(model, "name", f"the config names the model '{model.config.name}' but its directory "
                           f"is '{name}'; Triton refuses the mismatch: make them equal")
            if not (config_path.parent / "1").is_dir() and not any(
                p.is_dir() and p.name.isdigit() for p in config_path.parent.iterdir()
            ):
                self.warn(model, None, f"no version directory ({name}/1/): Triton will find no version to load "
                          "(add the directory with its model files)")

    def _scan_text(self, model: ModelFile) -> int:
        """Leftover `${...}` and Jinja markers; returns how many sit where Triton's parser chokes."""
        fatal = 0
        for number, line in enumerate(model.text.splitlines(), start=1):
            code = line.split("#", 1)[0] if not line.lstrip().startswith("#") else ""
            if "{{" in code or "{%" in code:
                self.error(model, None, "an unrendered Jinja marker ('{{' or '{%') is left in the file", number)
            for match in PLACEHOLDER.finditer(code):
                name = match.group(1)
                if code[: match.start()].count('"') % 2 == 0:
                    fatal += 1
                    self.error(model, name, f"placeholder ${{{name}}} was never filled and sits where Triton "
                               f"expects a value: the model cannot load; fill it", number)
                else:
                    self._unfilled_parameter(model, name, code, number)
        return fatal

    def _unfilled_parameter(self, model: ModelFile, name: str, line: str, number: int) -> None:
        """A `${name}` inside a string value: fatal for a few keys, a silent default for the rest."""
        fatal = {
            "engine_dir": "the engine path is required: the tensorrt_llm model cannot load",
            "batching_strategy": "gpt_model_type must be inflight_fused_batching (or V1): the model cannot load",
            "tokenizer_dir": "the Python models need a tokenizer directory: they cannot load",
            "tokenizer_type": "must be t5, auto or llama: the model raises during initialize",
        }
        # tokenizer_dir is optional in tensorrt_llm (guided decoding only); engine_dir in preprocessing
        # only matters for multimodal models.
        in_trtllm = model.is_trtllm or "gpt_model_type" in model.text
        optional_here = (name == "tokenizer_dir" and in_trtllm) or (name == "engine_dir" and not in_trtllm)
        if name in fatal and not optional_here:
            self.error(model, name, f"placeholder ${{{name}}} was never filled; {fatal[name]}", number)
        else:
            self.warn(model, name, f"placeholder ${{{name}}} was never filled; the backend silently uses "
                      f"its default (set it, or render with tritongen to make every value explicit)", number)
        del line

    # -- per-model checks --------------------------------------------------------------------

    def check_models(self) -> None:
        for model in self.models.values():
            if model.config is None:
                continue
            if model.is_trtllm:
                self._check_trtllm(model)
            elif model.is_torch_runtime:
                self._check_torch_runtime(model)
            if model.config.backend == "python":
                self._check_tokenizer_param(model)
            self._check_duplicates(model)

    def _check_duplicates(self, model: ModelFile) -> None:
        for kind, tensors in (("input", model.config.input), ("output", model.config.output)):
            seen: set[str] = set()
            for tensor in tensors:
                if tensor.name in seen:
                    self.warn(model, tensor.name, f"{kind} '{tensor.name}' is declared twice (Triton "
                              "tolerates it, but remove the duplicate)")
                seen.add(tensor.name)

    def _decoupled(self, model: ModelFile) -> bool:
        return bool(model.config.model_transaction_policy.decoupled)

    def _check_trtllm(self, model: ModelFile) -> None:
        strategy = model.parameter("gpt_model_type")
        if strategy is not None and not PLACEHOLDER.search(strategy) and strategy not in BATCHING_STRATEGIES:
            self.error(model, "gpt_model_type", f"'{strategy}' is not a batching strategy the backend accepts "
                       f"({', '.join(BATCHING_STRATEGIES)}): it throws 'Invalid gpt_model_type'")
        policy = model.parameter("batch_scheduler_policy")
        if policy and not PLACEHOLDER.search(policy) and policy not in SCHEDULER_POLICIES:
            self.error(model, "batch_scheduler_policy", f"'{policy}' is not a scheduler policy "
                       f"({', '.join(SCHEDULER_POLICIES[:2])})")
        fraction = _float(model.parameter("kv_cache_free_gpu_mem_fraction"))
        if fraction is not None and not 0.0 < fraction <= 1.0:
            self.error(model, "kv_cache_free_gpu_mem_fraction", f"{fraction} is outside (0, 1]: it is the share "
                       "of free GPU memory given to the KV cache")
        if not self._decoupled(model):
            self.warn(model, "decoupled", "decoupled is false: streaming (generate_stream, stream=true) fails "
                      "with 'Streaming is only supported if model is deployed using decoupled mode'; set "
                      "decoupled_mode=true unless you never stream")
        beam = _int(model.parameter("max_beam_width"))
        decoding = model.parameter("decoding_mode") or ""
        if decoding == "beam_search" and beam == 1:
            self.warn(model, "decoding_mode", "decoding_mode is beam_search but max_beam_width is 1")
        if decoding in ("medusa", "eagle"):
            choices = model.parameter(f"{decoding}_choices") or ""
            if not choices or PLACEHOLDER.search(choices):
                self.warn(model, f"{decoding}_choices", f"decoding_mode is {decoding} but {decoding}_choices "
                          "is unset: the backend falls back to its default tree")
        path_text = model.parameter("gpt_model_path")
        if path_text is None or not path_text or PLACEHOLDER.search(path_text):
            if path_text is not None and not PLACEHOLDER.search(path_text) and not model.parameter(
                "encoder_model_path"
            ):
                self.error(model, "gpt_model_path", "the engine path is empty: the model cannot load")
            return
        engine_path = self.engine_dir or Path(path_text)
        if not engine_path.is_absolute():
            self.warn(model, "gpt_model_path", f"'{path_text}' is relative: tritonserver resolves it against its "
                      "working directory, not the repository; use an absolute path")
            engine_path = self.root / engine_path
        if not engine_path.exists():
            self.warn(model, "gpt_model_path", f"engine directory {path_text} does not exist on this machine "
                      "(fine only if it exists where tritonserver runs, e.g. inside the container)")
            return
        spec = self._read_engine(model, engine_path, None)
        if spec is not None:
            self._lint_engine(model, spec)

    def _check_torch_runtime(self, model: ModelFile) -> None:
        path_text = model.parameter("gpt_model_path") or ""
        checkpoint = self.engine_dir or Path(path_text)
        if not path_text or not checkpoint.exists():
            self.error(model, "gpt_model_path", f"checkpoint directory '{path_text}' does not exist: the torch "
                       "runtime cannot load; re-render with --engine pointing at it")
            return
        tp = _int(model.parameter("tp_size")) or 1
        spec = self._read_engine(model, checkpoint, tp)
        if spec is not None:
            self._lint_batch(model, spec)

    def _read_engine(self, model: ModelFile, path: Path, tp: int | None) -> Any:
        try:
            from tritongen.engine.reader import read_engine

            return read_engine(path, tp_size=tp)
        except EngineError as error:
            self.error(model, "gpt_model_path", error.one_line())
            return None

    def _lint_engine(self, model: ModelFile, spec: Any) -> None:
        """Engine-vs-config lints: values fixed at build time must not be asked for at run time."""
        self._lint_batch(model, spec)
        beam = _int(model.parameter("max_beam_width"))
        if beam is not None and beam > spec.max_beam_width:
            self.error(model, "max_beam_width", f"max_beam_width {beam} exceeds the engine's "
                       f"{spec.max_beam_width} (fixed at build time): lower it or rebuild the engine")
        if spec.num_heads % spec.tp_size:
            self.error(model, "gpt_model_path", f"the engine's {spec.num_heads} attention heads do not divide by "
                       f"tp={spec.tp_size}")
        reuse = model.parameter("enable_kv_cache_reuse")
        reuse_on = _bool(reuse)
        if reuse_on is None and reuse is not None and _template_version_at_least_019(model):
            reuse_on = True  # unset means true from v0.19 on
        if reuse_on and not spec.paged_context_fmha:
            self.error(model, "enable_kv_cache_reuse", "KV-cache reuse needs an engine built with paged context "
                       "FMHA (use_paged_context_fmha): the backend asserts at load; set "
                       "enable_kv_cache_reuse=false or rebuild with --use_paged_context_fmha enable")
        if _bool(model.parameter("enable_chunked_context")) and not spec.paged_context_fmha:
            self.error(model, "enable_chunked_context", "chunked context needs an engine built with paged "
                       "context FMHA (use_paged_context_fmha)")
        strategy = model.parameter("gpt_model_type") or ""
        if strategy.startswith("inflight") and not spec.inflight_batching_capable:
            self.error(model, "gpt_model_type", "in-flight batching needs an engine built with the GPT attention "
                       "plugin, remove_input_padding and a paged KV cache; this engine lacks one: use V1")
        if strategy in ("V1", "v1") and spec.inflight_batching_capable:
            self.warn(model, "gpt_model_type", "V1 (static batching) on an engine that supports in-flight "
                      "batching: use inflight_fused_batching for throughput")
        lora_keys = [k for k in ("lora_cache_optimal_adapter_size", "lora_cache_max_adapter_size",
                                 "lora_cache_gpu_memory_fraction", "lora_cache_host_memory_bytes")
                     if (model.parameter(k) or "") and not PLACEHOLDER.search(model.parameter(k) or "")]
        if lora_keys and not spec.lora_enabled:
            self.warn(model, lora_keys[0], "LoRA cache parameters are set but the engine has no LoRA plugin")
        tokens = _int(model.parameter("max_tokens_in_paged_kv_cache"))
        if tokens is not None and tokens < spec.max_seq_len * max(1, beam or 1):
            self.error(model, "max_tokens_in_paged_kv_cache", f"{tokens} tokens cannot hold one sequence of "
                       f"max_seq_len {spec.max_seq_len}: the backend refuses to start; raise it or leave it empty")
        self._lint_logits(model, spec)

    def _lint_logits(self, model: ModelFile, spec: Any) -> None:
        if _bool(model.parameter("speculative_decoding_fast_logits")) and not spec.gather_generation_logits:
            self.warn(model, "speculative_decoding_fast_logits", "fast logits need an engine built with "
                      "gather_generation_logits")

    def _lint_batch(self, model: ModelFile, spec: Any) -> None:
        batch = model.config.max_batch_size
        if batch > spec.max_batch_size:
            self.warn(model, "max_batch_size", f"max_batch_size {batch} is above the engine's "
                      f"{spec.max_batch_size} (fixed at build time): requests beyond it only queue")
        elif 0 < batch < spec.max_batch_size:
            self.warn(model, "max_batch_size", f"max_batch_size {batch} is below the engine's "
                      f"{spec.max_batch_size}: Triton never batches as many requests as the engine can run")

    def _check_tokenizer_param(self, model: ModelFile) -> None:
        tokenizer_type = model.parameter("tokenizer_type")
        if tokenizer_type and not PLACEHOLDER.search(tokenizer_type) and tokenizer_type not in TOKENIZER_TYPES:
            self.error(model, "tokenizer_type", f"'{tokenizer_type}' is not one of {', '.join(TOKENIZER_TYPES)}")
        for flag in ("add_special_tokens", "skip_special_tokens", "accumulate_tokens"):
            value = model.parameter(flag)
            if value and not PLACEHOLDER.search(value) and _bool(value) is None:
                self.warn(model, flag, f"'{value}' is not a boolean (true/false): the model falls back to its default")
        text = model.parameter("tokenizer_dir")
        if not text or PLACEHOLDER.search(text) or model.is_torch_runtime:
            return
        path = Path(text)
        if not path.exists():
            if not path.is_absolute() and re.fullmatch(r"[\w.-]+/[\w.-]+", text):
                self.warn(model, "tokenizer_dir", f"'{text}' is not a local directory: it will be fetched from the "
                          "Hugging Face Hub at load time (fails offline); point it at local tokenizer files")
            else:
                self.warn(model, "tokenizer_dir", f"tokenizer directory {text} does not exist on this machine "
                          "(fine only if it exists where tritonserver runs)")
            return
        if self.load_tokenizer:
            try:
                from tritongen.tokenizer import load_tokenizer

                load_tokenizer(path)
            except TokenizerError as error:
                self.error(model, "tokenizer_dir", error.one_line())

    # -- cross-model checks --------------------------------------------------------------------

    def check_ensembles(self) -> None:
        for model in self.models.values():
            if model.config is not None and model.config.platform == "ensemble":
                self._check_ensemble(model)
        self._check_batch_sizes()
        self._check_streaming_pairs()

    def _tensor_types(self, model: ModelFile, kind: str) -> dict[str, int]:
        tensors = model.config.input if kind == "input" else model.config.output
        return {t.name: t.data_type for t in tensors}

    def _check_ensemble(self, ensemble: ModelFile) -> None:
        pb2 = model_config_pb2()
        type_name = pb2.DataType.Name
        available: dict[str, int] = self._tensor_types(ensemble, "input")
        steps = list(ensemble.config.ensemble_scheduling.step)
        if not steps:
            self.error(ensemble, "ensemble_scheduling", "the ensemble has no steps")
            return
        produced: dict[str, tuple[str, int]] = {}
        complete = True  # every step model loaded: only then can missing producers be told apart
        for step in steps:
            target = self.models.get(step.model_name)
            if target is None or target.config is None:
                why = "does not exist in the repository" if target is None else "has an invalid config"
                self.error(ensemble, step.model_name, f"step model '{step.model_name}' {why}")
                complete = False
                continue
            outputs = self._tensor_types(target, "output")
            for model_output, tensor in step.output_map.items():
                if model_output not in outputs:
                    self.error(ensemble, tensor, f"step '{step.model_name}' maps output '{model_output}', which "
                               f"{step.model_name}/config.pbtxt does not declare")
                    continue
                produced[tensor] = (step.model_name, outputs[model_output])
        for step in steps:
            target = self.models.get(step.model_name)
            if target is None or target.config is None:
                continue
            inputs = {t.name: t for t in target.config.input}
            for model_input, tensor in step.input_map.items():
                if model_input not in inputs:
                    self.error(ensemble, model_input, f"step '{step.model_name}' feeds input '{model_input}', "
                               f"which {step.model_name}/config.pbtxt does not declare")
                    continue
                source_type = available.get(tensor)
                source = "ensemble input"
                if source_type is None and tensor in produced:
                    source, source_type = f"output of step '{produced[tensor][0]}'", produced[tensor][1]
                if source_type is None and complete:
                    self.error(ensemble, tensor, f"tensor '{tensor}' feeding {step.model_name}.{model_input} is "
                               "neither an ensemble input nor produced by any step")
                elif source_type is not None and source_type != inputs[model_input].data_type:
                    self.error(ensemble, tensor, f"'{tensor}' ({source}) is {type_name(source_type)} but "
                               f"{step.model_name}.{model_input} expects "
                               f"{type_name(inputs[model_input].data_type)}")
            mapped = set(step.input_map)
            for name, tensor_config in inputs.items():
                if not tensor_config.optional and name not in mapped:
                    self.error(ensemble, step.model_name, f"required input '{name}' of step '{step.model_name}' "
                               "is not mapped")
            if target.config.max_batch_size < ensemble.config.max_batch_size:
                self.error(ensemble, "max_batch_size", f"the ensemble's max_batch_size "
                           f"{ensemble.config.max_batch_size} is above step '{step.model_name}''s "
                           f"{target.config.max_batch_size}: Triton refuses to load it; use one value everywhere")
        for output in ensemble.config.output:
            if output.name not in produced and complete:
                self.error(ensemble, output.name, f"ensemble output '{output.name}' is produced by no step")
            elif output.name in produced and produced[output.name][1] != output.data_type:
                self.error(ensemble, output.name, f"ensemble output '{output.name}' is "
                           f"{type_name(output.data_type)} but step '{produced[output.name][0]}' produces "
                           f"{type_name(produced[output.name][1])}")

    def _check_batch_sizes(self) -> None:
        sizes = {m.name: m.config.max_batch_size for m in self.models.values() if m.config is not None}
        if len(set(sizes.values())) > 1:
            listing = ", ".join(f"{name} {size}" for name, size in sorted(sizes.items()))
            first = min(sizes, key=lambda name: (sizes[name], name))
            self.warn(self.models[first], "max_batch_size", f"max_batch_size differs between models ({listing}); "
                      "use one value for all of them (the engine's max batch size)")

    def _check_streaming_pairs(self) -> None:
        llm = self.models.get("tensorrt_llm")
        bls = self.models.get("tensorrt_llm_bls")
        if llm and bls and llm.config is not None and bls.config is not None and \
                self._decoupled(llm) != self._decoupled(bls):
            self.warn(bls, "decoupled", "tensorrt_llm_bls and tensorrt_llm disagree on decoupled mode: streaming "
                      "through the BLS needs both decoupled")

    def check_manifest(self) -> None:
        manifest_path = self.root / MANIFEST
        if not manifest_path.is_file():
            return
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            engine = manifest.get("engine", {})
            config = Path(engine.get("path", "")) / "config.json"
            recorded = engine.get("config_sha256")
        except (OSError, ValueError, AttributeError):
            self.warn(MANIFEST, None, "the tritongen manifest is unreadable; re-render to restore it")
            return
        if recorded and config.is_file():
            import hashlib

            if hashlib.sha256(config.read_bytes()).hexdigest() != recorded:
                self.warn(MANIFEST, None, f"{config} changed since this repository was rendered: re-render it")


def _parse_error_location(message: str) -> tuple[int | None, str]:
    """protobuf ParseError messages start with "L:C : ..."."""
    match = re.match(r"^(\d+):(\d+)\s*:\s*(.*)$", message.strip())
    if match:
        return int(match.group(1)), f"line {match.group(1)} column {match.group(2)}: {match.group(3)}"
    return None, message.strip().splitlines()[0] if message.strip() else "unparsable"


def _bool(value: str | None) -> bool | None:
    if value is None:
        return None
    text = value.strip().lower()
    if text in ("true", "1", "yes", "t", "y", "on"):
        return True
    if text in ("false", "0", "no", "f", "n", "off"):
        return False
    return None


def _int(value: str | None) -> int | None:
    try:
        return int(value.strip()) if value is not None else None
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    try:
        return float(value.strip()) if value is not None else None
    except ValueError:
        return None


def _template_version_at_least_019(model: ModelFile) -> bool:
    """Keys only the v0.19+ template has; there an unset enable_kv_cache_reuse means true."""
    return model.parameter("guided_decoding_backend") is not None


def check_repository(root: Path, *, engine_dir: Path | None = None, load_tokenizer: bool = True) -> Report:
    """Check every model of the repository at `root`; reports problems, raises only if `root` is unusable.

    `engine_dir` overrides the `gpt_model_path` found in tensorrt_llm/config.pbtxt (used when checking a
    temporary render whose paths point at the final location).
    """
    if not root.is_dir():
        raise ValidationError(
            f"{root} is not a directory", hint="Give the path of a Triton model repository (tritongen check DIR)."
        )
    checker = _Checker(root, engine_dir, load_tokenizer)
    checker.load()
    if not checker.models:
        checker.error(".", None, "no model directories with a config.pbtxt: this is not a Triton model repository")
        return checker.report
    checker.check_models()
    checker.check_ensembles()
    checker.check_manifest()
    return checker.report
