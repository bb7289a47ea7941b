"""Resolve what the user typed as MODEL into a loaded model.

MODEL is a zoo name (its user-trained or shipped checkpoint), a `.pt` checkpoint, `file.py:factory`,
`package.module:factory`, or an `.onnx` file. Every failure is an InputError naming the fix.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mc.errors import InputError
from mc.hashing import sha256_file
from mc.models._registry import get_model_entry
from mc.models.checkpoint import config_from_dict, config_to_dict, read_checkpoint, state_dict_of
from mc.onnx_file import OnnxModel  # noqa: F401  (its old home; importers may still name it here)
from mc.paths import trained_checkpoint_path

SHIPPED_CHECKPOINTS = Path(__file__).parent / "checkpoints"
DEFAULT_SAMPLE_SHAPE = (1, 40)  # MNIST-1D: one channel, 40 steps


@dataclass
class TorchModel:
    """A torch model ready for inference, with what is needed to rebuild and describe it."""

    module: nn.Module
    sample_shape: tuple[int, ...]  # one sample, without the batch axis
    origin: dict[str, Any]  # {"model": name, "config": {...}} or {"factory": spec}: saved in checkpoints
    description: str  # for people: "mobile-small (shipped checkpoint)"
    sha256: str | None = None  # of the checkpoint or factory file it came from
    checkpoint_path: Path | None = None
    trained: bool = True

    @property
    def display_name(self) -> str:
        return self.origin.get("model") or self.origin.get("factory") or "model"


def parse_input_shape(text: str) -> tuple[int, ...]:
    """'1,1,40' (batch first) -> (1, 40): the sample shape without the batch axis."""
    try:
        dims = tuple(int(part) for part in text.replace("x", ",").split(",") if part.strip())
    except ValueError:
        raise InputError(f"--input-shape {text!r} is not a list of integers; write it batch first, e.g. 1,1,40") from None
    if len(dims) < 2 or any(d <= 0 for d in dims):
        raise InputError(f"--input-shape {text!r} needs a batch axis and at least one positive dimension, e.g. 1,1,40")
    return dims[1:]


def _shipped_checkpoint(name: str) -> Path:
    return SHIPPED_CHECKPOINTS / f"{name}.pt"


def find_zoo_checkpoint(name: str) -> tuple[Path, str] | None:
    """The checkpoint a zoo name stands for: the user's own (`mc train`) first, then the shipped one."""
    trained = trained_checkpoint_path(name)
    if trained.exists():
        return trained, "trained checkpoint"
    shipped = _shipped_checkpoint(name)
    if shipped.exists():
        return shipped, "shipped checkpoint"
    return None


def factory_parts(spec: str) -> tuple[str, str] | None:
    """(file or module, function) of a factory spec (`path/to/file.py:function`, `package.module:function`);
    None when `spec` is not written as one."""
    target, _, attribute = spec.rpartition(":")
    return (target, attribute) if target and attribute else None


def factory_file(spec: str) -> tuple[Path, str] | None:
    """(file, function) of a `path/to/file.py:function` factory whose file exists; None otherwise."""
    parts = factory_parts(spec)
    if parts is None or not parts[0].endswith(".py") or not Path(parts[0]).is_file():
        return None
    return Path(parts[0]), parts[1]


def _load_factory(spec: str) -> tuple[Any, Path | None]:
    parts = factory_parts(spec)
    if parts is None:
        raise InputError(f"{spec!r}: write a factory as path/to/file.py:function or package.module:function")
    target, attribute = parts
    if target.endswith(".py"):
        file = Path(target)
        if not file.exists():
            raise InputError(f"factory file not found: {file}: check the path in {spec!r}")
        module_name = f"mc_user_model_{abs(hash(file.resolve()))}"
        module_spec = importlib.util.spec_from_file_location(module_name, file)
        if module_spec is None or module_spec.loader is None:
            raise InputError(f"{file} cannot be imported as a Python module")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as error:
            sys.modules.pop(module_name, None)
            raise InputError(f"{file} failed to import: {type(error).__name__}: {error}; fix the file and retry") from None
    else:
        file = None
        try:
            module = importlib.import_module(target)
        except Exception as error:
            raise InputError(
                f"cannot import module {target!r} ({type(error).__name__}: {error}); "
                "install the package or use path/to/file.py:function"
            ) from None
        file = Path(module.__file__) if getattr(module, "__file__", None) else None
    factory = getattr(module, attribute, None)
    if factory is None or not callable(factory):
        available = sorted(name for name in dir(module) if callable(getattr(module, name)) and not name.startswith("_"))
        raise InputError(f"{spec!r}: {target} has no callable {attribute!r} (callables there: {', '.join(available[:8]) or 'none'})")
    return factory, file


def _build_from_factory(spec: str) -> tuple[nn.Module, Path | None]:
    factory, file = _load_factory(spec)
    try:
        module = factory()
    except Exception as error:
        raise InputError(f"factory {spec!r} raised {type(error).__name__}: {error}; it must build the model with no arguments") from None
    if not isinstance(module, nn.Module):
        raise InputError(f"factory {spec!r} returned {type(module).__name__}, not a torch.nn.Module")
    return module, file


