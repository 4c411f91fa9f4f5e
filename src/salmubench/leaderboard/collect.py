"""Find, load and validate result files; group them into leaderboard rows (pure Python, no torch).

What is read (docs/leaderboard.md, "Inputs"):

* ``result.json`` (``salmubench.evaluation.results``): metrics, role, name, run info, cost, extras;
* the official-schema JSON named by ``result.files["official"]`` (next to result.json), for the
  per-row forget arrays ``efficacy.1.2_AssocStr.scores``, ``efficacy.1.5_CoreAssoc.scores`` and
  ``efficacy.1.1_RetFail.outcomes``; each array is used only if its mean reproduces the headline
  value of result.json (so a row array that does not belong to the number is never used);
* the identity of every forget row, for clustering: ``extras["forget_identity_ids"]`` if the
  evaluator wrote it, else the ``identity_id`` column of the dataset's forget split when
  ``result.dataset.root`` still exists with the same row count;
* ``extras["per_attribute"]`` (``{attribute_type: {"ret_fail_mrr", "assoc_str", ...}}``, as the
  evaluator writes it) for the per-attribute plot;
* ``attack.json`` next to result.json, when present (recovery attacks, docs/attacks.md): validated,
  and refused when it belongs to another checkpoint than its result.json, or when attack files of
  different attack suites, seeds or data are mixed.

Refused with a one-line ResultError: mixed protocol versions or hashes, mixed dataset
fingerprints, an invalid file (either one, checked by its schema) or a missing metric, no Compromised
or no Clean reference, two
different checkpoints in one reference role, and two different results for one method/budget/seed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from salmubench.attacks.results import ATTACK_FILE, AttackResult, read_attack
from salmubench.config import config_hash
from salmubench.errors import ResultError
from salmubench.evaluation.protocol import METRIC_KEYS
from salmubench.evaluation.results import RESULT_FILE, EvalResult, read_official, read_result
from salmubench.leaderboard.official import (
    OFFICIAL_GLOB,
    check_references_named,
    official_name,
    result_from_official,
)

ROW_ARRAYS = {  # metric key -> (pillar section, official key, array field) of the official JSON
    "ret_fail": ("efficacy", "1.1_RetFail", "outcomes"),
    "assoc_str": ("efficacy", "1.2_AssocStr", "scores"),
    "core_assoc": ("efficacy", "1.5_CoreAssoc", "scores"),
}
HIST_KEY = "assoc_str"  # forget similarities (cos of each forget image with its own caption)
REFERENCE_ROLES = ("compromised", "clean")


@dataclass
class Loaded:
    """One validated result file with what was read next to it."""

    path: Path
    result: EvalResult
    rows: dict[str, np.ndarray] = field(default_factory=dict)  # metric key -> per-forget-row values
    identities: np.ndarray | None = None  # identity id of every forget row
    attack: AttackResult | None = None  # attack.json next to result.json (recovery attacks), if any

    @property
    def role(self) -> str:
        return self.result.model.role

    @property
    def seed(self) -> int | None:
        return self.result.run.seed


@dataclass
class Group:
    """One leaderboard row: a reference or a method@budget with its seeds."""

    key: str
    name: str
    role: str
    members: list[Loaded]

    @property
    def seeds(self) -> list[int]:
        return sorted(m.seed for m in self.members if m.seed is not None)


def find_result_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Every result.json under the given run dirs (or the given files), sorted, de-duplicated; a dir with
    no result.json below it gives its official evaluator files instead (``evaluation_<model>.json``,
    :mod:`salmubench.leaderboard.official`)."""
    found: dict[Path, None] = {}
    paths = list(paths)
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            found[path.resolve()] = None
        elif path.is_dir():
            files = _visible(path, RESULT_FILE) or _visible(path, OFFICIAL_GLOB)
            found.update((f.resolve(), None) for f in files)
        else:
            raise ResultError(f"no such run dir or result file: {path}")
    if not found:
        raise ResultError(f"no {RESULT_FILE} (nor an official evaluation_<model>.json) found under "
                          f"{', '.join(map(str, paths))}")
    return list(found)


def _visible(folder: Path, pattern: str) -> list[Path]:
    """Files named ``pattern`` under ``folder``, sorted, hidden folders skipped."""
    return [f for f in sorted(folder.rglob(pattern)) if f.is_file()
            and not any(part.startswith(".") for part in f.relative_to(folder).parts)]


def read_any(path: Path) -> EvalResult:
    """A result.json, or an official ``evaluation_<model>.json`` read as one (official.py)."""
    return result_from_official(path) if official_name(path) is not None else read_result(path)


def load_results(paths: Iterable[str | os.PathLike]) -> list[Loaded]:
    """Read and validate every result file under ``paths``; refuse incompatible mixes."""
    loaded = [Loaded(path=p, result=read_any(p)) for p in find_result_files(paths)]
    check_compatible(loaded)
    check_references_named(loaded)
    for item in loaded:
        attach_rows(item)
        attach_attack(item)
    check_attacks_compatible(loaded)
    return loaded


