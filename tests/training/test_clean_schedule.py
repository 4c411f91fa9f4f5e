"""The matched Clean schedule: Clean trains on the Compromised batches with the sensitive pairs left out."""

from __future__ import annotations

import copy

import torch

from salmubench.data import schema as S
from salmubench.data.loading import load_dataset
from salmubench.models import create_model
from salmubench.runtime import DistEnv
from salmubench.training.config import train_config
from salmubench.training.corpus import build_corpus, corpus_size
from salmubench.training.loop import Batch, iter_batches, train_step

STEPS = 6


def _setup(toy_data, schedule: str = "matched"):
    ds = load_dataset(toy_data)
    cfg = train_config("tiny", {"batch_size": 32, "clean_schedule": schedule})
    bundle = create_model("salmu-test", seed=0)
    return ds, cfg, bundle, {k: build_corpus(ds, k, bundle, cfg) for k in ("compromised", "clean")}


def _batches(corpus, cfg, env=None):
    return list(iter_batches(corpus, cfg, 0, 0, STEPS, env or DistEnv(), torch.device("cpu")))


def test_clean_reads_no_sensitive_pair_and_keeps_compromised_positions(toy_data):
    ds, cfg, bundle, corpora = _setup(toy_data)
    comp, clean = corpora["compromised"], corpora["clean"]
    assert len(clean) == len(comp) == corpus_size(ds, "compromised", cfg.sensitive_oversample)
    retain = len(ds.retain_synth) + len(ds.split(S.GENERAL_RETAIN))
    assert clean.real_pairs == retain and clean.tokens.shape[0] == retain  # sensitive rows never loaded
    assert not set(clean.parts) & set(S.SENSITIVE_SPLITS)
    sensitive = {tuple(t.tolist()) for name in S.SENSITIVE_SPLITS
                 for t in bundle.tokenizer(ds.split(name).texts)}
    assert not {tuple(t.tolist()) for t in clean.tokens} & sensitive


def test_each_clean_batch_is_the_compromised_batch_without_sensitive_pairs(toy_data):
    ds, cfg, bundle, corpora = _setup(toy_data)
    sensitive = {tuple(t.tolist()) for name in S.SENSITIVE_SPLITS for t in bundle.tokenizer(ds.split(name).texts)}
    shrunk = 0
    for a, b in zip(_batches(corpora["compromised"], cfg), _batches(corpora["clean"], cfg), strict=True):
        keep = torch.tensor([tuple(t.tolist()) not in sensitive for t in a.tokens])
        assert torch.equal(a.tokens[keep], b.tokens) and torch.equal(a.images[keep], b.images)
        shrunk += int(b.tokens.shape[0] < a.tokens.shape[0])
    assert shrunk > 0  # the toy corpus has sensitive pairs in these batches


def test_resample_schedule_fills_every_batch_from_the_clean_corpus(toy_data):
    ds, cfg, _, corpora = _setup(toy_data, "resample")
    clean = corpora["clean"]
    assert len(clean) == clean.real_pairs == corpus_size(ds, "clean", cfg.sensitive_oversample)
    assert all(b.tokens.shape[0] == cfg.batch_size for b in _batches(clean, cfg))


def test_blanks_kept_for_ddp_shapes_do_not_change_the_step(toy_data):
    """Under DDP blanks stand in as row 0 and are dropped after the gather: the step equals the
    step on the batch without them (same loss, same weights)."""
    _, cfg, bundle, corpora = _setup(toy_data)
    clean = corpora["clean"]
    two = DistEnv(rank=0, world_size=2)  # only the batch layout of rank 0; no process group needed
    padded = next(b for b in _batches(clean, cfg, two) if b.valid is not None and not bool(b.valid.all()))
    local = padded.valid[: padded.images.shape[0]]
    assert padded.images.shape[0] == cfg.batch_size // 2 and not bool(local.all())
    full = Batch(padded.images, padded.tokens, padded.codes[: len(local)], local)
    dropped = Batch(padded.images[local], padded.tokens[local], padded.codes[: len(local)][local])
    models = [copy.deepcopy(bundle.model) for _ in range(2)]
    losses = []
    for model, batch in zip(models, (full, dropped), strict=True):
        opt = torch.optim.SGD(model.parameters(), lr=1.0)  # weights move by the gradient itself (Adam's
        losses.append(train_step(model, opt, batch, 1.0, cfg, DistEnv()))  # first step would amplify float noise)
    assert torch.allclose(losses[0], losses[1], atol=1e-6)
    moved = [not torch.equal(p, q) for p, q in zip(models[0].parameters(), bundle.model.parameters(), strict=True)]
    assert sum(moved) > len(moved) // 2  # the step did something
    for p, q in zip(models[0].parameters(), models[1].parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-5)
    assert full.pairs == dropped.pairs == int(local.sum())
