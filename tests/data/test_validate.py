"""Validator: a clean dataset passes; each kind of corruption gives its own one-line violation."""

from __future__ import annotations

import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from salmubench.cli.main import main
from salmubench.data import schema as S
from salmubench.data.validate import validate_dataset


@pytest.fixture
def copy(tiny_dataset_dir, tmp_path):
    root = tmp_path / "ds"
    shutil.copytree(tiny_dataset_dir, root)
    (root / S.MANIFEST_JSON).unlink()  # isolate each corruption from the manifest hash check
    return root


def _shard(root, split):
    sub = S.EXTRA_DIR if split in S.EXTRA_SPLITS else S.DATA_DIR
    return sorted((root / sub).glob(f"{split}-*.parquet"))[0]


def _edit(root, split, column, fn):
    """Rewrite ``column`` of the split's first shard with ``fn(list) -> list``."""
    path = _shard(root, split)
    table = pq.read_table(path)
    values = fn(table.column(column).to_pylist())
    idx = table.column_names.index(column)
    table = table.set_column(idx, table.schema.field(idx), pa.array(values, type=table.schema.field(idx).type))
    pq.write_table(table, path)
    return table


def _ids(root, split):
    return pq.read_table(_shard(root, split)).column(S.COL_IDENTITY).to_pylist()


def _errors(root, **kw):
    rep = validate_dataset(root, **kw)
    return rep, "\n".join(rep.errors)


def test_clean_dataset_passes(tiny_dataset_dir, capsys):
    rep = validate_dataset(tiny_dataset_dir)
    assert rep.errors == [] and rep.warnings == []
    assert rep.counts[S.FORGET] > 0
    assert main(["data", "validate", str(tiny_dataset_dir)]) == 0
    assert "OK" in capsys.readouterr().out


def test_holdout_identity_in_forget(copy):
    hi = _ids(copy, S.HOLDOUT_IDENTITY)[0]
    _edit(copy, S.FORGET, S.COL_IDENTITY, lambda v: [hi] + v[1:])
    _, err = _errors(copy, decode_images=False)
    assert "holdout_identity and forget share 1 identity(ies)" in err and hi in err


def test_holdout_association_not_subset_of_forget(copy):
    _edit(copy, S.HOLDOUT_ASSOCIATION, S.COL_IDENTITY, lambda v: ["99999999"] + v[1:])
    _, err = _errors(copy, decode_images=False)
    assert "holdout_association has 1 identity(ies) absent from forget" in err and "99999999" in err


def test_attribute_types_overlap(copy):
    table = pq.read_table(_shard(copy, S.HOLDOUT_ASSOCIATION))
    f_ha, ident = table.column(S.COL_FILE)[0].as_py(), table.column(S.COL_IDENTITY)[0].as_py()
    caps = json.loads((copy / S.CAPTIONS_JSON).read_text())
    forget = pq.read_table(_shard(copy, S.FORGET))
    f_type = next(caps[f]["data_field"] for f, i in zip(forget.column(S.COL_FILE).to_pylist(),
                                                         forget.column(S.COL_IDENTITY).to_pylist(), strict=True)
                  if i == ident)
    caps[f_ha]["data_field"] = f_type
    (copy / S.CAPTIONS_JSON).write_text(json.dumps(caps))
    _, err = _errors(copy, decode_images=False)
    assert f"identity {ident}: attribute type(s) {f_type} in both forget and holdout_association" in err


def test_file_name_in_two_splits(copy):
    name = pq.read_table(_shard(copy, S.FORGET)).column(S.COL_FILE)[0].as_py()
    _edit(copy, S.RETAIN_SYNTH, S.COL_FILE, lambda v: [name] + v[1:])
    _, err = _errors(copy, decode_images=False)
    assert f"1 file_name(s) appear in forget and retain_synth: {name}" in err


def test_image_does_not_decode(copy):
    _edit(copy, S.HOLDOUT_IDENTITY, S.COL_IMAGE, lambda v: [{"bytes": b"not a jpeg", "path": "x"}] + v[1:])
    _, err = _errors(copy)
    assert "holdout_identity: 1 image(s) do not decode" in err
    assert validate_dataset(copy, decode_images=False).ok


def test_missing_and_unknown_splits(copy):
    for path in (copy / S.DATA_DIR).glob("retain_synth-*.parquet"):
        path.unlink()
    shutil.copy(_shard(copy, S.FORGET), copy / S.DATA_DIR / "train-00000-of-00001.parquet")
    (copy / S.DATA_DIR / "forget.parquet").write_bytes(b"")
    _, err = _errors(copy, decode_images=False)
    assert "missing split 'retain_synth'" in err
    assert "unknown split name 'train'" in err
    assert "forget.parquet: file name is not {split}-NNNNN-of-NNNNN.parquet" in err


def test_incomplete_shard_set(copy):
    path = _shard(copy, S.FORGET)
    path.rename(path.with_name("forget-00000-of-00002.parquet"))
    _, err = _errors(copy, decode_images=False)
    assert "split 'forget': incomplete or inconsistent shard set" in err


def test_schema_problems(copy):
    path = _shard(copy, S.HOLDOUT_IDENTITY)
    pq.write_table(pq.read_table(path).drop_columns([S.COL_TEXT]), path)
    _edit(copy, S.FORGET, S.COL_IDENTITY, lambda v: ["123"] + v[1:])
    _edit(copy, S.HOLDOUT_ASSOCIATION, S.COL_TEXT, lambda v: [""] + v[1:])
    _, err = _errors(copy, decode_images=False)
    assert "holdout_identity-00000-of-00001.parquet: missing column(s) text" in err
    assert "forget: 1 identity_id(s) not 8 digits" in err
    assert "holdout_association: 1 row(s) with an empty text" in err


