"""The model family and the ways a user's own model enters mc.

The registry imports none of the families; this package imports each family module, whose
`@register_model` registers it (timm-style).
"""

from mc.models._registry import ModelEntry, create_model, get_model_entry, model_names, register_model
from mc.models import cpu_mlp, gru, memory_transformer, mobile  # noqa: E402,F401  (registers each family)

__all__ = ["ModelEntry", "create_model", "get_model_entry", "model_names", "register_model"]
