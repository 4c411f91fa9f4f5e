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
be a field of the method's config (checked by a test). Version 1 of these grids (lr in
{1e-4, 3e-4, 1e-3, 3e-3} for most methods) was run once on the previous ``mini`` references; where
its best point sat on an edge of the grid or between two far-apart points, version 2 moved or
refined the grid; version 3 (below) extends every grid edge that version 2's choice on the retrained
references sat on by one step. Only validation-slice proxies were looked at, never test numbers
(docs/tuning.md).
"""

from __future__ import annotations

import itertools
from typing import Any

from salmubench.errors import ConfigError

SPACES: dict[str, dict[str, list[Any]]] = {
    # the original paper's baselines
    "finetune": {"lr": [3e-4, 1e-3, 3e-3, 1e-2]},
    "neg_grad": {"lr": [3e-5, 6e-5, 1e-4, 2e-4]},
    "shuffled_captions": {"lr": [3e-4, 1e-3, 3e-3], "retain_batch_size": [32, 128]},
    "generic_captions": {"lr": [3e-4, 1e-3, 3e-3, 1e-2]},
    "direct_sim_min": {"lr": [1e-4, 2e-4, 3e-4], "retain_weight": [0.0, 1.0]},
    "multidelete": {"lr": [3e-5, 1e-4, 2e-4, 3e-4]},
    "delete_salmu": {"lr": [5e-5, 1e-4, 1.5e-4, 2e-4, 3e-4]},
    "cliperase_salmu": {"lr": [5e-5, 1e-4, 1.5e-4, 2e-4, 3e-4]},
    # the field's methods
    "grad_diff": {"lr": [5e-5, 1e-4, 2e-4]},
    "npo": {"lr": [3e-5, 1e-4, 2e-4, 3e-4]},
    "salun": {"lr": [3e-4, 6e-4, 1e-3], "saliency_ratio": [0.1, 0.25]},
    "salun_ssd": {"lr": [5e-3, 7e-3, 1e-2], "saliency_ratio": [0.02]},
    "l1_sparse": {"lr": [3e-4, 6e-4, 1e-3, 2e-3], "gamma": [1e-5]},
    "scrub": {"lr": [2e-5, 3.5e-5, 5e-5, 7e-5, 1e-4]},
    "delete": {"lr": [3e-4, 1e-3, 3e-3, 1e-2]},
    "cliperase": {"lr": [3e-5, 1e-4, 2e-4, 3e-4]},
    "ssd": {"alpha": [9.5, 9.9], "dampening": [0.6, 0.8, 1.0]},
    "task_vector": {"scale": [5.0, 8.0, 12.0], "lr": [6e-5, 1e-4]},
    "slug": {"retain_tolerance": [2.0, 4.0, 8.0], "forget_drop": [0.5, 1.0]},
    "label_correction": {"tau": [0.02, 0.05, 0.1, 0.2, 0.5, 1.0]},
}


def grid(method: str, spaces: dict[str, dict[str, list[Any]]] | None = None) -> list[dict[str, Any]]:
    """The trials (override dicts) of ``method``'s grid, in a stable order; ConfigError if none."""
    spaces = SPACES if spaces is None else spaces
    if method not in spaces:
        raise ConfigError(f"no search space for method {method!r}; have: {', '.join(sorted(spaces))}")
    space = spaces[method]
    keys = list(space)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(space[k] for k in keys))]
