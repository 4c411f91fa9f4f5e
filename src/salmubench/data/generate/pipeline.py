"""``generate_dataset``: the five stages of the SALMU pipeline, procedurally, into the released layout.

Stages (SALMUBENCH.md section 1): identity anchors (trait vectors) -> identity-preserving images
-> curation -> PII (Faker) -> one-association captions; then splits, the extra corpora, metadata
JSONs, the dataset card and ``manifest.json``.

Determinism: every random draw comes from ``rng_for(seed, <stream>, <index>...)``; work is cut
into per-identity / per-chunk jobs whose results are consumed in order, so the output is
byte-identical for a preset and seed whatever the number of workers.
Atomicity and resumability: everything is written to a sibling ``.partial`` folder renamed into
place at the end. Work is cut into parts (32 identities, or 16 x 256 scenes); each finished part
keeps its shards and a ``done.json`` there, so an interrupted run resumes at the first unfinished
part and gives the same bytes as an uninterrupted one. Re-running on a finished folder with the
same preset and seed returns its manifest at once.
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

import pyarrow as pa

from salmubench.config import config_hash
from salmubench.data import schema as S
from salmubench.data.generate import captions as C
from salmubench.data.generate import curation, faces, scenes, unseen
from salmubench.data.generate.card import write_dataset_card
from salmubench.data.generate.jobs import (
    Context,
    Row,
    classes_of,
    identity_job,
    init_worker,
    scene_job,
    scene_jobs,
)
from salmubench.data.generate.personas import generate_personas
from salmubench.data.generate.presets import PresetConfig, get_preset, n_unseen_identities
from salmubench.data.generate.splits import plan_identities
from salmubench.data.io import ShardWriter, dataset_files
from salmubench.errors import DataError
from salmubench.io_utils import atomic_write_json, check_out_dir, read_json, sha256_file
from salmubench.progress import OnProgress, Task
from salmubench.seeding import rng_for
from salmubench.version import __version__

GENERATOR_NAME = "salmubench.procedural"
GENERATOR_VERSION = "8"  # bump whenever the output for a given preset + seed changes (v8: mini reference regime)


# ---------------------------------------------------------------------------------------------
# orchestration
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _runner(ctx: Context, workers: int) -> Iterator[Callable[[Callable, Iterable], Iterator]]:
    """``imap(fn, jobs)`` in order: in-process for one worker, else a fork pool."""
    if workers <= 1:
        init_worker(ctx)
        yield lambda fn, jobs: map(fn, jobs)
        return
    # fork is cheapest, but forking a process whose torch/OpenMP threads are running can deadlock
    methods = mp.get_all_start_methods()
    method = "fork" if "fork" in methods and "torch" not in sys.modules else \
        "forkserver" if "forkserver" in methods else "spawn"
    with mp.get_context(method).Pool(workers, initializer=init_worker, initargs=(ctx,)) as pool:
        yield lambda fn, jobs: pool.imap(fn, jobs, chunksize=1)


def _build_context(cfg: PresetConfig, seed: int) -> tuple[Context, dict[str, dict[str, Any]], dict[str, Any]]:
    """Stages 1 and 4: identity anchors, references, personas, split plans."""
    ids = [S.identity_id_str(i) for i in range(cfg.n_identities)]
    codes = faces.sample_identity_traits(cfg.n_identities, rng_for(seed, "traits"), cfg.min_trait_distance,
                                         cfg.min_coarse_distance)
    traits = [faces.decode_traits(c) for c in codes]
    personas, redraws = generate_personas(ids, seed, cfg.locales, [t["facial_hair"] != "none" for t in traits],
                                          name_pool=cfg.name_pool)
    plans = plan_identities(ids, cfg.images_per_identity, (cfg.retain_joint_min, cfg.retain_joint_max),
                            rng_for(seed, "splits"))
    values = [{a: _value(personas[i], a) for a in S.ATTRIBUTE_TYPES} for i in ids]
    refs = curation.reference_centroids(codes, seed, cfg.aspect_ratios)
    for ident, t in zip(ids, traits, strict=True):
        personas[ident]["portrait_traits"] = t
    extra = {"identity_traits": curation.trait_summary(codes, cfg.min_trait_distance, cfg.min_coarse_distance),
             "pii": {"unique_fields": list(curation.UNIQUE_FIELDS), "uniqueness_redraws": redraws,
                     "duplicates_after_curation": curation.pii_duplicates(list(personas.values()))}}
    ctx = Context(cfg, seed, refs, traits, [personas[i]["name"] for i in ids], values, plans)
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


IDENTITY_BLOCK = 32  # identities per resumable part
SCENE_BLOCK = 16  # scene chunks (of SCENE_CHUNK rows) per resumable part
PARTS_DIR = "parts"


@dataclass(frozen=True)
class _Part:
    """A resumable unit of work: some jobs of one stage, written to ``parts/NNNNN/``."""

    index: int
    stage: str
    fn: Callable
    jobs: list


def _plan_parts(cfg: PresetConfig) -> list[_Part]:
    """The parts in output order (a fixed function of the config: resumed output = fresh output)."""
    stages = [("identities", identity_job, list(range(cfg.n_identities)), IDENTITY_BLOCK),
              ("retain_disjoint", scene_job, scene_jobs(S.RETAIN_SYNTH, cfg.n_retain_disjoint), SCENE_BLOCK),
              ("general_retain", scene_job, scene_jobs(S.GENERAL_RETAIN, cfg.n_general_retain), SCENE_BLOCK),
              ("zeroshot", scene_job, scene_jobs(S.ZEROSHOT, cfg.n_zeroshot_classes * cfg.zeroshot_per_class),
               SCENE_BLOCK)]
    parts: list[_Part] = []
    for stage, fn, jobs, block in stages:
        for start in range(0, len(jobs), block):
            parts.append(_Part(len(parts), stage, fn, jobs[start:start + block]))
    return parts


def _job_size(job: Any) -> int:
    return job[2] - job[1] if isinstance(job, tuple) else 1


def _run_part(part: _Part, part_dir: Path, cfg: PresetConfig, imap: Callable) -> dict[str, Any]:
    """Render one part into ``part_dir`` (shards + ``done.json``); returns its metadata."""
    shutil.rmtree(part_dir, ignore_errors=True)
    writers, stats = _Writers(part_dir, cfg), curation.CurationStats()
    for rows, job_stats in imap(part.fn, part.jobs):
        for row in rows:
            writers.add(row)
        stats.merge(job_stats)
    counts = writers.close()
    meta = {"counts": counts, "captions": writers.captions, "generic": writers.generic, "stats": stats.counters()}
    atomic_write_json(part_dir / "done.json", meta, indent=None)
    return meta


def _load_done(part_dir: Path) -> dict[str, Any] | None:
    try:
        return read_json(part_dir / "done.json")
    except (OSError, ValueError):
        return None


def _write_all(root: Path, ctx: Context, workers: int, on_progress: OnProgress | None) -> list[dict[str, Any]]:
    """Run every part not finished by an earlier (interrupted) run; returns each part's metadata."""
    parts = _plan_parts(ctx.cfg)
    metas: list[dict[str, Any]] = []
    with _runner(ctx, workers) as imap:
        tasks: dict[str, Task] = {}
        for part in parts:
            if part.stage not in tasks:
                total = sum(_job_size(j) for p in parts if p.stage == part.stage for j in p.jobs)
                tasks[part.stage] = Task(on_progress, part.stage, total).start()
            part_dir = root / PARTS_DIR / f"{part.index:05d}"
            meta = _load_done(part_dir) or _run_part(part, part_dir, ctx.cfg, imap)
            metas.append(meta)
            tasks[part.stage].advance(sum(_job_size(j) for j in part.jobs))
    return metas


