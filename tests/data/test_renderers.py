"""Renderers: portraits keep identity, captions describe what was drawn, every scene class draws."""

from __future__ import annotations

import numpy as np
import pytest

from salmubench.data.generate import curation, faces, scenes
from salmubench.data.generate.personas import (
    iban_check_digits,
    luhn_valid,
    make_invalid_card,
    make_invalid_iban,
)
from salmubench.seeding import rng_for

ARS = (0.75, 1.0, 1.33)


def _traits(n=6, seed=0):
    return faces.sample_identity_traits(n, np.random.default_rng(seed), 4, 2)


@pytest.mark.parametrize("ar", ARS)
def test_portrait_size_and_determinism(ar):
    traits = faces.decode_traits(_traits()[0])
    var = faces.Variation(aspect_ratio=ar, angle=5, noise=2, clothes="red", expression="smiling")
    a, b = faces.render_portrait(traits, var, 64), faces.render_portrait(traits, var, 64)
    assert max(a.size) == 64 and a.size[0] / a.size[1] == pytest.approx(ar, abs=0.03)
    assert a.tobytes() == b.tobytes()
    assert faces.encode_jpeg(a, 90) == faces.encode_jpeg(b, 90)


def test_renders_are_nearest_to_own_identity():
    codes = _traits(12)
    refs = curation.reference_centroids(codes, 0, ARS)
    hits = 0
    for i, code in enumerate(codes):
        for j in range(3):
            img = faces.render_portrait(faces.decode_traits(code), faces.sample_variation(rng_for(1, i, j), ARS), 48)
            ok, own, other = curation.identity_check(faces.thumbnail_vector(img), i, refs)
            hits += ok
            assert own > other
    assert hits >= 0.8 * 36
    # the same image checked against another identity's index fails
    img = faces.render_portrait(faces.decode_traits(codes[0]), faces.Variation(), 48)
    assert not curation.identity_check(faces.thumbnail_vector(img), 1, refs)[0]


def test_generic_caption_follows_the_drawing():
    base = faces.decode_traits(_traits()[0])
    for glasses in faces.TRAITS["glasses"]:
        for hat in faces.TRAITS["headwear"]:
            t = {**base, "glasses": glasses, "headwear": hat}
            cap = faces.generic_caption(t, faces.Variation(clothes="orange", expression="laughing"))
            assert (glasses in cap) == (glasses != "none")
            assert (f"a {hat}" in cap) == (hat != "none")
            assert t["hair_color"] in cap and f"{t['background']} background" in cap
            assert "an orange shirt" in cap and "laughing" in cap


@pytest.mark.parametrize("kind", scenes.OBJECT_CLASSES)
def test_every_scene_class_draws(kind):
    spec = scenes.SceneSpec(kind, "red", 2, "white", 1.0, "star", "blue", 7)
    img = np.asarray(scenes.render_scene(spec, 32))
    assert img.shape == (32, 32, 3)
    assert (img == (214, 48, 49)).all(-1).sum() > 10  # the red objects are visible at 32 px
    cap = scenes.scene_caption(spec)
    assert scenes.plural(kind, 2) in cap and "red" in cap and "white background" in cap


def test_privacy_by_construction_helpers():
    bban = "370400440532013000"
    assert iban_check_digits("DE", bban) == 89  # DE89 3704 0044 0532 0130 00 is the ISO example
    bad = make_invalid_iban("DE", bban).replace(" ", "")
    assert bad[:2] == "DE" and bad[4:] == bban and int(bad[2:4]) != 89
    assert luhn_valid("4111111111111111")
    card = make_invalid_card("4111 1111 1111 1111").replace(" ", "")
    assert card[:-1] == "411111111111111" and not luhn_valid(card)


def test_scene_caption_styles_and_articles():
    spec = scenes.SceneSpec("star", "orange", 1, "orange", 1.0, None, None, 0)
    full = [scenes.scene_caption(spec, s) for s in range(scenes.N_FULL_STYLES)]
    assert all("orange star" in c and "orange background" in c for c in full)
    assert full[0] == "an orange star on an orange background"  # articles agree with the next word
    only = [scenes.scene_caption(spec, scenes.N_FULL_STYLES + s) for s in range(scenes.N_CLASS_ONLY_STYLES)]
    assert only == ["a star", "a picture of a star", "an illustration showing a star"]
    two = scenes.SceneSpec("leaf", "red", 2, "white", 1.0, "cup", "blue", 0)
    assert scenes.scene_caption(two, scenes.N_FULL_STYLES) == "two leaves and a small cup"
    # the zero-shot prompts use the grammar of the class-only captions
    assert [t.format("star") for t in scenes.ZEROSHOT_TEMPLATES] == only


def test_general_palette_is_used_by_the_general_corpus(tiny_dataset):
    ds = tiny_dataset
    for name in ("general_retain", "zeroshot"):
        texts = ds.split(name).column("text")
        assert not any(f" {c} " in f" {t} " for t in texts for c in scenes.OBJECT_COLORS
                       if c not in scenes.GENERAL_COLORS + scenes.GENERAL_BACKGROUNDS)
    general = ds.split("general_retain").column("text")
    class_only = [t for t in general if "background" not in t]
    assert 0.05 < len(class_only) / len(general) < 0.4  # general_class_only_frac = 0.2
