"""salmubench: sensitive association-level unlearning benchmark for CLIP-style models.

The public API is re-exported lazily from the submodules so that ``import salmubench`` stays
cheap (no torch import) for data and leaderboard work.
"""

from salmubench.version import __version__

__all__ = ["__version__"]
