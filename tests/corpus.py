"""A messy image folder generated on the fly: every kind of bad or odd input seen in real data sets.

Nothing binary is committed: `make_corpus` writes the files and says, for each, whether the split
must use it or skip it (and why), plus the colours the loader must produce where that proves a
conversion (alpha, palette, 16-bit, CMYK, EXIF rotation, first GIF frame).
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

RGB = tuple[int, int, int]
RED: RGB = (255, 0, 0)
GREEN: RGB = (0, 160, 0)
BLUE: RGB = (0, 0, 255)
WHITE: RGB = (255, 255, 255)
CYAN: RGB = (0, 255, 255)
PLUM: RGB = (200, 30, 90)

GOOD_CLASSES = ("happy", "sad")
EMPTY_CLASS = "surprised"  # a class folder with nothing in it
UNREADABLE_CLASS = "disgust"  # a class folder whose only file is not an image


@dataclass(frozen=True)
class Expectation:
    """What must happen to one corpus file, in the loader and in the split stage.

    `regions` maps a part of the loaded image ("all", or "top", "bottom", "left", "right": the outer
    quarter on that side) to the colour it must have there, within `tolerance` per channel.
    """

    what: str  # the input, in words, for reports
    load_error: str = ""  # a substring of load_image's ImageError; empty when the file decodes
    ignored: str = ""  # find_images' reason when the file is never even tried (hidden, outside a class)
    large: bool = False  # over LARGE_BYTES to decode: a server answers 429 while another such one decodes
    regions: Mapping[str, RGB] = field(default_factory=dict)
    tolerance: int = 12

    @property
    def used(self) -> bool:
        """Whether the split stage puts it in train, val or test."""
        return not (self.load_error or self.ignored)

    @property
    def reason(self) -> str:
        """A substring of its reason in skipped.csv, when not used."""
        return self.ignored or self.load_error


def image(
    what: str, regions: Mapping[str, RGB] | None = None, tolerance: int = 12, large: bool = False
) -> Expectation:
    """A file that must load (and be used), with the colours that prove its conversion."""
    return Expectation(what, regions=regions or {}, tolerance=tolerance, large=large)


def bad(what: str, load_error: str) -> Expectation:
    """A file the loader must refuse, whatever its name says."""
    return Expectation(what, load_error=load_error)


def noise(seed: int, size: tuple[int, int] = (48, 40)) -> Image.Image:
    """Random RGB pixels: a valid image that differs for each seed."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    """The image as the bytes of a `fmt` file."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def halves(left: RGB, right: RGB, size: tuple[int, int] = (64, 64)) -> Image.Image:
    """An RGB image whose left half is one colour and right half another."""
    image = Image.new("RGB", size, right)
    image.paste(left, (0, 0, size[0] // 2, size[1]))
    return image


def _chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, body and CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def uniform_png(
    width: int, height: int, bit_depth: int = 1, palette: RGB | None = None, channels: int = 1
) -> bytes:
    """A valid PNG of one colour (all samples 0), built without ever holding its pixels.

    Greyscale (black) unless `palette` gives the one colour; `channels` 2 to 4 make it greyscale with
    alpha, RGB or RGBA (transparent black). The zero rows are deflated in blocks with a full flush,
    which makes every block's bytes identical: a 50,000 x 50,000 image costs a few hundred KB and
    milliseconds, like a real decompression bomb.
    """
    row = bytes(1 + (width * channels * bit_depth + 7) // 8)  # filter byte 0, then the samples
    rows_per_block = max(1, min(height, (1 << 22) // len(row)))
    blocks, rest = divmod(height, rows_per_block)
    compressor = zlib.compressobj(9)
    head = compressor.compress(row * rows_per_block) + compressor.flush(zlib.Z_FULL_FLUSH)
    body = (
        compressor.compress(row * rows_per_block) + compressor.flush(zlib.Z_FULL_FLUSH) if blocks > 1 else b""
    )
    tail = compressor.compress(row * rest) + compressor.flush()
    # The trailer is the Adler-32 of all the zeros: a = 1, b = their count (mod 65521).
    adler = ((len(row) * height) % 65521) << 16 | 1
    stream = head + body * (blocks - 1) + tail[:-4] + struct.pack(">I", adler)
    colour_type = 3 if palette is not None else {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    chunks = [_chunk(b"IHDR", header)]
    if palette is not None:
        chunks.append(_chunk(b"PLTE", bytes(palette)))
    chunks += [_chunk(b"IDAT", stream), _chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def _rgba() -> bytes:
    """Left half fully transparent *red*: a loader that drops alpha instead of flattening shows red."""
    pixels = np.zeros((64, 64, 4), np.uint8)
    pixels[:, :32] = (*RED, 0)
    pixels[:, 32:] = (*BLUE, 255)
    return encode(Image.fromarray(pixels, "RGBA"), "PNG")


def _palette() -> bytes:
    """Palette image whose index 0 (green) is transparent, so it must come out white."""
    image = Image.new("P", (64, 64), 1)
    image.putpalette([*GREEN, *BLUE])
    image.paste(0, (0, 0, 32, 64))
    return encode(image, "PNG", transparency=0)


def _sixteen_bit(top: int, bottom: int) -> bytes:
    """A 16-bit greyscale PNG; a mid value tells scaling (x/257) from clipping (min(x, 255))."""
    pixels = np.full((64, 64), bottom, np.uint16)
    pixels[:32] = top
    image = Image.fromarray(pixels)
    assert image.mode == "I;16"
    return encode(image, "PNG")


def _animated_gif() -> bytes:
    """Three frames of different colours: only the first one may be used."""
    frames = [Image.new("RGB", (32, 32), colour) for colour in (RED, BLUE, GREEN)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def _exif_rotated() -> bytes:
    """40x20 stored with left red, right blue; orientation 6 (rotate 90 clockwise) puts red on top."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(halves(RED, BLUE, (40, 20)), "JPEG", quality=95, exif=exif)


def _unsupported_dds() -> bytes:
    """A DDS texture whose pixel-format code Pillow does not implement (it raised NotImplementedError)."""
    data = bytearray(encode(noise(4, (16, 16)), "DDS"))
    data[80:88] = struct.pack("<I", 0x4) + b"ZZZZ"  # pixel format flags: FOURCC; an unknown four-cc
    return bytes(data)


def _camera_mpo() -> bytes:
    """A multi-picture JPEG (red, then blue) as many cameras write: Pillow calls its format "MPO"."""
    frames = [Image.new("RGB", (40, 30), colour) for colour in (RED, BLUE)]
    return encode(frames[0], "MPO", save_all=True, append_images=frames[1:], quality=95)


# A minimal EPS file: Pillow would hand it to Ghostscript to draw.
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n0 0 moveto 8 8 lineto stroke\nshowpage\n%%EOF\n"
# The start of a Photoshop file: signature, version 1, then a header Pillow would go on to parse.
PSD = b"8BPS\x00\x01" + bytes(20)


def _truncated_jpeg() -> bytes:
    """The first half of a JPEG, as an interrupted copy leaves it."""
    data = encode(noise(3, (200, 150)), "JPEG")
    return data[: len(data) // 2]


def corpus_files() -> dict[str, tuple[bytes, Expectation]]:
    """The messy data set in memory: path relative to the data folder (POSIX) -> (bytes, expectation).

    `happy` and `sad` each keep at least seven usable images, so a split succeeds; `disgust` holds
    only a non-image (and `make_corpus` adds the empty folder `surprised`).
    """
    happy, sad = GOOD_CLASSES
    grey: RGB = (128, 128, 128)
    not_image, hidden, ds_store = "not an image", "hidden file", b"\0\0\0\1Bud1"
    unsupported = "unsupported kind of image"
    entries: list[tuple[str, bytes, Expectation]] = [
        # Bad content, whatever the name says.
        (f"{sad}/empty.jpg", b"", bad("zero-byte file", "empty file")),
        (f"{sad}/truncated.jpg", _truncated_jpeg(), bad("truncated JPEG", "truncated")),
        (f"{sad}/notes.jpg", b"shopping list: eggs\n", bad("text file named .jpg", "not an image")),
        (
            f"{sad}/noise.png",
            np.random.default_rng(1).bytes(3000),
            bad("random bytes named .png", "not an image"),
        ),
        (
            f"{sad}/bomb 50k.png",
            uniform_png(50_000, 50_000),
            bad("PNG bomb: 50,000 x 50,000 zeros, 300 KB", "decompression bomb"),
        ),
        (
            f"{sad}/bomb 11k.png",
            uniform_png(11_000, 11_000),
            bad("PNG of 11,000 x 11,000, just over the limit", "decompression bomb"),
        ),
        (
            f"{sad}/texture.png",
            _unsupported_dds(),
            bad("DDS texture named .png: a format Pillow reads, not on the list", "unsupported"),
        ),
        (f"{sad}/scan.tif", encode(noise(5), "TIFF"), bad("TIFF, a format Pillow reads", unsupported)),
        (f"{sad}/figure.jpg", EPS, bad("EPS named .jpg (Pillow runs Ghostscript)", unsupported)),
        (f"{sad}/layers.png", PSD, bad("Photoshop header named .png", unsupported)),
        (f"{sad}/favicon.ico", encode(noise(6, (16, 16)), "ICO"), bad("Windows icon", unsupported)),
        (
            f"{sad}/rgba 10k.png",
            uniform_png(10_000, 10_000, 8, channels=4),
            bad("RGBA PNG of 10,000 x 10,000 in 390 KB: 763 MiB to decode", "too large to decode"),
        ),
        (
            f"{UNREADABLE_CLASS}/page.png",
            b"<html></html>",
            bad("HTML named .png, alone in its class", "not an"),
        ),
        # Odd but valid images, with the pixels the loader must produce.
        (
            f"{happy}/webp named.jpg",
            encode(Image.new("RGB", (40, 40), GREEN), "WEBP", lossless=True),
            image("WebP named .jpg", {"all": GREEN}),
        ),
        (
            f"{happy}/rgba.png",
            _rgba(),
            image("RGBA PNG, left half transparent", {"left": WHITE, "right": BLUE}),
        ),
        (
            f"{happy}/palette.png",
            _palette(),
            image("P PNG, transparent index", {"left": WHITE, "right": BLUE}),
        ),
        (
            f"{happy}/grey16.png",
            _sixteen_bit(0x8080, 0xFFFF),
            image("16-bit (I;16) PNG, mid grey over white", {"top": grey, "bottom": WHITE}, tolerance=2),
        ),
        (
            f"{happy}/dark16.png",
            _sixteen_bit(200, 200),
            image("16-bit PNG, all 200/65535", {"all": (1, 1, 1)}, 1),
        ),
        (
            f"{happy}/grey.jpg",
            encode(Image.new("L", (40, 40), 128), "JPEG"),
            image("L JPEG", {"all": grey}, 3),
        ),
        (
            f"{happy}/cmyk.jpg",
            encode(Image.new("CMYK", (40, 40), (255, 0, 0, 0)), "JPEG", quality=95),
            image("CMYK JPEG, pure cyan", {"all": CYAN}),
        ),
        (
            f"{happy}/animated.gif",
            _animated_gif(),
            image("animated GIF: red, blue, green frames", {"all": RED}),
        ),
        (f"{happy}/camera.jpg", _camera_mpo(), image("camera MPO: red, then blue", {"all": RED})),
        (
            f"{happy}/rotated.jpg",
            _exif_rotated(),
            image("40x20 JPEG, EXIF orientation 6", {"top": RED, "bottom": BLUE}, tolerance=20),
        ),
        (
            f"{happy}/huge 10k.png",
            uniform_png(10_000, 10_000, palette=PLUM),
            image("10,000 x 10,000 PNG of one colour", {"all": PLUM}, large=True),
        ),
        # Names and places.
        (f"{happy}/visage heureux é.png", encode(noise(10), "PNG"), image("name with spaces and an accent")),
        (f"{happy}/快乐.jpg", encode(noise(11), "JPEG"), image("CJK name")),
        (f'{happy}/comma, "quoted".png', encode(noise(12), "PNG"), image("name with a comma and quotes")),
        (f"{happy}/sub/deeper/x.png", encode(noise(13), "PNG"), image("nested folders")),
        (f"{happy}/.DS_Store", ds_store, Expectation("hidden file in a class", not_image, hidden)),
        (
            f"{happy}/.hidden/face.png",
            encode(noise(14), "PNG"),
            Expectation("image in a hidden folder", "", hidden),
        ),
        (".DS_Store", ds_store, Expectation("hidden file at the top", not_image, hidden)),
        (
            ".hidden/face.png",
            encode(noise(15), "PNG"),
            Expectation("image in a hidden top folder", "", hidden),
        ),
        (
            "README.txt",
            b"faces\n",
            Expectation("file outside any class folder", not_image, "not inside a class"),
        ),
    ]
    entries += [
        (f"{sad}/face {i}.png", encode(noise(20 + i), "PNG"), image("plain RGB PNG")) for i in range(7)
    ]
    return {relative: (data, expectation) for relative, data, expectation in entries}


def make_corpus(root: Path) -> dict[str, Expectation]:
    """Write `corpus_files()` and an empty class folder under `root`; returns the expectations."""
    expectations = {}
    for relative, (data, expectation) in corpus_files().items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        expectations[relative] = expectation
    (root / EMPTY_CLASS).mkdir()
    return expectations


def make_class(root: Path, label: str, count: int, seed: int = 100) -> list[Path]:
    """`count` plain PNGs in `root/label/`: a small class, or the classes of a clean data set."""
    (root / label).mkdir(parents=True, exist_ok=True)
    paths = [root / label / f"{label} {index}.png" for index in range(count)]
    for index, path in enumerate(paths):
        path.write_bytes(encode(noise(seed + index), "PNG"))
    return paths


def make_single_class(root: Path, label: str = "happy", count: int = 12) -> list[Path]:
    """A data set with one class only: nothing to classify."""
    return make_class(root, label, count)
