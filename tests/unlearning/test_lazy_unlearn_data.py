"""Unlearning data held lazily (``LazyImages``, decoded per batch) gives the batches, and so the
weights, of the dense path bit for bit (issue 22: bounded memory)."""

from __future__ import annotations

import copy

import pytest
import torch

from salmubench.data.lazy_images import LazyImages, concat_images
from salmubench.data.loading import load_dataset
from salmubench.errors import ConfigError
from salmubench.unlearning import Budget, Runtime, get_method
from salmubench.unlearning.api import run_method
from salmubench.unlearning.data import IMAGES_ENV, build_unlearn_data, request_data


@pytest.fixture(scope="module")
def both(unlearn_data_dir, bundle):
    """(dense, lazy) UnlearnData of the tiny dataset, loaded with lazy image shards as ``unlearn`` does."""
    ds = load_dataset(unlearn_data_dir, images="lazy")
    dense = build_unlearn_data(ds, bundle.preprocess, bundle.tokenizer, images="memory")
    lazy = build_unlearn_data(ds, bundle.preprocess, bundle.tokenizer, lazy_above=0)  # auto, forced lazy
    return dense, lazy


def test_paths_are_chosen_by_size_mode_and_env(both, unlearn_data_dir, bundle, monkeypatch):
    dense, lazy = both
    assert isinstance(dense.forget.images, torch.Tensor) and isinstance(dense.retain.images, torch.Tensor)
    assert isinstance(lazy.forget.images, LazyImages) and isinstance(lazy.retain.images, LazyImages)
    ds = load_dataset(unlearn_data_dir, images="lazy")
    auto = build_unlearn_data(ds, bundle.preprocess, bundle.tokenizer)  # tiny: far below the cap
    assert isinstance(auto.forget.images, torch.Tensor)
    monkeypatch.setenv(IMAGES_ENV, "lazy")
    assert isinstance(build_unlearn_data(ds, bundle.preprocess, bundle.tokenizer).forget.images, LazyImages)
    monkeypatch.setenv(IMAGES_ENV, "sometimes")
    with pytest.raises(ConfigError, match=IMAGES_ENV):
        build_unlearn_data(ds, bundle.preprocess, bundle.tokenizer)


def test_lazy_images_index_like_the_dense_tensor(both):
    dense, lazy = both
    for side in ("forget", "retain"):
        d, z = getattr(dense, side).images, getattr(lazy, side).images
        assert len(z) == len(d) and z.shape == d.shape and z.dtype == d.dtype
        idx = torch.randperm(len(d), generator=torch.Generator().manual_seed(1))[:13]
        assert torch.equal(z[idx], d[idx]) and torch.equal(z[idx], d[idx])  # the second from the memo
        assert torch.equal(z[[2]], d[[2]]) and torch.equal(z[3], d[3]) and torch.equal(z[-1], d[-1])
        assert torch.equal(z[1:6], d[1:6]) and z[[]].shape == (0, *d.shape[1:])
        assert torch.equal(z.take([5, 0, 4])[[2, 0]], d[[4, 5]])
        assert torch.equal(z.to("cpu")[idx], d[idx])
    with pytest.raises(IndexError):
        lazy.forget.images[[len(lazy.forget)]]
    joined = concat_images([lazy.forget.images, lazy.retain.images])
    n = len(lazy.forget)
    assert len(joined) == n + len(lazy.retain) and torch.equal(joined[[n, 0]], torch.cat(
        [dense.retain.images[:1], dense.forget.images[:1]]))


def test_requests_keep_images_lazy(both):
    dense, lazy = both
    rows = [7, 1, 4]
    a, b = request_data(dense, rows), request_data(lazy, rows)
    assert isinstance(b.forget.images, LazyImages) and b.retain is lazy.retain
    assert torch.equal(b.forget.images[[0, 1, 2]], a.forget.images) and b.forget.texts == a.forget.texts
    assert torch.equal(b.forget_generic.tokens, a.forget_generic.tokens)


