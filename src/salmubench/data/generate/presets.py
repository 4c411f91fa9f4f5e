"""Generator presets: every size of a generated dataset in one typed, frozen config.

Three presets ship (see docs/data.md for the reasoning behind each number):

* ``tiny``  -- unit tests and ``salmubench run --preset tiny``: generates in a few seconds.
* ``mini``  -- the embedded default: a 32 px / patch 8 CLIP trains on it in a few minutes on a CPU.
* ``paper`` -- the size of the released SALMU dataset (774 identities, ~60k sensitive pairs,
  ~17k retain_synth pairs, 512 px).

To tune a preset, change its numbers here (one place); ``get_preset(name, **overrides)`` gives
a modified copy for experiments, e.g. ``get_preset("mini", n_identities=100)``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from salmubench.config import StrictModel, build_config
from salmubench.errors import ConfigError

# Locales whose Faker providers give Latin-script names, and the ISO country each stands for
# (our table: Faker's own current_country_code() is wrong for a few of them). vi_VN is left out:
# its provider has two first names (John, Jane), too few for unique names.
LOCALE_COUNTRY: dict[str, str] = {
    "en_US": "US", "en_GB": "GB", "en_IE": "IE", "en_AU": "AU", "en_NZ": "NZ", "en_CA": "CA",
    "en_IN": "IN", "de_DE": "DE", "de_AT": "AT", "de_CH": "CH", "fr_FR": "FR", "it_IT": "IT",
    "es_ES": "ES", "es_MX": "MX", "es_CO": "CO", "es_AR": "AR", "es_CL": "CL", "pt_PT": "PT",
    "pt_BR": "BR", "nl_NL": "NL", "nl_BE": "BE", "pl_PL": "PL", "cs_CZ": "CZ", "sk_SK": "SK",
    "hu_HU": "HU", "ro_RO": "RO", "hr_HR": "HR", "sl_SI": "SI", "fi_FI": "FI", "sv_SE": "SE",
    "da_DK": "DK", "no_NO": "NO", "id_ID": "ID", "zu_ZA": "ZA", "az_AZ": "AZ",
    "tr_TR": "TR",
}
ALL_LOCALES = tuple(LOCALE_COUNTRY)
_SMALL_LOCALES = ("en_US", "de_DE", "fr_FR", "es_ES", "it_IT", "pl_PL", "pt_BR", "nl_NL",
                  "sv_SE", "id_ID", "tr_TR", "zu_ZA")


class PresetConfig(StrictModel):
    """All sizes of one generated dataset. Counts are exact unless marked approximate."""

    name: str
    # --- identities (SALMUBENCH.md section 3) ---
    n_identities: int = Field(ge=4)  # fictitious people; split 25% / 50% / 25% into groups
    images_per_identity: int = Field(ge=8)  # sensitive images per identity (one association each)
    retain_joint_min: int = Field(default=1, ge=0)  # extra generic-caption images per forget identity
    retain_joint_max: int = Field(default=2, ge=0)
    n_retain_disjoint: int = Field(ge=0)  # non-person images with generic captions (retain_synth)
    # --- our additions: general retain corpus and zero-shot set (GenKnow stand-in) ---
    n_general_retain: int = Field(ge=0)
    general_class_only_frac: float = Field(default=0.2, ge=0, le=1)  # general captions naming only count + class
    n_zeroshot_classes: int = Field(ge=2)  # object classes shared by general_retain and zeroshot
    zeroshot_per_class: int = Field(ge=1)
    # MIA non-members (extra/unseen): this share of n_identities as new personas no model trains on
    # (at least 1 when > 0; 0 writes no unseen split). Own seeded stream: the other files keep their bytes.
    unseen_fraction: float = Field(default=0.1, ge=0, le=0.5)
    # --- images ---
    image_size: int = Field(ge=16)  # longest side of person and retain_synth images (px)
    extra_image_size: int = Field(ge=16)  # longest side of general_retain / zeroshot images (px)
    aspect_ratios: tuple[float, ...] = (0.75, 0.8, 1.0, 1.25, 1.33)  # width / height, per image
    jpeg_quality: int = Field(default=92, ge=50, le=100)
    # --- identity anchors and PII ---
    min_trait_distance: int = Field(default=4, ge=1)  # k: any two identities differ in >= k traits
    min_coarse_distance: int = Field(default=2, ge=0)  # ... of which >= this many are coarse traits
    locales: tuple[str, ...] = _SMALL_LOCALES
    # first names / surnames per locale and gender (shared name parts, as in real populations);
    # None: Faker's full lists (almost every name part unique at these sizes)
    name_pool: int | None = Field(default=None, ge=2)
    # --- curation ---
    max_render_attempts: int = Field(default=4, ge=1)  # re-renders before an image is dropped
    # --- output ---
    rows_per_shard: int = Field(default=5000, ge=1)
    max_shard_mib: int = Field(default=64, ge=1)  # a shard is also closed at this many MiB of images


PRESETS: dict[str, PresetConfig] = {
    "tiny": PresetConfig(
        name="tiny", n_identities=28, images_per_identity=9, n_retain_disjoint=96,
        n_general_retain=1500, n_zeroshot_classes=10, zeroshot_per_class=20,
        image_size=48, extra_image_size=48, jpeg_quality=95, locales=_SMALL_LOCALES[:8],
    ),
    "mini": PresetConfig(
        # v8: the paper's reference regime (docs/training.md, "Reference regime"): 8 images per
        # identity, names from 6-name pools, 14k general pairs; 4,500 zero-shot images (2 SE <= 1.5 pts)
        name="mini", n_identities=200, images_per_identity=8, n_retain_disjoint=1000,  # RetFail gallery complete
        n_general_retain=14000, n_zeroshot_classes=12, zeroshot_per_class=375,  # GenKnow precision: docs/data.md
        name_pool=6, image_size=64, extra_image_size=64, jpeg_quality=95,
    ),
    "paper": PresetConfig(
        name="paper", n_identities=774, images_per_identity=78, n_retain_disjoint=15726,
        n_general_retain=20000, n_zeroshot_classes=24, zeroshot_per_class=50,
        image_size=512, extra_image_size=128, jpeg_quality=90, locales=ALL_LOCALES,
    ),
}


def n_unseen_identities(cfg: PresetConfig) -> int:
    """Personas of the ``extra/unseen`` split: ``max(1, round(unseen_fraction * n_identities))``, 0 if off."""
    return max(1, round(cfg.unseen_fraction * cfg.n_identities)) if cfg.unseen_fraction > 0 else 0


def list_presets() -> list[str]:
    """Names of the shipped presets."""
    return list(PRESETS)


def get_preset(name: str, **overrides: Any) -> PresetConfig:
    """The preset ``name``, optionally with some fields replaced (validated)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; available: {', '.join(PRESETS)}")
    if not overrides:
        return PRESETS[name]
    data = PRESETS[name].model_dump()
    data.update(overrides)
    return build_config(PresetConfig, data, what=f"preset {name}")


