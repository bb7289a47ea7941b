"""ONNX Runtime: the CPU provider, or the GPU ones (CUDA, TensorRT) for files `mc compile` bound to them."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from mc.errors import InputError

ProviderSpec = str | tuple[str, dict[str, Any]]


class OnnxRuntimePredictor:
    name = "onnxruntime"

    def __init__(self, path: Path, threads: int | None = None, providers: list[ProviderSpec] | None = None,
                 spinning: bool = True):
        """`spinning=False` when several sessions share the cores (side-by-side timing): ORT's idle
        intra-op threads otherwise spin after each run and steal the cores from the next session."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        if not spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        wanted = providers or ["CPUExecutionProvider"]
        try:
            with warnings.catch_warnings():  # "provider not available": reported below, as one line
                warnings.simplefilter("ignore", UserWarning)
                self.session = ort.InferenceSession(str(path), options, providers=wanted)
        except Exception as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise InputError(f"ONNX Runtime cannot load {path} ({first[:200]}); re-export it with `mc export`") from None
        asked = [spec if isinstance(spec, str) else spec[0] for spec in wanted]
        if asked[0] != "CPUExecutionProvider" and asked[0] not in self.session.get_providers():
            # ORT falls back to the CPU silently when a GPU provider fails to initialise; a bench must not.
            raise InputError(
                f"ONNX Runtime did not enable {asked[0]} for {path} (it runs on {', '.join(self.session.get_providers())}); "
                "check `mc doctor` for the GPU libraries it needs"
            )
        self.providers = self.session.get_providers()
        if asked[0] != "CPUExecutionProvider":
            self.name = "onnxruntime-" + ("tensorrt" if asked[0] == "TensorrtExecutionProvider" else "cuda")
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [output.name for output in self.session.get_outputs()]

    def predict(self, batch: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})