def attach_attack(item: Loaded) -> None:
    """Read ``attack.json`` next to the result file, if any; refuse one of another checkpoint."""
    path = item.path.parent / ATTACK_FILE
    if not path.is_file():
        return
    att = read_attack(path)
    if att.model.checkpoint_sha256 != item.result.model.checkpoint_sha256:
        raise ResultError(f"{path}: attacks of checkpoint {str(att.model.checkpoint_sha256)[:12]}, but "
                          f"{item.path.name} there is of {str(item.result.model.checkpoint_sha256)[:12]} (stale file?)")
    item.attack = att


def check_attacks_compatible(loaded: Sequence[Loaded]) -> None:
    """One attack suite (version and constants hash), one attack seed, one dataset across attack files."""
    with_attacks = [x for x in loaded if x.attack is not None]
    for what, get in (("attack suite", lambda a: f"v{a.suite.version} ({a.suite.hash})"),
                      ("attack seed", lambda a: str(a.seed)), ("attack dataset fingerprint", lambda a: a.dataset.fingerprint)):
        seen: dict[str, Path] = {}
        for item in with_attacks:
            seen.setdefault(get(item.attack), item.path.parent / ATTACK_FILE)
        if len(seen) > 1:
            (a, pa_), (b, pb) = list(seen.items())[:2]
            raise ResultError(f"mixed {what}s: {a} in {pa_} vs {b} in {pb}")


def check_compatible(loaded: Sequence[Loaded]) -> None:
    """One protocol (version and hash) and one dataset fingerprint across all files."""
    _check_single(loaded, "protocol", lambda r: f"{r.protocol.name} {r.protocol.version} ({r.protocol.hash})")
    _check_single(loaded, "dataset fingerprint", lambda r: r.dataset.fingerprint)


def _check_single(loaded: Sequence[Loaded], what: str, get) -> None:
    seen: dict[str, Path] = {}
    for item in loaded:
        seen.setdefault(get(item.result), item.path)
    if len(seen) > 1:
        (a, pa_), (b, pb) = list(seen.items())[:2]
        raise ResultError(f"mixed {what}s: {a} in {pa_} vs {b} in {pb}")


def group_results(loaded: Sequence[Loaded]) -> tuple[Group, Group, list[Group]]:
    """Split into (Compromised, Clean, [method groups]); methods grouped over seeds."""
    refs = {role: _reference(loaded, role) for role in REFERENCE_ROLES}
    groups: dict[str, Group] = {}
    seen_seed: dict[tuple[str, int | None], Loaded] = {}
    for item in loaded:
        if item.role in REFERENCE_ROLES:
            continue
        key, name = row_identity(item.result)
        prev = seen_seed.get((key, item.seed))
        if prev is not None:
            if _same_model(prev, item):
                continue
            raise ResultError(f"two different results for {name} seed {item.seed}: {prev.path} and {item.path}")
        seen_seed[(key, item.seed)] = item
        groups.setdefault(key, Group(key=key, name=name, role=item.role, members=[])).members.append(item)
    _check_bases(refs["compromised"], [m for g in groups.values() for m in g.members])
    _disambiguate(list(groups.values()))
    return refs["compromised"], refs["clean"], list(groups.values())


def _disambiguate(groups: list[Group]) -> None:
    """Rows sharing a display name (same method@budget, other hyperparameters) get ``[hash]``."""
    names = [g.name for g in groups]
    for g in groups:
        if names.count(g.name) > 1:
            g.name = f"{g.name} [{g.key.rpartition('#')[2]}]"


def row_identity(result: EvalResult) -> tuple[str, str]:
    """(grouping key, display name): ``method@budget`` over seeds, else the model name or source."""
    run = result.run
    if run.method:  # seeds of one method, budget and hyperparameter set form one row
        budget = f"@{run.budget:g}x" if run.budget is not None else ""
        seq = run.sequential or {}
        if seq.get("k"):  # the final model of K deletion requests is its own row
            unit = seq.get("unit")
            budget += f"/K{seq['k']}" + (f"-{unit}" if unit not in (None, "identity") else "")
        return f"{run.method}{budget}#{config_hash(run.params, length=8)}", f"{run.method}{budget}"
    name = result.model.name or result.model.source
    if result.run.seed is not None:
        name = name.removesuffix(f"/s{result.run.seed}")
    return name, name


def _reference(loaded: Sequence[Loaded], role: str) -> Group:
    items = [x for x in loaded if x.role == role]
    if not items:
        raise ResultError(f"no {role.capitalize()} reference result (model.role == {role!r}) among the inputs")
    first = items[0]
    for other in items[1:]:
        if not _same_model(first, other):
            raise ResultError(f"two different {role.capitalize()} references: {first.path} and {other.path}")
    return Group(key=role, name=role.capitalize(), role=role, members=[first])


