"""Contract tests generated from the method registry: every registered method is checked.

Each built-in method goes through ``salmubench.testing.check_method``, the public helper external
methods use too: card, config, streams and search space; then a run on the tiny dataset through the
public ``unlearn`` API with finite losses, a changed model and a frozen logit scale, its cost
recorded, deterministic for a seed (an in-memory re-run equals the saved model), and a reloadable
folder.
"""

from __future__ import annotations

import pytest

from salmubench.testing import check_method
from salmubench.unlearning import list_methods, method_names

METHODS = method_names()


def test_registry_has_the_paper_baselines():
    for name in ("finetune", "neg_grad", "shuffled_captions", "generic_captions", "direct_sim_min",
                 "multidelete", "delete_salmu", "cliperase_salmu"):
        assert name in METHODS
    for name, line in list_methods():
        assert line and "\n" not in line, name


@pytest.mark.parametrize("name", METHODS)
def test_method_contract(name, compromised_dir, unlearn_data_dir, unlearn_data, tmp_path):
    record = check_method(name, data_dir=unlearn_data_dir, model_dir=compromised_dir, data=unlearn_data,
                          workdir=tmp_path, seed=3)
    assert record["method"] == name and record["complete"]


def restated_defaults(card: str, cfg) -> list[str]:
    """``field=value`` of every numeric default of ``cfg`` that ``card`` states as ``field = value`` or
    ``field value`` (other values, e.g. the paper's or an alternative form, may appear)."""
    import re

    found = []
    for field, value in cfg.model_dump().items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            for number in re.findall(rf"\b{field}(?:\s*=\s*|\s+)(-?\d[\d.e-]*)", card):
                if float(number.rstrip(".")) == value:
                    found.append(f"{field}={value}")
    return found


@pytest.mark.parametrize("name", METHODS)
def test_card_does_not_restate_config_defaults(name):
    """Each default is stated once, in the config: the method card explains it, it does not repeat it."""
    import sys

    from salmubench.unlearning import get_method

    cls = get_method(name)
    card = sys.modules[cls.__module__].__doc__ or ""
    assert "Tuned defaults" not in card and restated_defaults(card, cls.config_cls()) == [], name


def test_the_card_check_finds_restated_defaults_only():
    from salmubench.unlearning.methods.direct_sim_min import DirectSimMinConfig
    from salmubench.unlearning.methods.grad_diff import GradDiffConfig

    card = "* Defaults: gamma = 0.5, lr 1e-4 (tuned). The paper used gamma = 1."
    assert restated_defaults(card, GradDiffConfig()) == ["lr=0.0001", "gamma=0.5"]
    assert restated_defaults("``retain_weight=0`` is the paper's plain form.", DirectSimMinConfig()) == []