def test_sensitive_row_without_identity(copy):
    _edit(copy, S.FORGET, S.COL_IDENTITY, lambda v: [None] + v[1:])
    _, err = _errors(copy, decode_images=False)
    assert "forget: 1 row(s) without identity_id" in err


def test_zeroshot_label_mismatch(copy):
    _edit(copy, S.ZEROSHOT, S.COL_LABEL, lambda v: [v[0] + 1] + v[1:])
    _, err = _errors(copy, decode_images=False)
    assert "zeroshot: 1 row(s) whose label does not match" in err


def test_manifest_hash_mismatch(tiny_dataset_dir, tmp_path):
    root = tmp_path / "m"
    shutil.copytree(tiny_dataset_dir, root)
    caps = json.loads((root / S.CAPTIONS_JSON).read_text())
    (root / S.CAPTIONS_JSON).write_text(json.dumps(caps, indent=1))
    _, err = _errors(root, decode_images=False)
    assert f"sha256 of {S.CAPTIONS_JSON} does not match" in err


def test_caption_warnings(copy):
    caps = json.loads((copy / S.CAPTIONS_JSON).read_text())
    first = next(iter(caps))
    caps[first]["caption"] = "something else"
    (copy / S.CAPTIONS_JSON).write_text(json.dumps(caps))
    rep = validate_dataset(copy, decode_images=False)
    assert rep.ok and any("differ from" in w for w in rep.warnings)


def test_cli_reports_each_violation_without_traceback(copy, capsys):
    hi = _ids(copy, S.HOLDOUT_IDENTITY)[0]
    _edit(copy, S.FORGET, S.COL_IDENTITY, lambda v: [hi] + v[1:])
    _edit(copy, S.HOLDOUT_ASSOCIATION, S.COL_IDENTITY, lambda v: ["99999999"] + v[1:])
    assert main(["data", "validate", str(copy), "--skip-decode"]) == 1
    out = capsys.readouterr()
    lines = [ln for ln in out.out.splitlines() if ln.startswith("violation:")]
    assert len(lines) == 2
    assert "INVALID: 2 violation(s)" in out.err and "Traceback" not in out.out + out.err
    assert main(["data", "validate", str(copy / "nope")]) == 1
    assert "not a directory" in capsys.readouterr().out


def _release_like(src, dst):
    """Our tiny dataset rewritten the way the release may spell it: no extras, no manifest,
    list-shaped captions metadata with aliased data_field names, unpadded identity keys."""
    shutil.copytree(src, dst)
    shutil.rmtree(dst / S.EXTRA_DIR)
    for name in (S.MANIFEST_JSON, S.ZEROSHOT_CLASSES_JSON):
        (dst / name).unlink()
    caps = json.loads((dst / S.CAPTIONS_JSON).read_text())
    alias = {"phone": "phone_number", "email": "emails", "credit_card": "credit_card_number"}
    rows = [{"file_name": f, "data_field": alias.get(m["data_field"], m["data_field"]), "caption": m["caption"]}
            for f, m in caps.items()]
    (dst / S.CAPTIONS_JSON).write_text(json.dumps(rows))
    ids = json.loads((dst / S.IDENTITIES_JSON).read_text())
    (dst / S.IDENTITIES_JSON).write_text(json.dumps({str(int(k)): v for k, v in ids.items()}))
    return dst


def test_release_like_layout_validates_and_loads(tiny_dataset_dir, tmp_path):
    from salmubench.data import load_dataset

    root = _release_like(tiny_dataset_dir, tmp_path / "rel")
    rep = validate_dataset(root, decode_images=False)
    assert rep.errors == [] and rep.warnings == []
    ds = load_dataset(root)
    assert not ds.has_split(S.ZEROSHOT) and ds.manifest is None
    f = ds.forget.file_names[0]
    assert ds.attribute_of(f) in S.ATTRIBUTE_TYPES
    assert ds.identity_value(ds.forget.identity_ids[0], ds.attribute_of(f)) in ds.forget.texts[0]
    assert len(ds.fingerprint) == 64


def test_cli_generate_then_validate(tmp_path, capsys):
    out = tmp_path / "gen"
    args = ["data", "generate", "--preset", "tiny", "--out", str(out), "--limit-identities", "8", "--no-progress"]
    assert main(args) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(["data", "validate", str(out)]) == 0
    assert main(args[:-1] + ["--seed", "5", "--no-progress"]) == 2  # different dataset, no --force
    assert "not empty" in capsys.readouterr().err
    assert main(args + ["--force", "--set", "n_general_retain=7", "--set", "zeroshot_per_class=2"]) == 0
    assert "general_retain 7, zeroshot 20" in capsys.readouterr().out
    assert main(args + ["--force", "--set", "n_identites=3"]) == 2
    assert "unknown preset tiny key(s) n_identites" in capsys.readouterr().err


def test_truncated_jpeg_is_caught(copy):
    _edit(copy, S.RETAIN_SYNTH, S.COL_IMAGE, lambda v: [{"bytes": v[0]["bytes"][: len(v[0]["bytes"]) // 2],
                                                         "path": v[0]["path"]}] + v[1:])
    _, err = _errors(copy)
    assert "retain_synth: 1 image(s) do not decode" in err
