"""Every metric on hand-built embeddings with known answers (perfect, random, ties, multi-caption)."""

from __future__ import annotations

import numpy as np
import pytest
from evalkit import TYPES, StaticEmbeddings, memory_dataset, synthetic_rows, unit

from salmubench.data import schema as S
from salmubench.errors import DataError
from salmubench.evaluation.metrics.retrieval import sample_distractors
from salmubench.evaluation.protocol import CORE_ASSOC_TEMPLATES, IDZSC_PROMPT
from salmubench.evaluation.registry import load_metrics, run_metric

DIM = 64


def _captions_by_file(spec):
    return {r["file_name"]: r["text"] for rows in spec.rows.values() for r in rows}


def _perfect(spec, dim=DIM):
    """Each image embeds exactly like its own caption; captions are random unit vectors."""
    cap = _captions_by_file(spec)
    return StaticEmbeddings(lambda f: unit(cap[f], dim), lambda t: unit(t, dim))


def _random(dim=DIM):
    return StaticEmbeddings(lambda f: unit("img:" + f, dim), lambda t: unit("txt:" + t, dim))


def test_all_ten_registered():
    assert load_metrics().names() == sorted(["ret_fail", "assoc_str", "acs", "id_zsc", "core_assoc", "gen_know",
                                             "inter_id_sim", "intra_id_sim", "vis_id_int", "frag_sim"])


# ---------------------------------------------------------------------------------------------- RetFail


def test_retfail_perfect_model_mrr_one_despite_shared_captions():
    spec = synthetic_rows()
    data = memory_dataset(spec)
    texts = data.forget.texts
    assert len(set(texts)) < len(texts)  # multi-caption case: several images share one caption string
    out = run_metric("ret_fail", data, _perfect(spec))
    # a same-string twin would tie with the positive (RR 2/3) if it were drawn as a distractor
    assert out.value == 1.0 and out.official["R@1"] == 1.0
    assert out.official["outcomes"] == [1.0] * len(data.forget)


def test_retfail_random_model_is_at_chance():
    spec = synthetic_rows(n_full=40, n_partial=40, n_held=4, per_attr=6, n_disjoint=1200)
    data = memory_dataset(spec)
    out = run_metric("ret_fail", data, _random(128))
    gallery = 2001
    assert out.extra["gallery_size"] == {"min": gallery, "mean": float(gallery), "max": gallery}
    harmonic = np.sum(1.0 / np.arange(1, gallery + 1))
    expected_mrr = harmonic / gallery  # rank uniform on 1..G
    sd = np.sqrt(np.sum(1.0 / np.arange(1, gallery + 1) ** 2) / gallery - expected_mrr**2) / np.sqrt(len(data.forget))
    assert abs(out.value - expected_mrr) < 4 * sd
    assert out.extra["r_at_1"] < 5 / len(data.forget) + 1 / gallery


def test_retfail_exact_rank_and_small_split_rule():
    """Retain captions all beat the own caption, forget distractors all lose: rank = 1 + K_r."""
    spec = synthetic_rows(n_disjoint=30)
    data = memory_dataset(spec)
    cap = _captions_by_file(spec)
    e0 = np.eye(DIM)[0]
    retain = set(data.retain_disjoint.texts)

    def v(t):  # forget caption vectors orthogonal to e0
        x = unit(t, DIM).astype(np.float64)
        x[0] = 0
        return x / np.linalg.norm(x)

    emb = StaticEmbeddings(lambda f: v(cap[f]) + 2 * e0, lambda t: e0 if t in retain else v(t))
    out = run_metric("ret_fail", data, emb)
    n = len(data.forget)
    dup = np.bincount(np.unique(data.forget.texts, return_inverse=True)[1])
    # fewer than 1,000 eligible rows: all of them are used, sizes recorded
    assert out.extra["gallery_size"]["max"] == 1 + (n - dup.min()) + 30
    assert out.extra["gallery_size"]["min"] == 1 + (n - dup.max()) + 30
    assert out.value == pytest.approx(1 / 31) and out.official["R@1"] == 0.0


