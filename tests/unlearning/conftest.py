"""Fixtures for the unlearning tests: a tiny dataset, a "Compromised" salmu-test model, UnlearnData.

The dataset comes from the shared ``tiny_dataset_dir`` fixture (tests/conftest.py) when it exists;
otherwise a throwaway SALMU-layout dataset is written here with ``ShardWriter``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from salmubench.data import schema as S
from salmubench.data.io import ShardWriter, load_dataset
from salmubench.models import create_model, save_model
from salmubench.unlearning.data import build_unlearn_data

ATTRS = ("city", "job", "phone", "email")


def _png(rng: np.random.Generator, base: np.ndarray) -> bytes:
    from PIL import Image

    pixels = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def write_small_dataset(root: Path, n_ids: int = 8, images: int = 3, n_retain: int = 24) -> Path:
    """A SALMU-layout dataset: ids 0-3 forget (0-1 partly), 2 holdout-only ids, synthetic retain."""
    rng = np.random.default_rng(0)
    data = root / S.DATA_DIR
    writers = {s: ShardWriter(data, s) for s in S.RELEASED_SPLITS}
    identities, captions, generic = {}, {}, {}
    for k in range(n_ids):
        iid = S.identity_id_str(k)
        name = f"Person{k} Test"
        values = {"city": f"City{k}", "job": f"job{k}", "phone": f"+1 555 01{k:02d}", "email": f"p{k}@x.org"}
        identities[iid] = {"name": name, "city": values["city"], "job": values["job"],
                           "phone_number": values["phone"], "emails": [values["email"]]}
        base = rng.integers(0, 255, (32, 32, 3)).astype(float)
        for a, attr in enumerate(ATTRS):
            if k < 2:
                split = S.FORGET if a < 2 else S.HOLDOUT_ASSOCIATION
            else:
                split = S.FORGET if k < 5 else S.HOLDOUT_IDENTITY
            for j in range(images):
                fname = S.image_file_name(iid, a * images + j, 1.0)
                text = f"{name}'s {attr} is {values[attr]}"
                writers[split].add(_png(rng, base), text, iid, fname)
                captions[fname] = {"data_field": attr, "caption": text}
                generic[fname] = f"a portrait photo of a person, number {j}"
    for r in range(n_retain):
        base = rng.integers(0, 255, (32, 32, 3)).astype(float)
        writers[S.RETAIN_SYNTH].add(_png(rng, base), f"a drawing of shape {r}", None, f"retain_{r:04d}.png")
    for w in writers.values():
        w.close()
    for name, obj in ((S.IDENTITIES_JSON, identities), (S.CAPTIONS_JSON, captions),
                      (S.GENERIC_CAPTIONS_JSON, generic)):
        (root / name).write_text(json.dumps(obj))
    return root


@pytest.fixture(scope="session")
def unlearn_data_dir(request, tmp_path_factory) -> Path:
    try:
        return Path(request.getfixturevalue("tiny_dataset_dir"))
    except pytest.FixtureLookupError:
        return write_small_dataset(tmp_path_factory.mktemp("unlearn_ds"))


@pytest.fixture(scope="session")
def compromised_dir(tmp_path_factory) -> Path:
    """A randomly initialised salmu-test model saved as the stand-in Compromised model."""
    out = tmp_path_factory.mktemp("compromised")
    save_model(create_model("salmu-test", seed=0), out)
    return out


@pytest.fixture(scope="session")
def bundle():
    return create_model("salmu-test", seed=0)


@pytest.fixture(scope="session")
def unlearn_data(unlearn_data_dir, bundle):
    return build_unlearn_data(load_dataset(unlearn_data_dir), bundle.preprocess, bundle.tokenizer)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models run faster on one thread, and much faster when the CPU is shared."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
