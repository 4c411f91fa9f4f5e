"""Known-answer tests of the attack arithmetic: positions, recovery, headline, robustness, MIA AUC / TPR."""

import numpy as np
import pytest

from salmubench.attacks.scoring import (
    attack_headline,
    is_shallow,
    ordered,
    place,
    position,
    recovery,
    robustness,
    roc_auc,
    summarise,
    tpr_at_fpr,
)


def test_position_and_recovery_known_answers():
    assert position(0.6, comp=0.6, clean=0.1) == 1.0
    assert position(0.1, comp=0.6, clean=0.1) == 0.0
    assert position(0.35, comp=0.6, clean=0.1) == pytest.approx(0.5)
    assert position(0.0, comp=0.6, clean=0.1) == pytest.approx(-0.2)  # below Clean: negative
    assert position(0.5, comp=0.5004, clean=0.5) is None  # references closer than MIN_GAP: undefined
    assert position(None, 1.0, 0.0) is None
    assert recovery(0.7, 0.2) == pytest.approx(0.5) and recovery(None, 0.2) is None


def test_place_uses_each_reference_value_under_the_same_attack():
    # a method at RetFail 0.02 before (Clean 0.01, Comp 0.61: position 1/60) and 0.31 after the attack,
    # where the attack moved Clean to 0.11 and Compromised to 0.51: position after = 0.2 / 0.4 = 0.5
    placed = place({"ret_fail": (0.02, 0.31)}, comp={"ret_fail": (0.61, 0.51)}, clean={"ret_fail": (0.01, 0.11)})
    p = placed["ret_fail"]
    assert p["position_before"] == pytest.approx(1 / 60) and p["position_after"] == pytest.approx(0.5)
    assert p["recovery"] == pytest.approx(0.5 - 1 / 60)
    mia = place({"auc": (None, 0.75)}, comp={"auc": (None, 1.0)}, clean={"auc": (None, 0.5)})["auc"]
    assert mia == {"position_after": pytest.approx(0.5), "position_before": None, "recovery": None}


def test_headline_is_the_worst_case_and_mia_reports_a_leak():
    placed = place({"r@8": (0.0, 0.1), "r@4": (0.0, 0.3)}, comp={"r@8": (1.0, 1.0), "r@4": (1.0, 1.0)},
                   clean={"r@8": (0.0, 0.0), "r@4": (0.0, 0.0)})
    h = attack_headline("recovery", ["r@8", "r@4"], placed)
    assert h == {"key": "r@4", "position": pytest.approx(0.3), "recovery": pytest.approx(0.3), "leak": None}
    m = attack_headline("measure", ["auc"], {"auc": {"position_after": 0.2, "position_before": None, "recovery": None}})
    assert m["leak"] == m["position"] == 0.2 and m["recovery"] is None
    assert attack_headline("recovery", ["x"], {"x": {"position_after": None, "position_before": None,
                                                     "recovery": None}})["position"] is None


def test_robustness_and_summary():
    assert robustness([0.2, 0.4], leak=0.0) == pytest.approx(0.8)
    assert robustness([1.5, 1.2], leak=1.0) == 0.0 and robustness([-0.5], None) == 1.0  # clipped to [0, 1]
    assert robustness([None], None) is None
    s = summarise({"relearn": {"position": 0.6, "leak": None}, "quantize": {"position": 0.0, "leak": None},
                   "mia": {"position": 0.3, "leak": 0.3}})
    assert s == {"robustness": pytest.approx(1 - 0.3), "worst_attack": "relearn", "worst_position": 0.6}
    assert is_shallow(0.5, ineffective=False) and not is_shallow(0.49, False) and not is_shallow(0.9, True)
    assert ordered(["mia", "zzz", "relearn", "quantize"]) == ["relearn", "quantize", "mia", "zzz"]


def test_roc_auc_on_hand_made_scores():
    assert roc_auc([3, 4, 5], [0, 1, 2]) == 1.0
    assert roc_auc([0, 1], [2, 3]) == 0.0
    assert roc_auc([1, 1], [1, 1]) == 0.5  # all tied: one half each
    # members 0.1, 0.4, 0.35, 0.8 vs non-members 0.2, 0.3: wins 0+2+2+2 = 6 of 8 pairs
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [0.2, 0.3]) == pytest.approx(6 / 8)
    assert roc_auc([0.5, 0.2], [0.5]) == pytest.approx((0.5 + 0) / 2)  # one tie, one loss
    rng = np.random.default_rng(0)
    a, b = rng.normal(1, 1, 300), rng.normal(0, 1, 200)
    brute = np.mean([(x > y) + 0.5 * (x == y) for x in a for y in b])
    assert roc_auc(a, b) == pytest.approx(brute)
    with pytest.raises(ValueError):
        roc_auc([], [1.0])


def test_tpr_at_1pct_fpr_threshold_is_the_099_quantile_of_nonmembers():
    nonmembers = np.arange(101, dtype=float)  # 0..100: the 0.99 quantile is exactly 99
    members = np.array([98.0, 99.0, 99.5, 100.0, 150.0])
    tpr, threshold = tpr_at_fpr(members, nonmembers)
    assert threshold == pytest.approx(99.0) and tpr == pytest.approx(3 / 5)  # strictly above 99
    assert float((nonmembers > threshold).mean()) <= 0.01
