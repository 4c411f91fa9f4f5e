"""The method registry: ``@register_method("name")`` in the method's own file, lookup by name or spec.

``METHODS.get("grad_dif")`` raises ``ConfigError: Unknown method 'grad_dif'. Did you mean: grad_diff?
Available: ...``. Every module in ``unlearning/methods/`` is imported on first lookup, so a new file
is all it takes to add a built-in method. Methods from outside the package are named by a **spec**
wherever a method name is accepted (``unlearn``, ``run --methods``, ``tune``, ``ls methods``):

* ``path/to/my_method.py:MyMethod`` -- a Python file anywhere (imported once per process);
* ``my_pkg.module:MyMethod`` -- an importable module;
* an installed distribution's entry point in the group ``salmubench.methods``
  (``my_method = "my_pkg.module:MyMethod"``), loaded with the built-ins.

An external class is registered under the name its ``@register_method`` gives it, else (not decorated)
under the entry point's name or its class name in snake_case. A file that does not exist, a class that
is not an :class:`UnlearningMethod`, and a name that clashes with another method are one-line
``ConfigError``\\ s.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from salmubench.config import build_config
from salmubench.errors import ConfigError
from salmubench.registry import Registry
from salmubench.unlearning.base import Runtime, UnlearningMethod

ENTRY_POINT_GROUP = "salmubench.methods"
BUILTIN_PACKAGE = "salmubench.unlearning.methods"
# built-ins, then entry points, loaded on the first lookup; an entry point's object is checked and adopted
METHODS: Registry[type[UnlearningMethod]] = Registry(
    "method", package=BUILTIN_PACKAGE, entry_points=ENTRY_POINT_GROUP, base=UnlearningMethod,
    adopt=lambda name, obj, origin: _adopt(_as_method(obj, origin), name, origin))
_plugin_errors = METHODS.plugin_errors  # entry-point name -> why it could not be loaded
_external: dict[type[UnlearningMethod], str] = {}  # external class -> its spec or entry point


def register_method(name: str) -> Callable[[type[UnlearningMethod]], type[UnlearningMethod]]:
    """Class decorator: register an UnlearningMethod subclass under ``name`` and set ``cls.name``."""
    add = METHODS.register(name)  # checks the name's form now

    def decorator(cls: type[UnlearningMethod]) -> type[UnlearningMethod]:
        METHODS.check(name, cls)  # TypeError unless an UnlearningMethod subclass (before cls.name is set)
        _check_free(name, cls)
        cls.name = name
        return add(cls)

    return decorator


def _check_free(name: str, cls: type) -> None:
    """ConfigError if ``name`` is already taken by another class (a built-in or an earlier external)."""
    other = METHODS.peek(name)  # loads nothing: this runs while the built-ins are being imported
    if other is not None and other is not cls:
        where = "a built-in method" if other.__module__.startswith(BUILTIN_PACKAGE) else f"{other.__module__}"
        raise ConfigError(f"method name {name!r} of {cls.__module__}.{cls.__qualname__} clashes with {where} "
                          f"({other.__qualname__}); register it under another name")


def load_methods() -> None:
    """Import every built-in method module, then the ``salmubench.methods`` entry points (once)."""
    METHODS.load()


def load_entry_points() -> None:
    """Register the methods of installed distributions (group ``salmubench.methods``).

    A plugin that fails to load (import error, not a method, name clash) does not break the others:
    a warning is issued and looking its name up raises the reason.
    """
    METHODS.load_entry_points()


def _as_method(obj: Any, what: str) -> type[UnlearningMethod]:
    """``obj`` if it is a concrete UnlearningMethod subclass, else a one-line ConfigError."""
    if not (isinstance(obj, type) and issubclass(obj, UnlearningMethod)):
        raise ConfigError(f"{what} is not an unlearning method (expected a subclass of "
                          f"salmubench.unlearning.UnlearningMethod, got {type(obj).__name__} {obj!r:.60})")
    if inspect.isabstract(obj):
        missing = ", ".join(sorted(obj.__abstractmethods__))
        raise ConfigError(f"{what} is abstract (implement {missing}, or subclass GradientMethod and implement loss)")
    return obj


def _adopt(cls: type[UnlearningMethod], default_name: str, origin: str) -> type[UnlearningMethod]:
    """Register an external class (if its decorator did not) and remember where it came from."""
    registered = cls.name and cls.name in METHODS and METHODS.get(cls.name) is cls and "name" in cls.__dict__
    if not registered:
        register_method(default_name)(cls)
    _external.setdefault(cls, origin)
    return cls


def ensure_registered(cls: type[UnlearningMethod]) -> type[UnlearningMethod]:
    """``cls`` registered (built-ins first): a class imported directly rather than through a spec
    (e.g. in its own test) gets its decorator's name, else its class name in snake_case."""
    load_methods()
    cls = _as_method(cls, f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', cls)!s}")
    if cls.__module__.startswith(BUILTIN_PACKAGE):
        return cls
    return _adopt(cls, snake_case(cls.__name__), f"{cls.__module__}:{cls.__qualname__}")


def snake_case(name: str) -> str:
    """``MyMethod`` -> ``my_method`` (the registry name of an undecorated external class)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def _loaded_from(path: Path) -> Any:
    """The module already imported from the file ``path`` (by path or by name), else None."""
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve() == path:
            return module
    return None


def _import_file(path: Path) -> Any:
    """Import a Python file as a module (once per file: a module imported from it by name is reused)."""
    path = path.resolve()
    if (module := _loaded_from(path)) is not None:
        return module
    module_name = f"salmubench_external.{snake_case(path.stem)}_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"method file {path} cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except ConfigError:
        del sys.modules[module_name]
        raise
    except Exception as exc:  # noqa: BLE001 - the user's file: one line (``-v`` shows the traceback)
        del sys.modules[module_name]
        raise ConfigError(f"method file {path} failed to import ({exc.__class__.__name__}: {exc})") from exc
    return module


def _import_module(name: str) -> Any:
    try:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin and name not in sys.modules:  # imported by path already?
            module = _loaded_from(Path(spec.origin).resolve())
            if module is not None:
                return module
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"method module {name!r} not found ({exc}); give an importable module or a path "
                          f"ending in .py") from None
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"method module {name!r} failed to import ({exc.__class__.__name__}: {exc})") from exc


def is_spec(method: str) -> bool:
    """True for an external spec (``file.py:Class`` / ``module:Class``), False for a registry name."""
    return ":" in method


def resolve_method(method: str) -> type[UnlearningMethod]:
    """The method class named by ``method``: a registered name or an external spec (module docstring)."""
    load_methods()
    if not is_spec(method):
        return METHODS.get(method)  # for a plugin that failed to load: why
    source, _, attr = method.rpartition(":")
    if not source or not attr:
        raise ConfigError(f"method spec {method!r}: expected path/to/file.py:Class or package.module:Class")
    if source.endswith(".py") or "/" in source or "\\" in source:
        path = Path(source).expanduser()
        if not path.is_file():
            raise ConfigError(f"method file not found: {source} (method {method!r})")
        module = _import_file(path)
    else:
        module = _import_module(source)
    if not hasattr(module, attr):
        found = [n for n, o in vars(module).items() if isinstance(o, type) and issubclass(o, UnlearningMethod)
                 and o.__module__ == module.__name__]
        hint = f"; it defines: {', '.join(found)}" if found else "; it defines no UnlearningMethod subclass"
        raise ConfigError(f"{source} has no {attr!r}{hint}")
    cls = _as_method(getattr(module, attr), f"{method}")
    return _adopt(cls, snake_case(cls.__name__), method)


def method_origin(cls: type[UnlearningMethod]) -> str:
    """``built-in``, or the spec / entry point an external method was loaded from."""
    return _external.get(cls, "built-in" if cls.__module__.startswith(BUILTIN_PACKAGE) else cls.__module__)


def method_source_sha256(cls: type[UnlearningMethod]) -> str | None:
    """sha256 of an external method's source file (None for built-ins: the package version covers them)."""
    if method_origin(cls) == "built-in":
        return None
    path = getattr(sys.modules.get(cls.__module__), "__file__", None)
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path and Path(path).is_file() else None


def get_method(name: str) -> type[UnlearningMethod]:
    """The method class registered as ``name`` or named by a spec (ConfigError naming the valid ones)."""
    return resolve_method(name)


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
    """Instantiate method ``name`` (or spec) with its config built from ``overrides`` (unknown keys fail)."""
    cls = get_method(name)
    cfg = build_config(cls.config_cls, overrides, what=f"{cls.name} config")
    return cls(cfg, runtime)
