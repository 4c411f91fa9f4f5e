"""Shared helpers for the unlearning math tests."""

from salmubench.unlearning import Runtime, get_method


def make(name, model, data, seed=0, **overrides):
    """A set-up method instance (teacher built, prepare run) for ``model``."""
    cls = get_method(name)
    method = cls(cls.config_cls(**overrides), Runtime(seed=seed))
    method.setup(model, data)
    return method
