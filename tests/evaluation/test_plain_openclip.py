"""A plain open_clip script (local-dir: model, pyarrow parquet, embed, average) reproduces our JSON."""

from __future__ import annotations

import io
import json

import pytest

from salmubench.evaluation.evaluator import evaluate


def _plain_mean_cos(model_dir, data_dir, split: str) -> float:
    """What a user would write with nothing but open_clip, torch, pyarrow and PIL."""
    import open_clip
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch
    from PIL import Image

    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{model_dir}")
    tokenizer = open_clip.get_tokenizer(f"local-dir:{model_dir}")
    model.eval()
    table = pa.concat_tables([pq.read_table(p) for p in sorted((data_dir / "data").glob(f"{split}-*.parquet"))])
    rows = table.to_pylist()
    images = torch.stack([preprocess(Image.open(io.BytesIO(r["image"]["bytes"])).convert("RGB")) for r in rows])
    with torch.no_grad():
        img = torch.nn.functional.normalize(model.encode_image(images), dim=-1)
        txt = torch.nn.functional.normalize(model.encode_text(tokenizer([r["text"] for r in rows])), dim=-1)
    return float((img * txt).sum(dim=-1).mean())


def test_plain_open_clip_reproduces_assoc_str_and_inter_id_sim(tiny_dataset_dir, model_dirs, tmp_path):
    result = evaluate(model_dirs["b"], tiny_dataset_dir, tmp_path, cache_dir=False)
    official = json.loads((tmp_path / result.files["official"]).read_text())
    assoc = official["efficacy"]["1.2_AssocStr"]["mean"]
    inter = official["utility"]["2.2_InterIdSim"]["mean"]
    assert _plain_mean_cos(model_dirs["b"], tiny_dataset_dir, "forget") == pytest.approx(assoc, abs=1e-4)
    assert _plain_mean_cos(model_dirs["b"], tiny_dataset_dir, "holdout_identity") == pytest.approx(inter, abs=1e-4)
    assert result.metrics["assoc_str"].value == assoc
