"""Maths of the field's methods on a tiny model: signs, masks, schedules, which model each term uses
(the one being unlearned or the frozen original θ0) and which parameters may move."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from methodkit import make

from salmubench.training.losses import clip_loss
from salmubench.unlearning import Batch, Budget, Runtime, get_method
from salmubench.unlearning.api import run_method
from salmubench.unlearning.gradients import accumulate_grads, named_trainable, retain_rows
from salmubench.unlearning.losses import (
    clip_loss_of,
    diag_log_probs,
    encode,
    in_batch_logits,
    kl_rows,
    logit_scale,
    pair_cosine,
    repaired_pairs,
)
from salmubench.unlearning.methods.l1_sparse import l1_weight
from salmubench.unlearning.methods.label_correction import generic_clip_loss
from salmubench.unlearning.methods.npo import npo_loss
from salmubench.unlearning.methods.salun_ssd import fisher_ratio
from salmubench.unlearning.methods.slug import candidate_layers, forget_objective, pareto_front, pick_layer
from salmubench.unlearning.methods.ssd import dampening_factors
from salmubench.unlearning.methods.task_vector import ForgetFinetune


def run(name, model, data, budget=1.0, seed=0, **overrides):
    """Run method ``name`` on ``model`` in place; returns the method instance (for its state)."""
    cls = get_method(name)
    method = cls(cls.config_cls(**overrides), Runtime(seed=seed))
    run_method(method, model, data, Budget(budget))
    return method


def full_batch(data, n_forget=16, n_retain=16) -> Batch:
    f_idx, r_idx = torch.arange(n_forget), torch.arange(n_retain)
    return Batch(forget=data.forget.subset(f_idx), retain=data.retain.subset(r_idx),
                 forget_generic=data.forget_generic.subset(f_idx), forget_index=f_idx, retain_index=r_idx)


def params_of(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in named_trainable(model).items()}


def changed(before: dict[str, torch.Tensor], model) -> list[str]:
    return [n for n, p in named_trainable(model).items() if not torch.equal(p.detach(), before[n])]


@pytest.fixture
def model(bundle):
    return copy.deepcopy(bundle.model)


# ---- shared helpers ---------------------------------------------------------------------------------


def test_kl_rows_matches_definition_and_ignores_zero_probability_entries():
    t = torch.tensor([[1.0, float("-inf"), 0.0, 2.0]])
    s = torch.tensor([[0.0, 3.0, 1.0, 1.0]])
    p = torch.softmax(t, dim=1)
    q = torch.softmax(s, dim=1)
    keep = p > 0
    expected = (p[keep] * (p[keep].log() - q[keep].log())).sum()
    assert torch.isclose(kl_rows(t, s), expected)
    assert kl_rows(t, t).abs() < 1e-7
    s.requires_grad_(True)
    kl_rows(t, s).backward()
    assert torch.isfinite(s.grad).all() and s.grad[0, 1] > 0  # mass on a masked entry is pushed down


def test_diag_log_probs_are_masked_in_batch_log_softmaxes():
    logits = torch.tensor([[2.0, float("-inf"), 0.0], [float("-inf"), 1.0, 0.5], [0.0, 0.3, 1.0]])
    out = diag_log_probs(logits)
    assert torch.allclose(out[0], torch.log_softmax(logits, 1).diagonal())
    assert torch.allclose(out[1], torch.log_softmax(logits, 0).diagonal())
    assert torch.isclose(out[0, 0], torch.log_softmax(torch.tensor([2.0, 0.0]), 0)[0])


# ---- grad_diff --------------------------------------------------------------------------------------


def test_grad_diff_ascends_forget_and_descends_retain(model, unlearn_data):
    method = make("grad_diff", model, unlearn_data, gamma=0.3, alpha=2.0)
    batch = full_batch(unlearn_data)
    terms = method.loss(model, batch, 0)
    assert torch.isclose(terms["forget_loss"], -0.3 * clip_loss_of(model, batch.forget))
    assert torch.isclose(terms["retain_loss"], 2.0 * clip_loss_of(model, batch.retain))
    assert terms["forget_loss"] < 0 < terms["retain_loss"]


# ---- npo --------------------------------------------------------------------------------------------


def test_npo_loss_formula_bounds_and_gradient_at_theta0():
    beta = 0.5
    delta = torch.tensor([0.0, -3.0, 2.0])
    expected = -(2 / beta) * torch.nn.functional.logsigmoid(-beta * delta).mean()
    assert torch.isclose(npo_loss(delta, torch.zeros(3), beta), expected)
    assert npo_loss(torch.tensor([-200.0]), torch.zeros(1), beta) < 1e-6  # bounded below by 0
    x = torch.zeros(4, requires_grad=True)  # at θ = θ0 the gradient is that of mean log π (GA on log π)
    npo_loss(x, torch.zeros(4), beta).backward()
    assert torch.allclose(x.grad, torch.full((4,), 0.25))


def test_npo_reference_is_the_frozen_original(model, unlearn_data):
    method = make("npo", model, unlearn_data, beta=0.1)
    batch = full_batch(unlearn_data)
    terms = method.loss(model, batch, 0)
    assert torch.isclose(terms["forget_loss"], torch.tensor((2 / 0.1) * math.log(2)), atol=1e-5)
    assert terms["log_ratio"].abs() < 1e-6
    with torch.no_grad():  # move the student only: the reference must not follow
        for p in model.visual.parameters():
            p.add_(0.05 * torch.randn_like(p))
    log_pi = diag_log_probs(in_batch_logits(model, batch.forget))
    log_ref = diag_log_probs(in_batch_logits(method.teacher, batch.forget))
    terms = method.loss(model, batch, 0)
    assert torch.isclose(terms["forget_loss"], npo_loss(log_pi, log_ref, 0.1))
    assert terms["log_ratio"].abs() > 1e-4
    assert not any(p.requires_grad for p in method.teacher.parameters())


# ---- salun ------------------------------------------------------------------------------------------


def test_salun_mask_is_global_top_r_of_forget_gradient(model, unlearn_data):
    method = make("salun", model, unlearn_data, saliency_ratio=0.2)
    params = named_trainable(model)
    grads = accumulate_grads(model, params, unlearn_data.forget, clip_loss_of, method.cfg.forget_batch_size)
    flat = torch.cat([g.abs().flatten() for g in grads.values()])
    masked = torch.cat([method.mask[n].flatten() for n in grads])
    assert abs(masked.float().mean().item() - 0.2) < 0.01
    assert flat[masked].min() >= flat[~masked].max()  # every selected weight is at least as salient


def assert_only_masked_weights_moved(mask: dict[str, torch.Tensor], before: dict[str, torch.Tensor], model) -> None:
    """Every unmasked entry is bit-identical to ``before`` and at least one masked entry moved."""
    moved = 0
    for name, p in named_trainable(model).items():
        assert torch.equal(p.detach()[~mask[name]], before[name][~mask[name]]), f"{name}: an unmasked weight moved"
        moved += int((p.detach()[mask[name]] != before[name][mask[name]]).sum())
    assert moved > 0


def test_salun_changes_only_masked_weights_even_with_weight_decay(model, unlearn_data):
    before = params_of(model)
    method = run("salun", model, unlearn_data, budget=1.0, saliency_ratio=0.1, weight_decay=0.1, lr=1e-3)
    assert_only_masked_weights_moved(method.mask, before, model)


def test_salun_forget_term_uses_captions_of_other_identities(model, unlearn_data):
    method = make("salun", model, unlearn_data, seed=4)
    ids = unlearn_data.forget.identity_ids
    assert all(ids[i] != method.caption_ids[i] for i in range(len(ids)))
    batch = full_batch(unlearn_data)
    pairs, keys = repaired_pairs(batch.forget, batch.forget_index, method.tokens, method.caption_ids, method.texts)
    img, txt = encode(model, pairs)
    expected = clip_loss(img, txt, logit_scale(model), keys)
    assert torch.isclose(method.loss(model, batch, 0)["forget_loss"], expected)


# ---- salun_ssd --------------------------------------------------------------------------------------


def test_fisher_ratio_ranks_by_forget_over_retain_and_skips_weights_forget_does_not_use():
    i_f = {"w": torch.tensor([4.0, 1.0, 0.0, 2.0])}
    i_r = {"w": torch.tensor([1.0, 1.0, 0.0, 0.0])}
    ratio = fisher_ratio(i_f, i_r)["w"]
    assert ratio[0] == 4.0 and ratio[1] == 1.0 and ratio[2] == 0.0  # I_f = 0: never selected
    assert ratio[3] > 1e9  # unused by the retain sample: ranked first


def test_salun_ssd_mask_is_global_top_r_of_the_fisher_ratio(model, unlearn_data):
    method = make("salun_ssd", model, unlearn_data, saliency_ratio=0.05, retain_samples=24)
    params = named_trainable(model)
    bs = method.cfg.forget_batch_size
    i_f = accumulate_grads(model, params, unlearn_data.forget, clip_loss_of, bs, square=True)
    rows = retain_rows(len(unlearn_data.retain), 24, method.generator("retain"))
    i_r = accumulate_grads(model, params, unlearn_data.retain, clip_loss_of, bs, rows=rows, square=True)
    ratio = fisher_ratio(i_f, i_r)
    flat = torch.cat([ratio[n].flatten() for n in params])
    masked = torch.cat([method.mask[n].flatten() for n in params])
    assert abs(masked.float().mean().item() - 0.05) < 0.01
    assert flat[masked].min() >= flat[~masked].max()
    # a different criterion than SalUn's |gradient|: the two masks differ
    salun = make("salun", copy.deepcopy(model), unlearn_data, saliency_ratio=0.05)
    assert any(not torch.equal(salun.mask[n], method.mask[n]) for n in params)


def test_salun_ssd_changes_only_masked_weights_and_skips_the_retain_term_at_alpha_0(model, unlearn_data):
    before = params_of(model)
    method = run("salun_ssd", model, unlearn_data, budget=1.0, saliency_ratio=0.05, weight_decay=0.1, lr=1e-3)
    assert_only_masked_weights_moved(method.mask, before, model)
    assert all("retain_loss" not in entry for entry in method.runtime.log)
    with_retain = make("salun_ssd", copy.deepcopy(model), unlearn_data, alpha=0.5)
    assert "retain_loss" in with_retain.loss(model, full_batch(unlearn_data), 0)


# ---- l1_sparse --------------------------------------------------------------------------------------


def test_l1_sparse_weight_decays_linearly_to_zero_and_penalises_abs_weights(model, unlearn_data):
    assert l1_weight(2.0, 0, 10) == 2.0 and l1_weight(2.0, 5, 10) == 1.0 and l1_weight(2.0, 10, 10) == 0.0
    method = make("l1_sparse", model, unlearn_data, gamma=1e-3)
    batch = full_batch(unlearn_data)
    norm = sum(p.abs().sum() for p in named_trainable(model).values())
    for step in range(4):
        terms = method.terms(model, batch, l1_weight(1e-3, step, 4))
        assert torch.isclose(terms["sparsity_loss"], (1e-3 * (1 - step / 4)) * norm, rtol=1e-5)
    weight = next(p for n, p in named_trainable(model).items() if n.endswith("proj") or p.dim() == 2)
    model.zero_grad()
    method.terms(model, batch, 1e-3)["sparsity_loss"].backward()
    assert torch.allclose(weight.grad, 1e-3 * torch.sign(weight.detach()))


def test_l1_sparse_weight_schedule_follows_the_runners_step_count(model, unlearn_data):
    """The runner hands ``total_steps`` to train_step: γ_t decays over the budget's steps, to 0 at the end."""
    method = run("l1_sparse", model, unlearn_data, budget=1.0, gamma=1e-3)
    steps = Budget(1.0).steps(len(unlearn_data.forget), method.cfg.forget_batch_size)
    assert len(method.runtime.log) == steps > 1
    ratios = [e["sparsity_loss"] / e["l1_norm"] for e in method.runtime.log]
    for step, ratio in enumerate(ratios):
        assert ratio == pytest.approx(1e-3 * (1 - step / steps), rel=1e-4)


