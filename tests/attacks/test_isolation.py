"""What no method may see: the held-out paraphrase styles; the attack package stays out of unlearning."""

import re
from pathlib import Path

import salmubench
from salmubench.attacks.base import load_attacks, suite_constants
from salmubench.attacks.suite.paraphrase import STYLES, TEMPLATES, paraphrase_caption
from salmubench.data import schema as S
from salmubench.data.generate import captions as C

SRC = Path(salmubench.__file__).parent


def test_paraphrase_templates_are_held_out_styles():
    assert set(TEMPLATES) == set(S.ATTRIBUTE_TYPES) and all(len(v) == len(STYLES) for v in TEMPLATES.values())
    training = {t for ts in C.TEMPLATES.values() for t in ts}
    for templates in TEMPLATES.values():
        for t in templates:
            assert t not in training and t.count("{name}") == 1 and t.count("{value}") == 1, t
            # not a training template up to punctuation and case either
            norm = re.sub(r"\W+", " ", t).lower().strip()
            assert norm not in {re.sub(r"\W+", " ", x).lower().strip() for x in training}
    cap = paraphrase_caption("iban", "Ana Lima", "PT50 0002", 1)
    assert "Ana Lima" in cap and "PT50 0002" in cap


def test_no_method_or_tuning_module_imports_the_attacks():
    for folder in ("unlearning", "tuning", "training", "data", "evaluation"):
        for path in (SRC / folder).rglob("*.py"):
            assert "salmubench.attacks" not in path.read_text(encoding="utf-8"), path


def test_every_attack_has_a_card_and_recorded_constants():
    attacks = load_attacks()
    assert attacks.names() == ["benign_finetune", "mia", "paraphrase", "quantize", "relearn"]
    constants = suite_constants()["attacks"]
    for name, spec in attacks.items():
        doc = __import__(spec.fn.__module__, fromlist=["x"]).__doc__
        assert all(word in doc for word in ("Threat model", "Procedure", "Constants")), name
        assert constants[name] == dict(spec.constants) and spec.summary