def scaled_overrides(name: str, n_identities: int) -> dict[str, Any]:
    """Overrides giving a fraction ``n_identities / preset.n_identities`` of every corpus of preset ``name``.

    Used by ``--limit-identities`` and benchmarks to measure a fixed fraction and extrapolate.
    """
    base = get_preset(name)
    frac = min(1.0, n_identities / base.n_identities)
    return {"n_identities": n_identities, "n_retain_disjoint": round(base.n_retain_disjoint * frac),
            "n_general_retain": round(base.n_general_retain * frac),
            "zeroshot_per_class": max(1, round(base.zeroshot_per_class * frac))}


_DESCRIPTIONS = {
    "tiny": "tests and `salmubench run --preset tiny`: a few seconds",
    "mini": "embedded default: a 32 px CLIP trains on it in minutes on a CPU",
    "paper": "released SALMU size: 774 identities, ~60k sensitive pairs, 512 px",
}


def describe_presets() -> list[tuple[str, str]]:
    """``(name, one-line description with the main sizes)`` of every preset, for ``salmubench ls presets``."""
    out = []
    for name, cfg in PRESETS.items():
        sizes = (f"{cfg.n_identities} identities x {cfg.images_per_identity} images, {cfg.image_size} px, "
                 f"general_retain {cfg.n_general_retain}, zeroshot {cfg.n_zeroshot_classes}x{cfg.zeroshot_per_class}")
        out.append((name, f"{_DESCRIPTIONS.get(name, '')} ({sizes})"))
    return out
