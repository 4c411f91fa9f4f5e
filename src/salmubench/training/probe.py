"""Quick memorisation probe of a reference model (used for tuning and the training tests).

The benchmark's metrics live in salmubench.evaluation; this module is a light check that a
Compromised model memorised what it saw and a Clean one did not:

* ``mrr``: each forget image's own caption ranked among itself + up to 1,000 other forget captions
  + up to 1,000 retain_disjoint captions (seeded draw), mean reciprocal rank (RetFail-like);
* ``cos_<split>``: mean cos(image, own caption) over forget, holdout_identity, holdout_association,
  retain_disjoint (AssocStr / InterIdSim / IntraIdSim / FragSim-like);
* ``zeroshot``: top-1 accuracy on the ``zeroshot`` split with the class prompts (GenKnow stand-in).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from salmubench.data import schema as S
from salmubench.data.io import SalmuDataset, SplitTable
from salmubench.data.torch_data import preprocess_images, tokenize
from salmubench.models import ClipBundle
from salmubench.seeding import rng_for


@torch.no_grad()
def embed_images(bundle: ClipBundle, split: SplitTable, batch_size: int = 512) -> torch.Tensor:
    """L2-normalised image embeddings of every row of ``split`` [N, D] (CPU float)."""
    model, device = bundle.model.eval(), next(bundle.model.parameters()).device
    out = [model.encode_image(preprocess_images(split, bundle.preprocess, range(i, min(len(split), i + batch_size)))
                              .to(device), normalize=True).float().cpu() for i in range(0, len(split), batch_size)]
    return torch.cat(out) if out else torch.zeros((0, 1))


@torch.no_grad()
def embed_texts(bundle: ClipBundle, texts: list[str], batch_size: int = 1024) -> torch.Tensor:
    """L2-normalised text embeddings [N, D] (CPU float)."""
    model, device = bundle.model.eval(), next(bundle.model.parameters()).device
    tokens = tokenize(texts, bundle.tokenizer)
    out = [model.encode_text(tokens[i:i + batch_size].to(device), normalize=True).float().cpu()
           for i in range(0, len(texts), batch_size)]
    return torch.cat(out) if out else torch.zeros((0, 1))


def pair_cosines(bundle: ClipBundle, split: SplitTable) -> torch.Tensor:
    """cos(image_i, caption_i) for every row of ``split`` [N]."""
    if not len(split):
        return torch.zeros(0)
    return (embed_images(bundle, split) * embed_texts(bundle, split.texts)).sum(-1)


def forget_mrr(bundle: ClipBundle, ds: SalmuDataset, n_distractors: int = 1000, seed: int = 0) -> float:
    """Mean reciprocal rank of each forget image's own caption (gallery described in the module doc)."""
    forget, retain = ds.forget, ds.retain_disjoint
    img = embed_images(bundle, forget)
    own = embed_texts(bundle, forget.texts)
    ret = embed_texts(bundle, retain.texts)
    rng = rng_for(seed, "probe-mrr")
    rr = []
    for i in range(len(forget)):
        others = np.delete(np.arange(len(forget)), i)
        f_idx = rng.choice(others, min(n_distractors, len(others)), replace=False)
        r_idx = rng.choice(len(retain), min(n_distractors, len(retain)), replace=False)
        gallery = torch.cat([own[i:i + 1], own[f_idx], ret[r_idx]])
        scores = gallery @ img[i]
        rr.append(1.0 / (1 + int((scores[1:] > scores[0]).sum())))
    return float(np.mean(rr))


def zeroshot_accuracy(bundle: ClipBundle, ds: SalmuDataset) -> float | None:
    """Top-1 zero-shot accuracy on the ``zeroshot`` split (None if the dataset has none)."""
    if not ds.has_split(S.ZEROSHOT) or not ds.zeroshot_classes:
        return None
    split = ds.split(S.ZEROSHOT)
    names, templates = ds.zeroshot_classes["classnames"], ds.zeroshot_classes["templates"]
    prompts = [t.format(c) for c in names for t in templates]
    cls = F.normalize(embed_texts(bundle, prompts).view(len(names), len(templates), -1).mean(1), dim=-1)
    pred = (embed_images(bundle, split) @ cls.T).argmax(1)
    return float((pred == torch.tensor(split.column(S.COL_LABEL))).float().mean())


def memorisation_probe(bundle: ClipBundle, ds: SalmuDataset, seed: int = 0) -> dict[str, float | None]:
    """All probe numbers of one model (see module docstring)."""
    out: dict[str, float | None] = {"mrr": forget_mrr(bundle, ds, seed=seed)}
    for name in (S.FORGET, S.HOLDOUT_IDENTITY, S.HOLDOUT_ASSOCIATION, S.RETAIN_DISJOINT):
        cos = pair_cosines(bundle, ds.split(name))
        out[f"cos_{name}"] = float(cos.mean()) if len(cos) else None
    out["zeroshot"] = zeroshot_accuracy(bundle, ds)
    return out