# ---- scrub ------------------------------------------------------------------------------------------


def test_scrub_max_step_raises_kl_and_min_step_matches_teacher(model, unlearn_data):
    method = make("scrub", model, unlearn_data)
    batch = full_batch(unlearn_data)
    assert method.max_terms(model, batch)["forget_loss"].abs() < 1e-7  # θ = θ0: KL 0
    assert method.min_terms(model, batch)["retain_kl_loss"].abs() < 1e-7
    with torch.no_grad():
        for p in model.transformer.parameters():
            p.add_(0.05 * torch.randn_like(p))
    terms = method.max_terms(model, batch)
    assert terms["forget_loss"] < 0  # −KL: minimising it maximises the divergence from the teacher
    ret = method.min_terms(model, batch)
    assert ret["retain_kl_loss"] > 0
    assert torch.isclose(ret["retain_loss"], clip_loss_of(model, batch.retain))


def test_scrub_alternates_only_for_the_first_max_fraction(model, unlearn_data):
    cls = get_method("scrub")
    method = cls(cls.config_cls(max_fraction=0.5), Runtime(seed=0))
    run_method(method, model, unlearn_data, Budget(1.0))
    steps = Budget(1.0).steps(len(unlearn_data.forget), method.cfg.forget_batch_size)
    assert method.max_steps(steps) == round(0.5 * steps) > 0
    with_max = [e["step"] for e in method.runtime.log if "forget_loss" in e]
    assert with_max == list(range(round(0.5 * steps)))
    assert all("retain_loss" in e for e in method.runtime.log) and len(method.runtime.log) == steps


