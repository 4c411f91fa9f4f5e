"""Unlearning methods, one module each, registered on the first lookup of the method registry.

``salmubench.unlearning.registry.METHODS`` imports every module of this folder (``pkgutil``, not
those starting with ``_``), so adding ``my_method.py`` with a ``@register_method("my_method")``
class is all it takes (see docs/adding_a_method.md).
"""
