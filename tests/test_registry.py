"""The one registry type: lazy package loading, base-class check, entry points, did-you-mean; and the
preset table (the same data and training configs as the raw tables it joins)."""

from __future__ import annotations

import re
import sys
import textwrap

import pytest

from salmubench.config import config_hash
from salmubench.errors import ConfigError
from salmubench.registry import Registry, unknown_name_message


@pytest.fixture
def lazy_package(tmp_path, monkeypatch):
    """A package ``salmu_lazy_pkg`` whose modules register into ``_hub.REG`` and log their import."""
    pkg = tmp_path / "salmu_lazy_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "_hub.py").write_text(textwrap.dedent("""
        from salmubench.registry import Registry
        LOG = []
        REG = Registry("thing", package="salmu_lazy_pkg")
    """))
    for name in ("beta", "alpha"):
        (pkg / f"{name}.py").write_text(textwrap.dedent(f"""
            from salmu_lazy_pkg._hub import LOG, REG
            LOG.append({name!r})
            REG.register({name!r})({name!r}.upper())
        """))
    (pkg / "_private.py").write_text("raise RuntimeError('modules starting with _ are not imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield pkg
    for module in [m for m in sys.modules if m == "salmu_lazy_pkg" or m.startswith("salmu_lazy_pkg.")]:
        del sys.modules[module]


def test_a_package_is_imported_once_on_the_first_lookup(lazy_package):
    from salmu_lazy_pkg._hub import LOG, REG

    assert LOG == [] and REG.peek("alpha") is None  # creating (and peeking) imports nothing
    assert REG.get("beta") == "BETA"
    assert LOG == ["alpha", "beta"]  # every module, sorted, not _private
    assert REG.names() == ["alpha", "beta"] and "alpha" in REG and len(REG) == 2
    assert dict(REG.items()) == {"alpha": "ALPHA", "beta": "BETA"}
    REG.load()
    assert LOG == ["alpha", "beta"]  # once
    with pytest.raises(ConfigError, match=r"^Unknown thing 'alpah'\. Did you mean: alpha\? Available: alpha, beta$"):
        REG.get("alpah")


@pytest.mark.parametrize("lookup", ["get", "names", "items", "contains", "len"])
def test_every_lookup_loads_the_package(lazy_package, lookup):
    from salmu_lazy_pkg._hub import LOG, REG

    {"get": lambda: REG.get("alpha"), "names": REG.names, "items": lambda: list(REG.items()),
     "contains": lambda: "alpha" in REG, "len": lambda: len(REG)}[lookup]()
    assert LOG == ["alpha", "beta"]


def test_a_failed_package_import_is_retried(lazy_package):
    (lazy_package / "gamma.py").write_text("raise RuntimeError('gamma is broken')\n")
    from salmu_lazy_pkg._hub import REG

    for _ in range(2):  # not a silently half-filled registry on the second lookup
        with pytest.raises(RuntimeError, match="gamma is broken"):
            REG.names()


class Shape:
    pass


class Square(Shape):
    pass


def test_the_base_class_check_rejects_other_types():
    reg: Registry[type[Shape]] = Registry("shape", base=Shape)
    assert reg.register("square")(Square) is Square and reg.get("square") is Square
    for wrong in (int, Square(), lambda: Square):
        with pytest.raises(TypeError, match=re.escape(f"shape 'other' must be a subclass of {__name__}.Shape, not ")):
            reg.register("other")(wrong)
    assert reg.names() == ["square"]


def test_register_method_checks_the_base_class_before_touching_the_class():
    from salmubench.unlearning.registry import METHODS, register_method

    class NotAMethod:
        pass

    with pytest.raises(TypeError, match="must be a subclass of salmubench.unlearning.base.UnlearningMethod"):
        register_method("not_a_method")(NotAMethod)
    assert "name" not in NotAMethod.__dict__ and METHODS.peek("not_a_method") is None


def test_entry_points_load_on_the_first_lookup_and_broken_ones_say_why(tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "salmu_ep_things").mkdir(parents=True)
    (site / "salmu_ep_things" / "__init__.py").write_text("VALUE = 7\n")
    (site / "salmu_ep_things" / "broken.py").write_text("raise RuntimeError('plugin bug')\n")
    dist = site / "salmu_ep_things-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: salmu-ep-things\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[salmu_test.things]\nseven = salmu_ep_things:VALUE\n"
                                           "broken = salmu_ep_things.broken:X\n")
    monkeypatch.syspath_prepend(str(site))
    adopted = []
    reg: Registry[int] = Registry("thing", entry_points="salmu_test.things")
    assert reg.peek("seven") is None
    with pytest.warns(UserWarning, match="thing plugin 'broken'"):
        assert reg.get("seven") == 7
    with pytest.raises(ConfigError, match=r"^thing plugin 'broken' \(salmu_ep_things\.broken:X\) could not be "
                                          r"loaded: RuntimeError: plugin bug$"):
        reg.get("broken")
    custom: Registry[int] = Registry("thing", entry_points="salmu_test.things",
                                     adopt=lambda name, obj, origin: adopted.append((name, obj, origin)))
    with pytest.warns(UserWarning):
        custom.load()
    assert adopted == [("seven", 7, "entry point seven = salmu_ep_things:VALUE")] and len(custom) == 0
    for module in [m for m in sys.modules if m.startswith("salmu_ep_things")]:
        del sys.modules[module]


def test_the_builtin_registries_are_lazy_package_registries():
    from salmubench.attacks.base import ATTACKS
    from salmubench.evaluation.registry import METRICS
    from salmubench.unlearning.base import UnlearningMethod
    from salmubench.unlearning.registry import ENTRY_POINT_GROUP, METHODS

    assert (METHODS.package, METHODS.entry_points, METHODS.base) == (
        "salmubench.unlearning.methods", ENTRY_POINT_GROUP, UnlearningMethod)
    assert METRICS.package == "salmubench.evaluation.metrics" and ATTACKS.package == "salmubench.attacks.suite"


def test_one_did_you_mean_message():
    assert (unknown_name_message("Unknown method", "grad_dif", ["grad_diff", "npo"])
            == "Unknown method 'grad_dif'. Did you mean: grad_diff? Available: grad_diff, npo")
    assert unknown_name_message("unknown method", "zzz", ["npo"]) == "unknown method 'zzz'. Available: npo"
    assert unknown_name_message("Unknown x", "a", []) == "Unknown x 'a'. Available: (none)"
    assert (unknown_name_message("unknown recipe", "structured@3x", ["forget-retain@5x", "structured@1x"], n=2,
                                 also=["none"])
            == "unknown recipe 'structured@3x'. Did you mean: structured@1x? Available: forget-retain@5x, "
               "structured@1x, none")
    assert len(unknown_name_message("Unknown x", "ab", ["aa", "ab1", "ab2", "ab3"]).split("?")[0].split(",")) == 3


def test_recipes_and_run_methods_use_the_same_message(tmp_path):
    from salmubench import recipes
    from salmubench.pipeline import RunConfig
    from salmubench.pipeline.execute import resolve_methods
    from salmubench.pipeline.stages import StageFns

    with pytest.raises(ConfigError) as exc:
        recipes.load_recipe("structured@3x")
    assert str(exc.value) == unknown_name_message("unknown recipe", "structured@3x", recipes.recipe_names(), n=2,
                                                  also=[recipes.NO_RECIPE])
    fns = StageFns(generate=None, train=None, evaluate=None, unlearn=None, methods=lambda: ["npo", "finetune"])
    with pytest.raises(ConfigError) as exc:
        resolve_methods(RunConfig(out=str(tmp_path), methods=("finetun",)), fns)
    assert str(exc.value) == "unknown method 'finetun'. Did you mean: finetune? Available: npo, finetune"


# ---- presets -----------------------------------------------------------------------------------


def test_the_preset_table_resolves_each_preset_to_the_raw_data_and_training_configs():
    from salmubench.data.generate import GENERATOR_VERSION
    from salmubench.data.generate import presets as data_presets
    from salmubench.pipeline.stages import EXECUTION_FIELDS, _data_config, _train_config
    from salmubench.presets import PRESETS, Preset, get_preset, preset_names
    from salmubench.training import config as training_config

    assert preset_names() == list(data_presets.PRESETS) == list(training_config.PRESETS) == ["tiny", "mini", "paper"]
    for name in preset_names():
        preset = get_preset(name)
        assert isinstance(preset, Preset) and preset.name == name and PRESETS.get(name) is preset
        raw_data, raw_train = data_presets.get_preset(name), training_config.train_config(name)
        assert preset.data == raw_data and preset.data.model_dump_json() == raw_data.model_dump_json()
        assert preset.train == raw_train and preset.train.model_dump_json() == raw_train.model_dump_json()
        assert config_hash(preset.data) == config_hash(raw_data) and config_hash(preset.train) == config_hash(raw_train)
        # the pipeline's cache keys, as computed from the raw tables before the table existed
        assert _data_config(name) == raw_data.model_dump(mode="json") | {"generator_version": GENERATOR_VERSION}
        assert _train_config(name) == {k: v for k, v in raw_train.model_dump(mode="json").items()
                                       if k not in EXECUTION_FIELDS}
    assert [(n, p.description) for n, p in PRESETS.items()] == data_presets.describe_presets()
    with pytest.raises(ConfigError, match=r"^unknown preset 'tny'\. Did you mean: tiny\? Available: tiny, mini, paper$"):
        get_preset("tny")
    with pytest.raises(ValueError):  # frozen, typed
        Preset(name="x", description="", data=raw_data, train=raw_train, extra=1)


@pytest.mark.parametrize("argv", [["data", "generate"], ["train", "--kind", "clean", "--data", "d"], ["run"]])
def test_the_cli_looks_presets_up_in_the_table(argv, tmp_path, capsys):
    from salmubench.cli.main import main

    out = tmp_path / "out"
    assert main([*argv, "--out", str(out), "--preset", "mnii", "--no-progress"]) == 2
    assert capsys.readouterr().err.strip() == ("error: unknown preset 'mnii'. Did you mean: mini? "
                                               "Available: tiny, mini, paper")
    assert not out.exists()  # refused before anything is written
