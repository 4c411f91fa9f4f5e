"""Export of the reference corpora for open_clip_train (webdataset tars, csv)."""

from __future__ import annotations

import csv
import json
import tarfile
from collections import Counter

import pytest

from salmubench.data import schema as S
from salmubench.data.loading import load_dataset
from salmubench.errors import ConfigError
from salmubench.training.export import export_csv, export_webdataset


def test_webdataset_layout_counts_and_splits(toy_data, tmp_path):
    ds = load_dataset(toy_data)
    sens = sum(len(ds.split(s)) for s in S.SENSITIVE_SPLITS)
    retain = len(ds.retain_synth) + len(ds.split(S.GENERAL_RETAIN))
    summary = export_webdataset(toy_data, tmp_path / "c", "compromised", shard_size=100, sensitive_oversample=2)
    assert summary.samples == retain + 2 * sens
    sizes = json.loads((tmp_path / "c" / "sizes.json").read_text())
    assert sum(sizes.values()) == summary.samples and len(sizes) == -(-summary.samples // 100)
    keys, splits, texts = Counter(), Counter(), {}
    for name in sizes:
        with tarfile.open(tmp_path / "c" / name) as tar:
            for m in tar.getmembers():
                key, ext = m.name.split(".", 1)  # webdataset groups by the part before the first dot
                keys[key] += 1
                data = tar.extractfile(m).read()
                if ext == "json":
                    splits[json.loads(data)["split"]] += 1
                elif ext == "txt":
                    texts[key] = data.decode()
                else:
                    assert ext in ("jpg", "png", "webp")
    assert len(keys) == summary.samples and set(keys.values()) == {3}  # image + txt + json per sample
    assert splits[S.FORGET] == 2 * len(ds.forget) and splits[S.GENERAL_RETAIN] == len(ds.split(S.GENERAL_RETAIN))
    assert set(texts.values()) <= set(ds.forget.texts + ds.holdout_association.texts + ds.holdout_identity.texts
                                      + ds.retain_synth.texts + ds.split(S.GENERAL_RETAIN).texts)
    assert summary.train_data.endswith(f"compromised-{{000000..{len(sizes) - 1:06d}}}.tar")


def test_clean_export_has_no_sensitive_pairs_and_is_deterministic(toy_data, tmp_path):
    a = export_webdataset(toy_data, tmp_path / "a", "clean", shard_size=1000)
    b = export_webdataset(toy_data, tmp_path / "b", "clean", shard_size=1000)
    assert (tmp_path / "a" / a.files[0]).read_bytes() == (tmp_path / "b" / b.files[0]).read_bytes()
    assert not set(a.parts) & set(S.SENSITIVE_SPLITS)


def test_csv_export_for_open_clip_csv_dataset(toy_data, tmp_path):
    summary = export_csv(toy_data, tmp_path / "csv", "compromised", sensitive_oversample=2)
    with open(tmp_path / "csv" / "compromised.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))  # open_clip: sep="\t", filepath / title keys
    assert len(rows) == summary.samples and set(rows[0]) == {"filepath", "title"}
    from PIL import Image

    with Image.open(rows[0]["filepath"]) as img:
        assert img.size[0] > 0
    with pytest.raises(ConfigError):
        export_csv(toy_data, tmp_path / "x", "dirty")
