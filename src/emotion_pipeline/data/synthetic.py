"""Deterministic synthetic face drawings: a tiny, committable dataset for the pipeline.

Real emotion datasets are large and licence-bound, so the repository ships generated faces
that exercise every stage end to end and are still learnable (the classes differ in brows,
eyes and mouth). Every image has its own seed, so any single file can be regenerated alone.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from emotion_pipeline.core.tables import replacing

CLASSES: tuple[str, ...] = ("angry", "happy", "sad")

# Draw at this multiple of the output size, then downscale: cheap anti-aliasing.
_SUPERSAMPLE = 2
_SKIN_TONES: tuple[tuple[int, int, int], ...] = (
    (255, 224, 189),
    (255, 205, 148),
    (234, 192, 134),
    (224, 172, 105),
    (198, 134, 66),
    (141, 85, 36),
    (250, 214, 80),
)

Point = tuple[float, float]


class _Face:
    """Maps face coordinates (u, v in about [-1, 1], v pointing down) to canvas pixels."""

    def __init__(self, cx: float, cy: float, rx: float, ry: float) -> None:
        self.cx, self.cy, self.rx, self.ry = cx, cy, rx, ry

    def at(self, u: float, v: float) -> Point:
        return (self.cx + u * self.rx, self.cy + v * self.ry)

    def curve(self, u0: float, u1: float, v: float, bend: float, n: int = 16) -> list[Point]:
        """Parabola from (u0, v) to (u1, v); bend > 0 sags the middle down (a smile)."""
        t = np.linspace(-1.0, 1.0, n)
        us = (u0 + u1) / 2 + t * (u1 - u0) / 2
        vs = v + bend * (1 - t**2)
        return [self.at(float(u), float(w)) for u, w in zip(us, vs, strict=True)]

    def box(self, u: float, v: float, half_w: float, half_h: float) -> tuple[Point, Point]:
        """Bounding box of an ellipse centred at (u, v), half sizes in face units."""
        return (self.at(u - half_w, v - half_h), self.at(u + half_w, v + half_h))


@dataclass(frozen=True)
class _Pen:
    """What every feature is drawn with: the canvas, the face's frame, the random source, the
    emotion, the ink colour and the line width."""

    draw: ImageDraw.ImageDraw
    face: _Face
    rng: np.random.Generator
    emotion: str
    ink: tuple[int, int, int]
    lw: int


def _colour(values: np.ndarray) -> tuple[int, int, int]:
    r, g, b = (int(c) for c in np.clip(np.round(values), 0, 255))
    return (r, g, b)


def _background(rng: np.random.Generator, side: int) -> Image.Image:
    """Flat colour or, sometimes, a linear gradient, so the model cannot key on one backdrop."""
    c0 = rng.integers(30, 256, 3).astype(float)
    if rng.random() < 0.6:
        return Image.new("RGB", (side, side), _colour(c0))
    c1 = rng.integers(30, 256, 3).astype(float)
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:side, 0:side] / (side - 1)
    t = xs * np.cos(angle) + ys * np.sin(angle)
    t = (t - t.min()) / (t.max() - t.min())
    pixels = c0 + (c1 - c0) * t[..., None]
    return Image.fromarray(np.round(pixels).astype(np.uint8), "RGB")


def _eyes(pen: _Pen) -> tuple[float, float]:
    """Draw both eyes; returns (eye_u, eye_v) so brows and tears can be placed relative to them."""
    draw, face, rng, emotion, ink, lw = pen.draw, pen.face, pen.rng, pen.emotion, pen.ink, pen.lw
    eye_u = rng.uniform(0.32, 0.42)
    eye_v = rng.uniform(-0.22, -0.1)
    half_w = rng.uniform(0.1, 0.14)
    happy_crescents = emotion == "happy" and rng.random() < 0.35
    openness = {
        "angry": rng.uniform(0.3, 0.45),
        "happy": rng.uniform(0.8, 1.0),
        "sad": rng.uniform(0.8, 1.05),
    }[emotion]
    for side in (-1, 1):
        u = side * eye_u + rng.normal(0, 0.01)
        if happy_crescents:
            points = face.curve(u - half_w, u + half_w, eye_v + 0.03, -0.08)
            draw.line(points, fill=ink, width=lw, joint="curve")
            continue
        half_h = half_w * openness * face.rx / face.ry
        draw.ellipse(
            face.box(u, eye_v, half_w, half_h),
            fill=(250, 250, 250),
            outline=ink,
            width=max(1, lw // 2),
        )
        pupil = min(half_w * 0.5, half_h * 0.9 * face.ry / face.rx)
        draw.ellipse(face.box(u, eye_v, pupil, pupil * face.rx / face.ry), fill=ink)
    return eye_u, eye_v


def _brows(pen: _Pen, eye_u: float, eye_v: float) -> None:
    """Brow slant carries most of the emotion: V for angry, inverted V for sad, arches for happy."""
    draw, face, rng, emotion, ink, lw = pen.draw, pen.face, pen.rng, pen.emotion, pen.ink, pen.lw
    base = eye_v - rng.uniform(0.2, 0.27)
    inner = rng.uniform(0.1, 0.18)
    outer = eye_u + rng.uniform(0.14, 0.2)
    slant = rng.uniform(0.08, 0.14)
    width = max(1, round(lw * rng.uniform(1.2, 1.8)))
    for side in (-1, 1):
        jitter = rng.normal(0, 0.012, 2)
        if emotion == "happy":
            points = face.curve(side * inner, side * outer, base - 0.05 + jitter[0], -0.07)
        else:
            direction = 1 if emotion == "angry" else -1  # angry: inner end drops to the nose
            points = [
                face.at(side * inner, base + direction * slant + jitter[0]),
                face.at(side * outer, base - direction * slant * 0.8 + jitter[1]),
            ]
        draw.line(points, fill=ink, width=width, joint="curve")


def _mouth(pen: _Pen) -> None:
    """Smile arc (sometimes open) for happy, frown arc for sad, short tight line for angry."""
    draw, face, rng, emotion, ink, lw = pen.draw, pen.face, pen.rng, pen.emotion, pen.ink, pen.lw
    v = rng.uniform(0.42, 0.55) + rng.normal(0, 0.01)
    u = rng.normal(0, 0.02)
    if emotion == "happy":
        half = rng.uniform(0.3, 0.45)
        bend = rng.uniform(0.14, 0.24)
        if rng.random() < 0.5:
            upper = face.curve(u - half, u + half, v, bend * 0.25)
            lower = face.curve(u - half, u + half, v, bend)
            draw.polygon(upper + lower[::-1], fill=(120, 20, 30), outline=ink, width=lw)
        else:
            draw.line(face.curve(u - half, u + half, v, bend), fill=ink, width=lw, joint="curve")
    elif emotion == "sad":
        half = rng.uniform(0.24, 0.36)
        bend = -rng.uniform(0.12, 0.2)
        draw.line(face.curve(u - half, u + half, v + 0.06, bend), fill=ink, width=lw, joint="curve")
    else:
        half = rng.uniform(0.17, 0.28)
        if rng.random() < 0.35:  # gritted teeth
            draw.rectangle(
                face.box(u, v, half, 0.05), fill=(245, 245, 240), outline=ink, width=max(1, lw // 2)
            )
            draw.line([face.at(u - half, v), face.at(u + half, v)], fill=ink, width=1)
        else:
            draw.line(
                face.curve(u - half, u + half, v, -rng.uniform(0.0, 0.06)),
                fill=ink,
                width=lw + 1,
                joint="curve",
            )


def _tear(pen: _Pen, eye_u: float, eye_v: float) -> None:
    """A blue drop under one eye: an optional, redundant cue for sad."""
    draw, face, rng = pen.draw, pen.face, pen.rng
    u = eye_u * (1 if rng.random() < 0.5 else -1)
    v = eye_v + rng.uniform(0.17, 0.25)
    r = rng.uniform(0.045, 0.06)
    colour = (90, 160, 235)
    draw.ellipse(face.box(u, v, r, r * face.rx / face.ry), fill=colour)
    draw.polygon(
        [face.at(u - r * 0.95, v - 0.01), face.at(u + r * 0.95, v - 0.01), face.at(u, v - r * 3)],
        fill=colour,
    )


def draw_face(emotion: str, rng: np.random.Generator, size: int) -> Image.Image:
    """Render one face; all randomness comes from rng so the image is reproducible."""
    side = size * _SUPERSAMPLE
    canvas = _background(rng, side)
    ry = side * rng.uniform(0.55, 0.85) / 2
    rx = ry * rng.uniform(0.78, 0.92)
    margin = 0.02 * side
    cx = side / 2 + rng.uniform(-1, 1) * max(0.0, side / 2 - rx - margin)
    cy = side / 2 + rng.uniform(-1, 1) * max(0.0, side / 2 - ry - margin)
    face = _Face(cx, cy, rx, ry)
    lw = max(1, round(ry * rng.uniform(0.045, 0.07)))
    skin = _colour(np.array(_SKIN_TONES[rng.integers(len(_SKIN_TONES))]) + rng.normal(0, 8, 3))
    ink = _colour(rng.integers(10, 70, 3))

    layer = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    draw.ellipse(face.box(0, 0, 1, 1), fill=skin, outline=ink, width=lw)
    pen = _Pen(draw, face, rng, emotion, ink, lw)
    eye_u, eye_v = _eyes(pen)
    _brows(pen, eye_u, eye_v)
    _mouth(pen)
    if emotion == "sad" and rng.random() < 0.5:
        _tear(pen, eye_u, eye_v)
    layer = layer.rotate(rng.uniform(-12, 12), resample=Image.Resampling.BICUBIC, center=(cx, cy))
    canvas.paste(layer, (0, 0), layer)

    small = np.asarray(canvas.resize((size, size), Image.Resampling.LANCZOS), dtype=float)
    noisy = small + rng.normal(0, rng.uniform(2, 6), small.shape)
    return Image.fromarray(np.clip(np.round(noisy), 0, 255).astype(np.uint8), "RGB")


def generate_sample(out_dir: Path, per_class: int = 40, size: int = 160, seed: int = 0) -> dict[str, int]:
    """Write out_dir/<class>/<class>_NNN.jpg for every class; returns the count per class.

    Earlier outputs of this generator are deleted first, so a rerun yields exactly the same tree.
    """
    counts: dict[str, int] = {}
    for class_index, emotion in enumerate(CLASSES):
        class_dir = Path(out_dir) / emotion
        class_dir.mkdir(parents=True, exist_ok=True)
        for stale in class_dir.glob(f"{emotion}_*.jpg"):
            stale.unlink()
        for index in range(per_class):
            rng = np.random.default_rng([seed, class_index, index])
            image = draw_face(emotion, rng, size)
            # Fixed encoder options: the bytes depend only on the pixels and the Pillow version.
            with replacing(class_dir / f"{emotion}_{index:03d}.jpg") as tmp:
                image.save(
                    tmp,
                    "JPEG",
                    quality=85,
                    optimize=True,
                    progressive=False,
                    subsampling="4:2:0",
                )
        counts[emotion] = per_class
    return counts


def main() -> None:
    """Command line entry point: regenerate the committed sample dataset."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/sample"))
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    counts = generate_sample(args.out, args.per_class, args.size, args.seed)
    for emotion, count in counts.items():
        print(f"{emotion}: {count}")


if __name__ == "__main__":
    main()
