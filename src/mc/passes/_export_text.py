"""The export pass for text models (`text-torch` -> `text-onnx`), verified before they are published,
with the tokenizer kept beside them.

- exporter `optimum`: a Hugging Face directory through Optimum's exporter (the tasks it supports, default
  feature extraction). Optimum validates the export against the torch model on its dummy inputs
  but only logs a warning when the outputs differ beyond `atol`; mc turns that warning into a
  failure, then checks again on real text (tokenized by the model's own tokenizer) against torch.
- exporter `dynamo`: the memory-augmented transformer (the text zoo model) through `torch.onnx`, with its
  memory as inputs (keys, values, valid flags), so a deployed model keeps writing its memory;
  checked against torch on real text with a filled memory, at batch 1 and a larger batch.

The output is a directory: model.onnx, its sidecar model.onnx.json, config.json and the tokenizer.
It is built in a temporary directory beside the target and renamed into place only when verified.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import shutil
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mc.artifact import Artifact, ArtifactRecord, Lineage, build_record, sidecar_path
from mc.atomic import publish_directory, staged_directory, write_json_atomic
from mc.errors import CheckFailed, InputError, root_cause
from mc.extras import first_line
from mc.logs import loggers_at, quiet_torch_loggers
from mc.passes._context import PassContext
from mc.tokenizer_files import MODEL_FILE, copy_tokenizer

if TYPE_CHECKING:
    from mc.data.text import TextCorpus
    from mc.models.hf_directory import HfDirectory
    from mc.passes.export import ExportConfig

PARITY_TEXTS = 16
MEMORY_TEXTS = 24


def hf_versions() -> dict[str, str | None]:
    from mc.versions import distribution_version

    return {name: distribution_version(name) for name in ("transformers", "tokenizers", "optimum", "optimum-onnx")}


@contextlib.contextmanager
def _quiet(captured: io.StringIO):
    """Exporters print and log freely; mc reports once, in one line, and keeps Optimum's warnings."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def quiet_hf_logs():
    """transformers and Optimum log advice to stderr handlers of their own ('torch_dtype is
    deprecated', 'install accelerate'); mc's output stays its own lines. Levels are restored."""
    for module in ("transformers.utils.logging", "optimum.utils.logging"):  # they set their levels when first used
        with contextlib.suppress(ImportError):
            importlib.import_module(module).get_logger()
    with loggers_at(logging.ERROR, ("transformers", "optimum")):
        yield


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _optimum_export(directory: HfDirectory, config: ExportConfig, workdir: Path) -> dict[str, Any]:
    """Optimum's export with its own validation; a validation warning is a failed check here."""
    from optimum.exporters.onnx import main_export

    collector = _Collect()
    loggers = [logging.getLogger(name) for name in ("optimum.exporters.onnx.convert", "optimum.exporters.onnx.__main__")]
    levels = [logger.level for logger in loggers]
    propagate = [logger.propagate for logger in loggers]
    for logger in loggers:
        logger.addHandler(collector)
        logger.setLevel(logging.WARNING)  # its validation verdict is a warning: keep it, whatever the parents say
        logger.propagate = False  # ... and only here, not on Optimum's stderr handler
    captured = io.StringIO()
    try:
        with _quiet(captured):
            main_export(
                str(directory.path), output=str(workdir), task=config.task, opset=config.opset, atol=config.tolerance,
                do_validation=True, local_files_only=True, library_name="transformers", device="cpu",
            )
    except Exception as error:
        raise InputError(f"Optimum cannot export {directory.path} for {config.task} ({first_line(error)})") from None
    finally:
        for logger, level, flag in zip(loggers, levels, propagate):
            logger.removeHandler(collector)
            logger.setLevel(level)
            logger.propagate = flag
    failed = [message for message in collector.messages if "succeeded with the warning" in message]
    if failed:
        detail = " ".join(failed[0].split("warning:", 1)[-1].split("The exported model was saved")[0].split())[:240]
        raise CheckFailed(f"Optimum's output check failed: {detail}; nothing was written")
    exported = workdir / MODEL_FILE
    if not exported.is_file():
        found = sorted(path.name for path in workdir.glob("*.onnx"))
        raise InputError(f"Optimum wrote {', '.join(found) or 'no ONNX file'} for {config.task}, not one {MODEL_FILE}; pick another --task")
    return {"passed": True, "atol": config.tolerance, "inputs": "Optimum's dummy inputs"}


