"""Pixel phantoms that look like anatomy in a viewer, and text burned into pixels.

Every function here is deterministic: geometry depends only on the image size and the slice
position, and all randomness comes from the :class:`numpy.random.Generator` passed in.
Geometry is cached, so a long series costs little more than its noise and its file writes.

Text is drawn with DejaVu Sans, the font matplotlib bundles, so nothing depends on system fonts.
"""

from __future__ import annotations

import functools
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "FONT_PATH",
    "chest_xray",
    "ct_slice",
    "draw_text",
    "mammogram",
    "mr_slice",
    "page",
    "text_mask",
    "ultrasound",
]

FONT_PATH = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
FONT_PATH_MONO = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSansMono.ttf"

Box = tuple[int, int, int, int]


# ----------------------------------------------------------------------------- text


@functools.lru_cache(maxsize=64)
def _font(size: int, mono: bool = False) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_PATH_MONO if mono else FONT_PATH), size)


@functools.lru_cache(maxsize=512)
def _text_mask(text: str, size: int, mono: bool) -> np.ndarray:
    mask = _render(text, size, mono)
    mask.setflags(write=False)
    return mask


def text_mask(text: str, size: int, *, mono: bool = False) -> np.ndarray:
    """A tight boolean mask of ``text`` rendered at ``size`` pixels (True where ink is); read-only."""
    return _text_mask(text, size, mono)


def _render(text: str, size: int, mono: bool) -> np.ndarray:
    font = _font(size, mono)
    left, top, right, bottom = font.getbbox(text)
    img = Image.new("L", (max(1, int(right - left)), max(1, int(bottom - top))), 0)
    ImageDraw.Draw(img).text((-left, -top), text, font=font, fill=255)
    mask = np.asarray(img) > 100
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return mask[:0, :0]
    return mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def draw_text(
    image: np.ndarray,
    x: int,
    y: int,
    text: str,
    size: int,
    value: int | bool,
    *,
    mono: bool = False,
) -> Box:
    """Burn ``text`` into ``image`` (in place) with its top-left ink pixel at ``(x, y)``.

    Returns the ``(x, y, width, height)`` box the ink occupies, clipped to the image.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((40, 200), np.uint8)
    >>> x, y, w, h = draw_text(img, 5, 5, "DOE^JANE", 16, 255)
    >>> (x, y) == (5, 5) and w > 40 and int(img[y : y + h, x : x + w].max()) == 255
    True
    """
    mask = text_mask(text, size, mono=mono)
    rows, cols = image.shape[:2]
    h = max(0, min(mask.shape[0], rows - y))
    w = max(0, min(mask.shape[1], cols - x))
    if h == 0 or w == 0:
        raise ValueError(f"text {text!r} at ({x}, {y}) falls outside a {cols}x{rows} image")
    image[y : y + h, x : x + w][mask[:h, :w]] = value
    return (x, y, w, h)


# ----------------------------------------------------------------------------- helpers


