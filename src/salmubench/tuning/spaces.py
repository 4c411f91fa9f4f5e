"""The search space of every method: one small grid each (3-6 trials), docs/tuning.md.

Gradient methods search mainly the AdamW peak learning rate, the knob that decides how far a
budget-1x run moves (code default before tuning: 1e-4 everywhere). Where one method-specific knob
matters more than the learning rate, it replaces part of the lr grid:

* training-free methods have no lr: ``ssd`` searches its selection threshold α and dampening λ,
  ``slug`` its forget drop target and retain tolerance, ``label_correction`` its rate τ;
* ``task_vector`` searches the negation scale λ together with the lr of its forget fine-tuning;
* ``direct_sim_min`` / ``neg_grad`` (unbounded objectives) search lower learning rates, and
  ``direct_sim_min`` also its optional retain term;
* ``l1_sparse`` searches the ℓ1 weight γ together with the lr.

A grid is ``{config key: [values]}``; trials are its Cartesian product in key order. Every key must
be a field of the method's config (checked by a test). Values were picked before the search from
the method cards and earlier exploratory runs, not from test numbers.
"""

from __future__ import annotations

import itertools
from typing import Any

from salmubench.errors import ConfigError

LR_GRID = [1e-4, 3e-4, 1e-3, 3e-3]

SPACES: dict[str, dict[str, list[Any]]] = {
    # the original paper's baselines
    "finetune": {"lr": LR_GRID},
    "neg_grad": {"lr": [1e-5, 3e-5, 1e-4]},
    "shuffled_captions": {"lr": LR_GRID},
    "generic_captions": {"lr": LR_GRID},
    "direct_sim_min": {"lr": [1e-5, 3e-5], "retain_weight": [0.0, 1.0]},
    "multidelete": {"lr": LR_GRID},
    "delete_salmu": {"lr": LR_GRID},
    "cliperase_salmu": {"lr": LR_GRID},
    # the field's methods
    "grad_diff": {"lr": [3e-5, 1e-4, 3e-4, 1e-3]},
    "npo": {"lr": LR_GRID},
    "salun": {"lr": LR_GRID},
    "l1_sparse": {"lr": [1e-4, 1e-3], "gamma": [1e-5, 1e-4]},
    "scrub": {"lr": [3e-5, 1e-4, 3e-4]},
    "delete": {"lr": LR_GRID},
    "cliperase": {"lr": LR_GRID},
    "ssd": {"alpha": [6.0, 8.0, 9.5], "dampening": [1.0, 3.0]},
    "task_vector": {"scale": [1.0, 3.0], "lr": [3e-4, 1e-3]},
    "slug": {"forget_drop": [0.5, 1.0], "retain_tolerance": [0.15, 0.5]},
    "label_correction": {"tau": [0.002, 0.005, 0.01, 0.02]},
}


def grid(method: str, spaces: dict[str, dict[str, list[Any]]] | None = None) -> list[dict[str, Any]]:
    """The trials (override dicts) of ``method``'s grid, in a stable order; ConfigError if none."""
    spaces = SPACES if spaces is None else spaces
    if method not in spaces:
        raise ConfigError(f"no search space for method {method!r}; have: {', '.join(sorted(spaces))}")
    space = spaces[method]
    keys = list(space)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(space[k] for k in keys))]
