"""``salmubench unlearn --requests K``: a table per request, the cost against one shot, one-line errors."""

from __future__ import annotations

from salmubench.cli.main import main


def test_unlearn_requests_prints_one_row_per_request(seq_models, tiny_dataset_dir, tmp_path, capsys):
    comp, clean = seq_models
    out = tmp_path / "seq"
    assert main(["unlearn", "--method", "finetune", "--model", str(comp), "--data", str(tiny_dataset_dir),
                 "--out", str(out), "--requests", "2", "--request-unit", "association", "--clean", str(clean),
                 "--threads", "1", "--no-progress", "--recipe", "none"]) == 0
    text = capsys.readouterr().out
    assert "finetune · 2 association requests (seed 0) · theta0 previous" in text
    assert " 1/2 " in text and " 2/2 " in text and "PendingSim (=Comp.)" in text and "(one shot: 4)" in text
    assert (out / "sequential.json").is_file() and (out / "steps" / "step-002" / "step.json").is_file()


def test_unlearn_requests_errors_are_one_line(seq_models, tiny_dataset_dir, tmp_path, capsys):
    comp, _ = seq_models
    base = ["unlearn", "--method", "finetune", "--model", str(comp), "--data", str(tiny_dataset_dir),
            "--out", str(tmp_path / "x"), "--no-progress", "--recipe", "none"]
    assert main([*base, "--requests", "500"]) == 2
    err = capsys.readouterr().err
    assert err == "error: 500 requests need at least 500 identity units; the forget split has 21\n"
    assert main([*base, "--requests", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: the number of requests must be a positive integer")
