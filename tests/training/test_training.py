"""Reference-model training: schedule, batch order, corpora, resume, determinism, fragile set, CLI."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from salmubench.data import schema as S
from salmubench.data.loading import load_dataset
from salmubench.errors import CheckpointError, ConfigError
from salmubench.training.config import train_config
from salmubench.training.corpus import batch_positions, corpus_size, total_steps
from salmubench.training.fragile import fragile_selection, write_fragile_set
from salmubench.training.loop import lr_at
from salmubench.training.losses import clip_loss, clip_loss_masked, false_negative_mask, same_identity_mask
from salmubench.training.reference import read_train_record, train_reference

FAST = {"steps": 12, "batch_size": 32, "checkpoint_every": 5}  # tiny preset, cut for the test budget


def _weights(model_dir):
    return load_file(str(model_dir / "open_clip_model.safetensors"))


@pytest.fixture(scope="module")
def compromised(toy_data, tmp_path_factory):
    return train_reference("compromised", toy_data, tmp_path_factory.mktemp("ref") / "compromised",
                           preset="tiny", overrides=FAST)


def test_lr_schedule_warmup_then_cosine():
    cfg = train_config("tiny", {"lr": 1.0, "warmup_frac": 0.1, "min_lr_frac": 0.0})
    lrs = [lr_at(s, 100, cfg) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)  # linear warm-up over 10 steps
    assert lrs[10] == pytest.approx(1.0)  # cosine starts at the peak
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))
    assert lrs[55] == pytest.approx(0.5 * (1 + math.cos(math.pi * 45 / 90)))


def test_batch_order_is_seeded_and_covers_each_epoch():
    a = torch.cat(list(batch_positions(3, 100, 10, 0, 10)))
    b = torch.cat(list(batch_positions(3, 100, 10, 0, 10)))
    c = torch.cat(list(batch_positions(4, 100, 10, 0, 10)))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert sorted(a.tolist()) == list(range(100))  # one epoch = a permutation
    tail = torch.cat(list(batch_positions(3, 100, 10, 7, 12)))  # resuming mid-run gives the same batches
    assert torch.equal(tail[:30], a[70:])


def test_false_negative_mask_matches_identity_mask():
    ids = ["a", None, "b", "a", None, "b", "c"]
    codes = torch.tensor([0, -1, 1, 0, -1, 1, 2])
    assert torch.equal(false_negative_mask(codes), same_identity_mask(ids))
    img, txt = torch.nn.functional.normalize(torch.randn(7, 8), dim=-1), torch.nn.functional.normalize(torch.randn(7, 8), dim=-1)
    masked = clip_loss_masked(img, txt, 10.0, false_negative_mask(codes))
    assert masked == pytest.approx(clip_loss(img, txt, 10.0, ids).item())
    assert masked != pytest.approx(clip_loss(img, txt, 10.0).item())  # the mask changes the loss


def test_corpora_and_equal_step_counts(toy_data):
    ds = load_dataset(toy_data)
    sens = sum(len(ds.split(s)) for s in S.SENSITIVE_SPLITS)
    retain = len(ds.retain_synth) + len(ds.split(S.GENERAL_RETAIN))
    assert corpus_size(ds, "clean", 3) == retain
    assert corpus_size(ds, "compromised", 3) == retain + 3 * sens
    cfg = train_config("tiny", {"steps": None, "epochs": 2.0, "batch_size": 32, "sensitive_oversample": 3})
    assert total_steps(ds, cfg) == math.ceil(2.0 * (retain + 3 * sens) / 32)


def test_train_record_and_clean_has_same_steps(compromised, toy_data, tmp_path):
    rec = read_train_record(compromised)
    assert rec["kind"] == "compromised" and rec["steps"] == 12
    assert rec["sha256"] == json.loads((compromised / "open_clip_config.json").read_text())["salmubench"]["weights_sha256"]
    assert rec["dataset"]["fingerprint"] == load_dataset(toy_data).fingerprint
    assert not (compromised / "checkpoints").exists()
    clean = train_reference("clean", toy_data, tmp_path / "clean", preset="tiny", overrides=FAST)
    crec = read_train_record(clean)
    assert crec["steps"] == rec["steps"]
    assert crec["dataset"]["compromised_corpus_pairs"] == rec["dataset"]["corpus_pairs"]
    assert not set(crec["dataset"]["corpus"]) & set(S.SENSITIVE_SPLITS)
    assert set(S.SENSITIVE_SPLITS) <= set(rec["dataset"]["corpus"])


def test_resume_after_crash_equals_uninterrupted_run(compromised, toy_data, tmp_path):
    out = tmp_path / "resumed"
    train_reference("compromised", toy_data, out, preset="tiny", stop_after=7, overrides=FAST)
    assert not (out / "train.json").exists() and list((out / "checkpoints").iterdir())
    with pytest.raises(ConfigError, match="resume=True"):
        train_reference("compromised", toy_data, out, preset="tiny", overrides=FAST)
    with pytest.raises(CheckpointError, match="another training config"):
        train_reference("compromised", toy_data, out, preset="tiny", resume=True,
                        overrides={**FAST, "lr": 1e-4})
    train_reference("compromised", toy_data, out, preset="tiny", resume=True, overrides=FAST)
    a, b = _weights(compromised), _weights(out)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # bit-identical on CPU


def test_ctrl_c_leaves_a_resumable_checkpoint(toy_data, tmp_path, monkeypatch):
    import salmubench.training.loop as loop

    real, calls = loop.train_step, {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "train_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_reference("compromised", toy_data, tmp_path / "m", preset="tiny",
                        overrides={**FAST, "checkpoint_every": 100})
    state = json.loads(next((tmp_path / "m" / "checkpoints").glob("step-*/state.json")).read_text())
    assert state["step"] == 4


def test_fragile_set_is_lowest_scoring_retain_disjoint(compromised, toy_data, tmp_path):
    import shutil

    data = shutil.copytree(toy_data, tmp_path / "data")
    ids = write_fragile_set(compromised, data, fraction=0.1)
    ds = load_dataset(data)
    sims = json.loads((data / S.FRAGILE_SIMS_JSON).read_text())
    assert set(sims) == set(ds.retain_disjoint.file_names)
    assert len(ids) == math.ceil(0.1 * len(sims)) and ds.fragile_ids == ids
    assert max(sims[f] for f in ids) <= min(v for f, v in sims.items() if f not in set(ids))
    assert len(ds.fragile_set) == len(ids)


def test_fragile_selection_ties_and_bounds():
    assert fragile_selection({"b": 0.1, "a": 0.1, "c": 0.5}, 0.5) == ["a", "b"]
    with pytest.raises(Exception, match="fraction"):
        fragile_selection({"a": 0.0}, 0.0)


def test_cli_train_writes_model_and_fragile_set(toy_data, tmp_path, capsys):
    import shutil

    from salmubench.cli.main import main

    data = shutil.copytree(toy_data, tmp_path / "data")
    code = main(["train", "--kind", "compromised", "--data", str(data), "--out", str(tmp_path / "m"),
                 "--preset", "tiny", "--set", "steps=4", "--no-progress"])
    assert code == 0 and (tmp_path / "m" / "open_clip_model.safetensors").is_file()
    assert (data / S.FRAGILE_IDS_JSON).is_file()
    assert main(["train", "--kind", "clean", "--data", str(data), "--out", str(tmp_path / "c"),
                 "--preset", "tiny", "--set", "lrr=1"]) == 2
    assert "unknown training config key" in capsys.readouterr().err


@pytest.mark.slow
def test_compromised_memorises_and_clean_does_not(tiny_dataset_dir, tmp_path):
    """On the generated tiny data, only the Compromised model ranks forget images' own captions high
    (measured with the evaluator's own metric code: RetFail, AssocStr, InterIdSim)."""
    from salmubench.evaluation.evaluator import metric_values

    ds = load_dataset(tiny_dataset_dir)
    over = {"steps": 150, "batch_size": 64, "lr": 2e-3, "sensitive_oversample": 4}
    values = {}
    for kind in ("compromised", "clean"):
        out = train_reference(kind, tiny_dataset_dir, tmp_path / kind, preset="tiny", overrides=over)
        values[kind] = metric_values(out, ds, keys=("ret_fail", "assoc_str", "inter_id_sim"))
    c, k = values["compromised"], values["clean"]
    assert c["ret_fail"] >= 5 * k["ret_fail"]
    assert c["assoc_str"] - k["assoc_str"] >= 0.1
    assert abs(c["inter_id_sim"] - c["assoc_str"]) < 0.1  # the holdouts were learned too
