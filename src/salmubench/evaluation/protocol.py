"""The SALMUBench evaluation protocol as frozen data: metric specs, gallery sizes, seeds, version.

Execution settings (batch size, device) are not part of the protocol; metric definitions are.
Changing anything here is a protocol change: bump ``PROTOCOL_VERSION`` (the hash changes anyway).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Literal

Pillar = Literal["efficacy", "utility"]
Target = Literal["clean", "compromised"]

PROTOCOL_NAME = "salmubench"
PROTOCOL_VERSION = "1.0"


@dataclass(frozen=True)
class MetricSpec:
    """Declared metadata of one protocol metric (its direction lives here, beside its name)."""

    key: str  # snake_case registry key, e.g. "ret_fail"
    display: str  # the paper's name, e.g. "RetFail"
    official_key: str  # key in the original evaluator's JSON, e.g. "1.1_RetFail"
    official_field: str  # the field holding the headline value there, e.g. "MRR"
    pillar: Pillar
    target: Target  # efficacy -> the Clean value; utility -> the Compromised value
    split: str  # split or derived subset it is computed on
    description: str


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("ret_fail", "RetFail", "1.1_RetFail", "MRR", "efficacy", "clean", "forget",
               "MRR of each forget image's own caption in a 2,001-caption gallery"),
    MetricSpec("assoc_str", "AssocStr", "1.2_AssocStr", "mean", "efficacy", "clean", "forget",
               "mean cos(image, own caption) over forget"),
    MetricSpec("acs", "ACS", "1.3_ACS", "acs_accuracy", "efficacy", "clean", "forget",
               "logistic-regression probe accuracy, true vs shuffled pairs"),
    MetricSpec("id_zsc", "IdZSC", "1.4_IdZSC", "identity_classification_accuracy", "efficacy", "clean",
               "forget_identity", "zero-shot naming of fully forgotten people"),
    MetricSpec("core_assoc", "CoreAssoc", "1.5_CoreAssoc", "mean", "efficacy", "clean", "forget",
               "max cos(image, '{name} {value}' / '{value} {name}'), mean over forget"),
    MetricSpec("gen_know", "GenKnow", "2.1_GenKnow", "ImageNet1k_Accuracy", "utility", "compromised",
               "zeroshot", "zero-shot top-1 (ImageNet-1K when given, else our zeroshot split)"),
    MetricSpec("inter_id_sim", "InterIdSim", "2.2_InterIdSim", "mean", "utility", "compromised",
               "holdout_identity", "mean cos on holdout_identity"),
    MetricSpec("intra_id_sim", "IntraIdSim", "2.3_IntraIdSim", "mean", "utility", "compromised",
               "holdout_association", "mean cos on holdout_association"),
    MetricSpec("vis_id_int", "VisIdInt", "2.4_VisIdInt", "mean", "utility", "compromised",
               "retain_joint", "mean cos on retain_joint"),
    MetricSpec("frag_sim", "FragSim", "2.5_FragSim", "mean", "utility", "compromised",
               "fragile_set", "mean cos on fragile_set"),
)
METRIC_KEYS: tuple[str, ...] = tuple(m.key for m in METRICS)
SPECS_BY_KEY = {m.key: m for m in METRICS}

# protocol constants (SALMUBENCH.md section 4)
RETFAIL_FORGET_DISTRACTORS = 1000
RETFAIL_RETAIN_DISTRACTORS = 1000
BASE_SEED = 42  # the original evaluator's seed; here each metric derives its own stream from it

# [our choice] definitions where the paper is silent (docs/metrics.md); part of the protocol hash
SCORE_TIE_EPS = 1e-6  # two cosine scores closer than this are a tie (float32 noise)
IDZSC_PROMPT = "a photo of {name}"  # IdZSC: one prompt per forget_identity identity
CORE_ASSOC_TEMPLATES = ("{name} {value}", "{value} {name}")
ACS_FOLDS = 5  # GroupKFold splits by identity (fewer when fewer identities)
ACS_C = 1.0  # inverse L2 strength of the logistic-regression probe (standardised features)
ZEROSHOT_DEFAULT_TEMPLATES = ("a photo of a {}.",)  # when zeroshot_classes.json lists no templates


def protocol_dict() -> dict:
    """Everything that defines the protocol, as plain data (hashed into every result)."""
    return {
        "name": PROTOCOL_NAME,
        "version": PROTOCOL_VERSION,
        "metrics": [asdict(m) for m in METRICS],
        "retfail_distractors": [RETFAIL_FORGET_DISTRACTORS, RETFAIL_RETAIN_DISTRACTORS],
        "base_seed": BASE_SEED,
        "score_tie_eps": SCORE_TIE_EPS,
        "idzsc_prompt": IDZSC_PROMPT,
        "core_assoc_templates": list(CORE_ASSOC_TEMPLATES),
        "acs": {"folds": ACS_FOLDS, "C": ACS_C, "features": "img*txt elementwise + cos; standardised"},
        "retfail_ties": "mean rank; R@1 needs a strict win",
        "zeroshot_default_templates": list(ZEROSHOT_DEFAULT_TEMPLATES),
    }


def protocol_hash() -> str:
    """sha256 (first 16 hex) of the canonical protocol JSON."""
    blob = json.dumps(protocol_dict(), sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
