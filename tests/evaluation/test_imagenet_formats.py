"""GenKnow on ImageNet-1K in both layouts: an ImageFolder and the HF dataset's parquet shards.

A tiny fake ImageNet written here: three classes whose folder names are open_clip's class names
(goldfish = 1, pizza = 963, tabby cat = 281), the same JPEG bytes in both layouts.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from salmubench.cli.main import main
from salmubench.errors import DataError
from salmubench.evaluation.evaluator import evaluate
from salmubench.evaluation.imagenet import open_imagenet

CLASSES = {"goldfish": 1, "pizza": 963, "tabby_cat": 281}  # ImageFolder name -> ImageNet-1K label id


def _jpeg(k: int, j: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    rng = np.random.default_rng(10 * k + j)
    Image.fromarray(rng.integers(0, 255, (24, 20, 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def fake_imagenet(tmp_path_factory):
    """(ImageFolder root, rows) with rows = [(label id, jpeg bytes, folder, file name)] in ImageFolder order."""
    root = tmp_path_factory.mktemp("imagenet") / "val"
    rows = []
    for k, (folder, label) in enumerate(sorted(CLASSES.items())):
        (root / folder).mkdir(parents=True)
        for j in range(3):
            blob = _jpeg(k, j)
            (root / folder / f"img{j}.JPEG").write_bytes(blob)
            rows.append((label, blob, folder, f"img{j}.JPEG"))
    return root, rows


def write_parquet(folder, rows, layout: str = "struct", shards: int = 2, prefix: str = "validation") -> None:
    """The HF ``imagenet-1k`` shape: ``image`` struct<bytes, path> (or plain binary) and ``label``."""
    folder.mkdir(parents=True, exist_ok=True)
    for s, part in enumerate(np.array_split(np.arange(len(rows)), shards)):
        picked = [rows[i] for i in part]
        if layout == "struct":
            image = pa.array([{"bytes": b, "path": f"{f}_{n}"} for _, b, f, n in picked],
                             type=pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
        else:
            image = pa.array([b for _, b, _, _ in picked], type=pa.binary())
        table = pa.table({"image": image, "label": pa.array([lab for lab, *_ in picked], type=pa.int64())})
        pq.write_table(table, folder / f"{prefix}-{s:05d}-of-{shards:05d}.parquet", row_group_size=2)


def test_parquet_and_imagefolder_give_the_same_genknow(fake_imagenet, model_dirs, eval_data_dir, tmp_path):
    root, rows = fake_imagenet
    hf = tmp_path / "imagenet-1k"
    write_parquet(hf / "data", rows)  # DIR/data/validation-*.parquet, as the HF dataset ships it
    write_parquet(hf / "data", rows[:2], prefix="train", shards=1)  # other splits beside it are not read
    folder = evaluate(model_dirs["a"], eval_data_dir, tmp_path / "f", imagenet=root, cache_dir=False)
    shards = evaluate(model_dirs["a"], eval_data_dir, tmp_path / "p", imagenet=hf, cache_dir=False)
    gf, gp = folder.metrics["gen_know"], shards.metrics["gen_know"]
    assert gp.value == gf.value and gp.extra == gf.extra == {"source": "imagenet", "n": 9, "n_classes": 3}
    assert shards.gen_know_source == "imagenet"
    official = json.loads((tmp_path / "p" / shards.files["official"]).read_text())
    assert official["utility"]["2.1_GenKnow"] == {"ImageNet1k_Accuracy": gp.value}
    # every other metric is untouched by where GenKnow comes from
    assert {k: m.value for k, m in shards.metrics.items() if k != "gen_know"} == \
        {k: m.value for k, m in folder.metrics.items() if k != "gen_know"}


def test_parquet_layouts_read_the_same_images(fake_imagenet, tmp_path):
    root, rows = fake_imagenet
    write_parquet(tmp_path / "flat", rows, layout="binary", shards=3)  # DIR/*.parquet, plain binary column
    write_parquet(tmp_path / "hf" / "data", rows)
    folder, flat, hf = open_imagenet(root), open_imagenet(tmp_path / "flat"), open_imagenet(tmp_path / "hf")
    assert flat.layout == hf.layout == "parquet" and folder.layout == "imagefolder"
    # class names: open_clip's IMAGENET_CLASSNAMES by label id, one class per class present
    assert flat.classnames == ["goldfish", "tabby cat", "pizza"] and sorted(folder.classnames) == sorted(flat.classnames)
    assert [flat.classnames[i] for i in flat.labels] == [folder.classnames[i] for i in folder.labels]
    pixels = [np.asarray(flat.rows.load(k)) for k in range(len(flat))]
    from PIL import Image

    for k, path in enumerate(folder.paths):
        with Image.open(path) as img:
            assert np.array_equal(np.asarray(img.convert("RGB")), pixels[k])
    assert open_imagenet(tmp_path / "flat").identity() == flat.identity() != folder.identity()


@pytest.mark.parametrize("case", ["missing", "empty", "no_label", "label_1000", "corrupt"])
def test_bad_imagenet_folders_are_one_line_data_errors(case, fake_imagenet, tmp_path):
    root, rows = fake_imagenet
    target = tmp_path / "in"
    if case == "empty":
        target.mkdir()
    elif case == "no_label":
        target.mkdir()
        pq.write_table(pa.table({"image": pa.array([rows[0][1]], type=pa.binary())}), target / "x.parquet")
    elif case == "label_1000":
        write_parquet(target, [(1000, *rows[0][1:])], shards=1)
    elif case == "corrupt":
        target.mkdir()
        (target / "x.parquet").write_bytes(b"not a parquet file")
    with pytest.raises(DataError) as err:
        open_imagenet(target)
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"imagenet {target}")
    assert {"missing": "not a directory", "empty": "no images", "no_label": "no column label",
            "label_1000": "label 1000", "corrupt": "unreadable parquet"}[case] in text


def test_cli_eval_bad_imagenet_is_one_line(model_dirs, eval_data_dir, tmp_path, capsys):
    code = main(["eval", "--model", str(model_dirs["a"]), "--data", str(eval_data_dir), "--out", str(tmp_path / "o"),
                 "--imagenet", str(tmp_path / "nowhere"), "--quiet", "--no-cache"])
    err = capsys.readouterr().err.strip()
    assert code != 0 and err.startswith("error: --imagenet") and "\n" not in err
    assert not (tmp_path / "o" / "result.json").exists()
