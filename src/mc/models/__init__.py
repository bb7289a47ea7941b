"""The model family and the ways a user's own model enters mc."""

from mc.models._registry import ModelEntry, create_model, get_model_entry, model_names, register_model

__all__ = ["ModelEntry", "create_model", "get_model_entry", "model_names", "register_model"]