def _from_checkpoint(path: Path, description: str) -> TorchModel:
    payload = read_checkpoint(path)
    if "model" in payload:
        entry = get_model_entry(payload["model"])
        config = config_from_dict(entry, payload.get("config", {}))
        module = entry.build(config)
        origin = {"model": entry.name, "config": config_to_dict(config)}
        sample_shape = tuple(config.input_shape)
    elif "factory" in payload:
        module, _ = _build_from_factory(payload["factory"])
        origin = {"factory": payload["factory"], "input_shape": payload.get("input_shape")}
        sample_shape = tuple(payload.get("input_shape") or DEFAULT_SAMPLE_SHAPE)
    else:
        raise InputError(f"{path}: the checkpoint names neither a zoo model nor a factory; retrain it with `mc train`")
    if "pruned" in payload:  # layers physically shrank: resize the fresh model to the saved shapes
        from mc.models.resize import fit_to_state_dict

        fit_to_state_dict(module, payload["state_dict"])
        origin["pruned"] = payload["pruned"]
    if "quantization" in payload:  # a torch-quantized checkpoint: rebuild the quantized modules first
        from mc.models.torch_dynamic import apply_torch_dynamic

        module = apply_torch_dynamic(module.eval(), tuple(payload["quantization"]["op_types"]))
        origin["quantization"] = payload["quantization"]
    try:
        module.load_state_dict(state_dict_of(payload))
    except RuntimeError as error:
        first = str(error).strip().splitlines()
        detail = first[1].strip() if len(first) > 1 else first[0]
        raise InputError(f"{path}: weights do not fit the architecture it names ({detail[:200]})") from None
    module.eval()
    return TorchModel(module, sample_shape, origin, description, sha256_file(path), path)


def load_torch_model(spec: str, input_shape: tuple[int, ...] | None = None, allow_untrained: bool = False) -> TorchModel:
    """A torch model from a zoo name, a checkpoint or a factory (not ONNX)."""
    path = Path(spec)
    if spec.endswith((".pt", ".pth")):
        return _fixed_shape(_from_checkpoint(path, f"{path} (checkpoint)"), input_shape)
    if spec.endswith(".onnx"):
        raise InputError(f"{spec} is already ONNX; this command needs a torch model (a zoo name, checkpoint or factory)")
    if ":" in spec:
        module, file = _build_from_factory(spec)
        module.eval()
        sample_shape = input_shape or DEFAULT_SAMPLE_SHAPE
        return TorchModel(
            module, tuple(sample_shape), {"factory": spec, "input_shape": list(sample_shape)},
            f"{spec} (factory)", sha256_file(file) if file else None, None, trained=False,
        )
    if path.is_dir():
        raise InputError(f"{spec} is a directory: a Hugging Face model directory works with mc export, quantize and bench")
    if path.suffix and not path.exists():
        raise InputError(f"file not found: {spec}: check the path")
    entry = _sequence_entry(spec)
    found = find_zoo_checkpoint(entry.name)
    if found is not None:
        checkpoint, kind = found
        model = _from_checkpoint(checkpoint, f"{entry.name} ({kind} {checkpoint})")
    elif not allow_untrained:
        raise InputError(f"{entry.name} has no trained checkpoint yet: run `mc train {entry.name}` first")
    else:
        model = untrained_zoo_model(entry.name)
    return _fixed_shape(model, input_shape)


def _fixed_shape(model: TorchModel, input_shape: tuple[int, ...] | None) -> TorchModel:
    """A zoo model or a checkpoint knows its input shape; --input-shape is for factories, and a
    different one would be ignored silently (every figure then on the model's own shape)."""
    if input_shape is not None and tuple(input_shape) != tuple(model.sample_shape):
        given = ",".join(map(str, (1, *input_shape)))
        own = ",".join(map(str, (1, *model.sample_shape)))
        raise InputError(f"--input-shape {given}: {model.display_name} takes a fixed input shape {own}; "
                         "drop --input-shape (it is for factories)")
    return model


def _sequence_entry(name: str):
    """A zoo entry this path can train and run (the text models go through mc.hf)."""
    entry = get_model_entry(name)
    if entry.modality == "text":
        raise InputError(f"{entry.name} is a text model: it works with mc export, quantize and bench")
    return entry


def is_zoo_spec(spec: str) -> bool:
    """True when MODEL names a zoo entry rather than a file or a factory."""
    return not (spec.endswith((".pt", ".pth", ".onnx", ".py")) or ":" in spec or "/" in spec or Path(spec).exists())


def untrained_zoo_model(name: str) -> TorchModel:
    """A freshly initialised zoo model (under whatever torch seed the caller set)."""
    entry = _sequence_entry(name)
    config = entry.default_config()
    module = entry.build(config).eval()
    return TorchModel(
        module, tuple(config.input_shape), {"model": entry.name, "config": config_to_dict(config)},
        f"{entry.name} (untrained)", None, None, trained=False,
    )


def check_forward(model: TorchModel, batch: int = 2) -> tuple[torch.Tensor, ...]:
    """Run the model once on zeros of its input shape; a mismatch is the user's input-shape error."""
    example = torch.zeros((batch, *model.sample_shape))
    try:
        with torch.no_grad():
            outputs = model.module(example)
    except Exception as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(
            f"{model.display_name} failed on an input of shape {tuple(example.shape)} ({message[:160]}); "
            "pass --input-shape matching the model, batch first (e.g. 1,1,40)"
        ) from None
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    if not all(isinstance(output, torch.Tensor) for output in outputs):
        raise InputError(f"{model.display_name} must return a tensor or a tuple of tensors, got {[type(o).__name__ for o in outputs]}")
    if len(outputs) == 2:  # (logits, confidence): what every classifier command scores
        logits, confidence = outputs
        if logits.dim() != 2 or tuple(confidence.shape) != (batch,):
            raise InputError(
                f"{model.display_name} returns (logits, confidence) of shapes {tuple(logits.shape)} and {tuple(confidence.shape)} "
                f"for a batch of {batch}; mc expects ({batch}, classes) and ({batch},)"
                + (": return confidence.squeeze(-1)" if tuple(confidence.shape) == (batch, 1) else "")
            )
    return tuple(outputs)
