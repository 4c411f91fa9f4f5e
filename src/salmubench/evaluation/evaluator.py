"""``evaluate()``: load a model and a dataset, embed once, compute the 10 metrics, write two files.

* ``OUT_DIR/result.json``: our self-describing schema (``results.py``), validated on write and read.
* ``OUT_DIR/evaluation_<slug>.json``: exactly the original evaluator's schema (SALMUBENCH.md §4),
  per-row ``outcomes`` / ``scores`` arrays included, so numbers compare with the authors' files.

``precision``: ``"fp32"`` (default; no autocast) or ``"bf16"`` (the embedding passes under autocast, CUDA
only, embeddings cast back to float32 before the metrics); recorded as ``result.json`` ``extras.precision``,
and a bf16 evaluation has its own embedding cache folder (``<key>-bf16``).
"""

from __future__ import annotations

import os
import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from salmubench.data import schema as S
from salmubench.data.dataset import SalmuDataset
from salmubench.data.loading import load_dataset
from salmubench.errors import ResultError
from salmubench.evaluation.embed import EmbeddingBank, cache_key, default_cache_dir
from salmubench.evaluation.imagenet import ImageNetImages, open_imagenet
from salmubench.evaluation.protocol import (
    BASE_SEED,
    METRIC_KEYS,
    PROTOCOL_NAME,
    PROTOCOL_VERSION,
    SPECS_BY_KEY,
    protocol_hash,
)
from salmubench.evaluation.registry import MetricOutput, metric_seed, run_metric
from salmubench.evaluation.results import (
    Cost,
    DatasetInfo,
    EvalResult,
    MetricValue,
    ModelInfo,
    ProtocolInfo,
    RunInfo,
    read_official,
    read_result,
    write_result,
)
from salmubench.execution import check_precision
from salmubench.io_utils import atomic_write_json, check_out_dir, read_json, sha256_file
from salmubench.progress import OnProgress
from salmubench.runtime import environment, resolve_device

OFFICIAL_PREFIX = "evaluation_"
UNLEARN_RECORD = "unlearn.json"  # unlearning.execute.UNLEARN_FILE (a floor above: not imported)


