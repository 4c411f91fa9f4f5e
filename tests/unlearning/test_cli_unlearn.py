"""``salmubench unlearn`` end to end, in-process through ``main([...])``."""

from __future__ import annotations

from salmubench.cli.main import main
from salmubench.io_utils import read_json
from salmubench.models import load_model
from salmubench.unlearning.api import UNLEARN_FILE


def test_cli_unlearn_writes_a_loadable_model(compromised_dir, unlearn_data_dir, tmp_path, capsys):
    out = tmp_path / "ft"
    code = main(["unlearn", "--method", "finetune", "--model", str(compromised_dir), "--data",
                 str(unlearn_data_dir), "--out", str(out), "--budget", "0.5", "--seed", "2",
                 "--set", "lr=3e-4", "--set", "retain_batch_size=8", "--threads", "1", "--no-progress",
                 "--recipe", "none"])  # a salmu-test model: the default would refuse (tuned on salmu-tiny)
    assert code == 0
    record = read_json(out / UNLEARN_FILE)
    assert record["params"]["lr"] == 3e-4 and record["params"]["retain_batch_size"] == 8
    assert record["seed"] == 2 and record["budget"] == 0.5 and record["threads"] == 1
    assert load_model(out).checkpoint_sha256 == record["checkpoint_sha256"]
    assert str(out) in capsys.readouterr().out


def test_cli_unknown_method_names_the_valid_ones(compromised_dir, unlearn_data_dir, tmp_path, capsys):
    code = main(["unlearn", "--method", "neg_gard", "--model", str(compromised_dir), "--data",
                 str(unlearn_data_dir), "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code != 0 and "neg_grad" in err and "finetune" in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_cli_unknown_key_names_the_valid_keys(compromised_dir, unlearn_data_dir, tmp_path, capsys):
    code = main(["unlearn", "--method", "neg_grad", "--model", str(compromised_dir), "--data",
                 str(unlearn_data_dir), "--out", str(tmp_path / "x"), "--set", "lrr=1e-5"])
    err = capsys.readouterr().err
    assert code != 0 and "lrr" in err and "forget_batch_size" in err and err.count("\n") == 1


def test_cli_bad_value_and_bad_budget(compromised_dir, unlearn_data_dir, tmp_path, capsys):
    base = ["unlearn", "--method", "neg_grad", "--model", str(compromised_dir), "--data",
            str(unlearn_data_dir), "--out", str(tmp_path / "x")]
    assert main([*base, "--set", "form=sine"]) != 0
    assert "form" in capsys.readouterr().err
    assert main([*base, "--budget", "0"]) != 0
    assert "budget" in capsys.readouterr().err


def test_cli_refuses_to_overwrite_the_input_model(compromised_dir, unlearn_data_dir, capsys):
    code = main(["unlearn", "--method", "finetune", "--model", str(compromised_dir), "--data",
                 str(unlearn_data_dir), "--out", str(compromised_dir)])
    assert code != 0 and "is the input --model" in capsys.readouterr().err


def test_ls_methods_defaults_are_read_from_the_configs(capsys):
    from salmubench.unlearning.base import MethodConfig
    from salmubench.unlearning.methods.salun_ssd import SalUnSSDConfig

    assert main(["ls", "methods", "--defaults"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.strip().startswith("salun_ssd "))
    cfg = SalUnSSDConfig()
    assert f"saliency_ratio={cfg.saliency_ratio}," in line and f"lr={cfg.lr}," in line
    assert "weight_decay" not in line  # a shared default left as it is is listed once, below
    assert f"forget_batch_size={MethodConfig().forget_batch_size}" in out.splitlines()[-1]