def _assemble(root: Path, metas: list[dict[str, Any]]) -> tuple[dict[str, int], curation.CurationStats,
                                                                               dict[str, Any], dict[str, str]]:
    """Move the parts' shards to their final names; merge counts, statistics and caption metadata."""
    counts: dict[str, int] = {}
    stats, captions, generic = curation.CurationStats(), {}, {}
    for meta in metas:
        for split, n in meta["counts"].items():
            counts[split] = counts.get(split, 0) + n
        stats.merge(curation.CurationStats(**meta["stats"]))
        captions.update(meta["captions"])
        generic.update(meta["generic"])
    for split, sub in [(s, S.DATA_DIR) for s in S.RELEASED_SPLITS] + [(s, S.EXTRA_DIR) for s in S.EXTRA_SPLITS]:
        shards = [p for i, meta in enumerate(metas) if meta["counts"][split]
                  for p in sorted((root / PARTS_DIR / f"{i:05d}" / sub).glob(f"{split}-*.parquet"))]
        (root / sub).mkdir(exist_ok=True)
        for k, path in enumerate(shards):
            os.replace(path, root / sub / S.shard_name(split, k, len(shards)))
        if not shards:  # an empty split still gets one (empty) shard
            shutil.copy(next((root / PARTS_DIR / "00000" / sub).glob(f"{split}-*.parquet")),
                        root / sub / S.shard_name(split, 0, 1))
    shutil.rmtree(root / PARTS_DIR)
    return {s: counts.get(s, 0) for s in (*S.RELEASED_SPLITS, *S.EXTRA_SPLITS)}, stats, captions, generic


