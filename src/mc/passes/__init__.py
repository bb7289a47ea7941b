"""Optimization passes: one module per pass, each a typed config (`PassConfig`) and its `run`.

The registry imports none of them: this package imports every public module in it, whose
`@register_pass` registers its pass (as timm's `__init__` imports its model families). A new pass
is one new module here; modules whose names start with `_` are the passes' shared machinery.
"""

import importlib
import pkgutil

from mc.passes._apply import apply_pass
from mc.passes._context import PassContext, source_artifact
from mc.passes._contract import WHOLE_NODE, PassConfig
from mc.passes._registry import pass_types, run_pass

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["WHOLE_NODE", "PassConfig", "PassContext", "apply_pass", "pass_types", "run_pass", "source_artifact"]
