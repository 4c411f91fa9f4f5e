"""Foundation: registry lookups, strict configs and overrides, seeded streams, atomic writes, CLI root."""

from __future__ import annotations

import json
import os

import pytest

from salmubench.cli.main import main
from salmubench.config import StrictModel, build_config, config_hash, parse_overrides
from salmubench.errors import ConfigError
from salmubench.io_utils import atomic_path, atomic_write_json, sha256_file
from salmubench.registry import Registry
from salmubench.seeding import derive_seed, rng_for


def test_registry_did_you_mean_and_duplicates():
    reg: Registry[int] = Registry("method")
    reg.register("grad_diff")(1)
    reg.register("npo")(2)
    assert reg.get("npo") == 2 and reg.names() == ["grad_diff", "npo"] and reg.names("grad*") == ["grad_diff"]
    with pytest.raises(ConfigError, match="Did you mean: grad_diff.*Available: grad_diff, npo"):
        reg.get("grad_dif")
    with pytest.raises(ValueError, match="duplicate"):
        reg.register("npo")(3)
    with pytest.raises(ValueError, match="snake_case"):
        reg.register("Bad-Name")


class _Cfg(StrictModel):
    lr: float = 1e-3  # learning rate
    steps: int = 3


def test_build_config_coerces_and_rejects_unknown_keys():
    cfg = build_config(_Cfg, parse_overrides(["lr=1e-5", "steps=7"]))
    assert cfg.lr == 1e-5 and cfg.steps == 7
    with pytest.raises(ConfigError, match="unknown config key.*valid keys: lr, steps"):
        build_config(_Cfg, {"lrr": 1})
    with pytest.raises(ConfigError, match="invalid config value for steps"):
        build_config(_Cfg, {"steps": "many"})
    with pytest.raises(ConfigError, match="not key=value"):
        parse_overrides(["lr"])
    assert config_hash(_Cfg()) == config_hash({"lr": 1e-3, "steps": 3}) != config_hash(_Cfg(steps=4))


def test_named_streams_are_stable_and_independent():
    assert derive_seed(0, "a", 1) == derive_seed(0, "a", 1) != derive_seed(0, "a", 2)
    a, b = rng_for(5, "x").random(4), rng_for(5, "x").random(4)
    assert (a == b).all() and not (a == rng_for(5, "y").random(4)).all()


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "r.json"
    atomic_write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temp file left behind
    assert len(sha256_file(target)) == 64


def test_cli_root(capsys):
    assert main([]) == 2
    assert main(["ls", "metrics"]) == 0
    out = capsys.readouterr().out
    assert "1.1_RetFail" in out and "2.5_FragSim" in out
    with pytest.raises(SystemExit):
        main(["no-such-command"])


def test_cli_user_error_is_one_line(tmp_path, capsys):
    code = main(["eval", "--model", str(tmp_path / "missing"), "--data", str(tmp_path), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0]
    assert not os.path.exists(tmp_path / "o" / "result.json")