def _weights(name, bundle, data, budget, **overrides):
    cls = get_method(name)
    model, _ = run_method(cls(cls.config_cls(**overrides), Runtime(seed=3)), copy.deepcopy(bundle.model), data,
                          Budget(budget))
    return model.state_dict()


@pytest.mark.parametrize(("name", "budget", "overrides"), [
    ("neg_grad", 0.5, {"forget_batch_size": 16}),
    ("finetune", 0.5, {"forget_batch_size": 16, "retain_batch_size": 8}),
    ("label_correction", 1.0, {"forget_batch_size": 32}),
    ("slug", 1.0, {"forget_batch_size": 32, "retain_batch_size": 32}),
])
def test_a_whole_run_gives_the_same_weights_bit_for_bit(both, bundle, name, budget, overrides):
    dense, lazy = both
    a, b = _weights(name, bundle, dense, budget, **overrides), _weights(name, bundle, lazy, budget, **overrides)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), name
    assert any(not torch.equal(a[k], bundle.model.state_dict()[k]) for k in a), f"{name} moved no weight"


def test_relearn_decodes_only_the_rows_of_its_plan_with_the_same_losses(unlearn_data_dir, bundle):
    from salmubench.attacks.finetune import batch_plan, compact_plan, finetune
    from salmubench.data.torch_data import tensorize

    forget = load_dataset(unlearn_data_dir, images="lazy").forget
    r_rows = list(range(0, len(forget), 2))
    plan = batch_plan(len(r_rows), 3, 8, seed=5)
    used, compact = compact_plan(plan)
    assert len(used) == 24 < len(r_rows) and used == sorted(set(torch.cat(plan).tolist()))
    full = tensorize(forget.take(r_rows), bundle.preprocess, bundle.tokenizer)
    some = tensorize(forget.take([r_rows[u] for u in used]), bundle.preprocess, bundle.tokenizer)
    a, b = copy.deepcopy(bundle.model), copy.deepcopy(bundle.model)
    assert finetune(a, full, plan, 1e-3) == finetune(b, some, compact, 1e-3)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_a_torchrun_rank_gets_lazy_batches_and_decodes_only_the_rows_it_embeds(both, monkeypatch):
    """Under torchrun (world size > 1) the sampler hands out lazy batches: nothing is decoded until
    ``losses.encode`` slices this rank's rows (``distributed.local_rows``), and only those are decoded."""
    from salmubench.runtime import DistEnv
    from salmubench.unlearning.base import Runtime
    from salmubench.unlearning.distributed import local_rows
    from salmubench.unlearning.registry import get_method
    from salmubench.unlearning.runner import BatchSampler

    decoded = []
    original = LazyImages._decode
    monkeypatch.setattr(LazyImages, "_decode", lambda self, row: decoded.append(row) or original(self, row))
    _, lazy = both
    cls = get_method("finetune")
    cfg = cls.config_cls(forget_batch_size=8, retain_batch_size=9)
    rank1 = BatchSampler(cls(cfg, Runtime(seed=0, rank=1, world_size=2)), lazy, torch.device("cpu")).next()
    assert isinstance(rank1.retain.images, LazyImages) and len(rank1.retain) == 9
    decoded.clear()
    rows = local_rows(len(rank1.retain), DistEnv(1, 2))
    part = rank1.retain.images[rows.start:rows.stop]
    assert len(decoded) == len(rows) == 4 and part.shape[0] == 4
    one = BatchSampler(cls(cfg, Runtime(seed=0)), lazy, torch.device("cpu")).next()  # one process: dense
    assert not isinstance(one.retain.images, LazyImages)
    assert torch.equal(one.retain.images[rows.start:rows.stop], part)  # the same rows, the same tensors
    delete = get_method("delete")  # reads batch.forget.images itself: dense batches on every rank
    dense = BatchSampler(delete(delete.config_cls(), Runtime(seed=0, rank=1, world_size=2)), lazy,
                         torch.device("cpu")).next()
    assert not isinstance(dense.forget.images, LazyImages)
