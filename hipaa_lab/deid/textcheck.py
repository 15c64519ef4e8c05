"""Is there text left in the pixels? One answer, for the de-identifier and the scanner alike.

:func:`find_leaks` looks at every frame of an image the way :mod:`hipaa_lab.deid.pixels` does: the
text-lines detector on every frame (the frame as shown and, for colour, its brightest and darkest
channel), and Tesseract, with the same settings, on a sample of frames and on every frame whose
detected lines differ from those of a frame already read. What it reports:

* ``TEXT_LINES``: a line of text the detector finds, read or not;
* ``PATTERN``: OCR'd text that matches an identifier pattern (:func:`hipaa_lab.deid.scan.find_patterns`,
  the loose set meant for OCR text);
* ``KNOWN_VALUE``: OCR'd text holding one of the known values (names, IDs, dates), in the
  de-identifier those of the file's own header taken before it is de-identified;
* ``LEGIBLE``: a word of three or more letters or digits read with high confidence.

In a projection radiograph (CR, DX, MG...), text lines and legible words count only in the bands
where machines print (:func:`hipaa_lab.deid.pixels.print_bands`); patterns and header
values count everywhere.

:func:`hipaa_lab.deid.pixels.clean_burned_in` blanks until this finds nothing, else quarantines the
file; ``hipaa-lab scan`` reports what it finds. So the verification is never weaker than the
scanner: they are the same function.

A leak keeps the text it was read from (:attr:`Leak.text`) so the scanner can show it masked;
:func:`describe` names frames, rows and kinds only, never the text, for reasons and logs.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from hipaa_lab.deid import pixels
from hipaa_lab.deid.scan import KnownValues, find_patterns
from hipaa_lab.phi import SafeHarborCategory

__all__ = ["Leak", "LeakKind", "describe", "find_leaks", "known_values_of"]


class LeakKind(enum.Enum):
    """What kind of text was found left in the pixels (the value is how a reason says it)."""

    TEXT_LINES = "text line"
    PATTERN = "identifier pattern"
    KNOWN_VALUE = "header value"
    LEGIBLE = "legible word"


@dataclass(frozen=True)
class Leak:
    """Text found in one frame. ``frame`` is 0-based; ``box`` is where (in that frame's pixels);
    ``rule`` names the pattern (``PATTERN``); ``text`` is what OCR read (empty for
    ``TEXT_LINES``): show it masked, never in a reason."""

    kind: LeakKind
    frame: int
    box: pixels.TextBox
    category: SafeHarborCategory
    rule: str = ""
    text: str = ""


def known_values_of(ds: Dataset) -> KnownValues:
    """The identifying values of ``ds``'s own header (call before it is de-identified)."""
    known = KnownValues()
    known.add_dataset(ds)
    return known


def find_leaks(
    ds: Dataset, known: KnownValues | None = None, *, arr: np.ndarray | None = None
) -> list[Leak]:
    """Every piece of text left in the pixels of ``ds`` (``arr``: its decoded stored values).

    Raises
    ------
    OCRUnavailableError
        When Tesseract is not installed.
    Exception
        Whatever pydicom raises when it cannot decode the pixel data.
    """
    if arr is None:
        pixels._ensure_transfer_syntax(ds)
        arr = pixels._decode(ds)
    return leaks_in(pixels._survey(ds, arr), known, pixels.print_bands(ds, arr.shape[1]))


def leaks_in(
    surveys: Sequence[pixels.FrameSurvey],
    known: KnownValues | None,
    bands: tuple[int, int] | None = None,
) -> list[Leak]:
    """The leaks in frames already surveyed (:func:`hipaa_lab.deid.pixels._survey`).

    ``bands`` (:func:`hipaa_lab.deid.pixels.print_bands`): where text lines and legible words
    count, in a projection radiograph; identifier patterns and header values read by OCR count
    everywhere.
    """
    out: list[Leak] = []
    for s in surveys:
        out += [
            Leak(LeakKind.TEXT_LINES, s.frame, b, SafeHarborCategory.OTHER)
            for b in s.lines
            if b.source == "text-lines" and pixels.in_bands(b, bands)
        ]
        for box, words in pixels.ocr_lines(s.words or [], s.frame):
            text = " ".join(w.text for w in words if w.conf >= pixels.MIN_CONFIDENCE)
            for rule, cat, start, end in find_patterns(text, loose=True):
                out.append(Leak(LeakKind.PATTERN, s.frame, box, cat, rule, text[start:end]))
            if known is not None:
                for start, end, cat in known.find(text):
                    out.append(Leak(LeakKind.KNOWN_VALUE, s.frame, box, cat, "", text[start:end]))
            for w in words:
                if pixels._legible(w, chars=3, conf=pixels.VERIFY_CONFIDENCE) and pixels.in_bands(
                    pixels._word_box(w, s.frame), bands
                ):
                    out.append(
                        Leak(
                            LeakKind.LEGIBLE,
                            s.frame,
                            pixels._word_box(w, s.frame),
                            SafeHarborCategory.OTHER,
                            "",
                            w.text,
                        )
                    )
    return out


def describe(leaks: Sequence[Leak], limit: int = 4) -> str:
    """Where and what kind, frame by frame (1-based), never the text.

    Examples
    --------
    >>> box = pixels.TextBox(0, 2, 90, 12, 0, "", "text-lines")
    >>> describe([Leak(LeakKind.TEXT_LINES, 0, box, SafeHarborCategory.OTHER)] * 2)
    'frame 1: 2 text lines at rows 2-14'
    """
    by_frame: dict[int, list[Leak]] = {}
    for leak in leaks:
        by_frame.setdefault(leak.frame, []).append(leak)
    parts = []
    for frame in sorted(by_frame)[:limit]:
        items = by_frame[frame]
        kinds = Counter(leak.kind for leak in items)
        what = ", ".join(
            f"{n} {k.value}{'s' if n > 1 else ''}"
            for k, n in sorted(kinds.items(), key=lambda kv: kv[0].name)
        )
        top = min(leak.box.y for leak in items)
        bottom = max(leak.box.y + leak.box.height for leak in items)
        parts.append(f"frame {frame + 1}: {what} at rows {top}-{bottom}")
    if len(by_frame) > limit:
        parts.append(f"and {len(by_frame) - limit} more frames")
    return "; ".join(parts)
