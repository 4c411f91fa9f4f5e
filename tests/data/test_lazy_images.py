"""``load_dataset(images="lazy")``: the same rows and bytes as in memory, read a shard at a time."""

from __future__ import annotations

import shutil

import pytest

from salmubench.data import load_dataset
from salmubench.data import schema as S
from salmubench.data.loading import find_shards, read_split
from salmubench.data.tables import IMAGE_ROW, ImageShards
from salmubench.data.tensor_cache import content_sha256
from salmubench.errors import DataError


@pytest.fixture(scope="module")
def both(tiny_dataset_dir):
    return load_dataset(tiny_dataset_dir), load_dataset(tiny_dataset_dir, images="lazy")


def test_lazy_rows_and_bytes_equal_memory(both):
    eager, lazy = both
    assert set(eager.splits) == set(lazy.splits)
    for name, split in eager.splits.items():
        other = lazy.split(name)
        assert other.images is not None and S.COL_IMAGE not in other.table.column_names
        assert other.texts == split.texts and other.file_names == split.file_names
        assert [other.image_bytes(i) for i in range(len(other))] == [split.image_bytes(i) for i in range(len(split))]
        assert content_sha256(other) == content_sha256(split)


def test_derived_subsets_keep_their_images(both):
    eager, lazy = both
    for name in (S.RETAIN_JOINT, S.RETAIN_DISJOINT, S.FORGET_IDENTITY):
        a, b = eager.split(name), lazy.split(name)
        assert len(a) == len(b) > 0
        assert [b.image_bytes(i) for i in range(len(b))] == [a.image_bytes(i) for i in range(len(a))]
    rows = [3, 0, 2]
    taken = lazy.forget.take(rows)
    assert dict(taken.iter_image_bytes()) == {k: eager.forget.image_bytes(r) for k, r in enumerate(rows)}
    renamed = taken.with_table(taken.table, name="other")
    assert renamed.name == "other" and renamed.image_bytes(1) == eager.forget.image_bytes(0)


def test_shards_are_read_once_in_order_and_bounded(tiny_dataset_dir, monkeypatch):
    paths = find_shards(tiny_dataset_dir, S.DATA_DIR)[S.FORGET]
    split = read_split(S.FORGET, paths, lazy_images=True)
    reads = []
    original = ImageShards._read_shard

    def counting(self, shard):
        reads.append(shard)
        return original(self, shard)

    monkeypatch.setattr(ImageShards, "_read_shard", counting)
    list(split.iter_image_bytes(list(range(len(split)))[::-1]))  # asked in reverse, read in shard order
    assert reads == list(range(len(paths)))
    assert len(split.images._cache) <= split.images.keep
    assert split.table.column(IMAGE_ROW).to_pylist() == list(range(len(split)))


def test_a_corrupt_shard_is_a_one_line_error_when_read(tiny_dataset_dir, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_dataset_dir, root)
    shard = find_shards(root, S.DATA_DIR)[S.FORGET][0]
    lazy = load_dataset(root, images="lazy")
    shard.write_bytes(b"PAR1 not parquet any more")
    with pytest.raises(DataError, match="not a readable parquet file"):
        lazy.forget.image_bytes(0)
    with pytest.raises(DataError, match="images must be"):
        load_dataset(root, images="mmap")
