"""Shared session fixtures: a tiny generated SALMU dataset (seconds) and an offline guard."""

from __future__ import annotations

import os

import pytest

import salmubench  # noqa: F401 - first: pins CPU numerics before torch / numpy load (salmubench.runtime)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session", autouse=True)
def session_tensor_cache(tmp_path_factory):
    """Decoded image tensors go to a folder of this test session, never the user's ~/.cache
    (data/tensor_cache.py; set in os.environ so that spawned --jobs workers inherit it)."""
    folder = tmp_path_factory.mktemp("tensor-cache")
    old = os.environ.get("SALMUBENCH_TENSOR_CACHE")
    os.environ["SALMUBENCH_TENSOR_CACHE"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("SALMUBENCH_TENSOR_CACHE", None)
    else:
        os.environ["SALMUBENCH_TENSOR_CACHE"] = old


@pytest.fixture(scope="session")
def tiny_dataset_dir(tmp_path_factory):
    """A ``tiny``-preset dataset (seed 0) generated once per test session; treat it as read-only."""
    from salmubench.data.generate import generate_dataset

    out = tmp_path_factory.mktemp("salmu") / "tiny"
    generate_dataset(out, preset="tiny", seed=0)
    return out


@pytest.fixture(scope="session")
def tiny_dataset(tiny_dataset_dir):
    """The tiny dataset loaded with :func:`salmubench.data.load_dataset` (read-only)."""
    from salmubench.data import load_dataset

    return load_dataset(tiny_dataset_dir)


@pytest.fixture(scope="session")
def mini_dataset_dir(tmp_path_factory):
    """A ``mini``-preset dataset (seed 0; ~10 s, generated only when a test asks; read-only)."""
    from salmubench.data.generate import generate_dataset

    out = tmp_path_factory.mktemp("salmu") / "mini"
    generate_dataset(out, preset="mini", seed=0)
    return out


@pytest.fixture
def isolated_methods(tmp_path):
    """The method registry as it was before the test: external methods registered during it (and the
    modules imported from the test's files) are dropped afterwards, so the next test can load the same
    file again without a name clash."""
    import sys

    from salmubench.unlearning import registry

    registry.load_methods()
    items, external, errors = dict(registry.METHODS._items), dict(registry._external), dict(registry._plugin_errors)
    modules = set(sys.modules)
    yield registry
    registry.METHODS._items.clear()
    registry.METHODS._items.update(items)
    registry._external.clear()
    registry._external.update(external)
    registry._plugin_errors.clear()
    registry._plugin_errors.update(errors)
    for name in set(sys.modules) - modules:
        if name.startswith("salmubench_external.") or str(getattr(sys.modules[name], "__file__", "")).startswith(
                str(tmp_path)):
            del sys.modules[name]


@pytest.fixture
def one_torch_thread():
    """Run the test on one torch thread (tiny models run faster so, much faster on a shared CPU)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
