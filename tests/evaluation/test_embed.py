"""EmbeddingBank: each unique item embedded once, normalised, batch-size independent, cached on disk."""

from __future__ import annotations

import numpy as np

from salmubench.evaluation.embed import EmbeddingBank, KeyedArrays, default_cache_dir


def test_embeds_each_unique_item_once(bundle, data):
    bank = EmbeddingBank(bundle, batch_size=8)
    forget = bank.images(data.forget)
    assert forget.dtype == np.float32 and forget.shape == (len(data.forget), bundle.model_cfg["embed_dim"])
    np.testing.assert_allclose(np.linalg.norm(forget, axis=1), 1.0, atol=1e-5)
    n = bank.counts["images_embedded"]
    sub = bank.images(data.forget_identity)  # a derived subset of forget: nothing new to embed
    assert bank.counts["images_embedded"] == n
    idx = [data.forget.file_names.index(f) for f in data.forget_identity.file_names]
    np.testing.assert_array_equal(sub, forget[idx])
    texts = data.forget.texts + data.forget.texts[:3]
    out = bank.texts(texts)
    assert bank.counts["texts_embedded"] == len(set(texts)) and out.shape[0] == len(texts)
    np.testing.assert_array_equal(out[-3:], out[:3])


def test_batch_size_does_not_change_embeddings(bundle, data):
    small = EmbeddingBank(bundle, batch_size=3)
    large = EmbeddingBank(bundle, batch_size=256)
    np.testing.assert_allclose(small.images(data.holdout_identity), large.images(data.holdout_identity), atol=1e-5)
    np.testing.assert_allclose(small.texts(data.forget.texts), large.texts(data.forget.texts), atol=1e-5)


def test_cache_round_trip_needs_no_model(bundle, data, tmp_path, monkeypatch):
    first = EmbeddingBank(bundle, cache_dir=tmp_path / "c")
    img, txt = first.images(data.retain_synth), first.texts(["a", "b"])
    first.save()
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [
        "images.keys.json", "images.npy", "meta.json", "texts.keys.json", "texts.npy"]

    def boom(*args, **kwargs):
        raise AssertionError("the model ran although everything was cached")

    monkeypatch.setattr(bundle.model, "encode_image", boom)
    monkeypatch.setattr(bundle.model, "encode_text", boom)
    second = EmbeddingBank(bundle, cache_dir=tmp_path / "c")
    np.testing.assert_array_equal(second.images(data.retain_joint), img[[data.retain_synth.file_names.index(f)
                                                                         for f in data.retain_joint.file_names]])
    np.testing.assert_array_equal(second.texts(["b", "a"]), txt[::-1])
    assert second.counts["images_embedded"] == 0 and second.counts["texts_embedded"] == 0


def test_corrupt_cache_is_ignored(tmp_path):
    (tmp_path / "images.npy").write_bytes(b"not numpy")
    (tmp_path / "images.keys.json").write_text('["x"]')
    assert len(KeyedArrays.load(tmp_path, "images")) == 0


def test_default_cache_dir_respects_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "salmubench" / "embeddings"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert str(default_cache_dir()).endswith(".cache/salmubench/embeddings")


def test_trimmed_text_encoding_matches_open_clip(bundle):
    import torch

    from salmubench.evaluation.embed import encode_text_trimmed

    tokens = bundle.tokenizer(["a", "Person0 Surname0 lives in City0", "x " * 20])
    assert int((tokens != 0).sum(dim=1).max()) < tokens.shape[1]  # there is a padding tail to cut
    with torch.inference_mode():
        full, trimmed = bundle.model.encode_text(tokens), encode_text_trimmed(bundle.model, tokens)
    torch.testing.assert_close(trimmed, full, atol=1e-5, rtol=1e-5)


def test_parallel_decoding_gives_the_same_embeddings(bundle, data):
    one = EmbeddingBank(bundle, workers=1).images(data.forget)
    four = EmbeddingBank(bundle, workers=4).images(data.forget)
    np.testing.assert_array_equal(one, four)


def test_tensor_cache_gives_the_embeddings_of_decoding(bundle, data, tmp_path, monkeypatch):
    """Images read from the tensor cache (cold: written, warm: read) embed bit-identically to images
    decoded by the bank itself (cache off)."""
    from salmubench.data import tensor_cache

    split = data.retain_synth
    monkeypatch.setenv(tensor_cache.ENV, "off")
    decoded = EmbeddingBank(bundle, batch_size=5).images(split)
    monkeypatch.setenv(tensor_cache.ENV, str(tmp_path))
    cold = EmbeddingBank(bundle, batch_size=5).images(split)
    assert list(tmp_path.glob("*.safetensors"))
    warm = EmbeddingBank(bundle, batch_size=5).images(split)
    np.testing.assert_array_equal(cold, decoded)
    np.testing.assert_array_equal(warm, decoded)


def test_memoised_tokens_equal_the_tokenizer(bundle):
    """Tokens come from a per-process memo shared by tokenizers with the same fingerprint."""
    import open_clip

    from salmubench.data.torch_data import tokenize, tokenizer_fingerprint
    from salmubench.models import create_model

    first = ["a photo of a cat", "her phone number is 555 0100", "a photo of a cat"]
    assert (tokenize(first, bundle.tokenizer) == bundle.tokenizer(first)).all()
    other = create_model("salmu-test", seed=3).tokenizer  # another object, the same tokenizer
    assert other is not bundle.tokenizer
    assert tokenizer_fingerprint(other) == tokenizer_fingerprint(bundle.tokenizer) is not None
    second = ["her phone number is 555 0100", "someone else"]
    assert (tokenize(second, other) == bundle.tokenizer(second)).all()
    longer = open_clip.get_tokenizer("ViT-B-32")  # context 77: another fingerprint, other rows
    assert tokenizer_fingerprint(longer) != tokenizer_fingerprint(bundle.tokenizer)
    assert tokenize(second, longer).shape[1] == 77 and (tokenize(second, longer) == longer(second)).all()
