"""Compilation for GPU backends: one module per backend, plus what this host can run (`availability`).

Backends: `tensorrt` (Torch-TensorRT, dynamo path), `torch-compile` (AOTInductor: a saved, compiled
package for CUDA or this CPU), `ort-cuda` and `ort-tensorrt` (ONNX Runtime's GPU execution
providers). Heavy libraries load inside the functions that need them, never at import.
"""
