"""Compilation: one module per backend, each registering a `CompileBackend` (see `_backend`).

Backends: `tensorrt` (Torch-TensorRT, dynamo path), `torch-compile` (AOTInductor: a saved, compiled
package for CUDA or this CPU), `ort-cuda` and `ort-tensorrt` (ONNX Runtime's GPU execution
providers), `executorch` (a `.pte` with the XNNPACK delegate) and `openvino` (OpenVINO IR). The
registry imports none of them; this package does, as timm's `__init__` does. Heavy libraries load
inside the functions that need them, never at import.
"""

from mc.compilation._backend import (
    BuildRequest, Built, CompileBackend, backends_for_runtime, compile_backends, get_backend, register_backend,
)
from mc.compilation import tensorrt, aoti, ort, executorch, openvino  # noqa: F401,I001  (each registers its backend; this order is doctor's)

__all__ = ["BuildRequest", "Built", "CompileBackend", "backends_for_runtime", "compile_backends", "get_backend", "register_backend"]
