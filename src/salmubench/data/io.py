"""The dataset reader and writer under one name (``salmubench.data.io``), kept for users and for
``salmubench.load_dataset``: every name is re-exported from the module that defines it.

* :mod:`.layout`: the on-disk layout and the arrow schemas of the shards (``split_schema``);
* :mod:`.tables`: ``SplitTable``, ``ImageShards`` (lazily read images), ``decode_image_bytes``;
* :mod:`.dataset`: the ``SalmuDataset`` model and its derived subsets;
* :mod:`.fingerprint`: ``dataset_files``, ``dataset_fingerprint``;
* :mod:`.metadata`: reading and normalising the metadata JSONs;
* :mod:`.loading`: ``find_shards``, ``read_split``, ``resolve_dataset_dir``, ``load_dataset``;
* :mod:`.views`: ``load_without_holdouts`` and the other holdout-free views;
* :mod:`.writer`: ``ShardWriter``.
"""

from __future__ import annotations

from salmubench.data.dataset import SalmuDataset
from salmubench.data.fingerprint import dataset_files, dataset_fingerprint
from salmubench.data.layout import BASE_SCHEMA, IMAGE_TYPE, split_schema
from salmubench.data.loading import find_shards, load_dataset, read_split, resolve_dataset_dir
from salmubench.data.metadata import (
    normalise_captions_metadata,
    normalise_fragile_ids,
    normalise_generic_captions,
    normalise_identities,
    read_optional_json,
)
from salmubench.data.tables import IMAGE_ROW, ImageShards, SplitTable, decode_image_bytes
from salmubench.data.views import load_without_holdouts
from salmubench.data.writer import ShardWriter

__all__ = [
    "BASE_SCHEMA",
    "IMAGE_ROW",
    "IMAGE_TYPE",
    "ImageShards",
    "SalmuDataset",
    "ShardWriter",
    "SplitTable",
    "dataset_files",
    "dataset_fingerprint",
    "decode_image_bytes",
    "find_shards",
    "load_dataset",
    "load_without_holdouts",
    "normalise_captions_metadata",
    "normalise_fragile_ids",
    "normalise_generic_captions",
    "normalise_identities",
    "read_optional_json",
    "read_split",
    "resolve_dataset_dir",
    "split_schema",
]