# ---- delete -----------------------------------------------------------------------------------------


def test_delete_masks_exactly_the_forgotten_associations_of_each_row(model, unlearn_data):
    method = make("delete", model, unlearn_data)
    idx = torch.arange(min(24, len(unlearn_data.forget)))
    cand, mask = method.candidates(idx)
    forgotten_attrs: dict[str, set] = {}
    for iid, attr in zip(method.row_ids, unlearn_data.forget_attributes, strict=True):
        forgotten_attrs.setdefault(iid, set()).add(attr)
    texts = [method.table.texts[c] for c in cand.tolist()]
    assert set(unlearn_data.forget.texts[i] for i in idx.tolist()) <= set(texts)
    for r, row in enumerate(idx.tolist()):
        iid = method.row_ids[row]
        own = texts.index(unlearn_data.forget.texts[row])
        assert mask[r, own], "a row's own caption must be masked"
        for m, c in enumerate(cand.tolist()):
            expected = method.owner_of[c] == iid and bool(method.forgotten[c])
            assert bool(mask[r, m]) == expected
    if unlearn_data.identities:  # core captions of the non-forgotten attributes are kept (dark knowledge)
        kept_core = [c for iid in {method.row_ids[r] for r in idx.tolist()} for c in method.core[iid]
                     if not method.forgotten[c]]
        assert kept_core, "expected some identity with attributes outside the forget set"
        for c in kept_core:
            m = cand.tolist().index(c)
            assert not mask[:, m].any()