def _same_model(a: Loaded, b: Loaded) -> bool:
    sa, sb = a.result.model.checkpoint_sha256, b.result.model.checkpoint_sha256
    same_ckpt = sa is not None and sa == sb
    return same_ckpt and a.result.metrics == b.result.metrics


def _check_bases(comp: Group, members: Sequence[Loaded]) -> None:
    base_sha = comp.members[0].result.model.checkpoint_sha256
    for item in members:
        start = item.result.model.base_checkpoint_sha256
        if base_sha and start and start != base_sha:
            raise ResultError(f"{item.path}: unlearned from {start[:12]}, not from the Compromised "
                              f"reference {base_sha[:12]}")


# ---------------------------------------------------------------- per-row arrays
def attach_rows(item: Loaded) -> None:
    """Fill ``item.rows`` / ``item.identities`` from the official JSON and the dataset (if any)."""
    official = _read_official(item)
    if official is None:
        return
    for key, (section, okey, fld) in ROW_ARRAYS.items():
        arr = _row_array(official, section, okey, fld)
        if arr is not None:
            arr = _match_headline(key, arr, item.result.value(key))
        if arr is not None:
            item.rows[key] = arr
    if item.rows:
        n = len(next(iter(item.rows.values())))
        item.identities = forget_row_identities(item.result, n)


def _read_official(item: Loaded) -> dict | None:
    """The official file next to result.json through its schema (None if there is none; ResultError if invalid)."""
    name = item.result.files.get("official")
    if not name or not (item.path.parent / name).is_file():
        return None
    return read_official(item.path.parent / name)


def _row_array(official: dict, section: str, okey: str, fld: str) -> np.ndarray | None:
    try:
        arr = np.asarray(official[section][okey][fld], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        return None
    return arr if arr.ndim == 1 and arr.size and np.isfinite(arr).all() else None


def _match_headline(key: str, arr: np.ndarray, headline: float) -> np.ndarray | None:
    """The per-row values whose mean is the headline value (RetFail outcomes may be ranks)."""
    candidates = [arr]
    if key == "ret_fail" and (arr >= 1).all():
        candidates.append(1.0 / arr)  # 1-based ranks -> reciprocal ranks
    for cand in candidates:
        if abs(float(cand.mean()) - headline) <= 1e-6 + 1e-4 * abs(headline):
            return cand
    return None


def forget_row_identities(result: EvalResult, n_rows: int) -> np.ndarray | None:
    """Identity id of every forget row: from result.extras, else the dataset's forget split."""
    ids = result.extras.get("forget_identity_ids")
    if isinstance(ids, list) and len(ids) == n_rows:
        return np.asarray([str(i) for i in ids])
    if not result.dataset.root:  # an official evaluator file alone: no dataset recorded
        return None
    return _dataset_forget_identities(Path(result.dataset.root), n_rows)


def _dataset_forget_identities(root: Path, n_rows: int) -> np.ndarray | None:
    shards = sorted((root / "data").glob("forget-*.parquet"))
    if not shards:
        return None
    try:
        import pyarrow.parquet as pq

        ids = [v for s in shards for v in pq.read_table(s, columns=["identity_id"]).column(0).to_pylist()]
    except (OSError, ValueError, KeyError):
        return None
    return np.asarray([str(i) for i in ids]) if len(ids) == n_rows else None


PER_ATTRIBUTE_ALIASES = {"ret_fail_mrr": "ret_fail", "mrr": "ret_fail"}


def per_attribute(result: EvalResult) -> dict[str, dict[str, float]]:
    """``{metric_key: {attribute_type: value}}`` from ``extras["per_attribute"]`` (may be empty).

    The evaluator writes ``{attribute_type: {"n", "ret_fail_mrr", "ret_fail_r_at_1", "assoc_str"}}``;
    the layout ``{metric_key: {attribute_type: value}}`` is accepted too. Only protocol metrics are
    kept (``ret_fail_mrr`` is RetFail's headline value).
    """
    raw = result.extras.get("per_attribute")
    if not isinstance(raw, dict):
        return {}
    out: dict[str, dict[str, float]] = {}
    for outer, inner in raw.items():
        if not isinstance(inner, dict):
            continue
        for k, v in inner.items():
            val = _as_float(v)
            metric, attr = (outer, k) if _metric_key(outer) else (k, outer)
            metric = _metric_key(metric)
            if val is not None and metric:
                out.setdefault(metric, {})[str(attr)] = val
    return out


def _metric_key(name: str) -> str | None:
    key = PER_ATTRIBUTE_ALIASES.get(name, name)
    return key if key in METRIC_KEYS else None


def _as_float(v) -> float | None:
    if isinstance(v, dict):  # {"value": x} / {"mean": x} / {"MRR": x}
        for k in ("value", "mean", "MRR", "mrr"):
            if k in v:
                return _as_float(v[k])
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if np.isfinite(v) else None
