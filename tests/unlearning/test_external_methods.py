"""Methods from outside the package: the example of docs/adding_a_method.md, written into a folder
outside src/, runs through unlearn -> eval -> leaderboard, tune and ls; module specs and entry points
work; wrong specs are one-line errors; ``salmubench.testing.check_method`` catches broken methods."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from salmubench.cli.main import main
from salmubench.errors import ConfigError
from salmubench.models import create_model, save_model
from salmubench.testing import MethodContractError, check_method, check_static
from salmubench.unlearning import registry

DOC = Path(__file__).resolve().parents[2] / "docs" / "adding_a_method.md"


def doc_python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


@pytest.fixture(autouse=True)
def _isolated(isolated_methods):
    """Every test starts from the built-in methods and leaves no external method behind (tests/conftest.py)."""


@pytest.fixture
def method_file(tmp_path) -> Path:
    """The doc's example method, saved outside src/ exactly as the doc shows it."""
    folder = tmp_path / "my_project"
    folder.mkdir()
    path = folder / "cosine_diff.py"
    path.write_text(doc_python_blocks()[0], encoding="utf-8")
    return path


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    return err


def test_doc_method_runs_through_unlearn_eval_and_leaderboard(method_file, compromised_dir, unlearn_data_dir,
                                                              tmp_path, capsys):
    spec = f"{method_file}:CosineDiff"
    out = tmp_path / "models" / "cosine_diff"
    assert main(["unlearn", "--method", spec, "--model", str(compromised_dir), "--data", str(unlearn_data_dir),
                 "--out", str(out), "--threads", "1", "--no-progress", "--recipe", "none"]) == 0  # salmu-test model
    record = json.loads((out / "unlearn.json").read_text())
    assert record["method"] == "cosine_diff" and record["steps"] >= 1
    assert record["method_source"]["origin"] == spec and len(record["method_source"]["sha256"]) == 64

    clean = tmp_path / "models" / "clean"
    save_model(create_model("salmu-test", seed=1), clean)
    results = tmp_path / "results"
    for model, role in ((compromised_dir, "compromised"), (clean, "clean"), (out, "unlearned")):
        assert main(["eval", "--model", str(model), "--data", str(unlearn_data_dir), "--out",
                     str(results / role), "--role", role, "--name", role, "--no-cache", "--quiet"]) == 0
    assert main(["leaderboard", str(results), "--quiet"]) == 0
    rows = json.loads((results / "leaderboard.json").read_text())["rows"]
    # eval read the model's unlearn.json, so the row knows its budget (issue 21: provenance)
    assert [r["name"] for r in rows] == ["Compromised", "Clean", "cosine_diff@1x"]


def test_doc_test_snippet_runs_the_contract_checks(method_file, unlearn_data_dir, compromised_dir, unlearn_data,
                                                   tmp_path, monkeypatch):
    """The doc's test file, as a user would save it next to the method (the tiny data passed in here
    only to reuse the session's; by default check_method generates it)."""
    test_file = method_file.parent / "test_cosine_diff.py"
    test_file.write_text(doc_python_blocks()[1], encoding="utf-8")
    monkeypatch.syspath_prepend(str(method_file.parent))
    namespace: dict = {}
    exec(compile(test_file.read_text(), str(test_file), "exec"), namespace)  # noqa: S102 - the doc's own test
    assert namespace["check_method"] is check_method
    record = check_method(namespace["CosineDiff"], data_dir=unlearn_data_dir, model_dir=compromised_dir,
                          data=unlearn_data, workdir=tmp_path / "check")
    assert record["method"] == "cosine_diff"


def test_external_method_is_tunable_and_listed(method_file, tmp_path, capsys, monkeypatch):
    from salmubench.tuning.search import resolve_methods
    from salmubench.tuning.spaces import grid

    spec = f"{method_file}:CosineDiff"
    assert grid(spec) == [{"lr": 1e-4}, {"lr": 3e-4}, {"lr": 1e-3}]
    assert resolve_methods(f"finetune,{spec}") == ["finetune", "cosine_diff"]
    assert main(["ls", "methods", "--method", spec]) == 0
    listed = [line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("cosine_diff")]
    assert len(listed) == 1 and "yes" in listed[0]
    assert registry.method_origin(registry.get_method("cosine_diff")) == spec
    # the same class through an importable module: package.module:Class
    monkeypatch.syspath_prepend(str(method_file.parent))
    assert registry.get_method("cosine_diff:CosineDiff").name == "cosine_diff"


def test_a_method_without_search_space_runs_but_tune_refuses_it(tmp_path, capsys):
    path = tmp_path / "plain.py"
    path.write_text(doc_python_blocks()[0].replace('search_space = {"lr": [1e-4, 3e-4, 1e-3]}', "pass")
                    .replace('"cosine_diff"', '"plain_diff"'), encoding="utf-8")
    assert main(["tune", "--method", f"{path}:CosineDiff", "--model", "m", "--clean", "c", "--data", "d",
                 "--out", str(tmp_path / "t")]) == 2
    assert "declares no search_space" in one_line_error(capsys)
    check_static(f"{path}:CosineDiff")  # still a valid, runnable method


