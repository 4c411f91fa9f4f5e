"""The fragile set: retain_disjoint pairs the Compromised model holds most weakly.

The release ships ``fragile_set_ids.json`` and ``fragile_set_all_similarities.json`` but not the
rule that made them. **Our choice**: score every retain_disjoint pair (a non-person image with its
caption) by the Compromised model's cos(image, caption); the fragile set is the
``ceil(fraction * N)`` lowest-scoring pairs (default fraction 0.1; ties broken by file name).
Both files go into the dataset dir (atomic writes); the data fingerprint excludes them.

    fragile_set_ids.json              ["retain_00012.jpg", ...]     (ascending cos)
    fragile_set_all_similarities.json {file_name: cos, ...}         (every retain_disjoint pair)
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch

from salmubench.data import schema as S
from salmubench.data.loading import load_dataset, resolve_dataset_dir
from salmubench.data.tables import SplitTable
from salmubench.data.tensor_cache import image_batches
from salmubench.data.torch_data import tokenize
from salmubench.errors import DataError
from salmubench.io_utils import atomic_write_json
from salmubench.models import ClipBundle, load_model


@torch.no_grad()
def pair_cosines(bundle: ClipBundle, split: SplitTable, batch_size: int = 512) -> torch.Tensor:
    """cos(image_i, caption_i) for every row of ``split`` [N] (L2-normalised embeddings, CPU float)."""
    if not len(split):
        return torch.zeros(0)
    model, device = bundle.model.eval(), next(bundle.model.parameters()).device
    images = [model.encode_image(batch.to(device), normalize=True).float().cpu()
              for batch in image_batches(split, bundle.preprocess, batch_size)]
    tokens = tokenize(split.texts, bundle.tokenizer)
    texts = [model.encode_text(tokens[i:i + 2 * batch_size].to(device), normalize=True).float().cpu()
             for i in range(0, len(split), 2 * batch_size)]
    return (torch.cat(images) * torch.cat(texts)).sum(-1)


def fragile_selection(similarities: dict[str, float], fraction: float) -> list[str]:
    """The ``ceil(fraction * N)`` file names with the lowest similarity (ties: by file name)."""
    if not 0 < fraction <= 1:
        raise DataError(f"fragile fraction must be in (0, 1], got {fraction}")
    ranked = sorted(similarities, key=lambda f: (similarities[f], f))
    return ranked[:math.ceil(fraction * len(ranked))]


def write_fragile_set(model: ClipBundle | str | os.PathLike, data_dir: str | os.PathLike,
                      fraction: float = 0.1) -> list[str]:
    """Score retain_disjoint with the Compromised ``model``, write both fragile-set files; returns the ids."""
    bundle = model if isinstance(model, ClipBundle) else load_model(model)
    root = resolve_dataset_dir(data_dir)
    split = load_dataset(root, images="lazy").retain_disjoint
    if not len(split):
        raise DataError(f"{root}: retain_disjoint is empty; no fragile set can be chosen")
    cos = pair_cosines(bundle, split).tolist()
    sims = {f: round(c, 6) for f, c in zip(split.file_names, cos, strict=True)}
    ids = fragile_selection(sims, fraction)
    atomic_write_json(Path(root) / S.FRAGILE_SIMS_JSON, sims)
    atomic_write_json(Path(root) / S.FRAGILE_IDS_JSON, ids)
    return ids
