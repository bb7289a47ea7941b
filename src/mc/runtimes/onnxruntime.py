"""ONNX Runtime on the CPU (other providers arrive with the GPU path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mc.errors import InputError


class OnnxRuntimePredictor:
    name = "onnxruntime"

    def __init__(self, path: Path, threads: int | None = None, providers: list[str] | None = None,
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
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers or ["CPUExecutionProvider"])
        except Exception as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise InputError(f"ONNX Runtime cannot load {path} ({first[:200]}); re-export it with `mc export`") from None
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [output.name for output in self.session.get_outputs()]

    def predict(self, batch: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})
