"""Recovery attacks: is the forgotten knowledge erased, or only hidden? (docs/attacks.md)

One registered function per attack, one file each under ``salmubench/attacks/suite/``:

* ``relearn``: fine-tune on 10% of the forget associations, measure the other 90%;
* ``benign_finetune``: fine-tune on retain data only, measure the forget split;
* ``quantize``: 8- and 4-bit row-wise post-training quantization;
* ``mia``: cosine-threshold membership inference, forget pairs vs never-seen pairs (``extra/unseen``);
* ``paraphrase``: RetFail with captions in held-out paraphrase styles.

Every attack runs the same way, seeded, on every model, the two references included; positions
``(x - x_clean) / (x_comp - x_clean)`` compare each model with the references under the same
attack. Entry point: :func:`salmubench.attacks.api.attack` (``salmubench attack``), which writes
``attack.json`` (:mod:`salmubench.attacks.results`). This package's ``__init__``, ``base``,
``scoring`` and ``results`` import no torch (the leaderboard reads attack files).
"""

from salmubench.attacks.base import (
    ATTACKS,
    SUITE_VERSION,
    AttackContext,
    AttackOutput,
    AttackSpec,
    Measure,
    attack_names,
    get_attack,
    load_attacks,
    register_attack,
    suite_constants,
    suite_hash,
)

__all__ = ["ATTACKS", "SUITE_VERSION", "AttackContext", "AttackOutput", "AttackSpec", "Measure", "attack_names",
           "get_attack", "load_attacks", "register_attack", "suite_constants", "suite_hash"]
