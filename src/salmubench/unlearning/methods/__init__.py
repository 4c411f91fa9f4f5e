"""Unlearning methods, one module each; importing this package registers all of them.

Every module in this folder is imported with ``pkgutil``, so adding ``my_method.py`` with a
``@register_method("my_method")`` class is all it takes (see docs/adding_a_method.md).
"""

from __future__ import annotations

import importlib
import pkgutil

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")