def _torch_reference(directory: HfDirectory, task: str):
    from optimum.exporters.tasks import TasksManager

    try:
        return TasksManager.get_model_from_task(task, str(directory.path), local_files_only=True, library_name="transformers", framework="pt").eval()
    except Exception as error:
        raise InputError(f"{directory.path}: transformers cannot load the model for {task} ({first_line(error)})") from None


def _real_text_parity(directory: HfDirectory, model_path: Path, config: ExportConfig, corpus: TextCorpus) -> dict[str, Any]:
    import torch

    from mc.runtimes.text import cosine_fidelity, encode, mean_pool

    tokenizer = directory.load_tokenizer()
    _, texts = corpus.split(0, PARITY_TEXTS)
    reference_model = _torch_reference(directory, config.task)
    pooled_check = config.task == "feature-extraction"
    from mc.runtimes.onnxruntime import inference_session

    raw = inference_session(model_path, None, False, None)  # any task's outputs, by name
    names = [value.name for value in raw.get_inputs()]
    worst: dict[str, float] = {}
    pooled: list[tuple[np.ndarray, np.ndarray]] = []
    for batch in ([texts[0]], texts):  # batch 1 and a padded batch: a specialised axis would fail one
        encoded = encode(tokenizer, batch, config.max_length)
        feeds = {name: encoded[name] if name in encoded else np.zeros_like(encoded["input_ids"]) for name in names}
        with torch.no_grad():
            expected = reference_model(**{name: torch.from_numpy(value) for name, value in feeds.items()})
        got = dict(zip([value.name for value in raw.get_outputs()], raw.run(None, feeds)))
        for name, value in got.items():
            reference = getattr(expected, name, None)
            if reference is None:
                continue
            reference = reference.numpy()
            if name == "last_hidden_state":  # padded positions carry no meaning: compare real tokens
                mask = encoded["attention_mask"].astype(bool)
                difference = np.abs(reference[mask] - value[mask])
                pooled.append((mean_pool(reference, encoded["attention_mask"]), mean_pool(value, encoded["attention_mask"])))
            else:
                difference = np.abs(reference - value)
            worst[name] = max(worst.get(name, 0.0), float(difference.max()) if difference.size else 0.0)
    if not worst:
        raise CheckFailed(f"the export's outputs ({', '.join(o.name for o in raw.get_outputs())}) match none of the torch model's; nothing was written")
    parity: dict[str, Any] = {"max_abs_diff": worst, "tolerance": config.tolerance, "texts": len(texts),
                              "data": corpus.description, "batch_sizes_checked": [1, len(texts)]}
    if pooled and pooled_check:
        parity["pooled"] = cosine_fidelity(np.concatenate([p[0] for p in pooled]), np.concatenate([p[1] for p in pooled]))
    parity["passed"] = all(value <= config.tolerance for value in worst.values())
    if not parity["passed"]:
        name, value = max(worst.items(), key=lambda item: item[1])
        raise CheckFailed(f"parity on real text failed: max |torch - onnx| on {name!r} is {value:.3g} > tolerance "
                          f"{config.tolerance:g}; nothing was written (raise --tolerance only if that error is acceptable)")
    return parity


def _publish(staged: Path, output: Path, model_info: dict, parent: Lineage, config: "ExportConfig", metrics: dict) -> ArtifactRecord:
    model_path = staged / MODEL_FILE
    record = build_record(kind="onnx-text", file=model_path, final_name=MODEL_FILE, model=model_info, parent=parent,
                          pass_name=config.pass_name, pass_config=config.model_dump(mode="json"), metrics=metrics)
    write_json_atomic(sidecar_path(model_path), record.to_json())
    publish_directory(staged, output)
    return record