def test_delete_loss_at_theta0_is_minus_log_unmasked_mass(model, unlearn_data):
    method = make("delete", model, unlearn_data)
    batch = full_batch(unlearn_data)
    cand, mask = method.candidates(batch.forget_index)
    img, txt = model.encode_image(batch.forget.images, normalize=True), model.encode_text(
        method.tokens[cand], normalize=True)
    p = torch.softmax(logit_scale(model) * img @ txt.T, dim=1)
    expected = -torch.log1p(-(p * mask).sum(1)).mean()  # KL(renormalised p ‖ p) = −log(1 − masked mass)
    assert torch.isclose(method.loss(model, batch, 0)["forget_loss"], expected, rtol=1e-4)
    assert method.streams == ("forget",)


# ---- cliperase --------------------------------------------------------------------------------------


def test_cliperase_modules_and_teacher(model, unlearn_data):
    method = make("cliperase", model, unlearn_data, forget_weight=2.0)
    batch = full_batch(unlearn_data)
    terms = method.loss(model, batch, 0)
    assert torch.isclose(terms["forget_loss"], 2.0 * pair_cosine(*encode(model, batch.forget)).mean())
    assert torch.isclose(terms["retain_loss"], clip_loss_of(model, batch.retain))
    assert terms["consistency_loss"].abs() < 1e-5  # θ = θ0
    with torch.no_grad():
        for p in model.visual.parameters():
            p.add_(0.05 * torch.randn_like(p))
    img, _ = encode(model, batch.retain)
    img0, _ = encode(method.teacher, batch.retain)
    terms = method.loss(model, batch, 0)
    assert torch.isclose(terms["consistency_loss"], (1 - pair_cosine(img, img0)).mean(), atol=1e-5)


# ---- ssd --------------------------------------------------------------------------------------------


def test_ssd_dampening_factor_formula():
    i_f = torch.tensor([10.0, 10.0, 1.0, 0.0, 50.0])
    i_d = torch.tensor([1.0, 3.0, 1.0, 0.0, 1.0])
    f = dampening_factors(i_f, i_d, alpha=5.0, lam=2.0)
    assert torch.allclose(f, torch.tensor([0.2, 1.0, 1.0, 1.0, 0.04]))


def test_ssd_dampens_only_selected_weights_by_the_right_factor(model, unlearn_data):
    probe = make("ssd", copy.deepcopy(model), unlearn_data)
    i_f, i_d = probe.importances(copy.deepcopy(model), unlearn_data)
    before = params_of(model)
    method = run("ssd", model, unlearn_data)
    assert method.selected_count > 0
    for name, p in named_trainable(model).items():
        factor = dampening_factors(i_f[name], i_d[name], method.cfg.alpha, method.cfg.dampening)
        sel = factor < 1
        assert torch.equal(p.detach()[~sel], before[name][~sel]), name
        assert torch.allclose(p.detach()[sel], before[name][sel] * factor[sel], rtol=1e-5, atol=1e-8)


