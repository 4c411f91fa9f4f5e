"""Zero-shot classification metrics: IdZSC (naming forgotten people) and GenKnow (general knowledge).

Both build a classifier from text prompts: class ``c`` gets the normalised mean of the normalised
embeddings of its prompts; an image is assigned the class of highest cosine.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from salmubench.data import schema as S
from salmubench.errors import DataError
from salmubench.evaluation.imagenet import (  # noqa: F401 - imagefolder / imagenet_classnames: their old home
    IMAGE_SUFFIXES,
    imagefolder,
    imagenet_classnames,
    open_imagenet,
)
from salmubench.evaluation.metrics._common import nonempty
from salmubench.evaluation.protocol import IDZSC_PROMPT, SCORE_TIE_EPS, ZEROSHOT_DEFAULT_TEMPLATES
from salmubench.evaluation.registry import MetricContext, MetricOutput, register_metric


def class_weights(emb, classnames: Sequence[str], templates: Sequence) -> np.ndarray:
    """[C, d] zero-shot classifier: per class, the normalised mean of its prompts' embeddings.

    ``templates`` are callables (open_clip's ``OPENAI_IMAGENET_TEMPLATES``) or format strings
    with ``{}`` / ``{c}`` / ``{classname}``.
    """
    prompts = [_fill(t, c) for c in classnames for t in templates]
    txt = emb.texts(prompts).astype(np.float64).reshape(len(classnames), len(templates), -1).mean(axis=1)
    return txt / np.maximum(np.linalg.norm(txt, axis=1, keepdims=True), 1e-12)


def _fill(template, classname: str) -> str:
    if callable(template):
        return template(classname)
    return template.replace("{classname}", classname).replace("{c}", classname).replace("{}", classname)


def strict_top1(scores: np.ndarray, labels: np.ndarray, eps: float = SCORE_TIE_EPS) -> np.ndarray:
    """Per row: 1.0 when the true class beats every other class by more than ``eps`` (ties miss)."""
    own = scores[np.arange(len(labels)), labels]
    others = scores.copy()
    others[np.arange(len(labels)), labels] = -np.inf
    best_other = others.max(axis=1) if scores.shape[1] > 1 else np.full(len(labels), -np.inf)
    return (own > best_other + eps).astype(np.float64)


@register_metric("id_zsc")
def id_zsc(ctx: MetricContext) -> MetricOutput:
    """IdZSC (1.4, efficacy, target Clean): zero-shot naming of fully forgotten people.

    Split ``forget_identity`` (forget rows of identities absent from ``holdout_association``).
    Classes: the names of the identities present in that split; one prompt per class,
    ``IDZSC_PROMPT = "a photo of {name}"``. ``IdZSC = mean_i [true name strictly wins]`` (a tie
    within ``SCORE_TIE_EPS`` is a miss); chance ``1 / C``. Paper: Compromised 0.0836, Clean 0.0107.
    [our choice] label set and prompt.
    """
    split = nonempty(ctx.data.forget_identity, "IdZSC")
    row_ids = split.identity_ids
    ids = sorted({i for i in row_ids if i})
    names = [(ctx.data.identities.get(i) or {}).get("name") for i in ids]
    missing = [i for i, n in zip(ids, names, strict=True) if not n]
    if missing:
        raise DataError(f"IdZSC: identities {missing[:3]} have no name in {S.IDENTITIES_JSON}")
    keep = [k for k, i in enumerate(row_ids) if i]
    index = {i: k for k, i in enumerate(ids)}
    labels = np.asarray([index[row_ids[k]] for k in keep], dtype=np.int64)
    text = ctx.emb.texts([IDZSC_PROMPT.format(name=n) for n in names])
    scores = ctx.emb.images(split)[keep].astype(np.float64) @ text.astype(np.float64).T
    acc = float(strict_top1(scores, labels).mean())
    return MetricOutput(value=acc, official={"identity_classification_accuracy": acc},
                        extra={"n": len(keep), "n_classes": len(ids), "chance": 1.0 / len(ids)})


def _accuracy(img: np.ndarray, weights: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy (argmax, as open_clip's zero-shot evaluation)."""
    return float((np.argmax(img.astype(np.float64) @ weights.T, axis=1) == labels).mean())


def _gen_know_imagenet(ctx: MetricContext) -> MetricOutput:
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

    images = open_imagenet(ctx.imagenet)  # an ImageFolder or parquet shards (evaluation/imagenet.py)
    acc = _accuracy(images.embed(ctx.emb), class_weights(ctx.emb, images.classnames, OPENAI_IMAGENET_TEMPLATES),
                    images.labels)
    return MetricOutput(value=acc, official={"ImageNet1k_Accuracy": acc},
                        extra={"source": "imagenet", "n": len(images), "n_classes": len(images.classnames)})


def _gen_know_zeroshot(ctx: MetricContext) -> MetricOutput:
    split = nonempty(ctx.data.split(S.ZEROSHOT), "GenKnow")
    meta = ctx.data.zeroshot_classes or {}
    labels = np.asarray(split.column(S.COL_LABEL), dtype=np.int64)
    classnames = meta.get("classnames") or meta.get("classes")
    if not classnames:  # fall back to the split's own class_name column
        pairs = dict(zip(split.column(S.COL_LABEL), split.column(S.COL_CLASS_NAME), strict=True))
        classnames = [pairs[k] for k in sorted(pairs)]
    if labels.max() >= len(classnames):
        raise DataError(f"GenKnow: label {labels.max()} has no class name in {S.ZEROSHOT_CLASSES_JSON}")
    templates = meta.get("templates") or list(ZEROSHOT_DEFAULT_TEMPLATES)
    acc = _accuracy(ctx.emb.images(split), class_weights(ctx.emb, classnames, templates), labels)
    return MetricOutput(value=acc, official={"ImageNet1k_Accuracy": -1, "salmubench_zeroshot_accuracy": acc},
                        extra={"source": "zeroshot", "n": len(split), "n_classes": len(classnames)})


@register_metric("gen_know")
def gen_know(ctx: MetricContext) -> MetricOutput:
    """GenKnow (2.1, primary utility, target Compromised): zero-shot top-1 accuracy.

    With ``imagenet=DIR`` (the ImageNet-1K val set as an ImageFolder or as the HF dataset's parquet
    shards, ``evaluation.imagenet``): open_clip's ``IMAGENET_CLASSNAMES`` and the 80
    ``OPENAI_IMAGENET_TEMPLATES`` (paper: 0.638 / 0.633).
    Otherwise [our choice] our generated ``zeroshot`` split with the class names and templates of
    ``zeroshot_classes.json``; the official JSON then keeps ``ImageNet1k_Accuracy = -1`` (as the
    original without ImageNet) and adds ``salmubench_zeroshot_accuracy``. Without either (the
    released data alone) the value is -1 and ``extra.source = "none"``.
    """
    if ctx.imagenet is not None:
        return _gen_know_imagenet(ctx)
    if ctx.data.has_split(S.ZEROSHOT):
        return _gen_know_zeroshot(ctx)
    return MetricOutput(value=-1.0, official={"ImageNet1k_Accuracy": -1}, extra={"source": "none"})
