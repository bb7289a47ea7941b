"""Optimization passes: one module per pass, each a typed config plus its `run` function."""

from mc.passes._registry import pass_config_types, run_pass

__all__ = ["pass_config_types", "run_pass"]
