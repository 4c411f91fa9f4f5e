"""Maths of the original paper's baselines on a tiny model: each term's value, sign, and which model
(the one being unlearned or the frozen original θ0) it uses."""

from __future__ import annotations

import copy

import pytest
import torch
from methodkit import make

from salmubench.training.losses import clip_loss
from salmubench.unlearning import Batch, Budget, Runtime, get_method
from salmubench.unlearning.api import run_method
from salmubench.unlearning.losses import (
    codes_of,
    cosine_matrix,
    derangement,
    encode,
    false_negative_mask,
    kl_rows,
    logit_scale,
    other_identity_rows,
    pair_cosine,
)


def full_batch(data, n_forget=12, n_retain=12) -> Batch:
    f_idx, r_idx = torch.arange(n_forget), torch.arange(n_retain)
    return Batch(forget=data.forget.subset(f_idx), retain=data.retain.subset(r_idx),
                 forget_generic=data.forget_generic.subset(f_idx), forget_index=f_idx, retain_index=r_idx)


def train(name, bundle, data, budget=2.0, **overrides):
    model = copy.deepcopy(bundle.model)
    cls = get_method(name)
    run_method(cls(cls.config_cls(**overrides), Runtime(seed=0)), model, data, Budget(budget))
    return model


@pytest.fixture
def model(bundle):
    return copy.deepcopy(bundle.model)


# ---- shared building blocks --------------------------------------------------------------------


def test_derangement_has_no_fixed_point():
    gen = torch.Generator().manual_seed(0)
    for n in (2, 3, 17):
        perm = derangement(n, gen)
        assert sorted(perm.tolist()) == list(range(n))
        assert not (perm == torch.arange(n)).any()


def test_other_identity_rows_never_picks_the_same_identity():
    ids = ["a"] * 10 + ["b"] * 2 + ["c"]
    src = other_identity_rows(ids, torch.Generator().manual_seed(1))
    assert all(ids[int(j)] != ids[i] for i, j in enumerate(src))
    with pytest.raises(ValueError):
        other_identity_rows(["a", "a"], torch.Generator())


def test_false_negative_mask_covers_identity_and_identical_text():
    mask = false_negative_mask(codes_of(["a", "a", "b", None]), codes_of(["x", "y", "x", "x"]))
    expected = torch.tensor([[0, 1, 1, 1], [1, 0, 0, 0], [1, 0, 0, 1], [1, 0, 1, 0]], dtype=torch.bool)
    assert torch.equal(mask, expected)


def test_kl_rows_skips_masked_entries_and_is_zero_for_equal_inputs():
    t = torch.tensor([[2.0, float("-inf"), 0.0], [0.5, 1.0, float("-inf")]])
    s = torch.tensor([[1.0, float("-inf"), 1.0], [0.5, 1.0, float("-inf")]])
    p = torch.softmax(torch.tensor([2.0, 0.0]), 0)
    q = torch.softmax(torch.tensor([1.0, 1.0]), 0)
    expected = (p * (p.log() - q.log())).sum() / 2  # row 2 is identical: KL 0
    assert torch.isclose(kl_rows(t, s), expected)
    assert kl_rows(t, t).abs() < 1e-7


# ---- per-method terms -------------------------------------------------------------------------


def test_finetune_is_clip_loss_on_retain_and_ignores_forget(model, unlearn_data):
    method = make("finetune", model, unlearn_data)
    batch = full_batch(unlearn_data)
    img, txt = encode(model, batch.retain)
    expected = clip_loss(img, txt, logit_scale(model), batch.retain.identity_ids)
    assert torch.isclose(method.loss(model, batch, 0)["retain_loss"], expected)
    assert method.streams == ("retain",)


def test_neg_grad_ascends_the_forget_clip_loss(model, bundle, unlearn_data):
    method = make("neg_grad", model, unlearn_data)
    batch = full_batch(unlearn_data)
    img, txt = encode(model, batch.forget)
    expected = clip_loss(img, txt, logit_scale(model), batch.forget.identity_ids)
    assert torch.isclose(method.loss(model, batch, 0)["forget_loss"], -expected)
    trained = train("neg_grad", bundle, unlearn_data, budget=3.0, lr=1e-3)
    after = clip_loss(*encode(trained, batch.forget), logit_scale(trained), batch.forget.identity_ids)
    assert after > expected


def test_neg_grad_cosine_form_lowers_pair_cosine(model, bundle, unlearn_data):
    method = make("neg_grad", model, unlearn_data, form="cosine")
    batch = full_batch(unlearn_data)
    cos = pair_cosine(*encode(model, batch.forget))
    assert torch.isclose(method.loss(model, batch, 0)["forget_loss"], -(1 - cos).mean())
    trained = train("neg_grad", bundle, unlearn_data, form="cosine", lr=1e-3)
    assert pair_cosine(*encode(trained, batch.forget)).mean() < cos.mean()


def test_shuffled_captions_pairs_images_with_other_identities(model, unlearn_data):
    method = make("shuffled_captions", model, unlearn_data, seed=1)
    ids = unlearn_data.forget.identity_ids
    assert all(ids[j] != ids[i] for i, j in enumerate(method.sources.tolist()))
    assert torch.equal(method.tokens, unlearn_data.forget.tokens[method.sources])
    again = make("shuffled_captions", model, unlearn_data, seed=1)
    other = make("shuffled_captions", model, unlearn_data, seed=2)
    assert torch.equal(again.sources, method.sources) and not torch.equal(other.sources, method.sources)

    batch = full_batch(unlearn_data)
    img = model.encode_image(batch.forget.images, normalize=True)
    txt = model.encode_text(method.tokens[batch.forget_index], normalize=True)
    keys = [f"{ids[i]}|{ids[int(method.sources[i])]}" for i in batch.forget_index.tolist()]
    expected = clip_loss(img, txt, logit_scale(model), keys)
    terms = method.loss(model, batch, 0)
    assert torch.isclose(terms["forget_loss"], expected)
    assert terms["retain_loss"] > 0


