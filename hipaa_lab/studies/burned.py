"""Identifiers drawn where a header-only de-identifier does not look: overlays and pixels.

:func:`add_overlay` adds an Overlay Plane whose 1-bit bitmap spells the patient's name, MRN and
birth date; :func:`burn_corner` burns the same into a corner of the image, as older CR readers and
film digitisers print it. Both return answer-key entries with the box the ink occupies.
:func:`set_pixels` stores an image as the Image Pixel module.
"""

from __future__ import annotations

import dataclasses
import random

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels.utils import pack_bits

from hipaa_lab.phi import Location, PHIEntry, SafeHarborCategory
from hipaa_lab.studies import phantoms
from hipaa_lab.studies.context import StudyContext
from hipaa_lab.studies.patients import file_word

__all__ = ["add_overlay", "burn_corner", "set_pixels"]

C = SafeHarborCategory

# the Overlay Plane module's elements, in the first overlay group (6000,xxxx)
OVERLAY_ROWS = 0x60000010
OVERLAY_COLUMNS = 0x60000011
OVERLAY_DESCRIPTION = 0x60000022
OVERLAY_TYPE = 0x60000040
OVERLAY_ORIGIN = 0x60000050
OVERLAY_BITS_ALLOCATED = 0x60000100
OVERLAY_BIT_POSITION = 0x60000102
OVERLAY_DATA = 0x60003000


def set_pixels(ds: Dataset, arr: np.ndarray, *, bits_stored: int) -> None:
    """Store ``arr`` as the dataset's monochrome Image Pixel module (unsigned, ``bits_stored`` bits)."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = arr.shape
    ds.BitsAllocated = arr.dtype.itemsize * 8
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = arr.tobytes()


def add_overlay(ctx: StudyContext, ds: Dataset, rows: int, cols: int, file: str) -> list[PHIEntry]:
    """An Overlay Plane (group 6000) with the patient's name and MRN drawn as a 1-bit bitmap."""
    cached = ctx.overlays.get((rows, cols))
    if cached is None:
        cached = ctx.overlays[(rows, cols)] = _render_overlay(ctx, rows, cols)
    packed, entries = cached
    ds.add_new(OVERLAY_ROWS, "US", rows)
    ds.add_new(OVERLAY_COLUMNS, "US", cols)
    ds.add_new(OVERLAY_DESCRIPTION, "LO", "Technologist annotation")
    ds.add_new(OVERLAY_TYPE, "CS", "G")
    ds.add_new(OVERLAY_ORIGIN, "SS", [1, 1])
    ds.add_new(OVERLAY_BITS_ALLOCATED, "US", 1)
    ds.add_new(OVERLAY_BIT_POSITION, "US", 0)
    ds.add_new(OVERLAY_DATA, "OW", packed)
    return [dataclasses.replace(e, file=file) for e in entries]


def _render_overlay(ctx: StudyContext, rows: int, cols: int) -> tuple[bytes, list[PHIEntry]]:
    """The overlay bitmap (packed, even length) and its entries; the same on every slice."""
    p, re_ = ctx.p, random.Random(f"overlay:{ctx.seed}:{ctx.modality.value}")
    mask = np.zeros((rows, cols), bool)
    size = max(9, rows // 28)
    x = re_.randint(4, max(4, cols // 3))
    y = re_.choice([4, rows - 3 * size - 8])
    name = f"{file_word(p.family).upper()}^{file_word(p.given).upper()}"
    runs = [
        (name, C.NAMES),
        (f"ID {p.mrn}", C.MEDICAL_RECORD),
        (ctx.fmt(p.birth_date), C.DATES),
    ]
    entries = []
    for i, (text, cat) in enumerate(runs):
        box = phantoms.draw_text(mask, x, y + i * (size + 4), text, size, True)
        entries.append(PHIEntry("", Location.OVERLAY, cat, text, box=box))
    packed = pack_bits(mask)
    if len(packed) % 2:
        packed += b"\0"
    return packed, entries


def burn_corner(ctx: StudyContext, img: np.ndarray, value: int, file: str) -> list[PHIEntry]:
    """A label burned into a corner, like older CR readers and film digitisers print."""
    p = ctx.p
    rows, cols = img.shape
    size = max(10, rows // 30)
    name = f"{file_word(p.family).upper()}, {file_word(p.given).upper()}"
    runs = [(name, C.NAMES), (p.mrn, C.MEDICAL_RECORD), (ctx.fmt(p.birth_date), C.DATES)]
    x0, y0 = (6, 6) if ctx.re.random() < 0.5 else (cols // 2, 6)
    img[y0 : y0 + 3 * (size + 4) + 4, x0 - 2 : min(cols, x0 + cols // 2 - 4)] = 0
    out = []
    for i, (text, cat) in enumerate(runs):
        box = phantoms.draw_text(img, x0, y0 + 2 + i * (size + 4), text, size, value)
        out.append(PHIEntry(file, Location.PIXELS, cat, text, box=box))
    return out
