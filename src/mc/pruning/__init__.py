"""Structured pruning that shrinks layers (via Torch-Pruning) and permanent unstructured sparsity."""
