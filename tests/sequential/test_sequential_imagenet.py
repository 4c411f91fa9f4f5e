"""GenKnow of the per-request evaluations from ImageNet-1K (``imagenet=``, ``--requests K --imagenet``):
the evaluator's GenKnow of the same models (issue 21, item 3)."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from salmubench.cli.main import main
from salmubench.errors import DataError
from salmubench.evaluation.evaluator import evaluate
from salmubench.io_utils import read_json
from salmubench.sequential.api import unlearn_sequential
from salmubench.sequential.results import read_summary
from salmubench.unlearning.execute import UNLEARN_FILE


@pytest.fixture(scope="module")
def imagenet_dir(tmp_path_factory):
    """A few ImageNet val images as HF parquet shards (labels 1, 281, 963)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("inet")
    blobs, labels = [], []
    for k, label in enumerate((1, 281, 963, 1, 281, 963)):
        buf = io.BytesIO()
        Image.fromarray(np.random.default_rng(k).integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(buf, "PNG")
        blobs.append(buf.getvalue())
        labels.append(label)
    pq.write_table(pa.table({"image": pa.array(blobs, type=pa.binary()), "label": pa.array(labels)}),
                   root / "validation-00000-of-00001.parquet")
    return root


def test_requests_with_imagenet_report_the_evaluators_genknow(seq_models, tiny_dataset_dir, imagenet_dir, tmp_path):
    comp, clean = seq_models
    out = tmp_path / "seq"
    assert main(["unlearn", "--method", "neg_grad", "--model", str(comp), "--data", str(tiny_dataset_dir), "--out",
                 str(out), "--recipe", "none", "--budget", "0.5", "--requests", "2", "--clean", str(clean),
                 "--imagenet", str(imagenet_dir), "--threads", "1", "--no-progress"]) == 0
    summary = read_summary(out)
    final = evaluate(str(out), tiny_dataset_dir, tmp_path / "final", imagenet=imagenet_dir, cache_dir=False)
    start = evaluate(str(comp), tiny_dataset_dir, tmp_path / "comp", imagenet=imagenet_dir, cache_dir=False)
    last = summary.steps[-1].metrics["gen_know"]
    assert final.gen_know_source == "imagenet" and last.value == final.metrics["gen_know"].value
    assert last.compromised == start.metrics["gen_know"].value
    zeroshot = evaluate(str(out), tiny_dataset_dir, tmp_path / "zs", cache_dir=False).metrics["gen_know"]
    assert zeroshot.extra["n"] != final.metrics["gen_know"].extra["n"]  # not the zeroshot split's number
    record = read_json(out / UNLEARN_FILE)
    assert record["sequential"]["imagenet"]["layout"] == "parquet" and record["sequential"]["imagenet"]["n"] == 6
    # the CLI evaluation of the final model keeps its provenance: a row of its own on leaderboards
    assert final.run.sequential == {"k": 2, "unit": "identity", "seed": 0, "theta0": "previous"}


def test_bad_imagenet_fails_before_any_request(seq_models, tiny_dataset_dir, tmp_path):
    comp, clean = seq_models
    with pytest.raises(DataError, match="not a directory"):
        unlearn_sequential("neg_grad", comp, tiny_dataset_dir, tmp_path / "x", 2, recipe=None, clean=clean,
                           imagenet=tmp_path / "nowhere")
    assert not (tmp_path / "x" / "steps").exists()
