"""One generic registry for methods, metrics, attacks and presets.

Register where you define (decorator), look up by lowercase key, get a "did you mean" error
listing the valid keys on a miss (:func:`unknown_name_message`, also used where names are not
registered objects: recipe files, a run's methods). Duplicate keys raise. Optionally a registry

* fills itself on its first lookup: it imports every module of ``package`` (not those starting
  with ``_``; sorted; once), whose decorators register, then loads the ``entry_points`` group of
  the installed distributions (a plugin that fails to load is a warning, and looking its name up
  raises why);
* checks what is registered: with ``base``, only subclasses of it (TypeError otherwise);
* lists names in registration order (``sort=False``) instead of sorted.

Light on purpose (no torch, no numpy): the leaderboard and ``import salmubench`` use it.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import pkgutil
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

from salmubench.errors import ConfigError

T = TypeVar("T")


def unknown_name_message(what: str, name: str, choices: Iterable[str], *, n: int = 3,
                         also: Iterable[str] = ()) -> str:
    """The one-line error of an unknown ``name``: ``<what> 'name'. Did you mean: a, b? Available: ...``.

    ``what`` opens the message (``"Unknown method"``, ``"unknown recipe"``); the suggestions are the
    ``n`` closest of ``choices``, which are then all listed in their order (``(none)`` if empty),
    followed by ``also``: valid values that are never suggested (the recipe spec ``none``).
    """
    choices = list(choices)
    close = difflib.get_close_matches(name, choices, n=n)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return f"{what} {name!r}.{hint} Available: {', '.join([', '.join(choices) or '(none)', *also])}"


class Registry(Generic[T]):
    """A name -> object mapping with decorator registration and helpful lookup errors.

    Args:
        kind: what is registered, for messages (``method``).
        package: dotted package whose modules register on import; imported on the first lookup.
        entry_points: ``importlib.metadata`` entry-point group loaded on the first lookup (after
            ``package``).
        adopt: ``adopt(name, obj, origin)`` registers an entry point's loaded object (default:
            ``register(name)(obj)``); ``origin`` is ``entry point NAME = VALUE``.
        base: when given, only subclasses of it may be registered.
        sort: list names sorted (default) or in registration order.
    """

    def __init__(self, kind: str, *, package: str | None = None, entry_points: str | None = None,
                 adopt: Callable[[str, Any, str], object] | None = None, base: type | None = None,
                 sort: bool = True) -> None:
        self.kind = kind
        self.package = package
        self.entry_points = entry_points
        self.base = base
        self.sort = sort
        self._adopt = adopt
        self._items: dict[str, T] = {}
        self._loaded = False
        self.plugin_errors: dict[str, str] = {}  # entry-point name -> why it could not be loaded

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name`` (lowercase snake_case, unique)."""
        if name != name.lower() or not name.replace("_", "").isalnum():
            raise ValueError(f"{self.kind} name {name!r} must be lowercase snake_case")

        def decorator(obj: T) -> T:
            self.check(name, obj)
            if name in self._items:
                raise ValueError(f"duplicate {self.kind} {name!r}")
            self._items[name] = obj
            return obj

        return decorator

    def check(self, name: str, obj: object) -> None:
        """TypeError unless ``obj`` may be registered as ``name`` (a subclass of ``base``, if given)."""
        if self.base is not None and not (isinstance(obj, type) and issubclass(obj, self.base)):
            raise TypeError(f"{self.kind} {name!r} must be a subclass of {self.base.__module__}."
                            f"{self.base.__qualname__}, not {obj!r:.80}")

    def load(self) -> Registry[T]:
        """Import ``package``'s modules, then load the ``entry_points`` (once; lookups call it)."""
        if self._loaded:
            return self
        self._loaded = True  # first: modules being imported look names up while they register
        try:
            if self.package is not None:
                package = importlib.import_module(self.package)
                for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
                    if not info.name.startswith("_"):
                        importlib.import_module(f"{self.package}.{info.name}")
            if self.entry_points is not None:
                self.load_entry_points()
        except BaseException:
            self._loaded = False  # a failed import is retried (and fails again, loudly) on the next lookup
            raise
        return self

    def load_entry_points(self) -> None:
        """Register the objects of the installed distributions' ``entry_points`` group.

        A plugin that fails to load (import error, wrong type, name clash) does not break the others:
        a warning is issued and looking its name up raises the reason.
        """
        from importlib.metadata import entry_points

        for ep in entry_points(group=self.entry_points):
            try:
                obj = ep.load()
                if self._adopt is not None:
                    self._adopt(ep.name, obj, f"entry point {ep.name} = {ep.value}")
                elif self._items.get(ep.name) is not obj:
                    self.register(ep.name)(obj)
            except Exception as exc:  # noqa: BLE001 - any plugin failure becomes one line
                message = str(exc) if isinstance(exc, ConfigError) else f"{exc.__class__.__name__}: {exc}"
                self.plugin_errors[ep.name] = (f"{self.kind} plugin {ep.name!r} ({ep.value}) could not be "
                                               f"loaded: {message}")
                warnings.warn(self.plugin_errors[ep.name], stacklevel=2)

    def get(self, name: str) -> T:
        """Return the object registered as ``name`` or raise ConfigError with suggestions."""
        self.load()
        try:
            return self._items[name]
        except KeyError:
            raise ConfigError(self.plugin_errors.get(name) or self._unknown_message(name)) from None

    def peek(self, name: str) -> T | None:
        """The object registered as ``name`` so far, or None: loads nothing (for use while registering)."""
        return self._items.get(name)

    def _unknown_message(self, name: str) -> str:
        return unknown_name_message(f"Unknown {self.kind}", name, self.names())

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching an fnmatch ``pattern``, sorted (or in registration order)."""
        self.load()
        names = [n for n in self._items if fnmatch.fnmatch(n, pattern)]
        return sorted(names) if self.sort else names

    def items(self) -> Iterator[tuple[str, T]]:
        """(name, object) pairs in :meth:`names` order."""
        for name in self.names():
            yield name, self._items[name]

    def __contains__(self, name: object) -> bool:
        self.load()
        return name in self._items

    def __len__(self) -> int:
        self.load()
        return len(self._items)
