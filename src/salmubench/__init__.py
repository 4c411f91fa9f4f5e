"""salmubench: sensitive association-level unlearning benchmark for CLIP-style models.

Importing the package first pins CPU numerics to the AVX2 code paths of torch, MKL, oneDNN and
OpenBLAS (:mod:`salmubench.runtime`), so the same seed gives the same bytes on every x86-64 machine.
The public API is re-exported lazily from the submodules so that ``import salmubench`` stays
cheap (no torch import) for data and leaderboard work.
"""

from salmubench.runtime import pin_cpu_numerics

pin_cpu_numerics()

from salmubench.version import __version__  # noqa: E402

__all__ = ["__version__"]
