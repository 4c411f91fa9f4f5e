"""Worker jobs of the generator: one identity's images, or one chunk of non-person scenes.

A job is a pure function of the shared :class:`Context` (sent once per worker process) and its
index, so jobs can run in any process and their results are consumed in order (determinism).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from salmubench.data import schema as S
from salmubench.data.generate import captions as C
from salmubench.data.generate import curation, faces, scenes
from salmubench.data.generate.presets import PresetConfig
from salmubench.data.generate.splits import IdentityPlan
from salmubench.errors import DataError
from salmubench.seeding import rng_for

SCENE_CHUNK = 256  # scenes per job


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
class Context:
    """Everything a worker needs (sent once per worker)."""

    cfg: PresetConfig
    seed: int
    refs: np.ndarray
    traits: list[dict[str, str]]
    names: list[str]
    values: list[dict[str, str]]
    plans: list[IdentityPlan]


_CTX: Context | None = None


def init_worker(ctx: Context) -> None:
    """Pool initializer (also called in-process for one worker): store the shared context."""
    global _CTX
    _CTX = ctx


# ---------------------------------------------------------------------------------------------
# per-identity job: sensitive images + retain_joint images
# ---------------------------------------------------------------------------------------------


def _render_checked(ctx: Context, i: int, idx: int, stats: curation.CurationStats):
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
        if attempt + 1 < ctx.cfg.max_render_attempts:
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


def classes_of(cfg: PresetConfig) -> tuple[str, ...]:
    if cfg.n_zeroshot_classes > len(scenes.OBJECT_CLASSES):
        raise DataError(f"n_zeroshot_classes={cfg.n_zeroshot_classes} > {len(scenes.OBJECT_CLASSES)} object classes")
    return scenes.OBJECT_CLASSES[: cfg.n_zeroshot_classes]


def scene_job(job: tuple[str, int, int]) -> tuple[list[Row], curation.CurationStats]:
    """Rows ``start..stop`` of a scene split (``retain_synth`` disjoint part, general_retain, zeroshot)."""
    split, start, stop = job
    ctx = _CTX
    if ctx is None:
        raise RuntimeError("worker context not initialised")
    cfg, classes, rows = ctx.cfg, classes_of(ctx.cfg), []
    for k in range(start, stop):
        rng = rng_for(ctx.seed, split, k)
        if split == S.ZEROSHOT:
            label = k % len(classes)
            spec = scenes.sample_scene(rng, classes, cfg.aspect_ratios, kind=classes[label], second_prob=0.0,
                                       colors=scenes.GENERAL_COLORS, backgrounds=scenes.GENERAL_BACKGROUNDS)
            img = scenes.render_scene(spec, cfg.extra_image_size)
            rows.append(Row(split, f"zeroshot_{k:06d}.jpg", faces.encode_jpeg(img, cfg.jpeg_quality),
                            scenes.ZEROSHOT_TEMPLATES[0].format(spec.kind), None,
                            label=label, class_name=spec.kind))
            continue
        if split == S.RETAIN_SYNTH:
            spec = scenes.sample_scene(rng, classes, cfg.aspect_ratios)
            img = scenes.render_scene(spec, cfg.image_size)
            name = f"synth_{k:06d}_ar-{img.size[0] / img.size[1]:.2f}.jpg"
        else:  # general_retain: reduced palette, some class-only captions (scenes.GENERAL_COLORS)
            spec = scenes.sample_scene(rng, classes, cfg.aspect_ratios,
                                       colors=scenes.GENERAL_COLORS, backgrounds=scenes.GENERAL_BACKGROUNDS)
            img = scenes.render_scene(spec, cfg.extra_image_size)
            name = f"general_{k:07d}.jpg"
        style = int(rng.integers(scenes.N_FULL_STYLES))
        if split == S.GENERAL_RETAIN and rng.random() < cfg.general_class_only_frac:
            style = scenes.N_FULL_STYLES + int(rng.integers(scenes.N_CLASS_ONLY_STYLES))
        rows.append(Row(split, name, faces.encode_jpeg(img, cfg.jpeg_quality),
                        scenes.scene_caption(spec, style), None, class_name=spec.kind))
    return rows, curation.CurationStats()


def scene_jobs(split: str, n: int) -> list[tuple[str, int, int]]:
    return [(split, s, min(n, s + SCENE_CHUNK)) for s in range(0, n, SCENE_CHUNK)]