def test_generic_captions_trains_on_the_generic_caption(model, unlearn_data):
    assert unlearn_data.forget_generic_texts != unlearn_data.forget.texts
    method = make("generic_captions", model, unlearn_data, alpha=0.0)
    batch = full_batch(unlearn_data)
    assert batch.forget_generic.texts == unlearn_data.forget_generic_texts[:12]
    img, txt = encode(model, batch.forget_generic)
    mask = false_negative_mask(codes_of(batch.forget_generic.identity_ids), codes_of(batch.forget_generic.texts))
    logits = (logit_scale(model) * img @ txt.T).masked_fill(mask, float("-inf"))
    labels = torch.arange(12)
    expected = 0.5 * (torch.nn.functional.cross_entropy(logits, labels)
                      + torch.nn.functional.cross_entropy(logits.T, labels))
    terms = method.loss(model, batch, 0)
    assert torch.isclose(terms["forget_loss"], expected)
    assert terms["retain_loss"] == 0


def test_direct_sim_min_lowers_forget_cosine(model, bundle, unlearn_data):
    method = make("direct_sim_min", model, unlearn_data, retain_weight=0.0)  # the paper's plain form
    assert method.streams == ("forget",)
    assert "retain" in make("direct_sim_min", model, unlearn_data, retain_weight=0.5).streams
    batch = full_batch(unlearn_data)
    cos = pair_cosine(*encode(model, batch.forget)).mean()
    assert torch.isclose(method.loss(model, batch, 0)["forget_loss"], cos)
    trained = train("direct_sim_min", bundle, unlearn_data, lr=1e-3)
    assert pair_cosine(*encode(trained, batch.forget)).mean() < cos - 0.05


@pytest.mark.parametrize("name", ["multidelete", "delete_salmu", "cliperase_salmu"])
def test_teacher_is_a_frozen_copy_of_the_start(name, model, unlearn_data):
    method = make(name, model, unlearn_data)
    teacher = method.teacher
    assert teacher is not model and not teacher.training
    assert all(not p.requires_grad for p in teacher.parameters())
    for a, b in zip(teacher.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    batch = full_batch(unlearn_data)
    terms = method.loss(model, batch, 0)
    sum(v for k, v in terms.items() if k.endswith("_loss")).backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_multidelete_terms_at_the_start(model, unlearn_data):
    method = make("multidelete", model, unlearn_data)
    batch = full_batch(unlearn_data)
    gen_state = method._perm_gen.get_state()
    terms = method.loss(model, batch, 0)
    # θ = θ0: both retention terms vanish; decoupling compares C_θ with θ0's columns permuted
    assert terms["multimodal_loss"].abs() < 1e-10 and terms["unimodal_loss"].abs() < 1e-10
    perm = derangement(12, torch.Generator().set_state(gen_state))
    img, txt = encode(model, batch.forget)
    expected = ((cosine_matrix(img, txt) - cosine_matrix(img, txt[perm])) ** 2).mean()
    assert torch.isclose(terms["forget_loss"], expected.detach(), atol=1e-6)
    assert terms["forget_loss"] > 0


def test_multidelete_retention_uses_the_frozen_original(model, unlearn_data):
    method = make("multidelete", model, unlearn_data)
    with torch.no_grad():  # move the student away from θ0: retention terms become positive
        for p in model.visual.parameters():
            p.add_(0.05 * torch.randn_like(p))
    terms = method.loss(model, full_batch(unlearn_data), 0)
    assert terms["multimodal_loss"] > 0 and terms["unimodal_loss"] > 0


def test_delete_salmu_terms(model, bundle, unlearn_data):
    method = make("delete_salmu", model, unlearn_data)
    batch = full_batch(unlearn_data)
    c_f = cosine_matrix(*encode(model, batch.forget))
    terms = method.loss(model, batch, 0)
    assert torch.isclose(terms["forget_loss"], (c_f ** 2).mean())
    assert terms["retain_loss"].abs() < 1e-12  # θ = θ0 on retain
    trained = train("delete_salmu", bundle, unlearn_data, lr=1e-3)
    assert (cosine_matrix(*encode(trained, batch.forget)) ** 2).mean() < (c_f ** 2).mean()


def test_cliperase_salmu_is_delete_salmu_plus_consistency(model, unlearn_data):
    batch = full_batch(unlearn_data)
    erase = make("cliperase_salmu", model, unlearn_data)  # both teachers = θ0
    delete = make("delete_salmu", model, unlearn_data)
    with torch.no_grad():  # move the student's text tower away from θ0
        for p in model.transformer.parameters():
            p.add_(0.05 * torch.randn_like(p))
    terms, base = erase.loss(model, batch, 0), delete.loss(model, batch, 0)
    assert set(terms) == set(base) | {"consistency_loss"}
    for key in base:
        assert torch.isclose(terms[key], base[key])
    img, txt = encode(model, batch.retain)
    img0, txt0 = encode(erase.teacher, batch.retain)
    expected = ((img - img0) ** 2).mean() + ((txt - txt0) ** 2).mean()
    assert torch.isclose(terms["consistency_loss"], expected)
    assert terms["consistency_loss"] > 0 and base["retain_loss"] > 0