def test_wrong_specs_are_one_line_errors(tmp_path, capsys, compromised_dir, unlearn_data_dir):
    not_method = tmp_path / "helpers.py"
    not_method.write_text("class Helper:\n    pass\n\ndef loss():\n    return 0\n")
    clash = tmp_path / "my_finetune.py"
    clash.write_text(doc_python_blocks()[0].replace('@register_method("cosine_diff")', '@register_method("finetune")'))
    undecorated = tmp_path / "undecorated.py"
    undecorated.write_text(doc_python_blocks()[0].replace('@register_method("cosine_diff")\n', "")
                           .replace("class CosineDiff(", "class Finetune("))
    cases = {
        f"{tmp_path / 'missing.py'}:Method": "method file not found",
        f"{not_method}:Helper": "is not an unlearning method",
        f"{not_method}:loss": "is not an unlearning method",
        f"{not_method}:Nope": "has no 'Nope'",
        f"{clash}:CosineDiff": "clashes with a built-in method",
        f"{undecorated}:Finetune": "clashes with a built-in method",  # snake_case name 'finetune'
        "no_such_module_xyz:Method": "method module 'no_such_module_xyz' not found",
    }
    for spec, message in cases.items():
        code = main(["unlearn", "--method", spec, "--model", str(compromised_dir), "--data", str(unlearn_data_dir),
                     "--out", str(tmp_path / "out")])
        assert code == 2 and message in one_line_error(capsys), spec
    assert "finetune" in registry.METHODS and registry.get_method("finetune").__module__.startswith("salmubench.")


def test_entry_point_methods_load_with_the_builtins(tmp_path, monkeypatch):
    pkg = tmp_path / "site"
    (pkg / "ep_methods").mkdir(parents=True)
    (pkg / "ep_methods" / "__init__.py").write_text("")
    (pkg / "ep_methods" / "cosine.py").write_text(doc_python_blocks()[0].replace('@register_method("cosine_diff")\n', ""))
    (pkg / "ep_methods" / "broken.py").write_text("raise RuntimeError('plugin bug')\n")
    dist = pkg / "ep_methods-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-methods\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[salmubench.methods]\ncosine_ep = ep_methods.cosine:CosineDiff\n"
                                           "broken_ep = ep_methods.broken:Method\n")
    monkeypatch.syspath_prepend(str(pkg))
    with pytest.warns(UserWarning, match="broken_ep"):
        registry.load_entry_points()
    cls = registry.get_method("cosine_ep")  # registered under the entry point's name
    assert cls.name == "cosine_ep" and "cosine_ep" in registry.method_names()
    assert registry.method_origin(cls) == "entry point cosine_ep = ep_methods.cosine:CosineDiff"
    with pytest.raises(ConfigError, match="plugin 'broken_ep'.*RuntimeError: plugin bug"):
        registry.get_method("broken_ep")


def test_check_method_catches_broken_methods(tmp_path, unlearn_data_dir, compromised_dir, unlearn_data):
    inert = tmp_path / "inert.py"
    inert.write_text(doc_python_blocks()[0].replace('"cosine_diff"', '"inert_diff"').replace(
        '"forget_loss": self.cfg.gamma * pair_cosine(img, txt).mean(),',
        '"forget_loss": 0.0 * pair_cosine(img, txt).mean(),').replace(
        '"retain_loss": self.cfg.alpha * clip_loss_of(model, batch.retain),',
        '"retain_loss": 0.0 * clip_loss_of(model, batch.retain),').replace("(1.0, ge=0)", "(0.0, ge=0)"))
    with pytest.raises(MethodContractError, match="changes the model"):
        check_method(f"{inert}:CosineDiff", data_dir=unlearn_data_dir, model_dir=compromised_dir,
                     data=unlearn_data, workdir=tmp_path / "w")
    bad_space = tmp_path / "bad_space.py"
    bad_space.write_text(doc_python_blocks()[0].replace('"cosine_diff"', '"bad_space"')
                         .replace('{"lr": [1e-4, 3e-4, 1e-3]}', '{"learning_rate": [1e-4]}'))
    with pytest.raises(MethodContractError, match=r"search_space: bad_space: keys \['learning_rate'\]"):
        check_static(f"{bad_space}:CosineDiff")
    bad_value = tmp_path / "bad_value.py"
    bad_value.write_text(doc_python_blocks()[0].replace('"cosine_diff"', '"bad_value"')
                         .replace('{"lr": [1e-4, 3e-4, 1e-3]}', '{"gamma": [-1.0]}'))
    with pytest.raises(MethodContractError, match="search_space: invalid bad_value config value for gamma"):
        check_static(f"{bad_value}:CosineDiff")
