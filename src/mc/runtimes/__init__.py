"""Runtimes: one opener (`open_model`) turns any artifact into a Predictor with
`predict(inputs) -> outputs`, on the runtime, providers and threads the target profile chooses.

One module per runtime (onnxruntime, torch_eager, compiled_torch, text); `mc.artifact.kind_of_spec`
names what a MODEL string is without importing any model library; `costs` prices a model for the
roofline; `availability` says which backends this host can run; `ort_binding` reads how `mc compile`
bound an ONNX file to a GPU provider.
"""

from mc.runtimes._predictor import Predictor, predict_all
from mc.runtimes.compiled_torch import open_compiled_program
from mc.runtimes.onnxruntime import open_onnx
from mc.runtimes.opener import OpenedModel, open_model, threads_for, workload_of
from mc.runtimes.text import open_text_session

__all__ = ["OpenedModel", "Predictor", "open_compiled_program", "open_model", "open_onnx", "open_text_session", "predict_all",
           "threads_for", "workload_of"]
