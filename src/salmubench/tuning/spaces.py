"""The grid of a method: its ``search_space`` class attribute, declared beside its config.

A method declares ``search_space = {config key: [values]}`` in its own file (docs/adding_a_method.md);
trials are the Cartesian product in key order. Every key must be a field of the method's config
(``salmubench.testing.check_method`` checks it). A method without a search space still runs, but
``salmubench tune`` refuses it with a one-line error. How the built-in grids were chosen (versions
1-5, validation-slice proxies only): docs/tuning.md.

**Per architecture** (issue 21; docs/tuning.md, "Search spaces per architecture"). The declared grids
were fixed on the 32-px ``salmu-tiny`` references, and are the space of every architecture whose images
are smaller than :data:`LARGE_IMAGE_SIZE` (224 px), unchanged. For a *large-image* architecture
(``image_size >= 224``: ViT-B/16 and the like) the space is the method's ``search_space_by_arch["large"]``
when it declares one, else its ``search_space`` with the ``lr`` values replaced by :data:`LARGE_IMAGE_LRS`
(1e-7 to 1e-5 in half-decade steps: the SALMUBench harness ran ViT-B/16 at 1e-7, the 32-px grids start at
1e-5); the other keys keep their values.
"""

from __future__ import annotations

import itertools
from typing import Any

from salmubench.errors import ConfigError

LARGE_IMAGE_SIZE = 224  # an architecture with images this large or larger searches the "large" space
LARGE_IMAGE_LRS = [1e-7, 3e-7, 1e-6, 3e-6, 1e-5]  # its lr values (when the method declares no "large" space)
SIZE_CLASSES = ("small", "large")


def size_class(arch: dict[str, Any] | None) -> str:
    """``"large"`` for an architecture identity (``salmubench.models.model_architecture``) with
    ``image_size >= LARGE_IMAGE_SIZE``, else ``"small"`` (also when ``arch`` is None or its size unknown)."""
    size = (arch or {}).get("image_size")
    return "large" if isinstance(size, int) and size >= LARGE_IMAGE_SIZE else "small"


def method_space(cls: Any, arch: dict[str, Any] | None = None) -> tuple[dict[str, list[Any]], str]:
    """``(space, rule)`` of method class ``cls`` on architecture ``arch`` (module docstring); ``rule`` names
    where the space came from: ``search_space``, ``search_space_by_arch[large]`` or ``search_space, lr: 1e-7..1e-5``."""
    space = dict(cls.search_space or {})
    if size_class(arch) == "small":
        return space, "search_space"
    explicit = (getattr(cls, "search_space_by_arch", None) or {}).get("large")
    if explicit:
        return dict(explicit), "search_space_by_arch[large]"
    if "lr" not in space:
        return space, "search_space"
    return {k: list(LARGE_IMAGE_LRS) if k == "lr" else v for k, v in space.items()}, "search_space, lr: 1e-7..1e-5"


def space_record(method: str, arch: dict[str, Any] | None = None) -> dict[str, Any]:
    """What ``salmubench tune`` records about the space it searched on ``arch``."""
    from salmubench.unlearning.registry import resolve_method

    space, rule = method_space(resolve_method(method), arch)
    return {"size_class": size_class(arch), "image_size": (arch or {}).get("image_size"), "rule": rule,
            "space": space}


def grid(method: str, arch: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The trials (override dicts) of ``method``'s search space on architecture ``arch`` (an identity
    record of ``salmubench.models.model_architecture``; None: the declared grid), in a stable order;
    ConfigError if the method declares none.

    ``method`` is a registered name or an external spec (``path.py:Class``, ``pkg.module:Class``).
    """
    from salmubench.unlearning.registry import resolve_method

    cls = resolve_method(method)
    space, _ = method_space(cls, arch)
    if not space:
        raise ConfigError(f"method {cls.name!r} declares no search_space, so it cannot be tuned "
                          f"(add search_space = {{'lr': [...]}} beside its config)")
    keys = list(space)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(space[k] for k in keys))]