def test_ssd_importance_of_d_mixes_retain_and_forget_by_the_forget_share(model, unlearn_data):
    method = make("ssd", model, unlearn_data, retain_samples=16, forget_share=0.2, alpha=3.0)
    i_f, i_d = method.importances(model, unlearn_data)
    name = "visual.conv1.weight"
    params = named_trainable(model)
    rows = torch.randperm(len(unlearn_data.retain), generator=method.generator("retain"))[:16]
    i_r = accumulate_grads(model, params, unlearn_data.retain, clip_loss_of, method.cfg.retain_batch_size,
                           rows=rows, square=True)
    assert torch.allclose(i_d[name], 0.8 * i_r[name] + 0.2 * i_f[name], rtol=1e-4, atol=1e-12)
    n_f, n_r = len(unlearn_data.forget), len(unlearn_data.retain)
    proxy = make("ssd", model, unlearn_data, forget_share=None, alpha=1.0)
    assert proxy.forget_share(n_f, n_r) == n_f / (n_f + n_r)


def test_ssd_refuses_a_selection_rule_that_can_select_nothing(model, unlearn_data):
    from salmubench.unlearning.base import UnlearningError

    method = make("ssd", model, unlearn_data, forget_share=0.2, alpha=5.0)
    with pytest.raises(UnlearningError, match="selects no weight"):
        method.importances(model, unlearn_data)


# ---- task_vector ------------------------------------------------------------------------------------


def test_task_vector_is_theta0_minus_scaled_forget_finetune_delta(model, unlearn_data):
    theta0 = params_of(model)
    tuned = copy.deepcopy(model)
    cls = get_method("task_vector")
    helper = ForgetFinetune(cls.config_cls(lr=1e-3), Runtime(seed=0))
    run_method(helper, tuned, unlearn_data, Budget(1.0))
    run("task_vector", model, unlearn_data, scale=0.7, lr=1e-3)
    for name, p in named_trainable(model).items():
        theta_f = dict(tuned.named_parameters())[name].detach()
        assert torch.allclose(p.detach(), theta0[name] - 0.7 * (theta_f - theta0[name]), atol=1e-6), name
    assert clip_loss_of(tuned, unlearn_data.forget.subset(range(16))) < clip_loss_of(
        model, unlearn_data.forget.subset(range(16)))  # θ_f fits D_f better than the negated model


# ---- slug -------------------------------------------------------------------------------------------


def test_slug_pareto_front_and_pick():
    stats = {"a": (1.0, 0.9), "b": (0.5, 0.1), "c": (0.4, 0.5), "d": (1.0, 0.95), "e": (0.2, 0.05)}
    assert pareto_front(stats) == ["a", "b", "e"]
    assert pick_layer(stats) == "b"  # 0.5·0.9 > 1.0·0.1 and 0.2·0.95


def test_slug_changes_one_layer_along_the_forget_gradient(model, unlearn_data):
    before = params_of(model)
    params = candidate_layers(model)
    method = run("slug", model, unlearn_data)
    assert changed(before, model) == [method.layer]
    ref = copy.deepcopy(model)
    with torch.no_grad():
        dict(ref.named_parameters())[method.layer].copy_(before[method.layer])
    ref_params = {n: p for n, p in named_trainable(ref).items() if n in params}
    g_f = accumulate_grads(ref, ref_params, unlearn_data.forget, forget_objective, method.cfg.forget_batch_size)
    delta = dict(model.named_parameters())[method.layer].detach() - before[method.layer]
    assert torch.allclose(delta, -method.step_size * g_f[method.layer], rtol=1e-3, atol=1e-7)
    assert method.step_size > 0


# ---- label_correction -------------------------------------------------------------------------------


def test_label_correction_is_one_first_order_step(model, unlearn_data):
    assert unlearn_data.forget_generic_texts != unlearn_data.forget.texts
    theta0 = params_of(model)
    params = named_trainable(copy.deepcopy(model))
    ref = copy.deepcopy(model)
    ref_params = named_trainable(ref)
    g_z = accumulate_grads(ref, ref_params, unlearn_data.forget, clip_loss_of, 32)
    g_zt = accumulate_grads(ref, ref_params, unlearn_data.forget_generic, generic_clip_loss, 32)
    run("label_correction", model, unlearn_data, tau=0.5)
    for name in params:
        expected = theta0[name] - 0.5 * (g_zt[name] - g_z[name])
        assert torch.allclose(dict(model.named_parameters())[name].detach(), expected, atol=1e-6), name
