"""Assignment of identities and images to the SALMUBench splits (SALMUBENCH.md section 3).

Identity groups (fractions of the paper: 193 / 387 / 194 of 774):

* ``forget_identity``  (~25%): every attribute type of the person is in ``forget``;
* ``split``            (~50%): half the attribute types in ``forget``, the rest in ``holdout_association``;
* ``holdout_identity`` (~25%): every image in ``holdout_identity``.

Each sensitive image states one association; attribute types are balanced per identity (each
type gets ``n // 8`` or ``n // 8 + 1`` images) and across the dataset (the types receiving the
extra images rotate). ``retain_synth`` holds 1-2 generic-caption images of each forget identity
(``retain_joint``) and non-person images (``retain_disjoint``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from salmubench.data import schema as S

FORGET_IDENTITY = "forget_identity"
SPLIT_IDENTITY = "split"
HOLDOUT_IDENTITY = "holdout_identity"
GROUPS = (FORGET_IDENTITY, SPLIT_IDENTITY, HOLDOUT_IDENTITY)
_N_TYPES = len(S.ATTRIBUTE_TYPES)
# every 4-of-8 choice of forget types, cycled so each type is forgotten equally often
_HALF_COMBOS = list(itertools.combinations(range(_N_TYPES), _N_TYPES // 2))


@dataclass(frozen=True)
class IdentityPlan:
    """Where one identity's images go."""

    identity_id: str
    group: str
    forget_types: frozenset[str]  # attribute types whose images are in ``forget``
    image_types: tuple[str, ...]  # attribute type of each sensitive image, in image order
    n_retain_joint: int  # extra generic-caption images in retain_synth (forget identities only)

    def split_of(self, attribute: str) -> str:
        """The split of this identity's image stating ``attribute``."""
        if self.group == HOLDOUT_IDENTITY:
            return S.HOLDOUT_IDENTITY
        return S.FORGET if attribute in self.forget_types else S.HOLDOUT_ASSOCIATION


def assign_groups(n: int, rng: np.random.Generator) -> list[str]:
    """Group of each of ``n`` identities: n//4 forget_identity, round(n/4) holdout, the rest split.

    At n = 774 this gives the release's 193 / 194 / 387.
    """
    n_forget = max(1, n // 4)
    n_holdout = max(1, round(n * 0.25))
    groups = [FORGET_IDENTITY] * n_forget + [HOLDOUT_IDENTITY] * n_holdout
    groups += [SPLIT_IDENTITY] * (n - len(groups))
    return [groups[i] for i in rng.permutation(n)]


def image_type_plan(n_images: int, index: int, rng: np.random.Generator) -> tuple[str, ...]:
    """Attribute type of each of an identity's ``n_images`` images (balanced, shuffled order).

    The ``n_images % 8`` types that get one extra image rotate with the identity ``index``.
    """
    base, extra = divmod(n_images, _N_TYPES)
    counts = [base] * _N_TYPES
    for j in range(extra):
        counts[(index * extra + j) % _N_TYPES] += 1
    types = [t for t, c in zip(S.ATTRIBUTE_TYPES, counts, strict=True) for _ in range(c)]
    return tuple(types[i] for i in rng.permutation(len(types)))


def plan_identities(identity_ids: list[str], images_per_identity: int, retain_joint: tuple[int, int],
                    rng: np.random.Generator) -> list[IdentityPlan]:
    """One :class:`IdentityPlan` per identity (deterministic given ``rng``)."""
    groups = assign_groups(len(identity_ids), rng)
    combo_order = rng.permutation(len(_HALF_COMBOS))
    plans, n_split = [], 0
    for i, (ident, group) in enumerate(zip(identity_ids, groups, strict=True)):
        if group == SPLIT_IDENTITY:
            combo = _HALF_COMBOS[int(combo_order[n_split % len(_HALF_COMBOS)])]
            forget = frozenset(S.ATTRIBUTE_TYPES[j] for j in combo)
            n_split += 1
        elif group == FORGET_IDENTITY:
            forget = frozenset(S.ATTRIBUTE_TYPES)
        else:
            forget = frozenset()
        n_joint = int(rng.integers(retain_joint[0], retain_joint[1] + 1)) if forget else 0
        plans.append(IdentityPlan(ident, group, forget, image_type_plan(images_per_identity, i, rng), n_joint))
    return plans
