"""salmubench: sensitive association-level unlearning benchmark for CLIP-style models.

Importing the package first pins CPU numerics to the AVX2 code paths of torch, MKL, oneDNN and
OpenBLAS (:mod:`salmubench.runtime`), so the same seed gives the same bytes on every x86-64 machine.

The public API, re-exported lazily (``import salmubench`` imports neither torch nor numpy; each name
loads its module on first use)::

    import salmubench as sb

    sb.generate_dataset("data", preset="tiny")                       # a procedural SALMU dataset
    ds = sb.load_dataset("data")                                     # SalmuDataset
    sb.train_reference("compromised", "data", "models/compromised")  # and "clean"
    model = sb.load_model("models/compromised")                      # ClipBundle
    sb.unlearn("npo", "models/compromised", "data", "models/npo")    # or "my_method.py:MyMethod"
    sb.unlearn("npo", "models/compromised", "data", "models/npo_seq", requests=5, clean="models/clean")
    result = sb.evaluate("models/npo", "data", "results/npo")        # EvalResult (result.json)
    sb.attack("models/npo", "data", "results/npo", references="results")  # recovery attacks (attack.json)
    sb.run_benchmark(sb.RunConfig(preset="tiny", out="runs/tiny"))   # all of it, cached
    @sb.register_method("my_method") ...                             # docs/adding_a_method.md
"""

from salmubench.runtime import pin_cpu_numerics

pin_cpu_numerics()

from salmubench.version import __version__  # noqa: E402

_EXPORTS = {  # public name -> module defining it (imported on first access)
    "load_dataset": "salmubench.data.io",
    "generate_dataset": "salmubench.data.generate",
    "load_model": "salmubench.models",
    "evaluate": "salmubench.evaluation.evaluator",
    "unlearn": "salmubench.api",
    "unlearn_sequential": "salmubench.sequential.api",
    "ExecContext": "salmubench.execution",
    "train_reference": "salmubench.training.reference",
    "run_benchmark": "salmubench.pipeline",
    "RunConfig": "salmubench.pipeline",
    "register_method": "salmubench.unlearning.registry",
    "register_metric": "salmubench.evaluation.registry",
    "attack": "salmubench.attacks.api",
    "register_attack": "salmubench.attacks.base",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'salmubench' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
