"""The GenKnow proxy of tuning: ``tune_imagenet`` (e.g. a slice of the ImageNet train set), never the folder
the evaluation reports as GenKnow (issue 21, item 5); ``arch`` for bare checkpoints."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from salmubench.cli.main import main
from salmubench.data import schema as S
from salmubench.errors import ConfigError
from salmubench.tuning import search
from salmubench.tuning.validation import gen_know_proxy


def write_parquet(folder, labels=(1, 963, 281, 1, 963, 281), prefix: str = "train") -> None:
    """A tiny ImageNet slice as HF parquet shards: ``image`` struct<bytes, path>, ``label``."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    blobs = []
    for k in range(len(labels)):
        buf = io.BytesIO()
        Image.fromarray(np.random.default_rng(k).integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(buf, "JPEG")
        blobs.append({"bytes": buf.getvalue(), "path": f"{k}.jpg"})
    table = pa.table({"image": pa.array(blobs), "label": pa.array(list(labels), type=pa.int64())})
    pq.write_table(table, folder / f"{prefix}-00000-of-00001.parquet")


@pytest.fixture(scope="module")
def imagenet_dirs(tmp_path_factory):
    """(val: the reported folder, HF layout; slice: a train slice elsewhere)."""
    root = tmp_path_factory.mktemp("inet")
    write_parquet(root / "val" / "data", prefix="validation")
    write_parquet(root / "slice", labels=(1, 281, 963, 963))
    return root / "val", root / "slice"


def test_proxy_reads_tune_imagenet(tune_models, tiny_dataset_dir, imagenet_dirs, tune_setup, tmp_path):
    from salmubench.evaluation.embed import EmbeddingBank
    from salmubench.evaluation.imagenet import open_imagenet
    from salmubench.evaluation.registry import run_metric
    from salmubench.models import load_model

    comp, clean = tune_models
    val, slice_ = imagenet_dirs
    setup = search.prepare(comp, clean, tiny_dataset_dir, tmp_path, imagenet=val, tune_imagenet=slice_)
    assert setup.gen_know_proxy["source"] == "imagenet" and setup.gen_know_proxy["n"] == 4
    assert tune_setup.gen_know_proxy == {"source": "zeroshot"}
    want = run_metric("gen_know", setup.views.a, EmbeddingBank(load_model(comp)), open_imagenet(slice_)).value
    assert setup.references["compromised"]["gen_know"] == want
    # the other proxies do not depend on where GenKnow comes from; the cache keys do
    for key in ("ret_fail", "assoc_str", "inter_id_sim"):
        assert setup.references["compromised"][key] == tune_setup.references["compromised"][key]
    assert search.trial_key(setup, "neg_grad", {}) != search.trial_key(tune_setup, "neg_grad", {})
    record = search.tune_method(setup, "neg_grad", tmp_path, space=[{"lr": 1e-4}])
    assert record["gen_know_proxy"] == setup.gen_know_proxy
    trial = record["trials"][0]
    assert trial["proxies"]["gen_know"] in {k / 4 for k in range(5)}


@pytest.mark.parametrize("which", ["same", "shards"])
def test_tune_refuses_the_reported_imagenet_folder(which, tune_models, tiny_dataset_dir, imagenet_dirs, tmp_path):
    val, _ = imagenet_dirs
    proxy = val if which == "same" else val / "data"  # the same folder, or the same parquet shards under it
    with pytest.raises(ConfigError) as err:  # before any model is loaded: the models do not even exist
        search.prepare(tmp_path / "nope", tmp_path / "nope2", tiny_dataset_dir, tmp_path, imagenet=val,
                       tune_imagenet=proxy)
    assert "\n" not in str(err.value) and str(err.value).startswith(f"tune_imagenet {proxy}")


def test_cli_tune_refuses_the_same_folder_in_one_line(tune_models, tiny_dataset_dir, imagenet_dirs, tmp_path, capsys):
    comp, clean = tune_models
    val, _ = imagenet_dirs
    code = main(["tune", "--method", "neg_grad", "--model", str(comp), "--clean", str(clean), "--data",
                 str(tiny_dataset_dir), "--out", str(tmp_path / "t"), "--imagenet", str(val),
                 "--tune-imagenet", str(val), "--no-progress"])
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1 and err.startswith("error: --tune-imagenet") and "--imagenet" in err


def test_without_zeroshot_split_the_proxy_is_left_out_with_a_note(tiny_dataset_dir):
    from salmubench.data.views import load_without_holdouts

    ds = load_without_holdouts(tiny_dataset_dir, skip_extra=(*S.ATTACK_SPLITS, S.ZEROSHOT))
    assert not ds.has_split(S.ZEROSHOT)
    images, record = gen_know_proxy(ds)
    assert images is None and record["source"] == "none" and "left out" in record["note"]


def test_prepare_takes_arch_for_bare_checkpoints(tune_models, tiny_dataset_dir, tune_setup, tmp_path):
    import torch

    from salmubench.models import load_model

    files = []
    for folder in tune_models:
        files.append(tmp_path / f"{folder.name}.bin")
        torch.save(load_model(folder).model.state_dict(), files[-1])
    setup = search.prepare(files[0], files[1], tiny_dataset_dir, tmp_path / "out", arch="salmu-test")
    assert setup.references["compromised"] == tune_setup.references["compromised"]
    assert setup.references["clean"] == tune_setup.references["clean"]
