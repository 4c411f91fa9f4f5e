"""Explicit, named random generators: every random draw in salmubench comes from one of these.

``rng_for(seed, "personas", "00000012")`` derives an independent numpy Generator from a base seed
and a path of names, so adding a new random draw somewhere never shifts the draws elsewhere.
"""

from __future__ import annotations

import hashlib

import numpy as np


def derive_seed(seed: int, *names: str | int) -> int:
    """A 63-bit integer seed derived from ``seed`` and ``names`` with sha256 (stable across runs)."""
    key = ":".join([str(seed), *map(str, names)]).encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "little") >> 1


def rng_for(seed: int, *names: str | int) -> np.random.Generator:
    """An independent numpy Generator for the stream ``names`` under ``seed``."""
    return np.random.default_rng(derive_seed(seed, *names))


def torch_generator_for(seed: int, *names: str | int):
    """An independent ``torch.Generator`` on CPU (imports torch lazily)."""
    import torch

    gen = torch.Generator()
    gen.manual_seed(derive_seed(seed, *names))
    return gen
