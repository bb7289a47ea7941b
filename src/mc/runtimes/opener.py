"""The one way mc opens a model into a runtime: `open_model(spec, target)`.

`mc eval`, the bench worker, the side-by-side timer and the searches all open models here, so the
runtime, its providers and its thread count are chosen in one place, from the target profile:
- threads: `threads` if given, else the target's (capped at this host's cores), else 1; applied here
  once (ONNX Runtime session options, torch.set_num_threads) and nowhere else;
- runtime: the artifact decides what can run it (ONNX in ONNX Runtime, `.pt2`/`.ep` in their
  compiled runtime, checkpoints and factories in torch eager); the target decides the providers
  (see mc.runtimes.onnxruntime). An artifact whose runtime the target does not list is opened anyway,
  with a note: the bench still measures it, and says so.
Heavy libraries load only for the kind being opened: an ONNX file never imports torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from mc.errors import InputError
from mc.runtimes._predictor import Predictor
from mc.artifact import TEXT_ZOO_MODELS, indexed_model, indexed_threads, kind_of_spec

if TYPE_CHECKING:
    from mc.runtimes.costs import OpCost
    from mc.targets import TargetProfile

EXAMPLE_TOKENS = 64  # a text model's example input: one real paragraph, exactly this many tokens
RUNTIME_FAMILY = {  # what a target profile's `runtimes` list names, for each runtime mc opens
    "onnxruntime": "onnxruntime", "onnxruntime-cuda": "onnxruntime", "onnxruntime-tensorrt": "onnxruntime",
    "torch": "torch", "torch-compile": "torch", "tensorrt": "tensorrt", "executorch": "executorch", "openvino": "openvino",
}

Costs = Callable[[], "tuple[list[OpCost], list[str]]"]
Workload = Literal["pipeline", "text"]


def workload_of(spec: str | Path) -> Workload:
    """The bench workload a model runs, from its spec alone (no model library imported): text models
    embed text, the rest classify."""
    return "text" if kind_of_spec(str(spec)) in ("text-onnx", "text-torch") else "pipeline"


@dataclass
class OpenedModel:
    """A model ready to run, with what a bench, an evaluation or a timer needs to know about it."""

    spec: str
    predictor: Predictor
    sample_shape: tuple[int, ...] | None  # one classifier sample without the batch axis; None for text
    description: str
    runtime: str  # "onnxruntime" | "onnxruntime-cuda" | "onnxruntime-tensorrt" | "torch" | "torch-compile" | "tensorrt" | "executorch" | "openvino"
    device: str  # "cpu" | "cuda": on CUDA the bench times on the device and reports GPU memory
    size_bytes: int | None  # the artifact file; None for a factory built in memory
    workload: Workload  # "pipeline": a classifier returning (logits, confidence); "text": an embedding model
    costs: Costs  # deferred: only a bench off the target needs the roofline's op costs
    threads: int
    notes: list[str] = field(default_factory=list)
    tokenizer: Any = None  # text models: the artifact's own tokenizer
    _example: Callable[[], Any] | None = field(default=None, repr=False)

    def example_input(self) -> Any:
        """One batch-1 input the predictor takes: a float32 array (a seeded normal sample) for a
        classifier, the int64 feeds of a 64-token paragraph of real text for a text model."""
        if self._example is not None:
            return self._example()
        assert self.sample_shape is not None
        return np.random.default_rng(0).standard_normal((1, *self.sample_shape)).astype(np.float32)


def resolve_threads(threads: int | None, target: TargetProfile | None) -> int:
    if threads is not None:
        return max(1, int(threads))
    return target.host_threads() if target is not None else 1


def threads_for(spec: str | Path, threads: int | None, target: TargetProfile | None) -> tuple[int, list[str]]:
    """The thread count `open_model` runs `spec` on, and why where it is not the one asked for: fewer
    where the folder mc optimize wrote measured fewer significantly faster on this host."""
    count = resolve_threads(threads, target)
    fewer = indexed_threads(spec)
    if fewer and fewer < count:
        return fewer, [f"runs on {fewer} thread(s), not {count}: mc optimize measured it faster so on this host"]
    return count, []


def _runtime_notes(runtime: str, device: str, target: TargetProfile | None) -> list[str]:
    """A runtime the target does not list (an ISA other than the target's is the bench's `isa_note`)."""
    family = RUNTIME_FAMILY.get(runtime, runtime)
    if target is None or family in target.runtimes or runtime in target.runtimes:
        return []
    return [f"{target.name} does not list {family} among its runtimes ({', '.join(target.runtimes)}): opened in {runtime} anyway"]


def _open_onnx_classifier(spec: str, target: TargetProfile | None, threads: int, input_shape: tuple[int, ...] | None,
                          shared_cores: bool) -> OpenedModel:
    from mc.onnx_file import load_onnx_model
    from mc.runtimes.costs import onnx_costs
    from mc.runtimes.onnxruntime import open_onnx

    model = load_onnx_model(Path(spec))
    model.require_float_input()
    shape = tuple(input_shape or model.sample_shape)
    if any(dim <= 0 for dim in shape):
        raise InputError(f"{spec} has symbolic input dimensions {model.sample_shape}; pass --input-shape, batch first")
    predictor = open_onnx(model.path, threads=threads, shared_cores=shared_cores, target=target,
                          input_name=model.input_names[0], sample_shape=shape)
    runtime = predictor.name
    return OpenedModel(
        spec, predictor, shape, f"{spec} ({'onnx' if runtime == 'onnxruntime' else runtime})", runtime,
        "cpu" if runtime == "onnxruntime" else "cuda", model.path.stat().st_size, "pipeline",
        lambda: onnx_costs(model.path), threads,
    )


def _open_text(spec: str, target: TargetProfile | None, threads: int, input_shape: tuple[int, ...] | None, shared_cores: bool) -> OpenedModel:
    from mc.runtimes.onnxruntime import choose_providers
    from mc.runtimes.text import TextSession, encode, open_text_artifact

    artifact = open_text_artifact(spec)
    session = TextSession(artifact.model_path, threads, shared_cores=shared_cores,
                          providers=choose_providers(artifact.model_path, target))
    tokenizer = artifact.load_tokenizer()

    def example() -> dict[str, np.ndarray]:
        from mc.data.text import default_corpus

        paragraph = default_corpus().long_paragraphs(EXAMPLE_TOKENS * 8, 1)[0]
        return session.feeds(encode(tokenizer, [paragraph], EXAMPLE_TOKENS, pad_to_max=True))

    def costs() -> tuple[list[OpCost], list[str]]:
        return [], ["no roofline for a text model: its cost depends on the sequence length"]

    return OpenedModel(
        spec, session, None, f"{spec} (text model, {session.name})", session.name,
        "cpu" if session.name == "onnxruntime" else "cuda", artifact.model_path.stat().st_size, "text", costs, threads,
        tokenizer=tokenizer, _example=example,
    )


def _open_compiled(spec: str, target: TargetProfile | None, threads: int, input_shape: tuple[int, ...] | None, shared_cores: bool) -> OpenedModel:
    from mc.runtimes.compiled_torch import open_compiled_program, read_compiled

    compiled = read_compiled(Path(spec))
    if compiled.device == "cpu":
        import torch

        torch.set_num_threads(threads)
    predictor = open_compiled_program(Path(spec), compiled.backend, compiled.precision, compiled.device)

    def costs() -> tuple[list[OpCost], list[str]]:
        return [], [f"no roofline for a compiled {compiled.runtime} artifact: its kernels are the compiler's"]

    return OpenedModel(
        spec, predictor, compiled.sample_shape, f"{spec} ({compiled.backend} {compiled.precision}, {compiled.device})",
        compiled.runtime, compiled.device, Path(spec).stat().st_size, "pipeline", costs, threads,
    )


def _open_torch(spec: str, target: TargetProfile | None, threads: int, input_shape: tuple[int, ...] | None, shared_cores: bool) -> OpenedModel:
    import torch

    from mc.models.source import check_forward, load_torch_model
    from mc.runtimes.costs import torch_costs
    from mc.runtimes.torch_eager import TorchPredictor

    torch.set_num_threads(threads)
    model = load_torch_model(spec, input_shape)
    check_forward(model)
    shape = tuple(model.sample_shape)
    size = model.checkpoint_path.stat().st_size if model.checkpoint_path is not None else None
    return OpenedModel(
        spec, TorchPredictor(model.module), shape, model.description, "torch", "cpu", size, "pipeline",
        lambda: torch_costs(model.module, shape), threads,
    )


def _open_executorch(spec: str, target: TargetProfile | None, threads: int, input_shape: tuple[int, ...] | None,
                     shared_cores: bool) -> OpenedModel:
    from mc.runtimes.executorch import RUNTIME, open_program, read_program

    program = read_program(Path(spec))
    predictor = open_program(Path(spec), threads, program.max_batch)
    notes = [] if program.max_batch else [f"{spec} was exported at batch 1: ExecuTorch runs a batch sample by sample"]
    if predictor.threads != threads:
        notes.append(f"runs on {predictor.threads} thread(s), not {threads}: ExecuTorch's thread pool is one per process, "
                     f"and programs already open here hold it at {predictor.threads}")
        threads = predictor.threads or threads

    def costs() -> tuple[list[OpCost], list[str]]:
        from mc.runtimes.costs import recorded_costs

        return recorded_costs(program.costs, "ExecuTorch program")

    return OpenedModel(
        spec, predictor, program.sample_shape, f"{spec} (executorch {program.precision}, XNNPACK)", RUNTIME, "cpu",
        Path(spec).stat().st_size, "pipeline", costs, threads, notes=notes,
    )


def _open_openvino(spec: str, target: TargetProfile | None, threads: int, input_shape: tuple[int, ...] | None,
                   shared_cores: bool) -> OpenedModel:
    from mc.runtimes.openvino import RUNTIME, open_ir, read_ir

    model = read_ir(Path(spec))
    predictor = open_ir(Path(spec), threads)

    def costs() -> tuple[list[OpCost], list[str]]:
        from mc.runtimes.costs import ir_costs

        return ir_costs(Path(spec), model.sample_shape)

    size = Path(spec).stat().st_size + Path(spec).with_suffix(".bin").stat().st_size
    return OpenedModel(
        spec, predictor, model.sample_shape, f"{spec} (openvino {model.precision}, CPU plugin, f32 inference)", RUNTIME, "cpu",
        size, "pipeline", costs, threads,
    )


# The one table from a kind of artifact to what opens it; a new runtime adds its module and its row
# here (a directory without model.onnx goes to the text opener, which says what is missing).
OPENERS: dict[str, Callable[..., OpenedModel]] = {
    "onnx": _open_onnx_classifier, "text-onnx": _open_text, "text-torch": _open_text,
    "compiled": _open_compiled, "torch": _open_torch, "executorch": _open_executorch,
    "openvino": _open_openvino,
}


def open_model(spec: str | Path, target: TargetProfile | None = None, *, threads: int | None = None,
               input_shape: tuple[int, ...] | None = None, shared_cores: bool = False) -> OpenedModel:
    """Open any MODEL a user can type (zoo name, checkpoint, factory, .onnx, .pt2/.ep, text artifact).

    `input_shape` (one sample, no batch axis) is a factory's or a symbolic ONNX input's shape.
    `shared_cores`: several models will take turns on the same cores in this process (side-by-side
    timing), so ONNX Runtime's idle threads must not spin.
    """
    text = str(indexed_model(spec) or spec)  # a folder that names its model (mc optimize's output) opens that model
    count, notes = threads_for(spec, threads, target)
    kind = kind_of_spec(text)
    if kind == "text-torch" and text in TEXT_ZOO_MODELS:
        raise InputError(f"{text} is a text model of the zoo: export it first (mc export {text} -o DIR), then use DIR")
    opened = OPENERS[kind](text, target, count, input_shape, shared_cores)
    opened.notes[:0] = notes
    opened.notes.extend(_runtime_notes(opened.runtime, opened.device, target))
    return opened
