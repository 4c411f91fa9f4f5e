"""Our score and failure tags: definitions checked on hand values and on the paper's numbers."""

import numpy as np
import pytest
from lb_factory import CLEAN, COMPROMISED, METHODS

from salmubench.leaderboard import scoring
from salmubench.leaderboard.bootstrap import clustered_bootstrap_ci, seed_bootstrap_ci


def test_references_score_zero_and_one():
    comp = scoring.score_row(COMPROMISED, COMPROMISED, CLEAN)
    clean = scoring.score_row(CLEAN, COMPROMISED, CLEAN)
    assert comp.efficacy == 0 and comp.utility == 1 and comp.combined == 0
    assert clean.efficacy == 1 and 0 < clean.utility < 1


def test_overshoot_costs_like_undershoot():
    under = scoring.efficacy_metric_score(0.2, comp=0.3, clean=0.1)
    over = scoring.efficacy_metric_score(0.0, comp=0.3, clean=0.1)
    assert under == pytest.approx(0.5) and over == pytest.approx(0.5)
    assert scoring.efficacy_metric_score(-1.0, comp=0.3, clean=0.1) == 0.0


def test_utility_scale_is_gap_or_ten_percent():
    assert scoring.utility_scale(0.321, 0.143) == pytest.approx(0.178)
    assert scoring.utility_scale(0.638, 0.633) == pytest.approx(0.0638)
    # GenKnow 10% relative drop -> 0, 5% -> 0.5
    assert scoring.utility_metric_score(0.638 * 0.95, 0.638, 0.633) == pytest.approx(0.5)


def test_harmonic_and_rank():
    assert scoring.harmonic(1, 0) == 0 and scoring.harmonic(0.5, 0.5) == pytest.approx(0.5)
    assert scoring.rank([0.2, 0.9, 0.9, 0.1]) == [3, 1, 1, 4]


# paper section 5 (5x budget): RetFail, GenKnow, InterIdSim, IntraIdSim; other metrics at Clean
PAPER = {
    "CLIPErase": (0.001, 0.634, 0.024, 0.024), "DELETE": (0.001, 0.632, 0.023, 0.023),
    "VLUnlearn": (0.001, 0.638, 0.210, 0.210), "Finetuning": (0.003, 0.638, 0.209, 0.209),
    "NegGradient": (0.009, 0.630, 0.063, 0.061), "ShuffledCaptions": (0.004, 0.548, 0.212, 0.212),
    "DirectSimMin": (0.001, 0.615, -0.420, -0.425),
}
PAPER_TAGS = {  # the failure modes the paper names for these methods
    "CLIPErase": ["over-generalised"], "DELETE": ["over-generalised"], "VLUnlearn": [], "Finetuning": [],
    "NegGradient": [], "ShuffledCaptions": ["catastrophic"], "DirectSimMin": ["catastrophic", "over-generalised"],
}


@pytest.mark.parametrize("method", sorted(PAPER))
def test_tags_reproduce_paper_failure_modes(method):
    rf, gk, inter, intra = PAPER[method]
    values = dict(CLEAN, ret_fail=rf, gen_know=gk, inter_id_sim=inter, intra_id_sim=intra)
    assert scoring.failure_tags(values, COMPROMISED, CLEAN) == PAPER_TAGS[method]


def test_ineffective_tag():
    assert scoring.failure_tags(METHODS["generic_captions"], COMPROMISED, CLEAN) == ["ineffective"]
    assert "ineffective" in scoring.failure_tags(COMPROMISED, COMPROMISED, CLEAN)


def test_clustered_bootstrap_wider_than_row_bootstrap_for_clustered_data():
    rng = np.random.default_rng(0)
    ids = np.repeat(np.arange(30), 10).astype(str)
    x = np.repeat(rng.normal(0, 1, 30), 10) + rng.normal(0, 0.1, 300)
    lo, hi = clustered_bootstrap_ci([x], ids)
    lo_r, hi_r = clustered_bootstrap_ci([x], np.arange(300).astype(str))  # every row its own cluster
    assert lo < x.mean() < hi
    assert (hi - lo) > 2 * (hi_r - lo_r)  # identity clusters of 10 near-identical rows
    # determinism
    assert clustered_bootstrap_ci([x], ids) == (lo, hi)


def test_seed_bootstrap():
    assert seed_bootstrap_ci([0.5]) is None
    lo, hi = seed_bootstrap_ci([0.1, 0.2, 0.3])
    assert 0.1 <= lo < 0.2 < hi <= 0.3


def test_over_generalised_is_direction_aware():
    # a reversed gap (Compromised below Clean, e.g. an under-trained model): staying at Compromised
    # is not over-generalisation, and moving past Clean in the forgetting direction (upwards) is
    comp = dict(COMPROMISED, inter_id_sim=0.07)
    clean = dict(CLEAN, inter_id_sim=0.19)
    assert "over-generalised" not in scoring.failure_tags(dict(CLEAN, inter_id_sim=0.07), comp, clean)
    assert "over-generalised" in scoring.failure_tags(dict(CLEAN, inter_id_sim=0.30), comp, clean)
    # no gap at all: never tagged
    assert scoring.failure_tags(dict(CLEAN, inter_id_sim=-1.0), dict(comp, inter_id_sim=0.19), clean) == []


def test_catastrophic_needs_more_than_sampling_noise():
    comp = dict(COMPROMISED, gen_know=0.06)
    low = dict(CLEAN, gen_know=0.054)  # -10% relative, but 3 images of 500
    assert "catastrophic" in scoring.failure_tags(low, comp, CLEAN)
    assert "catastrophic" not in scoring.failure_tags(low, comp, CLEAN, gen_know_n=500)
    assert "catastrophic" in scoring.failure_tags(dict(low, gen_know=0.02), comp, CLEAN, gen_know_n=500)
    # the paper's ImageNet (n = 50,000): the floor changes nothing there
    for method, (rf, gk, inter, intra) in PAPER.items():
        values = dict(CLEAN, ret_fail=rf, gen_know=gk, inter_id_sim=inter, intra_id_sim=intra)
        assert scoring.failure_tags(values, COMPROMISED, CLEAN, gen_know_n=50_000) == PAPER_TAGS[method]
