"""Procedural, identity-preserving portraits (our stand-in for SFHQ anchors + IP-Adapter-FaceID).

An identity is a vector of discrete, visible traits (:data:`TRAITS`). Identities are drawn so that
any two differ in at least ``k`` traits, at least ``k_coarse`` of them *coarse* (large, high
contrast, still visible at a 32 px model input: skin, face shape, hair style and colour, glasses,
headwear, background colour). Every image of an identity re-draws the same traits with per-image
variation (shift, scale, rotation, lighting, noise, background scene, clothing colour, expression)
and an aspect ratio from the preset. The generic caption is built from what was actually drawn.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageChops, ImageDraw

Color = tuple[int, int, int]

SKIN: dict[str, Color] = {"pale": (250, 224, 205), "light": (236, 195, 160), "tan": (208, 158, 112),
                          "olive": (176, 136, 88), "brown": (132, 86, 52), "dark": (82, 52, 34)}
HAIR: dict[str, Color] = {"black": (24, 22, 22), "brown": (110, 64, 30), "blonde": (240, 208, 96),
                          "red": (196, 58, 24), "grey": (150, 150, 150), "white": (245, 245, 240),
                          "blue": (40, 90, 220), "pink": (240, 110, 190)}
EYES: dict[str, Color] = {"brown": (90, 50, 20), "blue": (40, 110, 210), "green": (40, 150, 70)}
PALETTE: dict[str, Color] = {"red": (214, 48, 49), "orange": (240, 140, 30), "yellow": (246, 214, 50),
                             "green": (60, 170, 80), "teal": (30, 160, 160), "blue": (50, 100, 210),
                             "purple": (140, 70, 190), "pink": (238, 130, 180), "grey": (140, 140, 140),
                             "brown": (130, 85, 50), "black": (30, 30, 30), "white": (240, 240, 240)}
BACKGROUNDS = ("red", "orange", "yellow", "green", "teal", "blue", "purple", "pink", "grey", "brown")
CLOTHES = ("red", "orange", "yellow", "green", "teal", "blue", "purple", "pink", "grey", "black", "white")

TRAITS: dict[str, tuple[str, ...]] = {
    "skin": tuple(SKIN),
    "face_shape": ("round", "oval", "long", "square"),
    "hair_style": ("buzz", "short", "long", "bun", "curly", "mohawk", "bob"),
    "hair_color": tuple(HAIR),
    "eye_color": tuple(EYES),
    "brows": ("thin", "thick", "arched"),
    "nose": ("small", "wide", "long"),
    "mouth": ("thin", "full", "wide"),
    "facial_hair": ("none", "moustache", "beard", "goatee"),
    "glasses": ("none", "round glasses", "square glasses", "sunglasses"),
    "headwear": ("none", "cap", "beanie", "headband", "wide hat"),
    "earrings": ("none", "earrings"),
    "background": BACKGROUNDS,
}
TRAIT_NAMES = tuple(TRAITS)
COARSE_TRAITS = ("skin", "face_shape", "hair_style", "hair_color", "glasses", "headwear", "background")
_COARSE_MASK = np.array([t in COARSE_TRAITS for t in TRAIT_NAMES])
EXPRESSIONS = ("neutral", "smiling", "laughing")
NOISE_SIGMAS = (0.0, 2.0, 4.0, 6.0)  # std of the grey sensor noise per level (0-255 scale)
THUMB = 12  # side of the colour thumbnails used by curation
THUMB_TOP = 0.8  # fraction of the centre square kept (drops most of the clothing)


def sample_identity_traits(n: int, rng: np.random.Generator, k: int, k_coarse: int,
                           max_tries: int = 200_000, existing: np.ndarray | None = None) -> np.ndarray:
    """``n`` trait vectors (int codes, shape [n, len(TRAITS)]), pairwise >= k / >= k_coarse apart.

    Rejection sampling: a candidate is kept if its Hamming distance to every kept vector is at
    least ``k`` overall and at least ``k_coarse`` on the coarse traits. With ``existing`` (codes of
    identities drawn before, e.g. the dataset's identities when drawing the unseen personas), the new
    vectors also keep that distance from every existing one; the existing vectors are not returned.
    """
    sizes = np.array([len(v) for v in TRAITS.values()])
    base = 0 if existing is None else len(existing)
    kept = np.zeros((base + n, len(sizes)), dtype=np.int16)
    if base:
        kept[:base] = existing
    count, tries = base, 0
    while count < base + n:
        tries += 1
        if tries > max_tries:
            raise RuntimeError(f"could not draw {n} identities {k} traits apart")
        cand = (rng.random(len(sizes)) * sizes).astype(np.int16)
        if count:
            diff = kept[:count] != cand
            if diff.sum(1).min() < k or diff[:, _COARSE_MASK].sum(1).min() < k_coarse:
                continue
        kept[count] = cand
        count += 1
    return kept[base:]


def encode_traits(traits: dict[str, str]) -> np.ndarray:
    """``{trait: value name}`` -> trait vector (inverse of :func:`decode_traits`)."""
    return np.array([TRAITS[name].index(traits[name]) for name in TRAIT_NAMES], dtype=np.int16)


def trait_distances(codes: np.ndarray) -> tuple[int, int]:
    """(min pairwise Hamming distance over all traits, over coarse traits) of trait vectors."""
    if len(codes) < 2:
        return len(TRAIT_NAMES), len(COARSE_TRAITS)
    best_all = best_coarse = len(TRAIT_NAMES)
    for i in range(len(codes) - 1):
        diff = codes[i + 1:] != codes[i]
        best_all = min(best_all, int(diff.sum(1).min()))
        best_coarse = min(best_coarse, int(diff[:, _COARSE_MASK].sum(1).min()))
    return best_all, best_coarse


def decode_traits(code: np.ndarray) -> dict[str, str]:
    """Trait vector -> ``{trait: value name}``."""
    return {name: TRAITS[name][int(c)] for name, c in zip(TRAIT_NAMES, code, strict=True)}


@dataclass(frozen=True)
class Variation:
    """Per-image variation of a portrait (everything that is *not* identity)."""

    aspect_ratio: float = 1.0
    dx: float = 0.0  # shift, in units of the shorter side
    dy: float = 0.0
    scale: float = 1.0
    angle: float = 0.0  # degrees
    gain: float = 1.0  # lighting: contrast-ish multiplier
    offset: float = 0.0  # lighting: brightness offset (0-255 scale)
    bg_shade: float = 1.0  # background lightness jitter
    scene: int = 0  # background scene element: 0 plain, 1 horizon, 2 window, 3 dots
    clothes: str = "blue"
    expression: str = "neutral"
    noise: int = 0  # sensor-noise level: index into NOISE_SIGMAS
    noise_x: float = 0.0  # where the noise texture is cropped (fraction of its free margin)
    noise_y: float = 0.0


def sample_variation(rng: np.random.Generator, aspect_ratios: tuple[float, ...]) -> Variation:
    """Draw one image's variation."""
    return Variation(
        aspect_ratio=float(aspect_ratios[int(rng.integers(len(aspect_ratios)))]),
        dx=float(rng.uniform(-0.06, 0.06)), dy=float(rng.uniform(-0.05, 0.05)),
        scale=float(rng.uniform(0.9, 1.1)), angle=float(rng.uniform(-8, 8)),
        gain=float(rng.uniform(0.85, 1.12)), offset=float(rng.uniform(-18, 18)),
        bg_shade=float(rng.uniform(0.8, 1.1)), scene=int(rng.integers(4)),
        clothes=CLOTHES[int(rng.integers(len(CLOTHES)))],
        expression=EXPRESSIONS[int(rng.integers(len(EXPRESSIONS)))], noise=int(rng.integers(len(NOISE_SIGMAS))),
        noise_x=float(rng.random()), noise_y=float(rng.random()),
    )


def canvas_size(size: int, aspect_ratio: float) -> tuple[int, int]:
    """(width, height) with the longest side ``size`` and width/height ~ ``aspect_ratio``."""
    if aspect_ratio >= 1:
        return size, max(1, round(size / aspect_ratio))
    return max(1, round(size * aspect_ratio)), size


def _shade(color: Color, factor: float) -> Color:
    return tuple(int(max(0, min(255, c * factor))) for c in color)  # type: ignore[return-value]


class _Pen:
    """Maps face coordinates (unit = face half-width, origin = face centre) to pixels."""

    def __init__(self, draw: ImageDraw.ImageDraw, cx: float, cy: float, unit: float) -> None:
        self.draw, self.cx, self.cy, self.u = draw, cx, cy, unit

    def box(self, x0: float, y0: float, x1: float, y1: float) -> list[float]:
        return [self.cx + x0 * self.u, self.cy + y0 * self.u, self.cx + x1 * self.u, self.cy + y1 * self.u]

    def pts(self, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(self.cx + x * self.u, self.cy + y * self.u) for x, y in points]

    def width(self, w: float) -> int:
        return max(1, round(w * self.u))


_FACE_HALF_HEIGHT = {"round": 1.0, "oval": 1.15, "long": 1.3, "square": 1.05}
_FACE_HALF_WIDTH = {"round": 1.0, "oval": 0.92, "long": 0.82, "square": 1.0}


def _draw_background(pen: _Pen, size: tuple[int, int], bg: Color, var: Variation) -> None:
    w, h = size
    d = pen.draw
    if var.scene == 1:  # horizon: darker lower band
        d.rectangle([0, h * 0.62, w, h], fill=_shade(bg, 0.8))
    elif var.scene == 2:  # window frame in a corner
        d.rectangle([w * 0.04, h * 0.06, w * 0.3, h * 0.4], outline=_shade(bg, 1.2), width=max(1, w // 40))
    elif var.scene == 3:  # a few soft dots
        for i in range(3):
            x, y, r = w * (0.12 + 0.38 * i), h * (0.12 + 0.05 * i), w * 0.05
            d.ellipse([x - r, y - r, x + r, y + r], fill=_shade(bg, 1.15))


def _draw_back_hair(pen: _Pen, t: dict[str, str], hair: Color, fh: float, fw: float) -> None:
    style = t["hair_style"]
    if style == "long":
        pen.draw.rounded_rectangle(pen.box(-fw - 0.25, -fh - 0.2, fw + 0.25, fh + 0.9), radius=pen.u * 0.5, fill=hair)
    elif style == "bob":
        pen.draw.rounded_rectangle(pen.box(-fw - 0.2, -fh - 0.2, fw + 0.2, fh * 0.55), radius=pen.u * 0.4, fill=hair)
    elif style == "curly":
        for x, y in [(-1.05, -0.6), (1.05, -0.6), (-1.1, 0.1), (1.1, 0.1), (-0.6, -1.1), (0.6, -1.1), (0, -1.25)]:
            pen.draw.ellipse(pen.box(x * fw - 0.45, y * fh - 0.45, x * fw + 0.45, y * fh + 0.45), fill=hair)
    elif style == "bun":
        pen.draw.ellipse(pen.box(-0.42, -fh - 0.75, 0.42, -fh + 0.1), fill=hair)


def _draw_front_hair(pen: _Pen, t: dict[str, str], hair: Color, fh: float, fw: float) -> None:
    style = t["hair_style"]
    top = pen.box(-fw - 0.05, -fh - 0.12, fw + 0.05, -fh + 0.9 * fh)
    if style == "mohawk":
        pen.draw.polygon(pen.pts([(-0.22, -fh + 0.3), (0, -fh - 0.65), (0.22, -fh + 0.3)]), fill=hair)
        pen.draw.rectangle(pen.box(-0.2, -fh - 0.35, 0.2, -fh + 0.35), fill=hair)
    elif style == "buzz":
        pen.draw.chord(top, 180, 360, fill=hair)
    else:
        pen.draw.chord(pen.box(-fw - 0.1, -fh - 0.22, fw + 0.1, -fh + 1.0 * fh), 180, 360, fill=hair)
        if style in ("short", "bob", "long"):  # fringe
            pen.draw.pieslice(pen.box(-fw, -fh - 0.1, fw * 0.3, -fh + 0.8), 180, 300, fill=hair)


def _draw_face_features(pen: _Pen, t: dict[str, str], var: Variation, skin: Color, hair: Color,
                        fh: float, fw: float) -> None:
    d = pen.draw
    eye_y = -0.1 * fh
    for sx in (-1, 1):  # eyes and brows
        x = sx * 0.38 * fw
        d.ellipse(pen.box(x - 0.2, eye_y - 0.12, x + 0.2, eye_y + 0.12), fill=(250, 250, 250))
        d.ellipse(pen.box(x - 0.1, eye_y - 0.1, x + 0.1, eye_y + 0.1), fill=EYES[t["eye_color"]])
        brow_w = {"thin": 0.05, "thick": 0.12, "arched": 0.07}[t["brows"]]
        by = eye_y - 0.28
        if t["brows"] == "arched":
            d.arc(pen.box(x - 0.24, by - 0.06, x + 0.24, by + 0.2), 200, 340, fill=_shade(hair, 0.7), width=pen.width(brow_w))
        else:
            d.line(pen.pts([(x - 0.22, by), (x + 0.22, by)]), fill=_shade(hair, 0.7), width=pen.width(brow_w))
    nose = {"small": (0.08, 0.18), "wide": (0.18, 0.2), "long": (0.09, 0.32)}[t["nose"]]
    d.polygon(pen.pts([(0, 0.05), (-nose[0], 0.05 + nose[1]), (nose[0], 0.05 + nose[1])]), fill=_shade(skin, 0.82))
    mouth_w = {"thin": 0.26, "full": 0.3, "wide": 0.42}[t["mouth"]]
    my = 0.55 * fh
    lip = (150, 50, 60)
    if var.expression == "laughing":
        d.chord(pen.box(-mouth_w, my - 0.12, mouth_w, my + 0.22), 0, 180, fill=(90, 20, 30))
    elif var.expression == "smiling":
        d.arc(pen.box(-mouth_w, my - 0.2, mouth_w, my + 0.1), 20, 160, fill=lip, width=pen.width(0.07))
    else:
        lw = 0.11 if t["mouth"] == "full" else 0.06
        d.line(pen.pts([(-mouth_w, my), (mouth_w, my)]), fill=lip, width=pen.width(lw))
    facial = t["facial_hair"]
    fcol = _shade(hair, 0.9)
    if facial == "moustache":
        d.rectangle(pen.box(-mouth_w, my - 0.2, mouth_w, my - 0.08), fill=fcol)
    elif facial == "beard":
        d.chord(pen.box(-fw, 0.1 * fh, fw, fh + 0.15), 0, 180, fill=fcol)
        d.ellipse(pen.box(-mouth_w * 0.9, my - 0.1, mouth_w * 0.9, my + 0.1), fill=_shade(skin, 0.9))
    elif facial == "goatee":
        d.ellipse(pen.box(-0.18, my + 0.12, 0.18, my + 0.45), fill=fcol)


def _draw_accessories(pen: _Pen, t: dict[str, str], fh: float, fw: float) -> None:
    d = pen.draw
    eye_y = -0.1 * fh
    glasses = t["glasses"]
    if glasses != "none":
        frame, lw = (20, 20, 20), pen.width(0.06)
        for sx in (-1, 1):
            box = pen.box(sx * 0.38 * fw - 0.26, eye_y - 0.2, sx * 0.38 * fw + 0.26, eye_y + 0.2)
            if glasses == "round glasses":
                d.ellipse(box, outline=frame, width=lw)
            elif glasses == "square glasses":
                d.rectangle(box, outline=frame, width=lw)
            else:
                d.rounded_rectangle(box, radius=pen.u * 0.08, fill=(15, 15, 25))
        d.line(pen.pts([(-0.38 * fw + 0.26, eye_y), (0.38 * fw - 0.26, eye_y)]), fill=frame, width=lw)
    if t["earrings"] == "earrings":
        for sx in (-1, 1):
            x = sx * (fw + 0.02)
            d.ellipse(pen.box(x - 0.09, 0.25, x + 0.09, 0.43), fill=(250, 200, 40))
    hat = t["headwear"]
    hat_col = (200, 30, 40) if hat in ("cap", "headband") else (40, 60, 130)
    if hat == "cap":
        d.chord(pen.box(-fw - 0.08, -fh - 0.3, fw + 0.08, -fh + 0.8), 180, 360, fill=hat_col)
        d.rectangle(pen.box(-fw - 0.08, -fh + 0.2, fw + 0.7, -fh + 0.32), fill=_shade(hat_col, 0.7))
    elif hat == "beanie":
        d.chord(pen.box(-fw - 0.1, -fh - 0.45, fw + 0.1, -fh + 0.9), 180, 360, fill=hat_col)
        d.rectangle(pen.box(-fw - 0.12, -fh + 0.12, fw + 0.12, -fh + 0.36), fill=_shade(hat_col, 1.4))
    elif hat == "headband":
        d.rectangle(pen.box(-fw - 0.05, -fh + 0.18, fw + 0.05, -fh + 0.36), fill=hat_col)
    elif hat == "wide hat":
        d.rectangle(pen.box(-fw - 0.55, -fh + 0.05, fw + 0.55, -fh + 0.2), fill=(60, 40, 25))
        d.rectangle(pen.box(-fw * 0.75, -fh - 0.6, fw * 0.75, -fh + 0.1), fill=(60, 40, 25))


def render_portrait(traits: dict[str, str], var: Variation, size: int) -> Image.Image:
    """Draw one portrait of ``traits`` under ``var``; longest side ``size`` px (RGB)."""
    w, h = canvas_size(size, var.aspect_ratio)
    bg = _shade(PALETTE[traits["background"]], var.bg_shade)
    img = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(img)
    short = min(w, h)
    pen = _Pen(draw, w / 2 + var.dx * short, h / 2 + var.dy * short - 0.02 * short, 0.2 * short * var.scale)
    _draw_background(pen, (w, h), bg, var)
    fh, fw = _FACE_HALF_HEIGHT[traits["face_shape"]], _FACE_HALF_WIDTH[traits["face_shape"]]
    skin, hair = SKIN[traits["skin"]], HAIR[traits["hair_color"]]
    draw.chord(pen.box(-2.1, fh + 0.35, 2.1, fh + 3.6), 180, 360, fill=PALETTE[var.clothes])  # shoulders
    draw.rectangle(pen.box(-0.35, fh * 0.5, 0.35, fh + 0.5), fill=_shade(skin, 0.9))  # neck
    _draw_back_hair(pen, traits, hair, fh, fw)
    for sx in (-1, 1):  # ears
        draw.ellipse(pen.box(sx * fw - 0.15, -0.2, sx * fw + 0.15, 0.3), fill=_shade(skin, 0.92))
    if traits["face_shape"] == "square":
        draw.rounded_rectangle(pen.box(-fw, -fh, fw, fh), radius=pen.u * 0.35, fill=skin)
    else:
        draw.ellipse(pen.box(-fw, -fh, fw, fh), fill=skin)
    _draw_face_features(pen, traits, var, skin, hair, fh, fw)
    _draw_front_hair(pen, traits, hair, fh, fw)
    _draw_accessories(pen, traits, fh, fw)
    if var.angle:
        # NEAREST: the drawing has hard edges anyway and bilinear rotation costs 7x more at 512 px
        img = img.rotate(var.angle, resample=Image.NEAREST, center=(pen.cx, pen.cy), fillcolor=bg)
    return _relight(img, var)


def _relight(img: Image.Image, var: Variation) -> Image.Image:
    """Lighting and sensor noise: ``x' = clip(gain * x + offset + noise)`` (LUT + texture crop: fast)."""
    lut = [int(min(255, max(0, round(var.gain * x + var.offset)))) for x in range(256)] * 3
    img = img.point(lut)
    if NOISE_SIGMAS[var.noise] > 0:
        tex = _noise_texture(max(img.size), var.noise)
        mx, my = tex.size[0] - img.size[0], tex.size[1] - img.size[1]
        x, y = int(var.noise_x * mx), int(var.noise_y * my)
        img = ImageChops.add(img, tex.crop((x, y, x + img.size[0], y + img.size[1])), 1.0, -128)
    return img


@functools.lru_cache(maxsize=16)
def _noise_texture(size: int, level: int) -> Image.Image:
    """A fixed grey noise texture (mean 128) of side ``size * 5 // 4``, seeded by size and level."""
    side = size * 5 // 4
    rng = np.random.default_rng([size, level])
    noise = rng.standard_normal((side, side), dtype=np.float32) * NOISE_SIGMAS[level] + 128
    return Image.fromarray(np.clip(np.rint(noise), 0, 255).astype(np.uint8)).convert("RGB")


def generic_caption(traits: dict[str, str], var: Variation) -> str:
    """A PII-free description of what :func:`render_portrait` drew (no name, no attribute)."""
    style = {"buzz": "buzz-cut", "short": "short", "long": "long", "bun": "", "curly": "curly",
             "mohawk": "mohawk", "bob": "bob-cut"}[traits["hair_style"]]
    hair = f"{traits['hair_color']} hair in a bun" if traits["hair_style"] == "bun" else \
        f"{style} {traits['hair_color']} hair"
    extras = []
    if traits["facial_hair"] != "none":
        extras.append(f"a {traits['facial_hair']}")
    if traits["glasses"] != "none":
        extras.append(traits["glasses"])
    if traits["earrings"] != "none":
        extras.append("earrings")
    wears = [f"{'an' if var.clothes[0] in 'aeiou' else 'a'} {var.clothes} shirt"]
    if traits["headwear"] != "none":
        wears.insert(0, f"a {traits['headwear']}")
    mood = {"neutral": "", "smiling": "smiling ", "laughing": "laughing "}[var.expression]
    parts = f"a portrait of a {mood}person with {hair}"
    if extras:
        parts += ", " + ", ".join(extras)
    return f"{parts}, wearing {' and '.join(wears)}, in front of a {traits['background']} background"


def encode_jpeg(img: Image.Image, quality: int) -> bytes:
    """JPEG bytes with fixed settings (no metadata, no optimisation pass): deterministic."""
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality, subsampling=0 if quality >= 95 else 2)
    return buf.getvalue()


def thumbnail_vector(img: Image.Image) -> np.ndarray:
    """Curation feature: top 80% of the centre square as 12x12 RGB, mean-centred, L2-normalised."""
    w, h = img.size
    s = min(w, h)
    box = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + int(s * THUMB_TOP))
    vec = np.asarray(img.resize((THUMB, THUMB), Image.BOX, box=box), dtype=np.float32).ravel()
    vec -= vec.mean()
    return vec / (np.linalg.norm(vec) + 1e-6)
