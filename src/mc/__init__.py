"""mc: a model-optimization toolkit for small consciousness models on edge targets."""

__version__ = "0.1.0"