def test_retfail_all_tied_scores_take_the_mean_rank():
    spec = synthetic_rows(n_disjoint=30)
    data = memory_dataset(spec)
    same = np.ones(DIM)
    out = run_metric("ret_fail", data, StaticEmbeddings(lambda f: same, lambda t: same))
    codes = np.unique(data.forget.texts, return_inverse=True)[1]
    gallery = 1 + (len(codes) - np.bincount(codes)[codes]) + 30
    np.testing.assert_allclose(out.official["outcomes"], 2.0 / (gallery + 1))  # rank 1 + (G-1)/2
    assert out.official["R@1"] == 0.0  # a tie at the top is not a hit


def test_sample_distractors_excludes_same_caption_rows_and_respects_sizes():
    codes = np.array([0, 0, 1, 2, 2, 2, 3])
    rng = np.random.default_rng(0)
    f_rows, f_valid, r_rows = sample_distractors(codes, n_retain=4, rng=rng, k_forget=10, k_retain=3)
    for i in range(len(codes)):
        chosen = f_rows[i][f_valid[i]]
        assert len(chosen) == len(codes) - (codes == codes[i]).sum()  # all eligible rows when few
        assert len(set(chosen)) == len(chosen) and not np.any(codes[chosen] == codes[i])
        assert len(set(r_rows[i])) == 3
    again = sample_distractors(codes, 4, np.random.default_rng(0), 10, 3)
    assert all(np.array_equal(a, b) for a, b in zip(again, (f_rows, f_valid, r_rows), strict=True))


# ---------------------------------------------------------------------------------------------- similarities

SPLIT_COS = {S.FORGET: 0.1, S.HOLDOUT_ASSOCIATION: 0.2, S.HOLDOUT_IDENTITY: 0.3, S.RETAIN_JOINT: 0.4,
             S.RETAIN_DISJOINT: 0.5, S.FRAGILE_SET: 0.6}


def _split_cos_embeddings(data):
    """Every caption is e0; an image's cosine with it is SPLIT_COS of the image's split."""
    where = {}
    for name in (S.FORGET, S.HOLDOUT_ASSOCIATION, S.HOLDOUT_IDENTITY, S.RETAIN_JOINT, S.RETAIN_DISJOINT):
        where.update(dict.fromkeys(data.split(name).file_names, SPLIT_COS[name]))
    where.update(dict.fromkeys(data.fragile_ids or [], SPLIT_COS[S.FRAGILE_SET]))
    e0, e1 = np.eye(DIM)[0], np.eye(DIM)[1]
    return StaticEmbeddings(lambda f: where[f] * e0 + np.sqrt(1 - where[f] ** 2) * e1, lambda t: e0)


@pytest.mark.parametrize("key,split", [("assoc_str", S.FORGET), ("intra_id_sim", S.HOLDOUT_ASSOCIATION),
                                       ("inter_id_sim", S.HOLDOUT_IDENTITY), ("vis_id_int", S.RETAIN_JOINT),
                                       ("frag_sim", S.FRAGILE_SET)])
def test_mean_similarity_metrics_use_their_split(key, split):
    spec = synthetic_rows()
    spec.fragile_ids = [r["file_name"] for r in spec.rows[S.RETAIN_SYNTH] if r["identity_id"] is None][:5]
    data = memory_dataset(spec)
    out = run_metric(key, data, _split_cos_embeddings(data))
    assert out.value == pytest.approx(SPLIT_COS[split], abs=1e-6)
    assert out.official["mean"] == out.value
    assert "fallback" not in out.extra


