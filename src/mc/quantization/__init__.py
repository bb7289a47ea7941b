"""ONNX Runtime and torch quantization: schemes, calibration, per-op precision, the auto search."""
