"""The tensor cache (data/tensor_cache.py): decoded once, read back bit-identical, never trusted blindly."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pytest
import torch

from salmubench.data import schema as S
from salmubench.data import tensor_cache as tc
from salmubench.data.loading import load_dataset
from salmubench.data.tables import SplitTable
from salmubench.data.torch_data import tensorize
from salmubench.models import create_model


@pytest.fixture(scope="module")
def bundle():
    return create_model("salmu-test", seed=0)


@pytest.fixture(scope="module")
def split(tiny_dataset_dir):
    return load_dataset(tiny_dataset_dir).retain_synth


def _entries(folder):
    return sorted(folder.glob("*.safetensors"))


def test_cold_and_warm_reads_equal_decoding(split, bundle, tmp_path, monkeypatch):
    decoded = tc.decode_split_images(split, bundle.preprocess)
    cold = tc.split_images(split, bundle.preprocess, cache_dir=tmp_path)
    assert torch.equal(cold, decoded)
    assert len(_entries(tmp_path)) == 1

    def no_decode(*args, **kwargs):
        raise AssertionError("a warm read must not decode")

    monkeypatch.setattr(tc, "decode_split_images", no_decode)
    done = []
    warm = tc.split_images(split, bundle.preprocess, progress=done.append, cache_dir=tmp_path)
    assert torch.equal(warm, decoded) and warm.dtype == torch.float32
    assert done == [len(split)]


def test_key_follows_image_bytes_and_transform(split, bundle, tmp_path):
    tc.split_images(split, bundle.preprocess, cache_dir=tmp_path)
    other = create_model("salmu-test", seed=0)
    other.preprocess.transforms[-1].mean = (0.5, 0.5, 0.5)  # another Normalize: another entry
    tc.split_images(split, other.preprocess, cache_dir=tmp_path)
    assert len(_entries(tmp_path)) == 2
    # one image's bytes changed -> another entry, and its values follow the new bytes
    table = split.table
    images = table.column(S.COL_IMAGE).to_pylist()
    images[0], images[1] = images[1], images[0]
    swapped = SplitTable(split.name, table.set_column(table.schema.get_field_index(S.COL_IMAGE), S.COL_IMAGE,
                                                      pa.array(images, type=table.schema.field(S.COL_IMAGE).type)))
    out = tc.split_images(swapped, bundle.preprocess, cache_dir=tmp_path)
    assert len(_entries(tmp_path)) == 3
    assert torch.equal(out, tc.decode_split_images(swapped, bundle.preprocess))


def test_corrupt_or_foreign_entry_is_rewritten(split, bundle, tmp_path):
    decoded = tc.split_images(split, bundle.preprocess, cache_dir=tmp_path)
    (entry,) = _entries(tmp_path)
    entry.write_bytes(b"not a safetensors file")
    assert torch.equal(tc.split_images(split, bundle.preprocess, cache_dir=tmp_path), decoded)
    # a valid safetensors file with the wrong content under this key is not trusted either
    from safetensors.torch import save_file

    save_file({"images": torch.zeros_like(decoded)}, str(entry), metadata={"format": tc.FORMAT, "content": "x",
                                                                       "preprocess": "y", "rows": str(len(split))})
    assert torch.equal(tc.split_images(split, bundle.preprocess, cache_dir=tmp_path), decoded)
    assert torch.equal(tc.split_images(split, bundle.preprocess, cache_dir=tmp_path), decoded)


def test_off_and_unstable_transforms_write_nothing(split, bundle, tmp_path, monkeypatch):
    monkeypatch.setenv(tc.ENV, "off")
    assert tc.default_tensor_cache_dir() is None
    assert torch.equal(tc.split_images(split, bundle.preprocess), tc.decode_split_images(split, bundle.preprocess))
    monkeypatch.setenv(tc.ENV, str(tmp_path))
    def lam(img):
        return bundle.preprocess(img)
    assert tc.preprocess_description(lam) is None
    tc.split_images(split, lam)
    assert _entries(tmp_path) == []
    tc.split_images(split, bundle.preprocess)
    assert len(_entries(tmp_path)) == 1


def test_oversized_splits_are_not_cached(split, bundle, tmp_path, monkeypatch):
    monkeypatch.setattr(tc, "MAX_CACHED_BYTES", tc.preprocessed_bytes(split, bundle.preprocess) - 1)
    assert not tc.cacheable(split, bundle.preprocess, tmp_path)
    tc.split_images(split, bundle.preprocess, cache_dir=tmp_path)
    assert _entries(tmp_path) == []


def test_subsets_of_cached_tensors_equal_tensorized_subsets(split, bundle, monkeypatch, tmp_path):
    """tensorize goes through the cache; its rows equal a subset decoded on its own (the attacks' takes)."""
    monkeypatch.setenv(tc.ENV, str(tmp_path))
    whole = tensorize(split, bundle.preprocess, bundle.tokenizer)
    rows = [5, 0, 3]
    part = tensorize(split.take(rows), bundle.preprocess, bundle.tokenizer)
    assert torch.equal(whole.subset(rows).images, part.images)
    assert torch.equal(whole.subset(rows).tokens, part.tokens)


def test_content_hash_is_order_sensitive(split):
    assert tc.content_sha256(split) != tc.content_sha256(split.take(list(range(len(split)))[::-1]))
    assert tc.content_sha256(split) == tc.content_sha256(split.take(list(range(len(split)))))
    assert len(tc.content_sha256(split)) == len(hashlib.sha256().hexdigest())


def test_an_unusable_cache_location_only_costs_a_decode(split, bundle, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    out = tc.split_images(split, bundle.preprocess, cache_dir=blocker / "tensors")
    assert torch.equal(out, tc.decode_split_images(split, bundle.preprocess))


def test_the_same_transform_built_two_ways_shares_a_key(bundle):
    """create_model's transform (mean as a tuple) and load_model's (a list) describe the same way."""
    import copy

    other = copy.deepcopy(bundle.preprocess)
    norm = other.transforms[-1]
    norm.mean, norm.std = list(norm.mean), list(norm.std)
    assert tc.preprocess_description(other) == tc.preprocess_description(bundle.preprocess) is not None
    norm.std = [s * 2 for s in norm.std]
    assert tc.preprocess_description(other) != tc.preprocess_description(bundle.preprocess)
