"""ONNX Runtime: which providers a file runs on, the session options every ORT session here gets,
and the classifier predictor.

Providers: a file `mc compile` bound to a GPU provider (its `mc.compile.*` metadata) keeps that
binding; an unbound file runs on the CPU provider, or on CUDA (then the CPU for what CUDA does not
take) for a GPU target that lists onnxruntime, where this ONNX Runtime has the CUDA provider.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mc.errors import BackendUnavailable, InputError

if TYPE_CHECKING:
    from mc.targets import TargetProfile

ProviderSpec = str | tuple[str, dict[str, Any]]
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
RUNTIME_OF_PROVIDER = {CPU: "onnxruntime", CUDA: "onnxruntime-cuda", "TensorrtExecutionProvider": "onnxruntime-tensorrt"}


def session_options(threads: int | None, shared_cores: bool):
    """`shared_cores` when several sessions take turns on the same cores (side-by-side timing): ORT's
    idle intra-op threads otherwise spin after each run and steal the cores from the next session."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    if shared_cores:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


def inference_session(path: Path, threads: int | None, shared_cores: bool, providers: list[ProviderSpec] | None):
    """An ORT session, or one line saying why the file does not load. ORT falls back to the CPU
    silently when a GPU provider fails to initialise; a bench must not, so that is an error too."""
    import onnxruntime as ort

    wanted = providers or [CPU]
    try:
        with warnings.catch_warnings():  # "provider not available": reported below, as one line
            warnings.simplefilter("ignore", UserWarning)
            session = ort.InferenceSession(str(path), session_options(threads, shared_cores), providers=wanted)
    except Exception as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"ONNX Runtime cannot load {path} ({first[:200]}); re-export it with `mc export`") from None
    asked = provider_names(wanted)
    if asked[0] != CPU and asked[0] not in session.get_providers():
        raise InputError(
            f"ONNX Runtime did not enable {asked[0]} for {path} (it runs on {', '.join(session.get_providers())}); "
            "check `mc doctor` for the GPU libraries it needs"
        )
    return session


def provider_names(providers: list[ProviderSpec]) -> list[str]:
    return [spec if isinstance(spec, str) else spec[0] for spec in providers]


class OnnxRuntimePredictor:
    name = "onnxruntime"

    def __init__(self, path: Path, threads: int | None = None, providers: list[ProviderSpec] | None = None,
                 spinning: bool = True):
        """Prefer `open_onnx` (or `mc.runtimes.open_model`), which choose providers and threads."""
        self.session = inference_session(path, threads, not spinning, providers)
        self.providers = self.session.get_providers()
        self.name = RUNTIME_OF_PROVIDER.get(provider_names(providers or [CPU])[0], "onnxruntime")
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [output.name for output in self.session.get_outputs()]

    def predict(self, batch: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})


def _bound_providers(path: Path, binding: dict[str, str], input_name: str, sample_shape: tuple[int, ...]) -> list[ProviderSpec]:
    from mc.runtimes import ort_binding as ort
    from mc.runtimes.availability import missing
    from mc.hashing import sha256_file

    backend, precision = binding[ort.KEY_BACKEND], binding.get(ort.KEY_PRECISION, "fp32")
    problem = missing(backend, precision)  # type: ignore[arg-type]
    if problem:
        raise BackendUnavailable(f"{path} is compiled for {backend}: {problem}")
    return ort.providers(binding, sha256_file(path), input_name, sample_shape)


def cuda_provider_available() -> bool:
    import onnxruntime as ort

    return CUDA in ort.get_available_providers()


def choose_providers(path: Path, target: TargetProfile | None, input_name: str | None = None,
                     sample_shape: tuple[int, ...] | None = None) -> list[ProviderSpec]:
    """The providers `path` runs on under `target` (see the module's docstring)."""
    from mc.runtimes import ort_binding as ort

    binding = ort.read_binding(path)
    if binding is not None:
        if input_name is None or sample_shape is None:
            from mc.onnx_file import load_onnx_model

            model = load_onnx_model(path)
            input_name, sample_shape = model.input_names[0], tuple(sample_shape or model.sample_shape)
        return _bound_providers(path, binding, input_name, sample_shape)
    if target is not None and target.kind == "gpu" and "onnxruntime" in target.runtimes and cuda_provider_available():
        return [(CUDA, {"device_id": 0}), CPU]
    return [CPU]


def open_onnx(path: Path, *, threads: int | None, shared_cores: bool = False, target: TargetProfile | None = None,
              input_name: str | None = None, sample_shape: tuple[int, ...] | None = None) -> OnnxRuntimePredictor:
    """A classifier's ONNX file in ONNX Runtime, on the providers `choose_providers` picks; `threads`
    None leaves ONNX Runtime its own default (every core)."""
    providers = choose_providers(Path(path), target, input_name, sample_shape)
    return OnnxRuntimePredictor(Path(path), threads=threads, providers=providers, spinning=not shared_cores)
