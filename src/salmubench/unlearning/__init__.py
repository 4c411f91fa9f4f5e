"""Unlearning: one interface, one registry, one runner with a shared budget (METHODS.md).

Add a method by writing one file, in ``salmubench/unlearning/methods/`` or anywhere else
(``--method path/to/file.py:Class``; docs/adding_a_method.md)::

    from salmubench.unlearning import Batch, GradientMethod, MethodConfig, register_method
"""

from salmubench.unlearning.base import (
    Batch,
    Budget,
    CostMeter,
    MethodConfig,
    Runtime,
    UnlearningError,
    UnlearningMethod,
    frozen_copy,
)
from salmubench.unlearning.data import UnlearnData, build_unlearn_data, make_unlearn_data
from salmubench.unlearning.registry import (
    METHODS,
    create_method,
    get_method,
    list_methods,
    method_names,
    register_method,
)
from salmubench.unlearning.runner import GradientMethod, StepContext


def unlearn(*args, **kwargs):
    """See :func:`salmubench.unlearning.api.unlearn` (imported lazily: it loads model/data IO)."""
    from salmubench.unlearning.api import unlearn as _unlearn

    return _unlearn(*args, **kwargs)


__all__ = [
    "METHODS", "Batch", "Budget", "CostMeter", "GradientMethod", "MethodConfig", "Runtime", "UnlearnData",
    "UnlearningError", "UnlearningMethod", "build_unlearn_data", "create_method", "frozen_copy", "get_method",
    "list_methods", "make_unlearn_data", "method_names", "register_method", "StepContext", "unlearn",
]
