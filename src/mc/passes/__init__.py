"""Optimization passes: one module per pass, each a typed config (`PassConfig`) and its `run`.

The registry imports none of them; importing this package imports each pass module, whose
`@register_pass` registers it (as timm's `__init__` imports its model families).
"""

from mc.passes import compile, distill, export, prune, quantize, train  # noqa: F401  (registers each pass)
from mc.passes._apply import apply_pass
from mc.passes._context import PassContext, source_artifact
from mc.passes._contract import PassConfig
from mc.passes._registry import pass_types, run_pass

__all__ = ["PassConfig", "PassContext", "apply_pass", "pass_types", "run_pass", "source_artifact"]
