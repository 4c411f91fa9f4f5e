"""Procedural non-person scenes: the general retain corpus, retain_disjoint and the zero-shot set.

A scene shows 1-3 copies of one object class (circle, star, house, fish, ...) in one colour on a
coloured background, sometimes with a smaller second object. Objects are large, flat and high
contrast, so the class is learnable at a 32 px model input. Captions describe what was drawn
("two red stars and a small blue circle on a yellow background"); the zero-shot set labels the
main object class and ships class names + prompt templates (our GenKnow stand-in for ImageNet).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from salmubench.data.generate.faces import PALETTE, canvas_size

# Class names all start with a consonant so "a photo of a {}." reads well.
OBJECT_CLASSES = ("circle", "square", "triangle", "star", "heart", "cross", "diamond", "hexagon",
                  "ring", "crescent", "house", "tree", "flower", "sun", "cloud", "fish", "car",
                  "boat", "mushroom", "cup", "key", "bell", "leaf", "kite", "candle", "pine tree",
                  "lollipop", "tent")
_PLURAL = {"cross": "crosses", "fish": "fish", "leaf": "leaves"}
OBJECT_COLORS = ("red", "orange", "yellow", "green", "teal", "blue", "purple", "pink", "black", "white")
SCENE_BACKGROUNDS = ("white", "grey", "yellow", "green", "blue", "pink", "orange", "teal", "purple", "black")
# The general corpus and the zero-shot set use a reduced palette (our choice, docs/data.md "GenKnow
# stand-in"): with 10 colours x 10 backgrounds, colour + background alone tell almost every caption of
# a batch apart, so a tiny CLIP never needs the object class (GenKnow stayed at chance). With 3 x 2,
# in-batch contrast needs the class, and a 32 px model learns it in a few hundred steps.
GENERAL_COLORS = ("red", "blue", "black")
GENERAL_BACKGROUNDS = ("white", "grey")
# Zero-shot prompts in the grammar of the class-only captions (as CLIP's ImageNet prompts are in the
# grammar of web alt-text); "{}" is the class name.
ZEROSHOT_TEMPLATES = ("a {}", "a picture of a {}", "an illustration showing a {}")
_COUNT_WORDS = ("a", "two", "three")
N_FULL_STYLES = 4  # scene_caption styles 0..3 name colour and background
N_CLASS_ONLY_STYLES = 3  # styles 4..6 name only count and class


def plural(name: str, count: int) -> str:
    """``star`` -> ``stars`` for count > 1 (a few irregular forms)."""
    if count == 1:
        return name
    return _PLURAL.get(name, name + "s")


def _poly(cx: float, cy: float, r: float, pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(cx + x * r, cy + y * r) for x, y in pts]


def _star(n: int, inner: float) -> list[tuple[float, float]]:
    return [((1 if i % 2 == 0 else inner) * math.sin(i * math.pi / n),
             -(1 if i % 2 == 0 else inner) * math.cos(i * math.pi / n)) for i in range(2 * n)]


def _box(cx: float, cy: float, r: float) -> list[float]:
    return [cx - r, cy - r, cx + r, cy + r]


def _dark(col: tuple) -> tuple:
    return tuple(int(c * 0.55) for c in col)


def _lw(r: float) -> int:
    return max(1, int(r * 0.3))


_DRAWERS: dict[str, Callable[..., None]] = {}


def _shape(name: str) -> Callable:
    """Register a drawer ``fn(d, cx, cy, r, col, bg)`` for object class ``name``."""
    def deco(fn: Callable[..., None]) -> Callable[..., None]:
        _DRAWERS[name] = fn
        return fn
    return deco


def draw_object(d: ImageDraw.ImageDraw, kind: str, cx: float, cy: float, r: float, col: tuple, bg: tuple) -> None:
    """Draw one object of class ``kind`` centred at (cx, cy) with radius ``r`` (KeyError if unknown)."""
    _DRAWERS[kind](d, cx, cy, r, col, bg)


@_shape("circle")
def _draw_circle(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, col: tuple, bg: tuple) -> None:
    d.ellipse(_box(cx, cy, r), fill=col)


@_shape("square")
def _draw_square(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, col: tuple, bg: tuple) -> None:
    d.rectangle([cx - r * 0.85, cy - r * 0.85, cx + r * 0.85, cy + r * 0.85], fill=col)


@_shape("triangle")
def _draw_triangle(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, col: tuple, bg: tuple) -> None:
    d.polygon(_poly(cx, cy, r, [(0, -1), (1, 0.8), (-1, 0.8)]), fill=col)


@_shape("star")
def _draw_star(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, col: tuple, bg: tuple) -> None:
    d.polygon(_poly(cx, cy, r, _star(5, 0.42)), fill=col)


@_shape("heart")
def _draw_heart(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, col: tuple, bg: tuple) -> None:
    d.ellipse([cx - r, cy - r * 0.7, cx, cy + r * 0.2], fill=col)
    d.ellipse([cx, cy - r * 0.7, cx + r, cy + r * 0.2], fill=col)
    d.polygon(_poly(cx, cy, r, [(-0.97, -0.1), (0.97, -0.1), (0, 1)]), fill=col)


@_shape("cross")
def _draw_cross(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, col: tuple, bg: tuple) -> None:
    d.rectangle([cx - r * 0.3, cy - r, cx + r * 0.3, cy + r], fill=col)
    d.rectangle([cx - r, cy - r * 0.3, cx + r, cy + r * 0.3], fill=col)


@_shape("diamond")
def _draw_diamond(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, col: tuple, bg: tuple) -> None:
    d.polygon(_poly(cx, cy, r, [(0, -1), (0.65, 0), (0, 1), (-0.65, 0)]), fill=col)


@_shape("hexagon")
def _draw_hexagon(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, col: tuple, bg: tuple) -> None:
    d.polygon(_poly(cx, cy, r, [(math.cos(a), math.sin(a)) for a in np.arange(6) * math.pi / 3]), fill=col)


@_shape("ring")
def _draw_ring(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, col: tuple, bg: tuple) -> None:
    d.ellipse(_box(cx, cy, r), outline=col, width=_lw(r))


@_shape("crescent")
def _draw_crescent(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, col: tuple, bg: tuple) -> None:
    d.ellipse(_box(cx, cy, r), fill=col)
    d.ellipse([cx - r * 0.45, cy - r * 1.0, cx + r * 1.3, cy + r * 0.75], fill=bg)


@_shape("house")
def _draw_house(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, col: tuple, bg: tuple) -> None:
    d.rectangle([cx - r * 0.7, cy - r * 0.1, cx + r * 0.7, cy + r], fill=col)
    d.polygon(_poly(cx, cy, r, [(-0.95, -0.1), (0, -1), (0.95, -0.1)]), fill=_dark(col))
    d.rectangle([cx - r * 0.15, cy + r * 0.4, cx + r * 0.15, cy + r], fill=bg)


@_shape("tree")
def _draw_tree(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, col: tuple, bg: tuple) -> None:
    d.rectangle([cx - r * 0.15, cy + r * 0.2, cx + r * 0.15, cy + r], fill=(110, 70, 30))
    d.ellipse([cx - r * 0.8, cy - r, cx + r * 0.8, cy + r * 0.4], fill=col)


@_shape("pine tree")
def _draw_pine_tree(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, col: tuple, bg: tuple) -> None:
    d.rectangle([cx - r * 0.12, cy + r * 0.6, cx + r * 0.12, cy + r], fill=(110, 70, 30))
    d.polygon(_poly(cx, cy, r, [(0, -1), (0.75, 0.65), (-0.75, 0.65)]), fill=col)


@_shape("flower")
def _draw_flower(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, col: tuple, bg: tuple) -> None:
    for a in np.arange(5) * 2 * math.pi / 5:
        px, py = cx + math.sin(a) * r * 0.55, cy - math.cos(a) * r * 0.55
        d.ellipse([px - r * 0.42, py - r * 0.42, px + r * 0.42, py + r * 0.42], fill=col)
    d.ellipse([cx - r * 0.3, cy - r * 0.3, cx + r * 0.3, cy + r * 0.3], fill=(250, 220, 40))


@_shape("sun")
def _draw_sun(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, col: tuple, bg: tuple) -> None:
    d.polygon(_poly(cx, cy, r, _star(10, 0.65)), fill=col)
    d.ellipse([cx - r * 0.55, cy - r * 0.55, cx + r * 0.55, cy + r * 0.55], fill=_dark(col))


@_shape("cloud")
def _draw_cloud(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, col: tuple, bg: tuple) -> None:
    for ox, oy, s in ((-0.45, 0.15, 0.5), (0.45, 0.15, 0.5), (0, -0.15, 0.6)):
        d.ellipse([cx + (ox - s) * r, cy + (oy - s) * r, cx + (ox + s) * r, cy + (oy + s) * r], fill=col)


@_shape("fish")
def _draw_fish(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, col: tuple, bg: tuple) -> None:
    d.ellipse([cx - r * 0.8, cy - r * 0.5, cx + r * 0.5, cy + r * 0.5], fill=col)
    d.polygon(_poly(cx, cy, r, [(0.35, 0), (1, -0.55), (1, 0.55)]), fill=col)
    d.ellipse([cx - r * 0.55, cy - r * 0.2, cx - r * 0.35, cy], fill=bg)


@_shape("car")
def _draw_car(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, col: tuple, bg: tuple) -> None:
    d.rectangle([cx - r, cy - r * 0.1, cx + r, cy + r * 0.45], fill=col)
    d.rectangle([cx - r * 0.55, cy - r * 0.55, cx + r * 0.45, cy - r * 0.1], fill=col)
    for ox in (-0.55, 0.55):
        d.ellipse([cx + (ox - 0.25) * r, cy + r * 0.25, cx + (ox + 0.25) * r, cy + r * 0.75], fill=(25, 25, 25))


@_shape("boat")
def _draw_boat(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, col: tuple, bg: tuple) -> None:
    d.polygon(_poly(cx, cy, r, [(-1, 0.3), (1, 0.3), (0.65, 0.85), (-0.65, 0.85)]), fill=_dark(col))
    d.polygon(_poly(cx, cy, r, [(0.05, -1), (0.05, 0.2), (0.8, 0.2)]), fill=col)


@_shape("mushroom")
def _draw_mushroom(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, col: tuple, bg: tuple) -> None:
    d.rectangle([cx - r * 0.22, cy, cx + r * 0.22, cy + r], fill=(235, 225, 200))
    d.chord([cx - r, cy - r * 0.8, cx + r, cy + r * 0.4], 180, 360, fill=col)


@_shape("cup")
def _draw_cup(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, col: tuple, bg: tuple) -> None:
    d.rectangle([cx - r * 0.6, cy - r * 0.6, cx + r * 0.4, cy + r * 0.8], fill=col)
    d.ellipse([cx + r * 0.2, cy - r * 0.35, cx + r * 0.95, cy + r * 0.45], outline=col, width=_lw(r))


@_shape("key")
def _draw_key(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, col: tuple, bg: tuple) -> None:
    d.ellipse([cx - r, cy - r * 0.45, cx - r * 0.1, cy + r * 0.45], outline=col, width=_lw(r))
    d.rectangle([cx - r * 0.15, cy - r * 0.12, cx + r, cy + r * 0.12], fill=col)
    d.rectangle([cx + r * 0.6, cy, cx + r * 0.8, cy + r * 0.45], fill=col)


@_shape("bell")
def _draw_bell(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, col: tuple, bg: tuple) -> None:
    d.chord([cx - r * 0.7, cy - r, cx + r * 0.7, cy + r * 0.6], 180, 360, fill=col)
    d.rectangle([cx - r * 0.7, cy - r * 0.2, cx + r * 0.7, cy + r * 0.55], fill=col)
    d.ellipse([cx - r * 0.2, cy + r * 0.5, cx + r * 0.2, cy + r * 0.9], fill=_dark(col))


@_shape("leaf")
def _draw_leaf(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, col: tuple, bg: tuple) -> None:
    d.ellipse([cx - r * 0.45, cy - r, cx + r * 0.45, cy + r], fill=col)
    d.line([(cx, cy - r * 0.9), (cx, cy + r)], fill=_dark(col), width=max(1, _lw(r) // 2))


@_shape("kite")
def _draw_kite(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, col: tuple, bg: tuple) -> None:
    d.polygon(_poly(cx, cy, r, [(0, -1), (0.6, -0.3), (0, 0.7), (-0.6, -0.3)]), fill=col)
    d.line([(cx, cy + r * 0.7), (cx - r * 0.3, cy + r)], fill=_dark(col), width=max(1, _lw(r) // 2))


@_shape("candle")
def _draw_candle(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, col: tuple, bg: tuple) -> None:
    d.rectangle([cx - r * 0.3, cy - r * 0.4, cx + r * 0.3, cy + r], fill=col)
    d.ellipse([cx - r * 0.15, cy - r, cx + r * 0.15, cy - r * 0.45], fill=(250, 180, 30))


@_shape("lollipop")
def _draw_lollipop(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, col: tuple, bg: tuple) -> None:
    d.rectangle([cx - r * 0.08, cy, cx + r * 0.08, cy + r], fill=(235, 235, 235))
    d.ellipse([cx - r * 0.6, cy - r, cx + r * 0.6, cy + r * 0.2], fill=col)


@_shape("tent")
def _draw_tent(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, col: tuple, bg: tuple) -> None:
    d.polygon(_poly(cx, cy, r, [(0, -0.9), (1, 0.8), (-1, 0.8)]), fill=col)
    d.polygon(_poly(cx, cy, r, [(0, -0.1), (0.3, 0.8), (-0.3, 0.8)]), fill=_dark(col))


@dataclass(frozen=True)
class SceneSpec:
    """What one scene shows."""

    kind: str
    color: str
    count: int  # 1..3
    background: str
    aspect_ratio: float = 1.0
    second_kind: str | None = None  # a smaller second object of another class
    second_color: str | None = None
    layout_seed: int = 0


def sample_scene(rng: np.random.Generator, classes: tuple[str, ...], aspect_ratios: tuple[float, ...],
                 kind: str | None = None, second_prob: float = 0.3,
                 colors: tuple[str, ...] = OBJECT_COLORS, backgrounds: tuple[str, ...] = SCENE_BACKGROUNDS) -> SceneSpec:
    """Draw a scene; ``kind`` fixes the main object class (zero-shot set); ``colors`` / ``backgrounds``
    restrict the palette (``GENERAL_COLORS`` / ``GENERAL_BACKGROUNDS`` for the general corpus)."""
    kind = kind or classes[int(rng.integers(len(classes)))]
    bg = backgrounds[int(rng.integers(len(backgrounds)))]
    colors = [c for c in colors if c != bg]
    color = colors[int(rng.integers(len(colors)))]
    second = second_color = None
    if rng.random() < second_prob:
        second = [c for c in classes if c != kind][int(rng.integers(len(classes) - 1))]
        second_color = colors[int(rng.integers(len(colors)))]
    return SceneSpec(kind, color, int(rng.integers(1, 4)), bg,
                     float(aspect_ratios[int(rng.integers(len(aspect_ratios)))]), second, second_color,
                     int(rng.integers(2**31)))


_SLOTS = {1: [(0.5, 0.5)], 2: [(0.28, 0.42), (0.72, 0.58)], 3: [(0.25, 0.3), (0.75, 0.32), (0.5, 0.75)]}


def render_scene(spec: SceneSpec, size: int) -> Image.Image:
    """Draw ``spec`` with longest side ``size`` (RGB)."""
    w, h = canvas_size(size, spec.aspect_ratio)
    bg = PALETTE[spec.background]
    img = Image.new("RGB", (w, h), bg)
    d = ImageDraw.Draw(img)
    rng = np.random.default_rng(spec.layout_seed)
    short = min(w, h)
    r = short * {1: 0.34, 2: 0.22, 3: 0.19}[spec.count] * rng.uniform(0.85, 1.1)
    for sx, sy in _SLOTS[spec.count]:
        jx, jy = rng.uniform(-0.04, 0.04, 2)
        draw_object(d, spec.kind, w * (sx + jx), h * (sy + jy), r, PALETTE[spec.color], bg)
    if spec.second_kind:
        corner = [(0.15, 0.15), (0.85, 0.15), (0.15, 0.85), (0.85, 0.85)][int(rng.integers(4))]
        draw_object(d, spec.second_kind, w * corner[0], h * corner[1], short * 0.11,
                    PALETTE[spec.second_color or "black"], bg)
    return img


def _a(word: str) -> str:
    """The indefinite article for ``word``."""
    return "an" if word[0] in "aeiou" else "a"


def scene_caption(spec: SceneSpec, style: int = 0) -> str:
    """A descriptive caption of ``spec`` (what was drawn).

    Styles ``0..3`` name count, colour, class and background ("two red stars on a grey background");
    styles ``4..6`` name only count and class ("a picture of two stars"), the grammar of the zero-shot
    prompts. Other values wrap around.
    """
    noun = plural(spec.kind, spec.count)
    style %= N_FULL_STYLES + N_CLASS_ONLY_STYLES
    if style >= N_FULL_STYLES:
        main = f"{_a(noun)} {noun}" if spec.count == 1 else f"{_COUNT_WORDS[spec.count - 1]} {noun}"
        if spec.second_kind:
            main += f" and a small {spec.second_kind}"
        return (main, f"a picture of {main}", f"an illustration showing {main}")[style - N_FULL_STYLES]
    count = _a(spec.color) if spec.count == 1 else _COUNT_WORDS[spec.count - 1]
    main = f"{count} {spec.color} {noun}"
    if spec.second_kind:
        main += f" and a small {spec.second_color} {spec.second_kind}"
    bg = f"{_a(spec.background)} {spec.background}"
    forms = (f"{main} on {bg} background",
             f"a picture of {main} on {bg} background",
             f"an illustration showing {main}, {spec.background} background",
             f"{spec.background} background with {main}")
    return forms[style]
