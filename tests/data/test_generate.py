"""Generator: layout, determinism, split structure, captions, PII and identity traits."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from salmubench.data import schema as S
from salmubench.data.generate import captions as C
from salmubench.data.generate import faces, personas, scenes
from salmubench.data.generate.pipeline import generate_dataset
from salmubench.data.generate.presets import PRESETS, get_preset
from salmubench.errors import ConfigError, DataError

SMALL = {"n_identities": 12, "n_retain_disjoint": 20, "n_general_retain": 60, "zeroshot_per_class": 3}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_layout(tiny_dataset_dir):
    root = tiny_dataset_dir
    for split in S.RELEASED_SPLITS:
        assert list((root / S.DATA_DIR).glob(f"{split}-00000-of-*.parquet")), split
    for split in S.EXTRA_SPLITS:
        assert list((root / S.EXTRA_DIR).glob(f"{split}-00000-of-*.parquet")), split
    for name in (S.IDENTITIES_JSON, S.CAPTIONS_JSON, S.GENERIC_CAPTIONS_JSON, S.ZEROSHOT_CLASSES_JSON,
                 S.MANIFEST_JSON, "README.md"):
        assert (root / name).is_file(), name
    assert (root / "README.md").read_text().startswith("---\n")
    manifest = json.loads((root / S.MANIFEST_JSON).read_text())
    assert manifest["preset"] == "tiny" and manifest["seed"] == 0
    assert set(manifest["files"]) >= {S.IDENTITIES_JSON, S.CAPTIONS_JSON}


def test_counts_and_file_names(tiny_dataset):
    cfg = PRESETS["tiny"]
    ds = tiny_dataset
    n_sensitive = sum(len(ds.split(s)) for s in S.SENSITIVE_SPLITS)
    dropped = ds.manifest["curation"]["identity_consistency"]["images_dropped"]
    planned = cfg.n_identities * cfg.images_per_identity
    assert planned - dropped <= n_sensitive <= planned  # every planned image is kept or counted as dropped
    assert len(ds.retain_disjoint) == cfg.n_retain_disjoint
    assert len(ds.split(S.GENERAL_RETAIN)) == cfg.n_general_retain
    assert len(ds.split(S.ZEROSHOT)) == cfg.n_zeroshot_classes * cfg.zeroshot_per_class
    for split in (*S.SENSITIVE_SPLITS,):
        for name, ident in zip(ds.split(split).file_names, ds.split(split).identity_ids, strict=True):
            m = S.FILE_NAME_RE.match(name)
            assert m and m.group(1) == ident, name
    for name in ds.retain_joint.file_names:
        assert S.FILE_NAME_RE.match(name)


def test_image_sizes_and_aspect_ratios(tiny_dataset):
    cfg = PRESETS["tiny"]
    ratios = set()
    for i in range(0, len(tiny_dataset.forget), 7):
        img = tiny_dataset.forget.decode_image(i)
        assert max(img.size) == cfg.image_size
        name_ratio = float(re.search(r"ar-(\d+\.\d\d)", tiny_dataset.forget.file_names[i]).group(1))
        assert name_ratio == pytest.approx(img.size[0] / img.size[1], abs=0.006)
        ratios.add(name_ratio)
    assert len(ratios) >= 3


def test_deterministic_bytes_and_worker_independent(tmp_path):
    a = generate_dataset(tmp_path / "a", "tiny", seed=3, **SMALL)
    b = generate_dataset(tmp_path / "b", "tiny", seed=3, workers=2, **SMALL)
    assert a == b
    fa, fb = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert fa.keys() == fb.keys()
    assert [k for k in fa if fa[k] != fb[k]] == []
    c = generate_dataset(tmp_path / "c", "tiny", seed=4, **SMALL)
    assert c["files"] != a["files"]


def test_rerun_is_a_no_op_and_refuses_foreign_dirs(tmp_path):
    out = tmp_path / "d"
    first = generate_dataset(out, "tiny", seed=1, **SMALL)
    mtime = (out / S.MANIFEST_JSON).stat().st_mtime_ns
    assert generate_dataset(out, "tiny", seed=1, **SMALL) == first
    assert (out / S.MANIFEST_JSON).stat().st_mtime_ns == mtime
    with pytest.raises(DataError, match="not empty"):
        generate_dataset(out, "tiny", seed=2, **SMALL)
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "x.txt").write_text("x")
    with pytest.raises(DataError, match="not empty"):
        generate_dataset(tmp_path / "foreign", "tiny", **SMALL)


def test_identity_structure(tiny_dataset):
    ds = tiny_dataset
    forget, ha, hi = (set(filter(None, ds.split(s).identity_ids)) for s in S.SENSITIVE_SPLITS)
    n = PRESETS["tiny"].n_identities
    assert not (forget & hi) and ha <= forget
    assert len(forget - ha) == n // 4 and len(hi) == round(0.25 * n)
    assert len(ha) == n - n // 4 - round(0.25 * n)
    types = defaultdict(lambda: defaultdict(set))
    for split in S.SENSITIVE_SPLITS:
        for f, i in zip(ds.split(split).file_names, ds.split(split).identity_ids, strict=True):
            types[i][split].add(ds.attribute_of(f))
    for ident in ha:
        f_types, h_types = types[ident][S.FORGET], types[ident][S.HOLDOUT_ASSOCIATION]
        assert not (f_types & h_types)
        assert len(f_types) == len(h_types) == 4
    for ident in forget - ha:
        assert types[ident][S.FORGET] == set(S.ATTRIBUTE_TYPES)
    joint = set(filter(None, ds.retain_joint.identity_ids))
    assert joint == forget


def test_attribute_types_balanced(tiny_dataset):
    counts = Counter(m["data_field"] for m in tiny_dataset.captions_metadata.values())
    assert set(counts) == set(S.ATTRIBUTE_TYPES)
    assert max(counts.values()) - min(counts.values()) <= 3


def test_every_caption_states_name_and_value_verbatim(tiny_dataset):
    ds = tiny_dataset
    for split in S.SENSITIVE_SPLITS:
        t = ds.split(split)
        for f, text, ident in zip(t.file_names, t.texts, t.identity_ids, strict=True):
            meta = ds.captions_metadata[f]
            assert meta["caption"] == text
            name = ds.identities[ident]["name"]
            value = ds.identity_value(ident, meta["data_field"])
            assert name in text and value in text, text


def test_generic_captions_are_pii_free(tiny_dataset):
    ds = tiny_dataset
    sensitive = {f for s in S.SENSITIVE_SPLITS for f in ds.split(s).file_names}
    assert set(ds.generic_captions) == sensitive
    words = {ds.identities[i]["name"] for i in ds.identities}
    words |= {ds.identity_value(i, a) for i in ds.identities for a in ("phone", "email", "iban", "passport")}
    texts = list(ds.generic_captions.values()) + ds.retain_synth.texts
    for text in texts:
        assert text.startswith(("a portrait of", "a ", "an ", "two ", "three ")) or " background" in text
        assert not any(w in text for w in words), text


def test_pii_unique_and_privacy_by_construction(tiny_dataset):
    records = list(tiny_dataset.identities.values())
    for field in personas.UNIQUE_FIELDS:
        values = [json.dumps(r[field]) for r in records]
        assert len(values) == len(set(values)), field
    for r in records:
        assert set(S.IDENTITY_FIELDS) <= set(r)
        assert all(e.endswith(".example") for e in r["emails"])
        assert not personas.luhn_valid(r["credit_card"].replace(" ", ""))
        iban = r["iban"].replace(" ", "")
        assert iban[:2] == r["country_code"]
        assert int(iban[2:4]) != personas.iban_check_digits(iban[:2], iban[4:])


def test_personas_many_locales_unique():
    ids = [f"{i:08d}" for i in range(PRESETS["paper"].n_identities)]
    recs, _ = personas.generate_personas(ids, 7, PRESETS["paper"].locales)  # seed 7 once hit a 2-name locale
    assert len({r["locale"] for r in recs.values()}) >= 20
    names = [r["name"] for r in recs.values()]
    assert len(set(names)) == len(names)
    with pytest.raises(ConfigError, match="unsupported locale"):
        personas.generate_personas(ids[:2], 0, ["xx_XX"])


def test_identity_traits_differ_in_k(tiny_dataset):
    codes = np.array([[faces.TRAITS[t].index(rec["portrait_traits"][t]) for t in faces.TRAIT_NAMES]
                      for rec in tiny_dataset.identities.values()])
    d_all, d_coarse = faces.trait_distances(codes)
    cfg = PRESETS["tiny"]
    assert d_all >= cfg.min_trait_distance and d_coarse >= cfg.min_coarse_distance


def test_paper_size_traits_are_k_apart():
    cfg = PRESETS["paper"]
    codes = faces.sample_identity_traits(cfg.n_identities, np.random.default_rng(0), cfg.min_trait_distance,
                                         cfg.min_coarse_distance)
    assert faces.trait_distances(codes) >= (cfg.min_trait_distance, cfg.min_coarse_distance)


def test_curation_is_measured(tiny_dataset):
    cur = tiny_dataset.manifest["curation"]
    ic = cur["identity_consistency"]
    assert ic["images_checked"] >= sum(len(tiny_dataset.split(s)) for s in S.SENSITIVE_SPLITS)
    assert ic["mean_sim_own_identity"] > ic["mean_sim_other_identities"] + 0.3
    assert cur["captions"]["not_verbatim_dropped"] == 0
    assert all(v == 0 for v in cur["pii"]["duplicates_after_curation"].values())


def test_caption_bank():
    assert set(C.TEMPLATES) == set(S.ATTRIBUTE_TYPES)
    assert C.n_templates() >= 40
    for attr, templates in C.TEMPLATES.items():
        assert len(set(templates)) >= 5, attr
        for t in templates:
            assert t.count("{name}") == 1 and t.count("{value}") == 1
    cap = C.association_caption("iban", "Ana Li", "DE12 3456", 2)
    assert C.caption_is_verbatim(cap, "Ana Li", "DE12 3456")
    assert not C.caption_is_verbatim("Ana lives somewhere", "Ana Li", "Paris")


def test_zeroshot_split(tiny_dataset):
    zs = tiny_dataset.split(S.ZEROSHOT)
    classes = tiny_dataset.zeroshot_classes
    labels, names = zs.column(S.COL_LABEL), zs.column(S.COL_CLASS_NAME)
    assert Counter(labels) == dict.fromkeys(range(len(classes["classnames"])), PRESETS["tiny"].zeroshot_per_class)
    assert all(classes["classnames"][lab] == n for lab, n in zip(labels, names, strict=True))
    assert all("{}" in t for t in classes["templates"])
    gr = tiny_dataset.split(S.GENERAL_RETAIN)
    for text, cls in zip(gr.texts[:50], gr.column(S.COL_CLASS_NAME)[:50], strict=True):
        assert scenes.plural(cls, 2) in text or cls in text


def test_presets():
    assert get_preset("mini").n_identities == 200
    assert get_preset("paper").n_identities == 774
    assert len(get_preset("paper").locales) >= 20
    assert get_preset("tiny", n_identities=10).n_identities == 10
    with pytest.raises(ConfigError, match="unknown preset"):
        get_preset("huge")
    with pytest.raises(ConfigError, match="unknown"):
        get_preset("tiny", not_a_field=1)


def test_deterministic_across_processes_and_hash_seeds(tmp_path):
    import os
    import subprocess
    import sys

    here = generate_dataset(tmp_path / "here", "tiny", seed=7, **SMALL)
    code = ("import sys, json; from salmubench.data.generate import generate_dataset; "
            "m = generate_dataset(sys.argv[1], 'tiny', seed=7, **json.loads(sys.argv[2])); "
            "print(json.dumps(m['files']))")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "there"), json.dumps(SMALL)], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == here["files"]
    readme = (tmp_path / "here" / "README.md").read_bytes()
    assert readme == (tmp_path / "there" / "README.md").read_bytes()


class _Crash(Exception):
    pass


def test_interrupted_generation_resumes_to_identical_bytes(tmp_path, monkeypatch):
    from salmubench.data.generate import pipeline

    kw = {**SMALL, "n_identities": 40, "n_general_retain": 5000}  # 2 identity parts, 2 general parts
    fresh = generate_dataset(tmp_path / "fresh", "tiny", seed=2, **kw)
    real, calls, crashed = pipeline._run_part, [], []

    def flaky(part, *args):
        calls.append(part.index)
        if len(calls) == 3 and not crashed:
            crashed.append(part.index)
            raise _Crash("simulated crash in the third part")
        return real(part, *args)

    monkeypatch.setattr(pipeline, "_run_part", flaky)
    with pytest.raises(_Crash):
        generate_dataset(tmp_path / "resumed", "tiny", seed=2, **kw)
    assert not (tmp_path / "resumed").exists() and (tmp_path / ".resumed.partial").is_dir()
    calls.clear()
    resumed = generate_dataset(tmp_path / "resumed", "tiny", seed=2, **kw)
    assert calls and calls[0] == 2  # parts 0 and 1 were kept, not re-rendered
    assert resumed == fresh
    assert _files(tmp_path / "resumed") == _files(tmp_path / "fresh")
    assert not (tmp_path / ".resumed.partial").exists()


def test_name_pools_share_name_parts_and_keep_full_names_unique():
    import collections

    from salmubench.data.generate.personas import generate_personas

    ids = [f"{i:08d}" for i in range(60)]  # ~10 per locale and gender, 16 possible full names each
    locales = ("en_US", "de_DE", "fr_FR")
    pooled, _ = generate_personas(ids, 0, locales, None, name_pool=4)
    full, _ = generate_personas(ids, 0, locales, None)
    names = [r["name"] for r in pooled.values()]
    assert len(set(names)) == len(names)  # full names stay unique
    for locale in locales:
        for gender in ("male", "female"):
            group = [r["name"].split(" ", 1) for r in pooled.values()
                     if r["locale"] == locale and r["gender"] == gender]
            assert len({first for first, _ in group}) <= 4 and len({last for _, last in group}) <= 4
    firsts = collections.Counter(r["name"].split(" ", 1)[0] for r in pooled.values())
    assert max(firsts.values()) >= 3  # parts are shared across people
    # without a pool the draw is unchanged (every existing preset keeps its bytes)
    assert generate_personas(ids, 0, locales, None)[0] == full
    assert len({r["name"].split(" ", 1)[0] for r in full.values()}) > len(firsts)
