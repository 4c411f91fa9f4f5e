"""Leaderboard rows from the authors' evaluator's files alone (``evaluation_<model>.json``, no result.json).

The original evaluator writes only ``evaluation_<model>.json`` (SALMUBENCH.md §4; our evaluator writes the
same schema beside its ``result.json``). Such a file has no role, name, protocol, dataset or checkpoint, so
(docs/leaderboard.md, "Official evaluator files"):

* a folder is read this way only when it holds **no** ``result.json`` anywhere below it (otherwise its
  official files are the companions of its result files, read through them); a file passed directly
  is read this way when it is named ``evaluation_<model>.json``;
* the row's name is ``<model>``; the two references are recognised **by name only**:
  ``evaluation_compromised.json`` and ``evaluation_clean.json`` (case-insensitive) [our choice: the
  file has no role, and the names are what ``salmubench run`` and our evaluator write for them]; every
  other file is an unlearned model; a set without both is refused with a line saying how to name them;
* the values are the official headline fields (``MetricSpec.official_field``: RetFail ``MRR``, AssocStr
  ``mean``, ...; RetFail's ``R@1`` kept as its sub-value); GenKnow ``ImageNet1k_Accuracy`` = -1 (no
  ImageNet) falls back to ``salmubench_zeroshot_accuracy`` when the file has it (our evaluator's files),
  else stays -1 (unmeasured);
* protocol ``official`` and dataset fingerprint ``unknown``, the same for every such file: they rank
  together, and a mix with ``result.json`` files is refused as a mix of protocols (the two evaluators
  draw different RetFail galleries and probe folds: their numbers are not the same measurement);
* no checkpoint sha256, cost, seeds or per-attribute values; the per-row arrays (``outcomes``,
  ``scores``) are used as for result files (when their mean reproduces the headline value), without
  identity clustering (no identity ids).

Pure Python (no torch), like the rest of the leaderboard.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from salmubench.errors import ResultError
from salmubench.evaluation.protocol import METRICS
from salmubench.evaluation.results import (
    DatasetInfo,
    EvalResult,
    MetricValue,
    ModelInfo,
    ProtocolInfo,
    read_official,
)

OFFICIAL_GLOB = "evaluation_*.json"
OFFICIAL_RE = re.compile(r"^evaluation_(?P<name>.+)\.json$")
OFFICIAL_PROTOCOL = ProtocolInfo(name="official", version="authors' evaluator", hash="official")
UNKNOWN_FINGERPRINT = "unknown"
REFERENCE_NAMES = ("compromised", "clean")  # evaluation_<role>.json
NAMING_HINT = "name the reference files evaluation_compromised.json and evaluation_clean.json"


def official_name(path: Path) -> str | None:
    """``<model>`` of ``evaluation_<model>.json``, else None."""
    m = OFFICIAL_RE.match(path.name)
    return m.group("name") if m else None


def is_official_only(item_path: Path, result: EvalResult) -> bool:
    """True for a row read from an official file alone (:func:`result_from_official`)."""
    return result.protocol == OFFICIAL_PROTOCOL and official_name(item_path) is not None


def _value(path: Path, entry: dict | None, key: str, field: str) -> float:
    value = (entry or {}).get(field)
    if isinstance(value, list) or value is None:
        raise ResultError(f"{path}: no number {field!r} in its {key} entry (not an evaluation_<model>.json "
                          f"of the SALMUBench evaluator?)")
    return float(value)


def result_from_official(path: Path) -> EvalResult:
    """An :class:`EvalResult` standing for ``evaluation_<model>.json`` (module docstring); ResultError if
    the file is invalid or lacks a protocol metric."""
    name = official_name(path)
    if name is None:
        raise ResultError(f"{path}: not an official evaluator file (expected evaluation_<model>.json)")
    official = read_official(path)
    metrics, gen_know_source = {}, "imagenet"
    for spec in METRICS:
        entry = official.get(spec.pillar, {}).get(spec.official_key)
        if entry is None:
            raise ResultError(f"{path}: missing {spec.pillar}.{spec.official_key} ({spec.display})")
        value, extra = _value(path, entry, spec.official_key, spec.official_field), {}
        if spec.key == "ret_fail" and isinstance(entry.get("R@1"), (int, float)):
            extra["r_at_1"] = float(entry["R@1"])
        if spec.key == "gen_know" and value < 0:
            zeroshot = entry.get("salmubench_zeroshot_accuracy")
            value, gen_know_source = (float(zeroshot), "zeroshot") if isinstance(zeroshot, (int, float)) \
                else (value, "none")
        metrics[spec.key] = MetricValue(value=value, display=spec.display, official_key=spec.official_key,
                                        pillar=spec.pillar, target=spec.target, extra=extra)
    role = name.lower() if name.lower() in REFERENCE_NAMES else "unlearned"
    mtime = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).isoformat(timespec="seconds")
    return EvalResult(
        protocol=OFFICIAL_PROTOCOL,
        dataset=DatasetInfo(root="", fingerprint=UNKNOWN_FINGERPRINT, split_counts={}),
        model=ModelInfo(source=str(path), arch="unknown", checkpoint_sha256=None, role=role, name=name),
        metrics=metrics, gen_know_source=gen_know_source, files={"official": path.name}, created_at=mtime)


def check_references_named(loaded: Sequence) -> None:
    """With official-only rows among ``loaded`` (collect.Loaded items): one of each reference, else a
    ResultError saying how to name them."""
    official = [x for x in loaded if is_official_only(x.path, x.result)]
    if not official:
        return
    roles = [x.result.model.role for x in loaded]
    missing = [r for r in REFERENCE_NAMES if r not in roles]
    if missing:
        found = ", ".join(sorted({x.path.name for x in official})[:6])
        raise ResultError(f"no {' and no '.join(m.capitalize() for m in missing)} reference among the official "
                          f"evaluator files ({found}): {NAMING_HINT}")
