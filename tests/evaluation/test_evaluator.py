"""End to end: evaluate() and ``salmubench eval`` write both JSON files, deterministically."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from salmubench.cli.main import main
from salmubench.evaluation.evaluator import evaluate
from salmubench.evaluation.protocol import METRIC_KEYS, protocol_hash
from salmubench.evaluation.results import read_result

OFFICIAL_KEYS = {
    "efficacy": {"1.1_RetFail": {"R@1", "MRR", "outcomes"}, "1.2_AssocStr": {"mean", "scores"},
                 "1.3_ACS": {"acs_accuracy"}, "1.4_IdZSC": {"identity_classification_accuracy"},
                 "1.5_CoreAssoc": {"mean", "scores"}},
    "utility": {"2.1_GenKnow": {"ImageNet1k_Accuracy", "salmubench_zeroshot_accuracy"}, "2.2_InterIdSim": {"mean"},
                "2.3_IntraIdSim": {"mean"}, "2.4_VisIdInt": {"mean"}, "2.5_FragSim": {"mean"}},
}


@pytest.fixture(scope="module")
def first_run(model_dirs, eval_data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("run1")
    result = evaluate(model_dirs["a"], eval_data_dir, out, name="model-a", role="clean", cache_dir=False)
    return result, out


def _official(out: Path, result) -> dict:
    return json.loads((out / result.files["official"]).read_text())


def test_result_files_follow_both_schemas(first_run, eval_data_dir):
    result, out = first_run
    again = read_result(out)  # validated on read
    assert again == result
    assert set(result.metrics) == set(METRIC_KEYS)
    assert result.protocol.hash == protocol_hash() and result.model.checkpoint_sha256
    assert result.model.role == "clean" and result.gen_know_source == "zeroshot"
    assert result.dataset.split_counts["fragile_set"] == 4 and result.dataset.fragile_sha256
    assert {"salmubench", "open_clip_torch", "torch", "python"} <= set(result.env)
    official = _official(out, result)
    assert result.files["official"] == "evaluation_model-a.json"
    assert {p: {k: set(v) for k, v in official[p].items()} for p in official} == OFFICIAL_KEYS
    assert official["utility"]["2.1_GenKnow"]["ImageNet1k_Accuracy"] == -1
    n_forget = result.metrics["ret_fail"].extra["n"]
    outcomes = official["efficacy"]["1.1_RetFail"]["outcomes"]
    assert len(outcomes) == n_forget == len(official["efficacy"]["1.2_AssocStr"]["scores"])
    assert np.mean(outcomes) == pytest.approx(official["efficacy"]["1.1_RetFail"]["MRR"])
    for key, metric in result.metrics.items():
        spec_field = {"ret_fail": "MRR", "assoc_str": "mean", "acs": "acs_accuracy"}.get(key)
        if spec_field:
            assert official["efficacy"][metric.official_key][spec_field] == metric.value


def test_extras_per_attribute(first_run):
    result, _ = first_run
    per_attr = result.extras["per_attribute"]
    assert set(per_attr) == {"city", "job", "blood_type", "email"}
    assert sum(v["n"] for v in per_attr.values()) == result.metrics["ret_fail"].extra["n"]
    weighted = sum(v["n"] * v["assoc_str"] for v in per_attr.values()) / sum(v["n"] for v in per_attr.values())
    assert weighted == pytest.approx(result.metrics["assoc_str"].value)


def test_same_model_twice_gives_identical_numbers(first_run, model_dirs, eval_data_dir, tmp_path):
    result, out = first_run
    for cache in (False, tmp_path / "cache", tmp_path / "cache"):  # fresh, cache written, cache read
        again = evaluate(model_dirs["a"], eval_data_dir, tmp_path / "again", name="model-a", role="clean",
                         cache_dir=cache)
        assert (tmp_path / "again" / again.files["official"]).read_bytes() == (out / result.files["official"]).read_bytes()
        assert {k: m.model_dump() for k, m in again.metrics.items()} == {k: m.model_dump() for k, m in result.metrics.items()}
    assert again.extras["embeddings"]["images_embedded"] == 0  # third run: everything from the cache


def test_reference_clean_adds_ks(first_run, model_dirs, eval_data_dir, tmp_path):
    _, clean_out = first_run
    other = evaluate(model_dirs["b"], eval_data_dir, tmp_path, reference_clean=clean_out, cache_dir=False)
    ks = other.extras["assoc_str_ks_vs_clean"]
    assert 0 < ks["statistic"] <= 1 and ks["n"] == ks["n_reference"]
    same = evaluate(model_dirs["a"], eval_data_dir, tmp_path / "same", reference_clean=clean_out, cache_dir=False)
    assert same.extras["assoc_str_ks_vs_clean"]["statistic"] == 0.0


def test_cli_eval_and_one_line_errors(model_dirs, eval_data_dir, tmp_path, capsys):
    code = main(["eval", "--model", f"local-dir:{model_dirs['b']}", "--data", str(eval_data_dir),
                 "--out", str(tmp_path), "--batch-size", "5", "--quiet", "--no-cache", "--role", "unlearned"])
    assert code == 0
    result = read_result(tmp_path)
    assert result.model.role == "unlearned" and (tmp_path / "evaluation_b.json").is_file()
    assert main(["eval", "--model", str(tmp_path / "missing"), "--data", str(eval_data_dir),
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: model not found") and "\n" not in err


def test_imagenet_folder(model_dirs, eval_data_dir, tmp_path):
    from PIL import Image

    root = tmp_path / "val"
    for k, cls in enumerate(("goldfish", "tabby_cat", "pizza")):
        (root / cls).mkdir(parents=True)
        for j in range(2):
            Image.new("RGB", (20, 24), (80 * k, 40 * j, 90)).save(root / cls / f"img{j}.JPEG")
    result = evaluate(model_dirs["a"], eval_data_dir, tmp_path / "out", imagenet=root, cache_dir=tmp_path / "c")
    gen = result.metrics["gen_know"]
    assert result.gen_know_source == "imagenet" and gen.extra == {"source": "imagenet", "n": 6, "n_classes": 3}
    official = json.loads((tmp_path / "out" / result.files["official"]).read_text())
    assert official["utility"]["2.1_GenKnow"] == {"ImageNet1k_Accuracy": gen.value}
    assert gen.value in {k / 6 for k in range(7)}


def test_imagenet_classnames_for_a_full_val_set():
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    from salmubench.evaluation.metrics.zeroshot import imagenet_classnames

    assert imagenet_classnames([f"n{k:08d}" for k in range(1000)]) == list(IMAGENET_CLASSNAMES)
    assert imagenet_classnames(["tabby_cat", "pizza"]) == ["tabby cat", "pizza"]


def test_bare_checkpoint_file_with_arch_gives_the_same_numbers(first_run, model_dirs, eval_data_dir, tmp_path):
    result, out = first_run
    weights = model_dirs["a"] / "open_clip_model.safetensors"
    again = evaluate(weights, eval_data_dir, tmp_path, arch="salmu-test", name="model-a", cache_dir=False)
    assert again.model.arch == "salmu-test" and again.model.checkpoint_sha256 == result.model.checkpoint_sha256
    assert (tmp_path / again.files["official"]).read_bytes() == (out / result.files["official"]).read_bytes()


def test_released_layout_without_our_extras(model_dirs, tmp_path):
    """The release has no extra/ splits, no manifest and no zeroshot set: GenKnow is -1, source none."""
    from evalkit import synthetic_rows, write_dataset

    from salmubench.data import schema as S

    spec = synthetic_rows(n_full=4, n_partial=4, n_held=2, per_attr=1, n_disjoint=6)
    del spec.rows[S.ZEROSHOT]
    spec.zeroshot = None
    data_dir = write_dataset(spec, tmp_path / "released")
    (data_dir / S.ZEROSHOT_CLASSES_JSON).unlink()
    assert not (data_dir / S.EXTRA_DIR).exists() and not (data_dir / S.MANIFEST_JSON).exists()
    result = evaluate(model_dirs["a"], data_dir, tmp_path / "out", cache_dir=False)
    assert result.gen_know_source == "none" and result.value("gen_know") == -1.0
    assert result.extras["frag_sim_fallback"] == S.RETAIN_DISJOINT
    official = json.loads((tmp_path / "out" / result.files["official"]).read_text())
    assert official["utility"]["2.1_GenKnow"] == {"ImageNet1k_Accuracy": -1}
