"""The grid of a method: its ``search_space`` class attribute, declared beside its config.

A method declares ``search_space = {config key: [values]}`` in its own file (docs/adding_a_method.md);
trials are the Cartesian product in key order. Every key must be a field of the method's config
(``salmubench.testing.check_method`` checks it). A method without a search space still runs, but
``salmubench tune`` refuses it with a one-line error. How the built-in grids were chosen (versions
1-5, validation-slice proxies only): docs/tuning.md.
"""

from __future__ import annotations

import itertools
from typing import Any

from salmubench.errors import ConfigError


def grid(method: str) -> list[dict[str, Any]]:
    """The trials (override dicts) of ``method``'s search space, in a stable order; ConfigError if none.

    ``method`` is a registered name or an external spec (``path.py:Class``, ``pkg.module:Class``).
    """
    from salmubench.unlearning.registry import resolve_method

    cls = resolve_method(method)
    space = cls.search_space
    if not space:
        raise ConfigError(f"method {cls.name!r} declares no search_space, so it cannot be tuned "
                          f"(add search_space = {{'lr': [...]}} beside its config)")
    keys = list(space)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(space[k] for k in keys))]
