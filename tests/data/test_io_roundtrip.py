"""Loader round trips: salmubench.data.load_dataset and Hugging Face ``datasets`` on our layout."""

from __future__ import annotations

import io
import json

import pyarrow.parquet as pq
import pytest
from PIL import Image

from salmubench.data import load_dataset
from salmubench.data import schema as S
from salmubench.data.metadata import (
    normalise_captions_metadata,
    normalise_generic_captions,
    normalise_identities,
)
from salmubench.data.writer import ShardWriter
from salmubench.errors import DataError


def _jpeg(color=(200, 10, 10)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), color).save(buf, format="JPEG")
    return buf.getvalue()


def test_shard_writer_roundtrip(tmp_path):
    w = ShardWriter(tmp_path, "forget", rows_per_shard=2)
    rows = [(_jpeg(), f"caption {i}", f"{i:08d}", f"{i:08d}_000_ar-1.33.jpg") for i in range(5)]
    for r in rows:
        w.add(*r)
    paths = w.close()
    assert [p.name for p in paths] == [S.shard_name("forget", i, 3) for i in range(3)]
    table = pq.read_table(tmp_path)
    assert table.column(S.COL_TEXT).to_pylist() == [r[1] for r in rows]
    assert table.column(S.COL_IMAGE)[0].as_py() == {"bytes": rows[0][0], "path": rows[0][3]}


def test_load_generated_dataset(tiny_dataset_dir):
    ds = load_dataset(tiny_dataset_dir)
    assert set(S.RELEASED_SPLITS + S.EXTRA_SPLITS) <= set(ds.splits)
    assert ds.fingerprint == load_dataset(str(tiny_dataset_dir)).fingerprint
    forget_ids = ds.forget_identity_ids
    assert set(filter(None, ds.retain_joint.identity_ids)) <= forget_ids
    assert all(i is None for i in ds.retain_disjoint.identity_ids)
    assert len(ds.retain_joint) + len(ds.retain_disjoint) == len(ds.retain_synth)
    partial = set(filter(None, ds.holdout_association.identity_ids))
    assert not partial & set(filter(None, ds.forget_identity.identity_ids))
    assert len(ds.forget_identity) > 0
    img = ds.forget.decode_image(0)
    assert img.mode == "RGB"
    with pytest.raises(DataError, match="fragile_set_ids"):
        ds.split(S.FRAGILE_SET)
    with pytest.raises(DataError, match="no split"):
        ds.split("nope")


def test_fragile_set_from_file(tiny_dataset_dir, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(tiny_dataset_dir, root)
    ids = load_dataset(root).retain_disjoint.file_names[:5]
    (root / S.FRAGILE_IDS_JSON).write_text(json.dumps(ids))
    ds = load_dataset(root)
    assert ds.fragile_set.file_names == ids


def test_metadata_shapes_accepted():
    ids = normalise_identities([{"identity_id": 12, "name": "A B"}])
    assert ids == {"00000012": {"identity_id": 12, "name": "A B"}}
    assert normalise_identities({"7": {"name": "x"}}) == {"00000007": {"name": "x"}}
    caps = normalise_captions_metadata([{"file_name": "f.jpg", "data_field": "city", "caption": "c"}])
    assert caps["f.jpg"]["data_field"] == "city"
    gen = normalise_generic_captions({"a.jpg": "x", "b.jpg": {"generic_caption": "y"}, "c.jpg": {"text": "z"}})
    assert gen == {"a.jpg": "x", "b.jpg": "y", "c.jpg": "z"}
    with pytest.raises(DataError):
        normalise_captions_metadata("nope")


def test_missing_split_is_one_clear_error(tiny_dataset_dir, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(tiny_dataset_dir, root)
    for p in (root / S.DATA_DIR).glob("holdout_identity-*.parquet"):
        p.unlink()
    with pytest.raises(DataError, match="missing split.*holdout_identity"):
        load_dataset(root)
    with pytest.raises(DataError, match="not found"):
        load_dataset(tmp_path / "nothing-here")


def test_load_only_some_splits(tiny_dataset_dir, tmp_path):
    """``load_dataset(spec, splits=...)`` never opens the other shards; its fingerprint is the full
    dataset's when there is a manifest, else the hash of the files it read."""
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(tiny_dataset_dir, root)
    for p in (root / S.DATA_DIR).glob("holdout_*.parquet"):
        p.write_bytes(b"not parquet")  # would fail if opened
    full = load_dataset(tiny_dataset_dir)
    part = load_dataset(root, splits=(S.FORGET, S.RETAIN_SYNTH, *S.EXTRA_SPLITS))
    assert set(part.splits) == {S.FORGET, S.RETAIN_SYNTH, *S.EXTRA_SPLITS} and part.fragile_ids is None
    assert part.forget.file_names == full.forget.file_names and part.fingerprint == full.fingerprint
    with pytest.raises(DataError, match="not a readable parquet"):
        load_dataset(root)
    (root / S.MANIFEST_JSON).unlink()
    a = load_dataset(root, splits=(S.FORGET, S.RETAIN_SYNTH))
    (root / S.DATA_DIR / next(p.name for p in (root / S.DATA_DIR).glob("holdout_identity-*"))).write_bytes(b"x")
    assert load_dataset(root, splits=(S.FORGET, S.RETAIN_SYNTH)).fingerprint == a.fingerprint  # holdouts not hashed
    with pytest.raises(DataError, match="missing split.*nope"):
        load_dataset(root, splits=(S.FORGET, "nope"))
    view = full.with_splits({S.FORGET: full.forget.take([0, 1])}, tag="two", drop=(S.HOLDOUT_IDENTITY,))
    assert len(view.forget) == 2 and not view.has_split(S.HOLDOUT_IDENTITY) and full.has_split(S.HOLDOUT_IDENTITY)
    assert view.fingerprint != full.fingerprint and view.identities is full.identities


def test_hf_datasets_reads_our_layout(tiny_dataset_dir, monkeypatch, tmp_path):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    ours = load_dataset(tiny_dataset_dir)
    files = {s: str(tiny_dataset_dir / S.DATA_DIR / f"{s}-*.parquet") for s in S.RELEASED_SPLITS}
    by_files = datasets.load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "c1"))
    by_dir = datasets.load_dataset(str(tiny_dataset_dir), cache_dir=str(tmp_path / "c2"))
    for dd in (by_files, by_dir):
        assert set(dd) == set(S.RELEASED_SPLITS)
        for split in S.RELEASED_SPLITS:
            assert dd[split]["text"] == ours.split(split).texts
            assert dd[split]["file_name"] == ours.split(split).file_names
    row = by_dir["forget"][0]
    assert row["image"].size == ours.forget.decode_image(0).size  # decoded as an Image feature
    zs = datasets.load_dataset(str(tiny_dataset_dir), "zeroshot", cache_dir=str(tmp_path / "c3"))["train"]
    assert zs["label"] == ours.split(S.ZEROSHOT).column(S.COL_LABEL)