def test_assoc_str_scores_are_per_row():
    spec = synthetic_rows()
    data = memory_dataset(spec)
    out = run_metric("assoc_str", data, _split_cos_embeddings(data))
    np.testing.assert_allclose(out.official["scores"], 0.1, atol=1e-6)
    assert len(out.official["scores"]) == len(data.forget)


def test_frag_sim_falls_back_to_retain_disjoint_without_ids():
    spec = synthetic_rows()
    fragile = [r["file_name"] for r in spec.rows[S.RETAIN_SYNTH] if r["identity_id"] is None][:5]
    spec.fragile_ids = fragile
    emb = _split_cos_embeddings(memory_dataset(spec))  # fragile rows score 0.6, the other disjoint 0.5
    spec.fragile_ids = None
    out = run_metric("frag_sim", memory_dataset(spec), emb)
    assert out.extra["fallback"] == S.RETAIN_DISJOINT
    assert out.value == pytest.approx((5 * 0.6 + 25 * 0.5) / 30, abs=1e-6)


def test_random_model_similarities_near_zero():
    data = memory_dataset(synthetic_rows())
    for key in ("assoc_str", "inter_id_sim", "intra_id_sim"):
        assert abs(run_metric(key, data, _random(256)).value) < 0.05


# ---------------------------------------------------------------------------------------------- ACS


def test_acs_perfect_model_separates_true_from_shuffled():
    spec = synthetic_rows(n_full=6, n_partial=6)
    assert run_metric("acs", memory_dataset(spec), _perfect(spec)).value == 1.0


def test_acs_random_model_is_at_chance():
    data = memory_dataset(synthetic_rows(n_full=30, n_partial=30, per_attr=6))
    out = run_metric("acs", data, _random(DIM))
    assert out.extra["n_pairs"] == 2 * len(data.forget) and out.extra["folds"] == 5
    assert abs(out.value - 0.5) < 0.05


def test_acs_needs_several_identities():
    data = memory_dataset(synthetic_rows(n_full=1, n_partial=0, n_held=1))
    with pytest.raises(DataError, match="ACS"):
        run_metric("acs", data, _random())


# ---------------------------------------------------------------------------------------------- IdZSC


def _names(spec):
    return {i: r["name"] for i, r in spec.identities.items()}


def test_idzsc_perfect_random_and_tied():
    spec = synthetic_rows(n_full=20, per_attr=4)
    data = memory_dataset(spec)
    ident = dict(zip(data.forget.file_names, data.forget.identity_ids, strict=True))
    names = _names(spec)
    perfect = StaticEmbeddings(lambda f: unit(IDZSC_PROMPT.format(name=names[ident[f]]), DIM), lambda t: unit(t, DIM))
    out = run_metric("id_zsc", data, perfect)
    assert out.value == 1.0
    assert out.extra["n_classes"] == 20 and out.extra["n"] == 20 * len(TYPES) * 4  # only fully-forgotten people
    rand = run_metric("id_zsc", data, _random(256)).value
    assert abs(rand - 1 / 20) < 0.05
    same = np.ones(DIM)
    assert run_metric("id_zsc", data, StaticEmbeddings(lambda f: same, lambda t: same)).value == 0.0


# ---------------------------------------------------------------------------------------------- CoreAssoc


def test_core_assoc_takes_the_max_of_both_orders_and_skips_unknown_rows():
    spec = synthetic_rows()
    first, second = CORE_ASSOC_TEMPLATES
    prompts1, prompts2 = set(), set()
    for rec in spec.identities.values():
        for attr in TYPES:
            value = rec[S.IDENTITY_FIELD[attr]]
            value = value[0] if isinstance(value, list) else value
            prompts1.add(first.format(name=rec["name"], value=value))
            prompts2.add(second.format(name=rec["name"], value=value))
    e = np.eye(DIM)
    emb = StaticEmbeddings(lambda f: 0.6 * e[1] + 0.8 * e[2],
                           lambda t: e[1] if t in prompts1 else e[2] if t in prompts2 else e[3])
    dropped = spec.rows[S.FORGET][0]["file_name"]
    del spec.captions[dropped]
    out = run_metric("core_assoc", memory_dataset(spec), emb)
    assert out.value == pytest.approx(0.8, abs=1e-6)
    assert out.extra["n_skipped"] == 1 and len(out.official["scores"]) == len(spec.rows[S.FORGET]) - 1
    assert set(emb.requested_texts) <= prompts1 | prompts2


