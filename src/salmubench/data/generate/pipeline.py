"""``generate_dataset``: the five stages of the SALMU pipeline, procedurally, into the released layout.

Stages (SALMUBENCH.md section 1): identity anchors (trait vectors) -> identity-preserving images
-> curation -> PII (Faker) -> one-association captions; then splits, the extra corpora, metadata
JSONs, the dataset card and ``manifest.json``.

Determinism: every random draw comes from ``rng_for(seed, <stream>, <index>...)``; work is cut
into per-identity / per-chunk jobs whose results are consumed in order, so the output is
byte-identical for a preset and seed whatever the number of workers.
Atomicity: everything is written to a sibling ``.partial`` folder renamed into place at the end;
re-running on a finished folder with the same preset and seed returns its manifest at once.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from salmubench.config import config_hash
from salmubench.data import schema as S
from salmubench.data.generate import captions as C
from salmubench.data.generate import curation, faces, scenes
from salmubench.data.generate.card import write_dataset_card
from salmubench.data.generate.personas import generate_personas
from salmubench.data.generate.presets import PresetConfig, get_preset
from salmubench.data.generate.splits import IdentityPlan, plan_identities
from salmubench.data.io import ShardWriter, dataset_files
from salmubench.errors import DataError
from salmubench.io_utils import atomic_write_json, read_json, sha256_file
from salmubench.seeding import rng_for
from salmubench.version import __version__

GENERATOR_NAME = "salmubench.procedural"
GENERATOR_VERSION = "2"  # bump whenever the output for a given preset + seed changes
SCENE_CHUNK = 256


@dataclass
class Row:
    """One output row (image already JPEG-encoded)."""

    split: str
    file_name: str
    image: bytes
    text: str
    identity_id: str | None
    data_field: str | None = None
    generic: str | None = None
    label: int | None = None
    class_name: str | None = None


@dataclass
class _Context:
    """Everything a worker needs (sent once per worker)."""

    cfg: PresetConfig
    seed: int
    refs: np.ndarray
    traits: list[dict[str, str]]
    names: list[str]
    values: list[dict[str, str]]
    plans: list[IdentityPlan]


_CTX: _Context | None = None


def _init_worker(ctx: _Context) -> None:
    global _CTX
    _CTX = ctx


# ---------------------------------------------------------------------------------------------
# per-identity job: sensitive images + retain_joint images
# ---------------------------------------------------------------------------------------------


def _render_checked(ctx: _Context, i: int, idx: int, stats: curation.CurationStats):
    """Render image ``idx`` of identity ``i``, re-rendering until it passes the identity check."""
    traits = ctx.traits[i]
    for attempt in range(ctx.cfg.max_render_attempts):
        var = faces.sample_variation(rng_for(ctx.seed, "image", i, idx, attempt), ctx.cfg.aspect_ratios)
        img = faces.render_portrait(traits, var, ctx.cfg.image_size)
        ok, own, other = curation.identity_check(faces.thumbnail_vector(img), i, ctx.refs)
        stats.images_checked += 1
        stats.intra_sum += own
        stats.inter_sum += other
        if ok:
            return img, var
        stats.images_regenerated += 1
    stats.images_dropped += 1
    return None, None


def _file_name(ident: str, idx: int, img) -> str:
    w, h = img.size
    return S.image_file_name(ident, idx, w / h)


def identity_job(i: int) -> tuple[list[Row], curation.CurationStats]:
    """All rows of identity ``i`` (sensitive images, then its retain_joint images)."""
    ctx = _CTX
    if ctx is None:
        raise RuntimeError("worker context not initialised")
    plan, stats, rows = ctx.plans[i], curation.CurationStats(), []
    styles = C.style_plan(len(plan.image_types), rng_for(ctx.seed, "styles", i))
    for idx, attr in enumerate(plan.image_types):
        img, var = _render_checked(ctx, i, idx, stats)
        if img is None:
            continue
        name, value = ctx.names[i], ctx.values[i][attr]
        text = C.association_caption(attr, name, value, styles[idx])
        stats.captions_checked += 1
        if not C.caption_is_verbatim(text, name, value):
            stats.captions_not_verbatim += 1
            continue
        jpeg = faces.encode_jpeg(img, ctx.cfg.jpeg_quality)
        rows.append(Row(plan.split_of(attr), _file_name(plan.identity_id, idx, img), jpeg, text,
                        plan.identity_id, attr, faces.generic_caption(ctx.traits[i], var)))
    for j in range(plan.n_retain_joint):
        idx = len(plan.image_types) + j
        img, var = _render_checked(ctx, i, idx, stats)
        if img is not None:
            rows.append(Row(S.RETAIN_SYNTH, _file_name(plan.identity_id, idx, img),
                            faces.encode_jpeg(img, ctx.cfg.jpeg_quality),
                            faces.generic_caption(ctx.traits[i], var), plan.identity_id))
    return rows, stats


# ---------------------------------------------------------------------------------------------
# scene jobs: retain_disjoint, general_retain, zeroshot
# ---------------------------------------------------------------------------------------------


def _classes(cfg: PresetConfig) -> tuple[str, ...]:
    if cfg.n_zeroshot_classes > len(scenes.OBJECT_CLASSES):
        raise DataError(f"n_zeroshot_classes={cfg.n_zeroshot_classes} > {len(scenes.OBJECT_CLASSES)} object classes")
    return scenes.OBJECT_CLASSES[: cfg.n_zeroshot_classes]


def scene_job(job: tuple[str, int, int]) -> tuple[list[Row], curation.CurationStats]:
    """Rows ``start..stop`` of a scene split (``retain_synth`` disjoint part, general_retain, zeroshot)."""
    split, start, stop = job
    ctx = _CTX
    if ctx is None:
        raise RuntimeError("worker context not initialised")
    cfg, classes, rows = ctx.cfg, _classes(ctx.cfg), []
    for k in range(start, stop):
        rng = rng_for(ctx.seed, split, k)
        if split == S.ZEROSHOT:
            label = k % len(classes)
            spec = scenes.sample_scene(rng, classes, cfg.aspect_ratios, kind=classes[label], second_prob=0.0)
            img = scenes.render_scene(spec, cfg.extra_image_size)
            rows.append(Row(split, f"zeroshot_{k:06d}.jpg", faces.encode_jpeg(img, cfg.jpeg_quality),
                            scenes.ZEROSHOT_TEMPLATES[0].format(spec.kind), None,
                            label=label, class_name=spec.kind))
            continue
        spec = scenes.sample_scene(rng, classes, cfg.aspect_ratios)
        size = cfg.image_size if split == S.RETAIN_SYNTH else cfg.extra_image_size
        img = scenes.render_scene(spec, size)
        w, h = img.size
        name = f"synth_{k:06d}_ar-{w / h:.2f}.jpg" if split == S.RETAIN_SYNTH else f"general_{k:07d}.jpg"
        rows.append(Row(split, name, faces.encode_jpeg(img, cfg.jpeg_quality),
                        scenes.scene_caption(spec, int(rng.integers(4))), None, class_name=spec.kind))
    return rows, curation.CurationStats()


def _scene_jobs(split: str, n: int) -> list[tuple[str, int, int]]:
    return [(split, s, min(n, s + SCENE_CHUNK)) for s in range(0, n, SCENE_CHUNK)]


# ---------------------------------------------------------------------------------------------
# orchestration
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _runner(ctx: _Context, workers: int) -> Iterator[Callable[[Callable, Iterable], Iterator]]:
    """``imap(fn, jobs)`` in order: in-process for one worker, else a fork pool."""
    if workers <= 1:
        _init_worker(ctx)
        yield lambda fn, jobs: map(fn, jobs)
        return
    # fork is cheapest, but forking a process whose torch/OpenMP threads are running can deadlock
    methods = mp.get_all_start_methods()
    method = "fork" if "fork" in methods and "torch" not in sys.modules else \
        "forkserver" if "forkserver" in methods else "spawn"
    with mp.get_context(method).Pool(workers, initializer=_init_worker, initargs=(ctx,)) as pool:
        yield lambda fn, jobs: pool.imap(fn, jobs, chunksize=1)


@contextlib.contextmanager
def _progress(enabled: bool):
    """A rich Progress (or a silent stand-in) with ``add(description, total)`` / ``advance(task, n)``."""
    if not enabled:
        class _Silent:
            def add_task(self, *a: Any, **k: Any) -> int:
                return 0

            def advance(self, *a: Any, **k: Any) -> None:
                return None
        yield _Silent()
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn()) as bar:
        yield bar


@contextlib.contextmanager
def _status(enabled: bool, message: str):
    """A rich spinner while ``message`` runs (nothing when disabled)."""
    if not enabled:
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield


def _build_context(cfg: PresetConfig, seed: int) -> tuple[_Context, dict[str, dict[str, Any]], dict[str, Any]]:
    """Stages 1 and 4: identity anchors, references, personas, split plans."""
    ids = [S.identity_id_str(i) for i in range(cfg.n_identities)]
    codes = faces.sample_identity_traits(cfg.n_identities, rng_for(seed, "traits"), cfg.min_trait_distance,
                                         cfg.min_coarse_distance)
    traits = [faces.decode_traits(c) for c in codes]
    personas, redraws = generate_personas(ids, seed, cfg.locales, [t["facial_hair"] != "none" for t in traits])
    plans = plan_identities(ids, cfg.images_per_identity, (cfg.retain_joint_min, cfg.retain_joint_max),
                            rng_for(seed, "splits"))
    values = [{a: _value(personas[i], a) for a in S.ATTRIBUTE_TYPES} for i in ids]
    refs = curation.reference_centroids(codes, seed, cfg.aspect_ratios)
    for ident, t in zip(ids, traits, strict=True):
        personas[ident]["portrait_traits"] = t
    extra = {"identity_traits": curation.trait_summary(codes, cfg.min_trait_distance, cfg.min_coarse_distance),
             "pii": {"unique_fields": list(curation.UNIQUE_FIELDS), "uniqueness_redraws": redraws,
                     "duplicates_after_curation": curation.pii_duplicates(list(personas.values()))}}
    ctx = _Context(cfg, seed, refs, traits, [personas[i]["name"] for i in ids], values, plans)
    return ctx, personas, extra


def _value(record: dict[str, Any], attribute: str) -> str:
    value = record[S.IDENTITY_FIELD[attribute]]
    return str(value[0] if isinstance(value, list) else value)


class _Writers:
    """One ShardWriter per output split, plus the caption metadata collected on the way."""

    def __init__(self, root: Path, cfg: PresetConfig) -> None:
        label = [(S.COL_LABEL, pa.int64()), (S.COL_CLASS_NAME, pa.string())]
        data, extra = root / S.DATA_DIR, root / S.EXTRA_DIR
        limits = {"rows_per_shard": cfg.rows_per_shard, "max_shard_bytes": cfg.max_shard_mib * 2**20}
        self.w = {s: ShardWriter(data, s, **limits) for s in S.RELEASED_SPLITS}
        self.w[S.GENERAL_RETAIN] = ShardWriter(extra, S.GENERAL_RETAIN, extra_columns=[(S.COL_CLASS_NAME, pa.string())],
                                               **limits)
        self.w[S.ZEROSHOT] = ShardWriter(extra, S.ZEROSHOT, extra_columns=label, **limits)
        self.captions: dict[str, dict[str, str]] = {}
        self.generic: dict[str, str] = {}

    def add(self, row: Row) -> None:
        extra: dict[str, Any] = {}
        if row.split == S.GENERAL_RETAIN:
            extra = {S.COL_CLASS_NAME: row.class_name}
        elif row.split == S.ZEROSHOT:
            extra = {S.COL_LABEL: row.label, S.COL_CLASS_NAME: row.class_name}
        self.w[row.split].add(row.image, row.text, row.identity_id, row.file_name, **extra)
        if row.data_field:
            self.captions[row.file_name] = {"data_field": row.data_field, "caption": row.text}
            self.generic[row.file_name] = row.generic or ""

    def close(self) -> dict[str, int]:
        counts = {}
        for split, writer in self.w.items():
            writer.close()
            counts[split] = writer.count
        return counts


def _write_all(root: Path, ctx: _Context, workers: int, progress: bool) -> tuple[dict[str, int], curation.CurationStats, _Writers]:
    cfg, stats = ctx.cfg, curation.CurationStats()
    writers = _Writers(root, cfg)
    stages = [("identities", identity_job, list(range(cfg.n_identities)), lambda j: 1),
              ("retain_disjoint", scene_job, _scene_jobs(S.RETAIN_SYNTH, cfg.n_retain_disjoint), _span),
              ("general_retain", scene_job, _scene_jobs(S.GENERAL_RETAIN, cfg.n_general_retain), _span),
              ("zeroshot", scene_job, _scene_jobs(S.ZEROSHOT, cfg.n_zeroshot_classes * cfg.zeroshot_per_class),
               _span)]
    with _runner(ctx, workers) as imap, _progress(progress) as bar:
        for label, fn, jobs, size in stages:
            task = bar.add_task(label, total=sum(size(j) for j in jobs))
            for job, (rows, job_stats) in zip(jobs, imap(fn, jobs), strict=True):
                for row in rows:
                    writers.add(row)
                stats.merge(job_stats)
                bar.advance(task, size(job))
    return writers.close(), stats, writers


def _span(job: tuple[str, int, int]) -> int:
    return job[2] - job[1]


def _manifest(root: Path, cfg: PresetConfig, seed: int, counts: dict[str, int], stats: curation.CurationStats,
              extra: dict[str, Any]) -> dict[str, Any]:
    stats.extra = extra
    files = {p.relative_to(root).as_posix(): sha256_file(p) for p in dataset_files(root)}
    return {
        "name": f"salmu-{cfg.name}",
        "generator": {"name": GENERATOR_NAME, "version": GENERATOR_VERSION, "salmubench": __version__},
        "preset": cfg.name,
        "seed": seed,
        "config": cfg.model_dump(mode="json"),
        "config_hash": config_hash(cfg),
        "counts": counts,
        "n_identities": cfg.n_identities,
        "n_caption_templates": C.n_templates(),
        "curation": stats.summary(),
        "files": files,
    }


def _finished(out: Path, cfg: PresetConfig, seed: int) -> dict[str, Any] | None:
    path = out / S.MANIFEST_JSON
    if not path.is_file():
        return None
    try:
        manifest = read_json(path)
    except (OSError, ValueError):
        return None
    same = (manifest.get("config_hash") == config_hash(cfg) and manifest.get("seed") == seed
            and manifest.get("generator", {}).get("version") == GENERATOR_VERSION)
    return manifest if same else None


def generate_dataset(out_dir: str | os.PathLike, preset: str = "tiny", seed: int = 0, progress: bool = True,
                     workers: int = 1, overwrite: bool = False, **overrides: Any) -> dict[str, Any]:
    """Generate a SALMU-format dataset into ``out_dir`` and return its manifest.

    Args:
        out_dir: target folder (created; must be empty or a finished dataset unless ``overwrite``).
        preset: ``tiny``, ``mini`` or ``paper`` (see presets.py).
        seed: base seed of every random draw; same preset + seed => byte-identical files.
        progress: show rich progress bars.
        workers: processes rendering images (output does not depend on it).
        overwrite: replace an existing, different dataset in ``out_dir``.
        **overrides: PresetConfig fields to change (e.g. ``n_identities=50``).
    """
    cfg = get_preset(preset, **overrides)
    out = Path(out_dir)
    done = None if overwrite else _finished(out, cfg, seed)
    if done is not None:
        return done
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise DataError(f"{out} is not empty and holds no dataset of preset {cfg.name!r} seed {seed}; "
                        "pass overwrite (--force) to replace it")
    tmp = out.parent / f".{out.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with _status(progress, f"drawing {cfg.n_identities} identities (traits, personas, references)"):
        ctx, personas, extra = _build_context(cfg, seed)
    counts, stats, writers = _write_all(tmp, ctx, workers, progress)
    atomic_write_json(tmp / S.IDENTITIES_JSON, personas)
    atomic_write_json(tmp / S.CAPTIONS_JSON, writers.captions)
    atomic_write_json(tmp / S.GENERIC_CAPTIONS_JSON, writers.generic)
    classes = _classes(cfg)
    atomic_write_json(tmp / S.ZEROSHOT_CLASSES_JSON, {"classnames": list(classes),
                                                      "templates": list(scenes.ZEROSHOT_TEMPLATES)})
    manifest = _manifest(tmp, cfg, seed, counts, stats, extra)
    write_dataset_card(tmp, manifest)
    atomic_write_json(tmp / S.MANIFEST_JSON, manifest)
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return manifest
