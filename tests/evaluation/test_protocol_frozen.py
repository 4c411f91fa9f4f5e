"""The protocol is frozen: names, official keys, pillars, targets and hash change only on purpose."""

from __future__ import annotations

from salmubench.evaluation.protocol import METRICS, PROTOCOL_VERSION, protocol_hash

GOLDEN = [
    ("ret_fail", "1.1_RetFail", "MRR", "efficacy", "clean"),
    ("assoc_str", "1.2_AssocStr", "mean", "efficacy", "clean"),
    ("acs", "1.3_ACS", "acs_accuracy", "efficacy", "clean"),
    ("id_zsc", "1.4_IdZSC", "identity_classification_accuracy", "efficacy", "clean"),
    ("core_assoc", "1.5_CoreAssoc", "mean", "efficacy", "clean"),
    ("gen_know", "2.1_GenKnow", "ImageNet1k_Accuracy", "utility", "compromised"),
    ("inter_id_sim", "2.2_InterIdSim", "mean", "utility", "compromised"),
    ("intra_id_sim", "2.3_IntraIdSim", "mean", "utility", "compromised"),
    ("vis_id_int", "2.4_VisIdInt", "mean", "utility", "compromised"),
    ("frag_sim", "2.5_FragSim", "mean", "utility", "compromised"),
]


def test_metric_specs_are_the_papers():
    assert [(m.key, m.official_key, m.official_field, m.pillar, m.target) for m in METRICS] == GOLDEN


def test_protocol_hash_is_golden():
    # If this fails you changed the protocol: bump PROTOCOL_VERSION, update the hash here and
    # say so in CHANGELOG.md (results of different protocol hashes are never mixed).
    assert (PROTOCOL_VERSION, protocol_hash()) == ("1.0", "072c887c5c1c9d4a")
