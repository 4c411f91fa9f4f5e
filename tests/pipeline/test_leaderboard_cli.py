"""``salmubench leaderboard RUN_DIR [RUN_DIR ...] [--out DIR]``."""

from lb_factory import write_run

from salmubench.cli.main import main


def test_rebuild_and_merge(tmp_path, capsys):
    a = write_run(tmp_path / "a", seeds=(0,))
    b = write_run(tmp_path / "b", seeds=(1,))
    assert main(["leaderboard", str(a)]) == 0
    assert (a / "leaderboard.md").is_file() and (a / "report.html").is_file()
    assert "| 1 | finetune@5x |" in capsys.readouterr().out
    assert main(["leaderboard", str(a), str(b), "--out", str(tmp_path / "merged"), "--quiet"]) == 0
    assert "finetune@5x (n=2)" in (tmp_path / "merged" / "leaderboard.md").read_text()


def test_errors_are_one_line(tmp_path, capsys):
    assert main(["leaderboard", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no such run dir")