def _onnx_io(path: Path) -> tuple[list[str], list[str]]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    initializers = {init.name for init in model.graph.initializer}
    return [v.name for v in model.graph.input if v.name not in initializers], [v.name for v in model.graph.output]


def _trace_memory_model(model, config: ExportConfig, tokenizer, path: Path) -> None:
    import torch

    from mc.runtimes.text import encode
    from mc.passes.export import tidy_exported_graph

    example = encode(tokenizer, ["An example sentence to trace the model with.", "A second, longer example, so that the batch has two."], 16, pad_to_max=True)
    memory = model.memory
    args = (torch.from_numpy(example["input_ids"]), torch.from_numpy(example["attention_mask"]), memory.keys, memory.values, memory.valid)
    batch, tokens = torch.export.Dim("batch", min=1, max=1 << 12), torch.export.Dim("tokens", min=2, max=4096)
    captured = io.StringIO()
    try:
        with _quiet(captured), quiet_torch_loggers():
            torch.onnx.export(
                model, args, str(path), dynamo=True, opset_version=config.dynamo_opset,
                input_names=["input_ids", "attention_mask", "memory_keys", "memory_values", "memory_valid"],
                output_names=["sentence_embedding", "confidence", "memory_query"],
                dynamic_shapes=({0: batch, 1: tokens}, {0: batch, 1: tokens}, None, None, None),
                external_data=False, verbose=False,
            )
    except Exception as error:
        raise InputError(f"the memory-augmented transformer cannot be exported to ONNX ({root_cause(error)})") from error
    tidy_exported_graph(path)  # stale value_info would stop ORT's quantizer; stack traces leak source paths


def _memory_parity(model, path: Path, tokenizer, config: ExportConfig, corpus: TextCorpus) -> dict[str, Any]:
    """Torch and ONNX, each with its own memory filled from the same texts by its own outputs."""
    import torch

    from mc.runtimes import open_text_session
    from mc.runtimes.text import encode

    remembered, texts = corpus.split(MEMORY_TEXTS, PARITY_TEXTS)
    session = open_text_session(path, threads=None)
    memory_backup = {name: buffer.clone() for name, buffer in model.memory.named_buffers()}
    worst = {"sentence_embedding": 0.0, "confidence": 0.0, "memory_query": 0.0}
    try:
        model.memory.clear()
        for start in range(0, len(remembered), 8):
            encoded = encode(tokenizer, remembered[start : start + 8], config.max_length)
            model.remember(torch.from_numpy(encoded["input_ids"]), torch.from_numpy(encoded["attention_mask"]))
            session.remember(encoded)
        memory_difference = float(np.abs(model.memory.keys.numpy() - session.memory.keys).max())
        for batch in ([texts[0]], texts):
            encoded = encode(tokenizer, batch, config.max_length)
            with torch.no_grad():
                expected = [t.numpy() for t in model(torch.from_numpy(encoded["input_ids"]), torch.from_numpy(encoded["attention_mask"]))]
            got = session.run(encoded)
            for name, reference in zip(("sentence_embedding", "confidence", "memory_query"), expected):
                worst[name] = max(worst[name], float(np.abs(reference - got[name]).max()))
    finally:
        for name, buffer in model.memory.named_buffers():
            buffer.copy_(memory_backup[name])
    worst["memory_keys"] = memory_difference
    parity = {"max_abs_diff": worst, "tolerance": config.tolerance, "texts": len(texts), "remembered_texts": len(remembered),
              "data": corpus.description, "batch_sizes_checked": [1, len(texts)],
              "passed": all(value <= config.tolerance for value in worst.values())}
    if not parity["passed"]:
        name, value = max(worst.items(), key=lambda item: item[1])
        raise CheckFailed(f"parity on real text failed: max |torch - onnx| on {name!r} is {value:.3g} > tolerance "
                          f"{config.tolerance:g}; nothing was written (raise --tolerance only if that error is acceptable)")
    return parity


