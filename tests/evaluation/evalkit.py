"""Test kit for the evaluator: hand-built SALMU-like datasets and hand-built embeddings.

``synthetic_rows`` describes a small dataset as plain rows (known identities, attributes and
captions); ``memory_dataset`` turns it into a SalmuDataset without images (for metric maths on
hand-built embeddings), ``write_dataset`` writes it to disk in the released layout with small
images (for end-to-end runs with real models).
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from salmubench.data import schema as S
from salmubench.data.dataset import SalmuDataset
from salmubench.data.layout import BASE_SCHEMA
from salmubench.data.tables import SplitTable
from salmubench.data.writer import ShardWriter

TYPES = ("city", "job", "blood_type", "email")
TEMPLATES = {"city": ("{n} lives in {v}", "In {v}, {n} has a home"), "job": ("{n} works as a {v}", "{v} is {n}'s job"),
             "blood_type": ("{n}'s blood type is {v}", "{v} is the blood type of {n}"),
             "email": ("Contact {n} via {v}", "{n} reads mail at {v}")}
ZS_CLASSES = ["circle", "square", "star"]


@dataclass
class Spec:
    """A dataset as rows: ``rows[split] = [{"text", "identity_id", "file_name", ...}]`` + metadata."""

    rows: dict[str, list[dict[str, Any]]]
    identities: dict[str, dict[str, Any]]
    captions: dict[str, dict[str, str]]
    generic: dict[str, str] = field(default_factory=dict)
    fragile_ids: list[str] | None = None
    zeroshot: dict[str, Any] | None = None


def _identity(k: int) -> dict[str, Any]:
    return {"name": f"Person{k} Surname{k}", "city": f"City{k}", "job": f"job{k}", "blood_type": ["A+", "B-", "O+"][k % 3],
            "emails": [f"p{k}@example.com"], "phone_number": f"+1 555 {k:04d}", "iban": f"GB{k:06d}",
            "credit_card": f"4000{k:08d}", "passport": f"P{k:07d}", "country_code": "GB"}


def synthetic_rows(n_full: int = 4, n_partial: int = 4, n_held: int = 4, per_attr: int = 3, n_disjoint: int = 30,
                   n_zeroshot: int = 12) -> Spec:
    """Forget / holdouts / retain_synth / zeroshot rows with the SALMU identity structure.

    Identities 0..n_full-1 are fully forgotten, the next n_partial have city+job forgotten and
    blood_type+email held out, the last n_held are held out entirely. Each association has
    ``per_attr`` images whose captions alternate between two wordings (so several forget rows
    share one caption string).
    """
    rows: dict[str, list[dict[str, Any]]] = {s: [] for s in (*S.RELEASED_SPLITS, S.ZEROSHOT)}
    identities, captions, generic = {}, {}, {}
    for k in range(n_full + n_partial + n_held):
        ident = S.identity_id_str(k + 1)
        identities[ident] = rec = _identity(k)
        for t_idx, attr in enumerate(TYPES):
            if k < n_full:
                split = S.FORGET
            elif k < n_full + n_partial:
                split = S.FORGET if t_idx < 2 else S.HOLDOUT_ASSOCIATION
            else:
                split = S.HOLDOUT_IDENTITY
            value = rec[S.IDENTITY_FIELD[attr]]
            value = value[0] if isinstance(value, list) else value
            for j in range(per_attr):
                fname = S.image_file_name(ident, t_idx * per_attr + j, 1.0)
                text = TEMPLATES[attr][j % 2].format(n=rec["name"], v=value)
                rows[split].append({"text": text, "identity_id": ident, "file_name": fname})
                captions[fname] = {"data_field": attr, "caption": text}
                generic[fname] = f"a portrait of person {k}"
        if k < n_full + n_partial:  # retain_joint: the forget identity's face, generic caption
            fname = S.image_file_name(ident, 99, 1.0)
            rows[S.RETAIN_SYNTH].append({"text": f"a portrait of person {k}", "identity_id": ident, "file_name": fname})
    for j in range(n_disjoint):
        rows[S.RETAIN_SYNTH].append({"text": f"a drawing of object {j}", "identity_id": None,
                                     "file_name": f"scene_{j:05d}.jpg"})
    for j in range(n_zeroshot):
        c = j % len(ZS_CLASSES)
        rows[S.ZEROSHOT].append({"text": f"a photo of a {ZS_CLASSES[c]}.", "identity_id": None,
                                 "file_name": f"zs_{j:05d}.jpg", "label": c, "class_name": ZS_CLASSES[c]})
    zs = {"classnames": ZS_CLASSES, "templates": ["a photo of a {}.", "a drawing of a {}."]}
    return Spec(rows, identities, captions, generic, None, zs)


def _table(rows: list[dict[str, Any]], extra: bool) -> pa.Table:
    cols = {S.COL_IMAGE: [{"bytes": b"", "path": r["file_name"]} for r in rows],
            S.COL_TEXT: [r["text"] for r in rows], S.COL_IDENTITY: [r["identity_id"] for r in rows],
            S.COL_FILE: [r["file_name"] for r in rows]}
    schema = BASE_SCHEMA
    if extra:
        cols[S.COL_LABEL] = [r["label"] for r in rows]
        cols[S.COL_CLASS_NAME] = [r["class_name"] for r in rows]
        schema = schema.append(pa.field(S.COL_LABEL, pa.int64())).append(pa.field(S.COL_CLASS_NAME, pa.string()))
    return pa.Table.from_pydict(cols, schema=schema)


def memory_dataset(spec: Spec, root: Path = Path("/nonexistent")) -> SalmuDataset:
    """The spec as an in-memory SalmuDataset (image bytes empty: use hand-built embeddings)."""
    splits = {name: SplitTable(name, _table(rows, name == S.ZEROSHOT)) for name, rows in spec.rows.items() if rows}
    return SalmuDataset(root=root, splits=splits, identities=spec.identities, captions_metadata=spec.captions,
                        generic_captions=spec.generic, fragile_ids=spec.fragile_ids, zeroshot_classes=spec.zeroshot,
                        _fingerprint="test")


def _png(seed_text: str, px: int) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(int(hashlib.sha256(seed_text.encode()).hexdigest()[:8], 16))
    arr = (rng.random((px, px, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def write_dataset(spec: Spec, root: Path, px: int = 16) -> Path:
    """Write the spec in the released layout (random-noise PNG images keyed by file name)."""
    for name, rows in spec.rows.items():
        extra = [(S.COL_LABEL, pa.int64()), (S.COL_CLASS_NAME, pa.string())] if name == S.ZEROSHOT else []
        writer = ShardWriter(root / (S.EXTRA_DIR if name in S.EXTRA_SPLITS else S.DATA_DIR), name,
                             extra_columns=extra)
        for r in rows:
            more = {k: r[k] for k in ("label", "class_name") if k in r}
            writer.add(_png(r["file_name"], px), r["text"], r["identity_id"], r["file_name"], **more)
        writer.close()
    for fname, obj in ((S.IDENTITIES_JSON, spec.identities), (S.CAPTIONS_JSON, spec.captions),
                       (S.GENERIC_CAPTIONS_JSON, spec.generic), (S.ZEROSHOT_CLASSES_JSON, spec.zeroshot)):
        (root / fname).write_text(json.dumps(obj))
    if spec.fragile_ids is not None:
        (root / S.FRAGILE_IDS_JSON).write_text(json.dumps(spec.fragile_ids))
    return root


def unit(seed_text: str, dim: int) -> np.ndarray:
    """A deterministic random unit vector for a string."""
    rng = np.random.default_rng(int(hashlib.sha256(seed_text.encode()).hexdigest()[:12], 16))
    v = rng.standard_normal(dim)
    return (v / np.linalg.norm(v)).astype(np.float32)


class StaticEmbeddings:
    """Hand-built embeddings: ``image_fn(file_name)`` and ``text_fn(text)`` give raw vectors.

    Rows are L2-normalised like the real bank's; ``calls`` counts lookups per kind.
    """

    def __init__(self, image_fn, text_fn) -> None:
        self.image_fn, self.text_fn = image_fn, text_fn
        self.requested_texts: list[str] = []

    @staticmethod
    def _norm(rows: list[np.ndarray]) -> np.ndarray:
        arr = np.asarray(rows, dtype=np.float32)
        return arr / np.maximum(np.linalg.norm(arr, axis=1, keepdims=True), 1e-12)

    def images(self, split: SplitTable) -> np.ndarray:
        return self._norm([self.image_fn(f) for f in split.file_names])

    def texts(self, texts) -> np.ndarray:
        texts = list(texts)
        self.requested_texts += texts
        return self._norm([self.text_fn(t) for t in texts])

    def files(self, paths) -> np.ndarray:
        return self._norm([self.image_fn(Path(p).name) for p in paths])
