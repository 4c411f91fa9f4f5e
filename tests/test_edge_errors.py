"""Errors at the edges are structural: each class of bad input ends in one ``error:`` line and a
non-zero exit code, never a traceback, whichever command meets it.

* a checkpoint whose tensor shapes do not match its config (model loading validates them);
* a result file whose content breaks its schema (every result file is read through its schema);
* an output location that cannot be a folder (every output is checked in one place).
"""

from __future__ import annotations

import json
import math
import shutil

import pytest

from salmubench.cli.main import main


def one_line_error(capsys, code: int) -> str:
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    return err


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from salmubench.models import create_model, save_model

    out = tmp_path_factory.mktemp("model")
    save_model(create_model("salmu-test", seed=0), out)
    return out


# ---- checkpoints ---------------------------------------------------------------------------------


@pytest.fixture
def mismatched_model(model_dir, tmp_path):
    """The same weights with a config that builds a wider text tower."""
    bad = tmp_path / "bad"
    shutil.copytree(model_dir, bad)
    config = json.loads((bad / "open_clip_config.json").read_text())
    config["model_cfg"]["text_cfg"]["width"] *= 2
    (bad / "open_clip_config.json").write_text(json.dumps(config))
    return bad


def test_checkpoint_shapes_are_checked_against_the_config(mismatched_model, tiny_dataset_dir, tmp_path, capsys):
    from salmubench.errors import CheckpointError
    from salmubench.models import load_model

    with pytest.raises(CheckpointError, match=r"weights do not match .*open_clip_config.json: \d+ tensor\(s\) "
                                              r"of another shape, e\.g\. .* is \[.*\] but .* gives \[.*\]"):
        load_model(mismatched_model)
    for argv in (["eval", "--model", str(mismatched_model), "--data", str(tiny_dataset_dir), "--out",
                  str(tmp_path / "e"), "--no-cache", "--quiet"],
                 ["unlearn", "--method", "finetune", "--model", str(mismatched_model), "--data", str(tiny_dataset_dir),
                  "--out", str(tmp_path / "u"), "--no-progress", "--recipe", "none"]):  # no recipe fits this config
        assert "weights do not match" in one_line_error(capsys, main(argv))


def test_a_bare_checkpoint_of_another_architecture_is_one_line(model_dir, tiny_dataset_dir, tmp_path, capsys):
    weights = model_dir / "open_clip_model.safetensors"
    code = main(["eval", "--model", str(weights), "--arch", "salmu-tiny", "--data", str(tiny_dataset_dir),
                 "--out", str(tmp_path / "e"), "--no-cache", "--quiet"])
    assert "weights do not match architecture 'salmu-tiny'" in one_line_error(capsys, code)


# ---- result files ----------------------------------------------------------------------------------


@pytest.fixture
def run_dir(tmp_path):
    """Three valid result files (Compromised, Clean, one method), with their official files."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "leaderboard"))
    from lb_factory import CLEAN, COMPROMISED, METHODS, make_result, rows_for  # noqa: I001

    from salmubench.evaluation.results import write_result
    from salmubench.io_utils import atomic_write_json

    method = next(iter(METHODS))
    for name, values, kw in (("comp", COMPROMISED, {"role": "compromised", "sha": "c" * 64}),
                             ("clean", CLEAN, {"role": "clean", "sha": "d" * 64}),
                             ("m", METHODS[method], {"method": method, "budget": 1.0, "seed": 0})):
        values, official = rows_for(values, seed=len(name))
        write_result(make_result(values, name=name, **kw), tmp_path / name)
        atomic_write_json(tmp_path / name / "evaluation_x.json", official)
    assert main(["leaderboard", str(tmp_path), "--quiet"]) == 0
    return tmp_path


@pytest.mark.parametrize("bad", ["abc", "0.5", True, None, math.nan, math.inf, [0.5]])
def test_a_metric_value_that_is_not_a_finite_number_is_one_line(run_dir, bad, capsys):
    capsys.readouterr()
    path = run_dir / "m" / "result.json"
    result = json.loads(path.read_text())
    result["metrics"]["ret_fail"]["value"] = bad
    path.write_text(json.dumps(result))  # json writes nan / inf as NaN / Infinity, which Python reads back
    err = one_line_error(capsys, main(["leaderboard", str(run_dir), "--quiet"]))
    assert "m/result.json: invalid result file (metrics.ret_fail.value" in err


def test_an_official_file_with_a_non_number_is_one_line(run_dir, capsys):
    capsys.readouterr()
    path = run_dir / "m" / "evaluation_x.json"
    official = json.loads(path.read_text())
    official["efficacy"]["1.2_AssocStr"]["scores"][3] = "0.2"
    path.write_text(json.dumps(official))
    err = one_line_error(capsys, main(["leaderboard", str(run_dir), "--quiet"]))
    assert "evaluation_x.json: invalid official result file (efficacy.1.2_AssocStr.scores" in err


def test_reference_clean_result_is_read_through_its_schema(run_dir, model_dir, tiny_dataset_dir, tmp_path, capsys):
    (run_dir / "clean" / "result.json").write_text("{not json")
    code = main(["eval", "--model", str(model_dir), "--data", str(tiny_dataset_dir), "--out", str(tmp_path / "e"),
                 "--reference-clean", str(run_dir / "clean"), "--no-cache", "--quiet"])
    assert "clean/result.json: not valid JSON" in one_line_error(capsys, code)


# ---- output locations --------------------------------------------------------------------------------


def _commands(model_dir, data, out):
    return {
        "unlearn": ["unlearn", "--method", "finetune", "--model", model_dir, "--data", data, "--out", out],
        "eval": ["eval", "--model", model_dir, "--data", data, "--out", out, "--no-cache", "--quiet"],
        "train": ["train", "--kind", "clean", "--data", data, "--out", out, "--preset", "tiny", "--no-progress"],
        "data generate": ["data", "generate", "--preset", "tiny", "--out", out, "--no-progress"],
        "data export": ["data", "export", "--data", data, "--out", out, "--kind", "clean"],
        "tune": ["tune", "--method", "finetune", "--model", model_dir, "--clean", model_dir, "--data", data,
                 "--out", out, "--no-progress"],
        "run": ["run", "--preset", "tiny", "--out", out, "--methods", "finetune", "--no-progress"],
        "leaderboard": ["leaderboard", data, "--out", out],
    }


@pytest.mark.parametrize("command", ["unlearn", "eval", "train", "data generate", "data export", "tune", "run",
                                     "leaderboard"])
@pytest.mark.parametrize("where", ["file", "inside a file"])
def test_an_output_location_that_is_a_file_is_one_line(command, where, model_dir, tiny_dataset_dir, tmp_path,
                                                       capsys):
    blocker = tmp_path / "taken.txt"
    blocker.write_text("not a folder")
    out = blocker if where == "file" else blocker / "sub"
    argv = _commands(str(model_dir), str(tiny_dataset_dir), str(out))[command]
    err = one_line_error(capsys, main(argv))
    assert str(blocker) in err and "an existing file" in err
    # the library names its parameter (out_dir); the command line shows the flag instead
    assert err.startswith(f"error: {'out' if command == 'run' else '--out'} {out} ")
    assert blocker.read_text() == "not a folder"  # nothing was written over it


def test_unlearn_refuses_its_input_model_as_output(model_dir, tiny_dataset_dir, capsys):
    code = main(["unlearn", "--method", "finetune", "--model", str(model_dir), "--data", str(tiny_dataset_dir),
                 "--out", str(model_dir)])
    assert "is the input --model" in one_line_error(capsys, code)