def export(config: "ExportConfig", exporter: str, source: Artifact, output: Path, ctx: PassContext) -> ArtifactRecord:
    """A text-torch source into a verified text artifact directory at `output`."""
    from mc.passes._text_output import check_text_output

    check_text_output(output, source.path)
    if source.path is not None:
        from mc.models.hf_directory import inspect_hf_directory

        directory = inspect_hf_directory(source.path)
        if exporter != "optimum":
            raise InputError(f"{source.location}: a Hugging Face directory exports through Optimum (exporter optimum or auto)")
        from mc.models.hf_directory import require_optimum

        require_optimum()
        return _optimum(config, directory, output, ctx)
    if exporter == "optimum":
        raise InputError(f"{source.spec} is built by mc, not a Hugging Face directory: export it with exporter dynamo (or auto)")
    from mc.models import get_model_entry
    from mc.models.hf_directory import require_transformers

    require_transformers()
    entry = get_model_entry(source.spec)
    return export_memory_model(config, entry.build(), output, ctx, entry.name)


def _optimum(config: "ExportConfig", directory: "HfDirectory", output: Path, ctx: PassContext) -> ArtifactRecord:
    import tempfile

    corpus, progress = ctx.corpus(), ctx.progress
    with progress.task("export", total=3) as task, staged_directory(output) as staged, \
            tempfile.TemporaryDirectory(prefix="mc-optimum-") as workdir, quiet_hf_logs():
        optimum_check = _optimum_export(directory, config, Path(workdir))
        shutil.move(str(Path(workdir) / MODEL_FILE), str(staged / MODEL_FILE))  # /tmp may be another filesystem
        task.advance(1, status="checking on real text")
        parity = _real_text_parity(directory, staged / MODEL_FILE, config, corpus)
        tokenizer_files = copy_tokenizer(directory.path, staged)
        task.advance(1, status="publishing")
        inputs, outputs = _onnx_io(staged / MODEL_FILE)
        model_info = {"source": "huggingface-directory", "model_type": directory.model_type, "task": config.task,
                      "inputs": inputs, "outputs": outputs, "tokenizer_files": tokenizer_files, "libraries": hf_versions(),
                      "hidden_size": directory.config.get("hidden_size"), "layers": directory.config.get("num_hidden_layers")}
        record = _publish(staged, output, model_info, Lineage(source=str(directory.path), sha256=directory.sha256()),
                          config, {"exporter": "optimum", "optimum_check": optimum_check, "parity": parity})
        task.advance(1, status="done")
    return record


def export_memory_model(config: "ExportConfig", model, output: Path, ctx: PassContext, source: str) -> ArtifactRecord:
    """`model` is a built MemoryAugmentedTransformer (its backbone directory attached by the builder)."""
    import dataclasses

    corpus, progress = ctx.corpus(), ctx.progress
    directory: HfDirectory = model.backbone_directory
    tokenizer = directory.load_tokenizer()
    with progress.task("export", total=3) as task, staged_directory(output) as staged, quiet_hf_logs():
        _trace_memory_model(model, config, tokenizer, staged / MODEL_FILE)
        task.advance(1, status="checking on real text")
        parity = _memory_parity(model, staged / MODEL_FILE, tokenizer, config, corpus)
        tokenizer_files = copy_tokenizer(directory.path, staged)
        task.advance(1, status="publishing")
        inputs, outputs = _onnx_io(staged / MODEL_FILE)
        settings = dataclasses.asdict(model.settings)
        model_info = {"source": "zoo", "model": getattr(model, "mc_name", source), "config": settings,
                      "backbone_type": directory.model_type, "inputs": inputs, "outputs": outputs,
                      "memory": {"slots": model.memory.slots, "dim": model.memory.dim, "insertion": "ring buffer, O(1)"},
                      "tokenizer_files": tokenizer_files, "libraries": hf_versions(),
                      "parameters": sum(p.numel() for p in model.parameters())}
        record = _publish(staged, output, model_info, Lineage(source=source, sha256=directory.sha256()),
                          config, {"exporter": "dynamo", "parity": parity})
        task.advance(1, status="done")
    return record
