"""Model creation, loading and saving through open_clip (no forked model code)."""

from salmubench.models.checkpoint import load_model, save_model
from salmubench.models.factory import ClipBundle, create_model, list_model_configs
from salmubench.models.identity import model_architecture

__all__ = ["ClipBundle", "create_model", "list_model_configs", "load_model", "model_architecture", "save_model"]
