"""Fixtures of the evaluation tests: a small on-disk dataset and untrained salmu-test models."""

from __future__ import annotations

import pytest
from evalkit import synthetic_rows, write_dataset

from salmubench.data import schema as S


@pytest.fixture(scope="session")
def eval_data_dir(tmp_path_factory):
    """A small dataset in the released layout (noise images), with a fragile set."""
    spec = synthetic_rows(n_full=4, n_partial=4, n_held=3, per_attr=2, n_disjoint=12, n_zeroshot=9)
    spec.fragile_ids = [r["file_name"] for r in spec.rows[S.RETAIN_SYNTH] if r["identity_id"] is None][:4]
    return write_dataset(spec, tmp_path_factory.mktemp("evaldata") / "salmu")


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory):
    """Two untrained salmu-test models saved in the local-dir layout: ``{"a": dir, "b": dir}``."""
    from salmubench.models import create_model, save_model

    root = tmp_path_factory.mktemp("evalmodels")
    out = {}
    for name, seed in (("a", 0), ("b", 1)):
        save_model(create_model("salmu-test", seed=seed), root / name)
        out[name] = root / name
    return out


@pytest.fixture(scope="module")
def bundle(model_dirs):
    """Model "a" of :func:`model_dirs`, loaded once per test module."""
    from salmubench.models import load_model

    return load_model(model_dirs["a"])


@pytest.fixture(scope="module")
def data(eval_data_dir):
    """The evaluation dataset, loaded once per test module."""
    from salmubench.data.loading import load_dataset

    return load_dataset(eval_data_dir)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Never write embeddings into the user's ~/.cache during tests."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
