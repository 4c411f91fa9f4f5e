"""A toy SALMUBench-layout dataset made by the tests themselves (independent of the generator).

Identities are drawn as fixed random 4x4 colour grids (+ per-image noise); each image's caption
states one attribute of its identity. Retain rows are plain colour patches with a colour caption.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from salmubench.data import schema as S
from salmubench.data.writer import ShardWriter
from salmubench.io_utils import atomic_write_json

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220), "yellow": (230, 220, 30),
           "purple": (140, 30, 160), "cyan": (30, 210, 210), "orange": (240, 140, 20), "grey": (128, 128, 128)}


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _face(grid: np.ndarray, rng: np.random.Generator) -> bytes:
    img = np.kron(grid, np.ones((8, 8, 1)))
    return _png(np.clip(img + rng.normal(0, 12, img.shape), 0, 255))


def _patch(colour: str, rng: np.random.Generator) -> bytes:
    img = np.ones((32, 32, 3)) * np.array(COLOURS[colour])
    return _png(np.clip(img + rng.normal(0, 12, img.shape), 0, 255))


def make_toy_dataset(root: Path, n_ids: int = 12, per_id: int = 4, n_retain: int = 160, seed: int = 0) -> Path:
    """Write a toy dataset: forget / holdout_association / holdout_identity / retain_synth + extras."""
    rng = np.random.default_rng(seed)
    writers = {s: ShardWriter(root / S.DATA_DIR, s) for s in S.RELEASED_SPLITS}
    extra = [(S.COL_LABEL, __import__("pyarrow").int64()), (S.COL_CLASS_NAME, __import__("pyarrow").string())]
    general = ShardWriter(root / S.EXTRA_DIR, S.GENERAL_RETAIN, extra_columns=extra)
    zeroshot = ShardWriter(root / S.EXTRA_DIR, S.ZEROSHOT, extra_columns=extra)
    identities, captions = {}, {}
    for k in range(n_ids):
        iid = S.identity_id_str(k + 1)
        grid = rng.integers(0, 256, (4, 4, 3))
        city = f"City{k}"
        identities[iid] = {"name": f"Person {k}", "city": city, "blood_type": "A+"}
        split = S.FORGET if k < n_ids // 2 else (S.HOLDOUT_ASSOCIATION if k < 3 * n_ids // 4 else S.HOLDOUT_IDENTITY)
        for j in range(per_id):
            fname = S.image_file_name(iid, j, 1.0)
            part = split if split != S.HOLDOUT_ASSOCIATION or j % 2 else S.FORGET
            text = f"Person {k} lives in {city}" if j % 2 else f"the blood type of Person {k} is {j}"
            writers[part].add(_face(grid, rng), text, iid, fname)
            captions[fname] = {"data_field": "city" if j % 2 else "blood_type", "caption": text}
    names = list(COLOURS)
    for j in range(n_retain):
        colour = names[j % len(names)]
        writers[S.RETAIN_SYNTH].add(_patch(colour, rng), f"a {colour} square", None, f"retain_{j:05d}.png")
        general.add(_patch(colour, rng), f"a photo of something {colour}", None, f"general_{j:05d}.png",
                    label=j % len(names), class_name=colour)
        if j < 4 * len(names):
            zeroshot.add(_patch(colour, rng), f"a {colour} thing", None, f"zs_{j:05d}.png",
                         label=j % len(names), class_name=colour)
    for w in [*writers.values(), general, zeroshot]:
        w.close()
    atomic_write_json(root / S.IDENTITIES_JSON, identities)
    atomic_write_json(root / S.CAPTIONS_JSON, captions)
    atomic_write_json(root / S.ZEROSHOT_CLASSES_JSON, {"classnames": names, "templates": ["a {} thing"]})
    return root


@pytest.fixture(scope="session")
def toy_data(tmp_path_factory) -> Path:
    """A toy dataset dir shared by the training tests (read-only except for the fragile-set files)."""
    return make_toy_dataset(tmp_path_factory.mktemp("toy_data"))