@functools.lru_cache(maxsize=16)
def _grid(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised coordinates: x from -1 (left) to 1, y from -1 (top) to 1, isotropic."""
    scale = max(rows, cols) / 2
    y = (np.arange(rows, dtype=np.float32) - (rows - 1) / 2) / scale
    x = (np.arange(cols, dtype=np.float32) - (cols - 1) / 2) / scale
    gx, gy = np.meshgrid(x, y)
    return gx, gy


def _ellipse(
    x: np.ndarray, y: np.ndarray, cx: float, cy: float, rx: float, ry: float
) -> np.ndarray:
    return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0


@functools.lru_cache(maxsize=8)
def _noise_bank(rows: int, cols: int, sigma: int) -> np.ndarray:
    """A few fixed noise fields; slices pick one and shift it, which is far cheaper than drawing anew."""
    rng = np.random.default_rng(rows * 100003 + cols * 7 + sigma)
    return rng.normal(0, sigma, (4, rows, cols)).astype(np.int16)


def _noise(rows: int, cols: int, sigma: int, rng: np.random.Generator) -> np.ndarray:
    bank = _noise_bank(rows, cols, sigma)
    k, dy, dx = int(rng.integers(4)), int(rng.integers(rows)), int(rng.integers(cols))
    return np.roll(bank[k], (dy, dx), axis=(0, 1))


def _smooth_noise(rows: int, cols: int, cell: int, rng: np.random.Generator) -> np.ndarray:
    """Low-frequency texture in [0, 1): coarse random cells upsampled bilinearly."""
    small = rng.random((max(2, rows // cell), max(2, cols // cell))).astype(np.float32)
    return np.asarray(
        Image.fromarray(small, mode="F").resize((cols, rows), Image.Resampling.BILINEAR)
    )


# ----------------------------------------------------------------------------- CT


class _Canvas:
    """An image plus ellipse painting limited to each ellipse's bounding box (fast for big images)."""

    def __init__(self, rows: int, cols: int, fill: int) -> None:
        self.a = np.full((rows, cols), fill, np.int16)
        self.scale = max(rows, cols) / 2
        self.oy, self.ox = (rows - 1) / 2, (cols - 1) / 2

    def ellipse(
        self, cx: float, cy: float, rx: float, ry: float, value: int, *, add: bool = False
    ) -> None:
        rows, cols = self.a.shape
        px, py = self.ox + cx * self.scale, self.oy + cy * self.scale
        prx, pry = max(rx * self.scale, 0.5), max(ry * self.scale, 0.5)
        x0, x1 = max(0, int(px - prx)), min(cols, int(px + prx) + 2)
        y0, y1 = max(0, int(py - pry)), min(rows, int(py + pry) + 2)
        if x0 >= x1 or y0 >= y1:
            return
        xs = (np.arange(x0, x1, dtype=np.float32) - px) / prx
        ys = (np.arange(y0, y1, dtype=np.float32) - py) / pry
        inside = xs[None, :] ** 2 + ys[:, None] ** 2 <= 1
        sub = self.a[y0:y1, x0:x1]
        if add:
            sub[inside] += value
        else:
            sub[inside] = value

    def rect(self, x0: float, y0: float, x1: float, y1: float, value: int) -> None:
        rows, cols = self.a.shape
        c0, c1 = int(self.ox + x0 * self.scale), int(self.ox + x1 * self.scale) + 1
        r0, r1 = int(self.oy + y0 * self.scale), int(self.oy + y1 * self.scale) + 1
        self.a[max(0, r0) : min(rows, r1), max(0, c0) : min(cols, c1)] = value


_Z_STEPS = (
    24  # anatomy changes in this many steps from bottom to top: a cache of 25 slices per size
)


@functools.lru_cache(maxsize=128)
def _ct_anatomy(rows: int, cols: int, zq: int) -> np.ndarray:
    """Hounsfield units of an axial slice; ``zq / _Z_STEPS`` runs from 0 (upper abdomen) to 1 (upper chest)."""
    z = zq / _Z_STEPS
    c = _Canvas(rows, cols, -1000)
    c.rect(-0.7, 0.72, 0.7, 0.76, 150)  # table
    c.ellipse(0, 0.02, 0.84, 0.62, -100)  # subcutaneous fat
    c.ellipse(0, 0.02, 0.77, 0.55, 45)  # muscle and organs
    lung = float(np.clip((z - 0.25) / 0.5, 0, 1))
    if lung > 0:
        for side in (-1, 1):
            c.ellipse(side * 0.35, -0.02, 0.12 + 0.18 * lung, 0.18 + 0.24 * lung, -860)
            for k in range(3):  # vessels in the lung
                c.ellipse(side * (0.25 + 0.07 * k), -0.1 + 0.09 * k, 0.012, 0.012, 30)
        if z < 0.85:  # heart, between the lungs
            c.ellipse(0.08, -0.12, 0.22 * (1 - abs(z - 0.5)), 0.19, 40)
    if z < 0.45:  # liver on the patient's right (image left), stomach opposite
        c.ellipse(-0.3, -0.05, 0.36, 0.32 * (1 - z), 60)
        c.ellipse(0.3, -0.15, 0.15, 0.12, -5)
    if z < 0.2:  # kidneys
        for side in (-1, 1):
            c.ellipse(side * 0.28, 0.3, 0.08, 0.12, 30)
    if z > 0.2:  # ribs around the trunk
        angles = np.concatenate(
            [np.linspace(0.35, np.pi - 0.35, 8), np.linspace(np.pi + 0.5, 2 * np.pi - 0.5, 6)]
        )
        for ang in angles:
            c.ellipse(0.735 * np.cos(ang), 0.02 - 0.525 * np.sin(ang), 0.03, 0.024, 700)
    c.ellipse(0.07, 0.26, 0.05, 0.05, 180)  # aorta with contrast
    c.ellipse(0, 0.38, 0.1, 0.085, 900)  # vertebral cortex
    c.ellipse(0, 0.38, 0.08, 0.065, 300)  # cancellous bone
    c.ellipse(0, 0.5, 0.035, 0.03, 15)  # spinal canal
    c.rect(-0.02, 0.53, 0.02, 0.6, 800)  # spinous process
    return c.a + 1024


def ct_slice(rows: int, cols: int, z: float, rng: np.random.Generator) -> np.ndarray:
    """A CT slice as stored values (HU + 1024), uint16: apply RescaleIntercept -1024.

    ``z`` runs from 0 (upper abdomen) to 1 (upper chest).
    """
    stored = _ct_anatomy(rows, cols, round(float(np.clip(z, 0, 1)) * _Z_STEPS))
    out = stored + _noise(rows, cols, 12, rng)
    np.clip(out, 0, 4095, out=out)
    return np.asarray(out.view(np.uint16))


# ----------------------------------------------------------------------------- MR


@functools.lru_cache(maxsize=128)
def _mr_anatomy(rows: int, cols: int, zq: int) -> np.ndarray:
    """A T1-like axial brain; ``zq / _Z_STEPS`` from 0 (skull base) to 1 (vertex)."""
    z = zq / _Z_STEPS
    s = float(np.sqrt(max(0.05, 1 - (2 * z - 1) ** 2 * 0.8)))
    c = _Canvas(rows, cols, 0)
    c.ellipse(0, 0, 0.72 * s, 0.88 * s, 900)  # scalp fat
    c.ellipse(0, 0, 0.66 * s, 0.82 * s, 60)  # skull
    c.ellipse(0, 0, 0.62 * s, 0.78 * s, 250)  # CSF
    c.ellipse(0, 0, 0.59 * s, 0.75 * s, 520)  # grey matter
    c.ellipse(0, 0, 0.47 * s, 0.63 * s, 720)  # white matter
    if 0.35 < z < 0.75:  # lateral ventricles
        for side in (-1, 1):
            c.ellipse(side * 0.09, -0.05, 0.05, 0.25 * s, 200)
    if z < 0.3:  # orbits and eyes
        for side in (-1, 1):
            c.ellipse(side * 0.25, -0.72, 0.1, 0.1, 300)
    c.rect(-0.012, -0.7 * s, 0.012, 0.7 * s, 300)  # interhemispheric fissure
    return c.a


def mr_slice(rows: int, cols: int, z: float, rng: np.random.Generator) -> np.ndarray:
    """An MR slice, uint16 with values below 4096."""
    zq = round(float(np.clip(z, 0, 1)) * _Z_STEPS)
    out = _mr_anatomy(rows, cols, zq) + np.abs(_noise(rows, cols, 15, rng))
    np.clip(out, 0, 4095, out=out)
    return np.asarray(out.view(np.uint16))


# ----------------------------------------------------------------------------- projection X-ray


def chest_xray(
    rows: int, cols: int, rng: np.random.Generator, *, lateral: bool = False
) -> np.ndarray:
    """A chest radiograph, MONOCHROME2 (bone bright), uint16 with 12 bits used."""
    x, y = _grid(rows, cols)
    img = np.full((rows, cols), 150, np.float32)
    trunk = _ellipse(x, y, 0, 0.25, 0.8 if not lateral else 0.55, 1.2)
    img[trunk] = 1900
    if lateral:
        img[_ellipse(x, y, 0.0, -0.05, 0.35, 0.5)] = 900
        img[_ellipse(x, y, -0.12, 0.18, 0.2, 0.25)] = 2100  # heart
        img[(x > 0.3) & (x < 0.42) & trunk] = 2700  # spine
    else:
        for side in (-1, 1):
            img[_ellipse(x, y, side * 0.33, -0.05, 0.25, 0.55)] = 800  # lungs
        img[_ellipse(x, y, 0.1, 0.22, 0.24, 0.22)] = 2200  # heart
        img[(np.abs(x) < 0.06) & trunk] = 2600  # spine
        lungs = img == 800
        for i in range(9):  # posterior ribs: arcs across each lung
            y0 = -0.55 + i * 0.12
            rib = np.abs(y - (y0 + 0.35 * (np.abs(x) - 0.1) ** 2)) < 0.018
            img[rib & lungs] += 700
        for side in (-1, 1):  # clavicles
            img[(np.abs(y + 0.62 - 0.15 * side * x) < 0.02) & (np.abs(x) < 0.45) & trunk] = 2500
    img += _smooth_noise(rows, cols, 24, rng) * 200
    img += rng.normal(0, 25, (rows, cols)).astype(np.float32)
    return np.clip(img, 0, 4095).astype(np.uint16)


def mammogram(
    rows: int, cols: int, rng: np.random.Generator, *, right: bool, mlo: bool
) -> np.ndarray:
    """A mammogram, MONOCHROME2, uint16 with 12 bits: a breast against the chest wall."""
    x, y = _grid(rows, cols)
    xs = x if right else -x  # chest wall on the image left for a right breast
    edge = xs.min()
    img = np.full((rows, cols), 80, np.float32)
    breast = ((xs - edge) / 1.1) ** 2 + (y / 0.9) ** 2 <= 1
    texture = _smooth_noise(rows, cols, 10, rng) * 0.6 + _smooth_noise(rows, cols, 40, rng) * 0.4
    depth = np.clip(1 - ((xs - edge) / 1.1) ** 2 - (y / 0.9) ** 2, 0, 1)
    img[breast] = (1200 + 1500 * texture * np.sqrt(depth) + 400 * depth)[breast]
    if mlo:  # pectoral muscle in the upper corner
        pect = (xs - edge) + (y + 1) * 0.45 < 0.35
        img[breast & pect] = 2600
    skin = breast & ~((((xs - edge) / 1.08) ** 2 + (y / 0.88) ** 2) <= 1)
    img[skin] = 1900
    img += rng.normal(0, 20, (rows, cols)).astype(np.float32)
    return np.clip(img, 0, 4095).astype(np.uint16)


# ----------------------------------------------------------------------------- ultrasound


def ultrasound(rows: int, cols: int, rng: np.random.Generator, *, top: int) -> np.ndarray:
    """A B-mode sector image (uint8) whose fan starts ``top`` pixels down, leaving room for a banner."""
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    ax, ay = cols / 2, top + 4
    r = np.hypot(xx - ax, yy - ay) / (rows - top)
    theta = np.arctan2(xx - ax, yy - ay)
    fan = (np.abs(theta) < 0.62) & (r > 0.05) & (r < 0.97)
    echo = np.full((rows, cols), 0.45, np.float32)
    echo[r < 0.12] = 0.9  # skin and subcutaneous layers
    organ = ((xx - ax * 1.05) / (cols * 0.3)) ** 2 + (
        (yy - ay - (rows - top) * 0.55) / ((rows - top) * 0.3)
    ) ** 2 <= 1
    echo[organ] = 0.6
    cyst = ((xx - ax * 0.9) / (cols * 0.07)) ** 2 + (
        (yy - ay - (rows - top) * 0.5) / ((rows - top) * 0.06)
    ) ** 2 <= 1
    echo[cyst] = 0.04
    behind = (np.abs(xx - ax * 0.9) < cols * 0.06) & (yy > ay + (rows - top) * 0.56)
    echo[behind & fan] *= 1.5  # posterior acoustic enhancement
    speckle = rng.rayleigh(1.0, (rows, cols)).astype(np.float32)
    img = np.where(fan, echo * speckle * 110 * (1.15 - 0.5 * r), 0)
    for d in range(1, 10):  # depth marks beside the fan
        yd = int(ay + d * (rows - top) / 10)
        if yd < rows:
            img[yd, 12:20] = 200
    return np.clip(img, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- paper


def page(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """A scanned sheet of paper (uint8, white 235 with scanner noise), ready for :func:`draw_text`."""
    img = 235 + rng.normal(0, 3, (rows, cols))
    img[:, :3] = 120  # the scanner's edge shadow
    return np.clip(img, 0, 255).astype(np.uint8)
