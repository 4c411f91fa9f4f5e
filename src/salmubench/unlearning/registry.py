"""The method registry: ``@register_method("name")`` in the method's own file, lookup by name.

``METHODS.get("grad_dif")`` raises ``ConfigError: Unknown method 'grad_dif'. Did you mean: grad_diff?
Available: ...``. Every module in ``unlearning/methods/`` is imported on first lookup, so a new file
is all it takes to add a method.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from salmubench.config import build_config
from salmubench.registry import Registry
from salmubench.unlearning.base import Runtime, UnlearningMethod

METHODS: Registry[type[UnlearningMethod]] = Registry("method")
_loaded = False


def register_method(name: str) -> Callable[[type[UnlearningMethod]], type[UnlearningMethod]]:
    """Class decorator: register an UnlearningMethod subclass under ``name`` and set ``cls.name``."""
    add = METHODS.register(name)

    def decorator(cls: type[UnlearningMethod]) -> type[UnlearningMethod]:
        if not (isinstance(cls, type) and issubclass(cls, UnlearningMethod)):
            raise TypeError(f"@register_method({name!r}) must decorate an UnlearningMethod subclass")
        cls.name = name
        return add(cls)

    return decorator


def load_methods() -> None:
    """Import every module of ``salmubench.unlearning.methods`` (runs their decorators) once."""
    global _loaded
    if not _loaded:
        import salmubench.unlearning.methods  # noqa: F401 - imports all method modules

        _loaded = True


def get_method(name: str) -> type[UnlearningMethod]:
    """The method class registered as ``name`` (ConfigError naming the valid ones otherwise)."""
    load_methods()
    return METHODS.get(name)


def method_names(pattern: str = "*") -> list[str]:
    """Sorted names of the registered methods matching an fnmatch ``pattern``."""
    load_methods()
    return METHODS.names(pattern)


def list_methods(pattern: str = "*") -> list[tuple[str, str]]:
    """``[(name, one-line description)]`` of the registered methods, for ``salmubench ls methods``."""
    load_methods()
    return [(name, cls.summary()) for name, cls in METHODS.items() if name in METHODS.names(pattern)]


def create_method(name: str, overrides: dict[str, Any] | None = None,
                  runtime: Runtime | None = None) -> UnlearningMethod:
    """Instantiate method ``name`` with its config built from ``overrides`` (unknown keys fail)."""
    cls = get_method(name)
    cfg = build_config(cls.config_cls, overrides, what=f"{name} config")
    return cls(cfg, runtime)