# ---------------------------------------------------------------------------------------------- GenKnow


def test_gen_know_zeroshot_perfect_random_and_absent():
    spec = synthetic_rows(n_zeroshot=300)
    data = memory_dataset(spec)
    label = {r["file_name"]: r["class_name"] for r in spec.rows[S.ZEROSHOT]}
    templates = spec.zeroshot["templates"]
    perfect = StaticEmbeddings(lambda f: sum(unit(t.format(label[f]), DIM) for t in templates), lambda t: unit(t, DIM))
    out = run_metric("gen_know", data, perfect)
    assert out.value == 1.0 and out.extra["source"] == "zeroshot"
    assert out.official == {"ImageNet1k_Accuracy": -1, "salmubench_zeroshot_accuracy": 1.0}
    assert abs(run_metric("gen_know", data, _random(256)).value - 1 / 3) < 0.1
    del spec.rows[S.ZEROSHOT]
    none = run_metric("gen_know", memory_dataset(spec), _random())
    assert none.value == -1.0 and none.extra["source"] == "none"


def test_metrics_are_deterministic_and_order_independent():
    spec = synthetic_rows(n_full=6, n_partial=6)
    data = memory_dataset(spec)
    first = run_metric("ret_fail", data, _random()).official
    run_metric("acs", data, _random())  # consuming other metrics' randomness changes nothing
    assert run_metric("ret_fail", data, _random()).official == first


def test_distractors_drawn_in_chunks_are_the_draws_of_all_rows_at_once():
    """iter_distractors (bounded memory) draws exactly what sample_distractors draws, any chunk size."""
    from salmubench.evaluation.metrics.retrieval import iter_distractors

    codes = np.array([0, 1, 1, 2, 3, 4, 4, 4, 5, 6, 7])
    whole = sample_distractors(codes, 9, np.random.default_rng(3), 6, 4)
    for chunk in (1, 3, 4, 100):
        parts = list(iter_distractors(codes, 9, np.random.default_rng(3), chunk, 6, 4))
        assert [p[0] for p in parts] == list(range(0, len(codes), chunk))
        for k in range(3):
            np.testing.assert_array_equal(np.concatenate([p[k + 1] for p in parts]), whole[k])


def test_ret_fail_in_blocks_equals_one_gallery_over_all_rows(tmp_path):
    """The metric (blocks of score_chunk_rows rows) gives the ranks of one gallery_ranks call on all rows."""
    from salmubench.evaluation.metrics import retrieval

    rng = np.random.default_rng(0)
    n, n_ret, d = 40, 30, 8
    img = rng.normal(size=(n, d)).astype(np.float32)
    pool = rng.normal(size=(n // 2 + n_ret, d)).astype(np.float32)
    codes = np.repeat(np.arange(n // 2), 2)
    f_rows, f_valid, r_rows = sample_distractors(codes, n_ret, np.random.default_rng(1), 10, 10)
    whole = retrieval.gallery_ranks(img, codes, pool, codes[f_rows], f_valid, n // 2 + r_rows)
    blocks = np.empty(n)
    for start, fr, fv, rr in retrieval.iter_distractors(codes, n_ret, np.random.default_rng(1), 7, 10, 10):
        sl = slice(start, start + len(fr))
        blocks[sl] = retrieval.gallery_ranks(img[sl], codes[sl], pool, codes[fr], fv, n // 2 + rr)
    np.testing.assert_array_equal(blocks, whole)