def evaluate(model_spec: Any, data_dir: str | os.PathLike | SalmuDataset, out_dir: str | os.PathLike,
             arch: str | None = None, imagenet: str | os.PathLike | None = None, batch_size: int = 256,
             device: str = "cpu", reference_clean: str | os.PathLike | None = None, role: str | None = None,
             name: str | None = None, run_info: RunInfo | dict | None = None,
             cache_dir: str | os.PathLike | bool | None = None, on_progress: OnProgress | None = None,
             precision: str = "fp32") -> EvalResult:
    """Evaluate one model with the SALMUBench protocol and write its result files.

    Args:
        model_spec: model folder / ``local-dir:`` / ``hf-hub:`` id / checkpoint file, or a loaded
            :class:`~salmubench.models.ClipBundle`.
        data_dir: dataset directory (or a loaded SalmuDataset).
        out_dir: where ``result.json`` and ``evaluation_<slug>.json`` go.
        arch: open_clip architecture for a bare checkpoint file (``ViT-B-16``).
        imagenet: the ImageNet-1K val set for GenKnow, an ImageFolder or the HF dataset's parquet shards
            (``evaluation.imagenet``; checked before the model is loaded); else our zeroshot split.
        reference_clean: result dir of the Clean model; adds the KS statistic of the per-row
            forget similarities (``extras.assoc_str_ks_vs_clean``).
        role / name / run_info: provenance recorded in ``result.json`` (``model.role`` etc.). Without
            ``run_info``, an unlearned model folder's ``unlearn.json`` gives the run block (method,
            budget, seed, params, recipe and its fit, cost, config hash) and the unlearning cost.
        cache_dir: embedding cache root (default ``default_cache_dir()``); ``False`` disables it.
        device / precision: torch device (None / "auto": CUDA if any); ``"fp32"`` or ``"bf16"`` (module docstring).
        on_progress: progress callback while embedding (``salmubench.progress``).
    """
    from salmubench.models import ClipBundle, load_model

    start = time.perf_counter()
    out = check_out_dir(out_dir, "out_dir")
    device = _device(device, precision)
    images = open_imagenet(imagenet) if imagenet is not None else None  # a bad folder fails before any work
    bundle = model_spec if isinstance(model_spec, ClipBundle) else load_model(model_spec, arch=arch, device=device)
    bundle.model.to(device)
    data = data_dir if isinstance(data_dir, SalmuDataset) else load_dataset(data_dir, images="lazy")
    reference = _reference_scores(reference_clean, data) if reference_clean else None
    bank = protocol_bank(bundle, data, device, on_progress, cache_dir, batch_size, precision)
    outputs, seconds = compute_metrics(data, bank, images)
    bank.save()
    official_name = f"{OFFICIAL_PREFIX}{slugify(name or _default_name(model_spec, bundle))}.json"
    atomic_write_json(out / official_name, to_official(outputs))
    extras = build_extras(data, outputs, reference)
    extras.update({"metric_seconds": seconds, "embeddings": dict(bank.counts), "precision": precision})
    run = _run_info(run_info, _salmu_config(model_spec), model_spec, bundle)
    result = EvalResult(
        protocol=ProtocolInfo(name=PROTOCOL_NAME, version=PROTOCOL_VERSION, hash=protocol_hash()),
        dataset=dataset_info(data),
        model=model_info(model_spec, bundle, role, name),
        run=run,
        metrics={k: _metric_value(k, o) for k, o in outputs.items()},
        extras=extras,
        gen_know_source=outputs["gen_know"].extra.get("source", "none"),
        seeds={"base_seed": BASE_SEED, **{k: metric_seed(k) for k in METRIC_KEYS}},
        cost=Cost(eval_seconds=round(time.perf_counter() - start, 3), embed_seconds=round(bank.embed_seconds, 3),
                  **_record_cost(run)),
        env=environment(),
        files={"official": official_name},
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    write_result(result, out)
    return result


def _device(device: str | None, precision: str) -> str:
    """The resolved torch device; bf16 off CUDA refused in one line (``execution.check_precision``)."""
    device = resolve_device(device)
    check_precision(precision, device)
    return device


def protocol_bank(bundle, data: SalmuDataset, device: str, on_progress: OnProgress | None = None,
                  cache_dir: str | os.PathLike | bool | None = None, batch_size: int = 256,
                  precision: str = "fp32") -> EmbeddingBank:
    """The evaluator's EmbeddingBank of ``bundle`` on ``data``: its on-disk cache
    (:func:`embedding_cache_dir`, shared by every evaluation of the same model, data and precision) and the
    protocol splits prefetched (:func:`prefetch_protocol_splits`)."""
    bank = EmbeddingBank(bundle, batch_size=batch_size, device=device, on_progress=on_progress,
                         cache_dir=embedding_cache_dir(bundle, data, cache_dir, precision), precision=precision)
    prefetch_protocol_splits(bank, data)
    return bank


def prefetch_protocol_splits(bank: EmbeddingBank, data: SalmuDataset) -> None:
    """Embed what the protocol metrics read, as :func:`evaluate` does (released splits + zeroshot, one
    text pass): embeddings made so are the evaluator's to the bit, whoever computes metrics from them."""
    bank.prefetch([data.split(name) for name in (*S.RELEASED_SPLITS, S.ZEROSHOT) if data.has_split(name)])


def compute_metrics(data: SalmuDataset, emb, imagenet: Path | ImageNetImages | None = None,
                    keys: tuple[str, ...] = METRIC_KEYS) -> tuple[dict[str, MetricOutput], dict]:
    """The protocol metrics ``keys`` (default: all, in protocol order), each with its own seeded
    generator; plus timings. ``emb`` is an :class:`~salmubench.evaluation.embed.EmbeddingBank`;
    ``imagenet`` what GenKnow reads (a folder or :func:`~salmubench.evaluation.imagenet.open_imagenet`'s)."""
    outputs, seconds = {}, {}
    for key in keys:
        t0 = time.perf_counter()
        outputs[key] = run_metric(key, data, emb, imagenet)
        seconds[key] = round(time.perf_counter() - t0, 4)
    return outputs, seconds


def metric_values(model_spec: Any, data_dir: str | os.PathLike | SalmuDataset, keys: tuple[str, ...] = METRIC_KEYS,
                  device: str = "cpu", batch_size: int = 256) -> dict[str, float]:
    """Headline values of the protocol metrics ``keys`` of one model, computed as :func:`evaluate`
    computes them (same embeddings, seeds and metric code) but writing nothing: a quick check, e.g.
    that a Compromised model memorised its sensitive pairs and a Clean one did not."""
    from salmubench.models import ClipBundle, load_model

    bundle = model_spec if isinstance(model_spec, ClipBundle) else load_model(model_spec, device=device)
    data = data_dir if isinstance(data_dir, SalmuDataset) else load_dataset(data_dir, images="lazy")
    outputs, _ = compute_metrics(data, EmbeddingBank(bundle, batch_size=batch_size, device=device), keys=keys)
    return {k: float(o.value) for k, o in outputs.items()}


def to_official(outputs: dict[str, MetricOutput]) -> dict[str, dict[str, Any]]:
    """The original evaluator's JSON: ``{"efficacy": {"1.1_RetFail": {...}, ...}, "utility": {...}}``."""
    official: dict[str, dict[str, Any]] = {"efficacy": {}, "utility": {}}
    for key in METRIC_KEYS:
        spec = SPECS_BY_KEY[key]
        official[spec.pillar][spec.official_key] = outputs[key].official
    return official


def build_extras(data: SalmuDataset, outputs: dict[str, MetricOutput], reference: dict | None) -> dict[str, Any]:
    """Beyond the original: per-attribute RetFail / AssocStr, FragSim fallback, KS vs Clean."""
    extras: dict[str, Any] = {"per_attribute": per_attribute(data, outputs["ret_fail"], outputs["assoc_str"]),
                              # identity of every forget row (order of the official per-row arrays),
                              # for identity-clustered confidence intervals on leaderboards
                              "forget_identity_ids": data.forget.identity_ids}
    if "fallback" in outputs["frag_sim"].extra:
        extras["frag_sim_fallback"] = outputs["frag_sim"].extra["fallback"]
    if reference is not None:
        extras["assoc_str_ks_vs_clean"] = ks_vs_reference(outputs["assoc_str"].per_row["score"], reference)
    return extras


def per_attribute(data: SalmuDataset, ret: MetricOutput, assoc: MetricOutput) -> dict[str, dict[str, float]]:
    """RetFail MRR / R@1 and AssocStr per attribute type (``data_field``) of the forget rows."""
    attrs = np.asarray([data.attribute_of(f) or "unknown" for f in ret.rows], dtype=object)
    out = {}
    for attr in sorted(set(attrs)):
        mask = attrs == attr
        out[str(attr)] = {"n": int(mask.sum()), "ret_fail_mrr": float(ret.per_row["rr"][mask].mean()),
                          "ret_fail_r_at_1": float(ret.per_row["hit"][mask].mean()),
                          "assoc_str": float(assoc.per_row["score"][mask].mean())}
    return out


def ks_vs_reference(scores: np.ndarray, reference: dict) -> dict[str, Any]:
    """Two-sample Kolmogorov-Smirnov statistic ``sup_x |F_model(x) - F_clean(x)|`` of forget cosines."""
    from scipy.stats import ks_2samp

    test = ks_2samp(np.asarray(scores, dtype=np.float64), reference["scores"])
    return {"statistic": float(test.statistic), "pvalue": float(test.pvalue), "n": int(len(scores)),
            "n_reference": int(len(reference["scores"])), "reference": reference["source"]}


def _reference_scores(ref_dir: str | os.PathLike, data: SalmuDataset) -> dict:
    """The Clean model's per-row AssocStr scores, read from its official JSON."""
    ref = read_result(ref_dir)
    if ref.dataset.fingerprint != data.fingerprint:
        raise ResultError(f"reference_clean {ref_dir}: evaluated on other data "
                          f"(fingerprint {ref.dataset.fingerprint[:12]} != {data.fingerprint[:12]})")
    official = Path(ref_dir) / ref.files.get("official", "")
    scores = read_official(official).get("efficacy", {}).get("1.2_AssocStr", {}).get("scores")
    if not isinstance(scores, list):
        raise ResultError(f"reference_clean {ref_dir}: no 1.2_AssocStr.scores in {official}")
    return {"scores": np.asarray(scores, dtype=np.float64), "source": str(ref_dir)}


def embedding_cache_dir(bundle, data: SalmuDataset, cache_dir: str | os.PathLike | bool | None,
                        precision: str = "fp32") -> Path | None:
    """The embedding cache folder of a model on a dataset under ``cache_dir`` (None / True: the
    default root; False, or a model without a checkpoint sha256: no cache); a precision other than fp32
    gets its own folder (``<key>-bf16``; fp32 keys are what they were)."""
    if cache_dir is False or not bundle.checkpoint_sha256:
        return None
    root = default_cache_dir() if cache_dir in (None, True) else Path(cache_dir)
    key = cache_key(bundle.checkpoint_sha256, bundle.arch, bundle.preprocess_cfg, data.fingerprint, protocol_hash())
    return root / (key if precision == "fp32" else f"{key}-{precision}")


def _metric_value(key: str, out: MetricOutput) -> MetricValue:
    spec = SPECS_BY_KEY[key]
    return MetricValue(value=out.value, display=spec.display, official_key=spec.official_key,
                       pillar=spec.pillar, target=spec.target, extra=out.extra)


def dataset_info(data: SalmuDataset) -> DatasetInfo:
    """Fingerprint, split counts (released, extra and derived) and fragile-set hash of a dataset."""
    counts = {name: len(table) for name, table in sorted(data.splits.items())}
    for derived in (S.RETAIN_JOINT, S.RETAIN_DISJOINT, S.FORGET_IDENTITY):
        counts[derived] = len(data.split(derived))
    if data.fragile_ids is not None:
        counts[S.FRAGILE_SET] = len(data.fragile_set)
    fragile = data.root / S.FRAGILE_IDS_JSON
    return DatasetInfo(root=str(data.root), fingerprint=data.fingerprint, split_counts=counts,
                       fragile_sha256=sha256_file(fragile) if fragile.is_file() else None,
                       preset=(data.manifest or {}).get("preset"))


def _salmu_config(model_spec: Any) -> dict:
    """The ``salmubench`` section of a model folder's open_clip_config.json (provenance), if any."""
    try:
        folder = Path(str(model_spec).removeprefix("local-dir:"))
        return dict(read_json(folder / "open_clip_config.json").get("salmubench") or {})
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def model_info(model_spec: Any, bundle, role: str | None, name: str | None) -> ModelInfo:
    """The ``model`` block of a result file: source, arch, checkpoint sha256, role, base, name."""
    meta = _salmu_config(model_spec)
    role = role or meta.get("role") or "other"
    if role not in ("compromised", "clean", "unlearned", "other"):
        role = "other"
    return ModelInfo(source=bundle.source if not isinstance(model_spec, str | os.PathLike) else str(model_spec),
                     arch=bundle.arch, checkpoint_sha256=bundle.checkpoint_sha256, role=role,
                     base_checkpoint_sha256=meta.get("base_checkpoint_sha256"), name=name)


def _run_info(run_info: RunInfo | dict | None, meta: dict, model_spec: Any = None, bundle=None) -> RunInfo:
    """The caller's run info, else the model folder's ``unlearn.json`` (:func:`unlearn_run_info`), else
    what an unlearned model folder's config records (method, config hash)."""
    if isinstance(run_info, RunInfo):
        return run_info
    if run_info is None:
        recorded = unlearn_run_info(model_spec, bundle.checkpoint_sha256 if bundle is not None else None)
        if recorded is not None:
            return recorded
    source = run_info if isinstance(run_info, dict) else (meta if meta.get("role") == "unlearned" else {})
    return RunInfo(**{k: v for k, v in source.items() if k in RunInfo.model_fields})


def unlearn_run_info(model_spec: Any, checkpoint_sha256: str | None = None) -> RunInfo | None:
    """The run block of an unlearned model folder, read from its complete ``unlearn.json`` (written by
    ``unlearning.api.unlearn`` and ``sequential.runner``): method, budget, seed, params, config hash,
    recipe, recipe fit, cost and the deletion requests. None when the folder has no such record, or one
    of other weights (its ``checkpoint_sha256`` differs from ``checkpoint_sha256``)."""
    if not isinstance(model_spec, str | os.PathLike):
        return None
    path = Path(str(model_spec).removeprefix("local-dir:")) / UNLEARN_RECORD
    try:
        record = read_json(path) if path.is_file() else None
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not record.get("complete") or not record.get("method"):
        return None
    if checkpoint_sha256 and record.get("checkpoint_sha256") not in (None, checkpoint_sha256):
        return None
    seq = record.get("sequential") if isinstance(record.get("sequential"), dict) else None
    requests = (seq or {}).get("requests") if isinstance((seq or {}).get("requests"), dict) else {}
    theta0 = (seq or {}).get("theta0")
    return RunInfo(method=record["method"], budget=record.get("budget"), seed=record.get("seed"),
                   params=record.get("params") or {}, config_hash=record.get("config_hash"),
                   recipe=record.get("recipe"), recipe_fit=record.get("recipe_fit"),
                   cost=record.get("cost") if isinstance(record.get("cost"), dict) else None,
                   sequential=None if seq is None else {
                       "k": requests.get("k"), "unit": requests.get("unit"), "seed": requests.get("seed"),
                       "theta0": theta0.get("setting") if isinstance(theta0, dict) else theta0},
                   record=str(path))


def _record_cost(run: RunInfo) -> dict[str, Any]:
    """The result's unlearning cost from a run block read from ``unlearn.json`` (the pipeline adds its own)."""
    if run.record is None or not run.cost:
        return {}
    keys = {"unlearn_seconds": float, "fwd_passes": int, "bwd_passes": int}
    return {k: cast(run.cost[k]) for k, cast in keys.items()
            if isinstance(run.cost.get(k), int | float) and not isinstance(run.cost.get(k), bool)}


def _default_name(model_spec: Any, bundle) -> str:
    text = str(model_spec).removeprefix("local-dir:").removeprefix("hf-hub:") if isinstance(
        model_spec, str | os.PathLike) else bundle.source
    path = Path(text)
    return path.stem if path.suffix in (".bin", ".pt", ".safetensors") else (path.name or bundle.arch)


def slugify(text: str) -> str:
    """File-name-safe slug: runs of characters other than ``[A-Za-z0-9._-]`` become ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "model"
