"""Shard file names: the loader and the validator accept exactly the same names (schema.SHARD_RE), the
Hugging Face ``{split}-NNNNN-of-NNNNN-{hash}.parquet`` ones included; wrong series are still flagged."""

from __future__ import annotations

import shutil

import pyarrow.parquet as pq
import pytest

from salmubench.data import load_dataset
from salmubench.data import schema as S
from salmubench.data.validate import validate_dataset
from salmubench.errors import DataError

HASHES = ("4d7a4fe0a19b4e0a", "0b1c2d3e4f5a6b7c", "9f8e7d6c5b4a3921")  # 16 hex digits, as datasets writes


def rewrite_hf_style(root, folder: str, split: str, shards: int) -> list:
    """Replace a split's shards by ``shards`` files written with pyarrow under Hugging Face names."""
    old = sorted((root / folder).glob(f"{split}-*.parquet"))
    table = pq.read_table(old)
    for p in old:
        p.unlink()
    step = -(-table.num_rows // shards)
    paths = []
    for i in range(shards):
        path = root / folder / f"{split}-{i:05d}-of-{shards:05d}-{HASHES[i % len(HASHES)]}.parquet"
        pq.write_table(table.slice(i * step, step), path)
        paths.append(path)
    return paths


@pytest.fixture
def hf_dataset(tiny_dataset_dir, tmp_path):
    """The tiny dataset with every shard re-written by pyarrow under HF names (forget in 3 shards);
    manifest dropped (it lists the original file names)."""
    root = tmp_path / "hf"
    shutil.copytree(tiny_dataset_dir, root)
    (root / S.MANIFEST_JSON).unlink()
    shards = {}
    for folder, splits in ((S.DATA_DIR, S.RELEASED_SPLITS), (S.EXTRA_DIR, S.EXTRA_SPLITS + (S.UNSEEN,))):
        for split in splits:
            if list((root / folder).glob(f"{split}-*.parquet")):
                shards[split] = rewrite_hf_style(root, folder, split, 3 if split == S.FORGET else 1)
    return root, shards


def test_hf_style_names_validate_and_load_like_ours(hf_dataset, tiny_dataset):
    root, shards = hf_dataset
    assert shards[S.FORGET][2].name == "forget-00002-of-00003-9f8e7d6c5b4a3921.parquet"
    rep = validate_dataset(root)
    assert rep.errors == [] and rep.warnings == []
    ds = load_dataset(root)
    for split in (*S.RELEASED_SPLITS, S.ZEROSHOT):
        assert ds.split(split).file_names == tiny_dataset.split(split).file_names  # same rows, same order


def test_a_missing_shard_of_an_hf_series_is_flagged(hf_dataset):
    root, shards = hf_dataset
    shards[S.FORGET][1].unlink()
    rep = validate_dataset(root, decode_images=False)
    assert "split 'forget': incomplete or inconsistent shard set (indices [0, 2], totals [3])" in rep.errors


def test_mixed_series_lengths_are_flagged(hf_dataset):
    root, shards = hf_dataset
    last = shards[S.FORGET][2]
    last.rename(last.with_name("forget-00002-of-00004-9f8e7d6c5b4a3921.parquet"))
    rep = validate_dataset(root, decode_images=False)
    assert "split 'forget': incomplete or inconsistent shard set (indices [0, 1, 2], totals [3, 4])" in rep.errors


@pytest.mark.parametrize("name", ["forget-00000-of-00003-backup.parquet", "forget.parquet", "forget-0-of-3.parquet",
                                  "forget-00000-of-00003-4D7A.parquet"])
def test_a_name_the_validator_flags_is_refused_by_the_loader_in_one_line(hf_dataset, name):
    root, shards = hf_dataset
    shutil.copy(shards[S.FORGET][0], root / S.DATA_DIR / name)
    rep = validate_dataset(root, decode_images=False)
    assert [e for e in rep.errors if "file name is not" in e] == \
        [f"{S.DATA_DIR}/{name}: file name is not {S.SHARD_NAME_FORM}"]
    with pytest.raises(DataError, match=rf"{name}: file name is not \{{split\}}-NNNNN-of-NNNNN.parquet") as err:
        load_dataset(root)
    assert "\n" not in str(err.value)


def test_parse_shard_name():
    assert S.parse_shard_name("holdout_identity-00001-of-00002.parquet") == S.ShardName("holdout_identity", 1, 2)
    assert S.parse_shard_name("forget-00000-of-00003-4d7a4fe0a19b4e0a.parquet") == S.ShardName("forget", 0, 3)
    assert S.parse_shard_name("forget-00000-of-00003.arrow") is None
    assert S.shard_set_problem([S.ShardName("f", 1, 2), S.ShardName("f", 0, 2)]) is None
    assert "indices [0, 0]" in S.shard_set_problem([S.ShardName("f", 0, 1), S.ShardName("f", 0, 1)])
