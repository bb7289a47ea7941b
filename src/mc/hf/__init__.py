"""Hugging Face models in mc: local model directories, the memory-augmented transformer of the zoo,
export through Optimum (and torch.onnx for the wrapper), embedding-faithful quantization and a
text bench. Everything here that needs transformers or Optimum imports them lazily, so that
`mc --help` stays fast and a host without the `hf` extra gets one line naming it.
"""