def _write_unseen(root: Path, ctx: Context, personas: dict[str, dict[str, Any]], workers: int,
                  on_progress: OnProgress | None) -> tuple[int, dict[str, Any]]:
    """The MIA non-member split ``extra/unseen`` + its records (own seeded stream: unseen.py)."""
    cfg = ctx.cfg
    uctx, records, summary = unseen.unseen_context(cfg, ctx.seed, ctx, personas)
    writer = ShardWriter(root / S.EXTRA_DIR, S.UNSEEN, rows_per_shard=cfg.rows_per_shard,
                         max_shard_bytes=cfg.max_shard_mib * 2**20, extra_columns=[(S.COL_DATA_FIELD, pa.string())])
    stats = curation.CurationStats()
    task = Task(on_progress, "unseen personas (MIA non-members)", len(uctx.plans)).start()
    with _runner(uctx, workers) as imap:
        for rows, job_stats in imap(identity_job, range(len(uctx.plans))):
            for row in unseen.unseen_rows(rows):
                writer.add(row.image, row.text, row.identity_id, row.file_name, **{S.COL_DATA_FIELD: row.data_field})
            stats.merge(job_stats)
            task.advance()
    writer.close()
    atomic_write_json(root / S.UNSEEN_IDENTITIES_JSON, records)
    summary["curation"] = stats.summary()["identity_consistency"]
    return writer.count, summary


def _manifest(root: Path, cfg: PresetConfig, seed: int, counts: dict[str, int], stats: curation.CurationStats,
              extra: dict[str, Any], unseen_summary: dict[str, Any] | None = None) -> dict[str, Any]:
    stats.extra = extra
    files = {p.relative_to(root).as_posix(): sha256_file(p) for p in dataset_files(root)}
    more = {"unseen": unseen_summary} if unseen_summary is not None else {}
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
        **more,
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


_STATE_JSON = "partial_state.json"


def _partial_dir(out: Path, cfg: PresetConfig, seed: int) -> Path:
    """The sibling work folder; kept (resumed) when an interrupted run had the same config and seed."""
    tmp = out.parent / f".{out.name}.partial"
    state = {"config_hash": config_hash(cfg), "seed": seed, "generator_version": GENERATOR_VERSION}
    try:
        if read_json(tmp / _STATE_JSON) == state:
            return tmp
    except (OSError, ValueError):
        pass
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    atomic_write_json(tmp / _STATE_JSON, state)
    return tmp


def generate_dataset(out_dir: str | os.PathLike, preset: str = "tiny", seed: int = 0,
                     on_progress: OnProgress | None = None,
                     workers: int = 1, overwrite: bool = False, **overrides: Any) -> dict[str, Any]:
    """Generate a SALMU-format dataset into ``out_dir`` and return its manifest.

    Args:
        out_dir: target folder (created; must be empty or a finished dataset unless ``overwrite``).
        preset: ``tiny``, ``mini`` or ``paper`` (see presets.py).
        seed: base seed of every random draw; same preset + seed => byte-identical files.
        on_progress: progress callback (``salmubench.progress``): identities, then one task per stage.
        workers: processes rendering images (output does not depend on it).
        overwrite: replace an existing, different dataset in ``out_dir``.
        **overrides: PresetConfig fields to change (e.g. ``n_identities=50``).
    """
    cfg = get_preset(preset, **overrides)
    out = check_out_dir(out_dir, "out_dir")
    done = None if overwrite else _finished(out, cfg, seed)
    if done is not None:
        return done
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise DataError(f"{out} is not empty and holds no dataset of preset {cfg.name!r} seed {seed}; "
                        "pass overwrite=True to replace it")
    tmp = _partial_dir(out, cfg, seed)
    Task(on_progress, f"drawing {cfg.n_identities} identities (traits, personas, references)").start()
    ctx, personas, extra = _build_context(cfg, seed)
    metas = _write_all(tmp, ctx, workers, on_progress)
    counts, stats, captions, generic = _assemble(tmp, metas)
    unseen_summary = None
    if n_unseen_identities(cfg):  # after everything else: its own stream, other files keep their bytes
        counts[S.UNSEEN], unseen_summary = _write_unseen(tmp, ctx, personas, workers, on_progress)
    atomic_write_json(tmp / S.IDENTITIES_JSON, personas)
    atomic_write_json(tmp / S.CAPTIONS_JSON, captions)
    atomic_write_json(tmp / S.GENERIC_CAPTIONS_JSON, generic)
    classes = classes_of(cfg)
    atomic_write_json(tmp / S.ZEROSHOT_CLASSES_JSON, {"classnames": list(classes),
                                                      "templates": list(scenes.ZEROSHOT_TEMPLATES)})
    manifest = _manifest(tmp, cfg, seed, counts, stats, extra, unseen_summary)
    write_dataset_card(tmp, manifest)
    atomic_write_json(tmp / S.MANIFEST_JSON, manifest)
    (tmp / _STATE_JSON).unlink()
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return manifest
