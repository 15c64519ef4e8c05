"""Text burned into pixels: find it, blank it in the stored values, and prove it is gone.

Three steps, each a public function, and one that runs them all:

* :func:`find_text` renders each frame as a viewer would (Modality LUT, then the VOI window, to
  8 bits), upscales small images, binarises it twice (bright text on dark, dark text on light) and
  runs Tesseract once per polarity. Words with confidence of at least :data:`MIN_CONFIDENCE` and
  two or more letters or digits are kept. Region rules add what OCR may miss:

  - ``"text-lines"``: lines of small high-contrast marks on a clean background, found without
    reading them (:func:`_text_lines`). OCR misses small fonts: a CR's corner block once gave up
    the name and MRN and kept the date. In an image that is not expected to carry text (no
    ``BurnedInAnnotation`` YES, not US, SC or a scanned page) text-lines that OCR reads none of
    make the result ``"failed"``, for a person to look; elsewhere they are blanked.

  - ``"us-banner"``: an ultrasound machine writes the patient's name, ID and the date in a band at
    the top of the image, above the sector. Every text line in the top :data:`US_BANNER_FRACTION`
    of the rows that ends before the sector begins is blanked across the full width, read or not.
  - ``"document"``: a scanned document (``ConversionType`` DI or SD, or Modality DOC) is text
    from edge to edge: every line of ink on the page (found from the page's row and column
    profiles) and every OCR'd line, with a margin. A Secondary Capture of another kind is treated
    the same way (OCR'd lines only) once OCR finds :data:`SC_TEXT_WORDS` words in it.

* :func:`blank_regions` writes the fill value into the stored pixel values of every frame and
  every sample. Native (uncompressed) input, including implicit VR, big endian and deflated, is
  written back as Explicit VR Little Endian; compressed input is re-encoded as RLE Lossless, or
  written uncompressed when RLE cannot hold it. Colour data comes back from pydicom as RGB and is
  stored as RGB (``PhotometricInterpretation`` updated), so YBR_FULL_422 is not half-converted.
  The SOP Instance UID is left alone: replacing UIDs is the de-identifier's job.

* :func:`clean_burned_in` detects, blanks, decodes the result again and runs OCR and the text-lines
  detector on it. Text that was read before and is read again means the blanking failed. New
  legible text (three or more characters at :data:`VERIFY_CONFIDENCE`), which Tesseract can find
  once the text around it is gone, and every text-line still there (verification does not rely on
  OCR having read it before) are blanked in up to :data:`EXTRA_ROUNDS` further rounds. Only then is
  ``BurnedInAnnotation`` set to ``NO``. Whatever cannot be decoded, cleaned or verified comes back
  ``"failed"`` for quarantine; nothing passes through unchecked.

Multi-frame images (ultrasound cine) are read on a sample of frames: all of them up to
:data:`MAX_OCR_FRAMES`, else that many evenly spaced, the first and the last included. Machines
write their banner and labels in the same place on every frame, so the union of the boxes is
blanked in every frame and verification reads the same sample. This keeps OCR at a few passes
per file, however long the loop.

Tesseract runs single-threaded (``OMP_THREAD_LIMIT=1`` unless the caller set it): on images this
small its threads cost far more than they save (0.2 s instead of 2 s a pass), and the batch runner
parallelises across files.

Overlay planes (60xx,3000) are graphics, not pixel data: the de-identifier removes or cleans them
under the Clean Graphics option, with :func:`remove_overlays`.

Examples
--------
>>> from hipaa_lab.studies import make_study
>>> ds = make_study("CT", seed=1, slices=1, level=1).instances[0].dataset
>>> remove_overlays(ds)
0
>>> clean_burned_in(ds).status if ocr_available() else "clean"
'clean'
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    JPEG2000,
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from hipaa_lab.errors import OCRUnavailableError

__all__ = [
    "EXTRA_ROUNDS",
    "LINE_CONTRAST",
    "LINE_HEIGHTS",
    "MAX_OCR_FRAMES",
    "MIN_CONFIDENCE",
    "OCRUnavailableError",
    "PRINT_BAND_FRACTION",
    "PixelCleanResult",
    "SC_TEXT_WORDS",
    "TextBox",
    "US_BANNER_FRACTION",
    "VERIFY_CONFIDENCE",
    "blank_regions",
    "clean_burned_in",
    "find_text",
    "in_bands",
    "needs_cleaning",
    "ocr_available",
    "print_bands",
    "remove_overlays",
]

MIN_CONFIDENCE = 60  #: Tesseract confidence (0-100) a word needs to count as text
#: Height in the image's pixels a word needs to count as text: no font a person can read is
#: smaller (the smallest bitmap fonts are 5 or more rows high; lowercase letters 4). OCR reads
#: words into noise smaller than that, at the edge of a bright shape in a radiograph.
MIN_WORD_HEIGHT = 4
VERIFY_CONFIDENCE = 80  #: confidence at which new text read after blanking counts as legible
EXTRA_ROUNDS = 2  #: blank-and-verify rounds for text that only shows once its neighbours are gone
MAX_OCR_FRAMES = 4  #: frames read per multi-frame image
US_BANNER_FRACTION = 0.12  #: how far down an ultrasound banner may reach, as a fraction of the rows
SC_TEXT_WORDS = 3  #: words that make a Secondary Capture a document
#: How far in from the top and from the bottom a projection radiograph is read for unread text
#: lines and words (the bands where CR readers, DX consoles, film digitisers and mammography units
#: print), as a fraction of the rows. See :func:`print_bands`.
PRINT_BAND_FRACTION = 0.15
PAD = 3  #: pixels added around every box
LINE_CONTRAST = (
    80  #: grey levels (of 255) a stroke stands out from its local background, for text-lines
)
LOW_LINE_CONTRAST = 30  #: the same, in images expected to carry text (faint banners)
LINE_HEIGHTS = (6, 40)  #: heights in pixels of a line of text the text-lines detector looks for

_SCANNED = {"DI", "SD"}  # ConversionType: digitised film / scanned document
_SC_PREFIX = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture and its multi-frame kinds
_US_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.6.1",
    "1.2.840.10008.5.1.4.1.1.3.1",
    "1.2.840.10008.5.1.4.1.1.6.2",
    "1.2.840.10008.5.1.4.1.1.6",
    "1.2.840.10008.5.1.4.1.1.3",
}
_UNAVAILABLE = "OCR unavailable (install tesseract-ocr)"


@dataclass
class TextBox:
    """A rectangle of text in an image, in pixels of the stored image.

    ``frame`` is the 0-based frame it was found in (``None``: a single-frame image, or every frame
    when passed to :func:`blank_regions`). ``source`` is ``"ocr"`` or the name of the region rule.
    """

    x: int
    y: int
    width: int
    height: int
    frame: int | None
    text: str
    source: str

    def slices(self) -> tuple[slice, slice]:
        """Row and column slices of the box (clipped at 0; numpy clips the far side)."""
        return slice(max(0, self.y), max(0, self.y + self.height)), slice(
            max(0, self.x), max(0, self.x + self.width)
        )


@dataclass
class PixelCleanResult:
    """What :func:`clean_burned_in` did.

    ``status`` is ``"clean"`` (no text found, pixels untouched), ``"cleaned"`` (text found,
    blanked and verified) or ``"failed"`` (could not decode, clean or verify: quarantine the file;
    the dataset may be half changed and must not be written).
    """

    status: str
    reason: str
    boxes: list[TextBox] = field(default_factory=list)


# --------------------------------------------------------------------------- OCR


@functools.lru_cache(maxsize=1)
def ocr_available() -> bool:
    """Whether Tesseract and pytesseract are installed and Tesseract runs."""
    if shutil.which("tesseract") is None:
        return False
    try:
        import pytesseract

        pytesseract.get_tesseract_version()
    except Exception:  # ImportError, TesseractNotFoundError, a broken install
        return False
    return True


@dataclass
class _Word:
    x: int
    y: int
    w: int
    h: int
    text: str
    conf: float
    line: tuple[int, int, int, int]  # polarity, block, paragraph, line


def _alnum(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", text).upper()


def _scale(rows: int, cols: int) -> int:
    """Upscale factor: Tesseract reads text 20-30 pixels high best; burned-in text is often 9-15.

    Small images (up to 512 pixels) carry the smallest fonts, 8-12 pixels high: 3x reads more of
    them (a date in a CR corner block that 2x missed) at about the same cost.
    """
    return 3 if max(rows, cols) <= 512 else 2 if max(rows, cols) <= 1400 else 1


def _ocr(gray: np.ndarray) -> list[_Word]:
    """Every word Tesseract reads in ``gray`` (uint8), both polarities, in ``gray``'s pixels."""
    import pytesseract
    from PIL import Image

    if not ocr_available():
        raise OCRUnavailableError()
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    rows, cols = gray.shape
    k = _scale(rows, cols)
    big = (
        np.asarray(Image.fromarray(gray).resize((cols * k, rows * k), Image.Resampling.BILINEAR))
        if k > 1
        else gray
    )
    words = []
    for polarity, ink in enumerate((big >= 160, big <= 96)):  # bright text, then dark text
        if not ink.any() or ink.all():
            continue
        binary = np.where(ink, 0, 255).astype(np.uint8)  # Tesseract wants black ink on white
        d = pytesseract.image_to_data(
            Image.fromarray(binary),
            lang="eng",
            config="--psm 11",
            output_type=pytesseract.Output.DICT,
        )
        for i, text in enumerate(d["text"]):
            conf = float(d["conf"][i])
            if not text.strip() or conf < 0:
                continue
            x0, y0 = d["left"][i] // k, d["top"][i] // k
            x1, y1 = (
                math.ceil((d["left"][i] + d["width"][i]) / k),
                math.ceil((d["top"][i] + d["height"][i]) / k),
            )
            line = (polarity, d["block_num"][i], d["par_num"][i], d["line_num"][i])
            words.append(_Word(x0, y0, x1 - x0, y1 - y0, text.strip(), conf, line))
    return words


# --------------------------------------------------------------------------- pixels in and out

#: Compressed transfer syntaxes written back in their own syntax after cleaning: pydicom has a
#: lossless encoder for each (its own RLE, pyjpegls for JPEG-LS, openjpeg for JPEG 2000).
LOSSLESS_REENCODE = frozenset({RLELossless, JPEGLSLossless, JPEG2000Lossless})
#: Transfer syntaxes whose data has always lost information, with the Lossy Image Compression
#: Method (PS3.3 C.7.6.1.1.5.1) to record when the header does not name one. JPEG 2000 (Lossless
#: or Lossy) is lossy only when the header says so.
_LOSSY_METHODS = {
    JPEGBaseline8Bit: "ISO_10918_1",
    JPEGExtended12Bit: "ISO_10918_1",
    JPEGLSNearLossless: "ISO_14495_1",
    JPEG2000: "ISO_15444_1",
}


class PixelDecodeError(ValueError):
    """Pixel data that no installed decoder can read. The message names the transfer syntax and
    the kind of failure, never a value from the data set."""

    def __init__(self, syntax: str, kind: str) -> None:
        self.syntax, self.kind = syntax, kind
        super().__init__(f"no installed decoder could read it ({kind}) in {syntax}")


def _syntax_name(ds: Dataset) -> str:
    """The name of ``ds``'s transfer syntax, for a reason (a UID pydicom does not know: as is,
    since a transfer syntax UID identifies a codec, not a patient)."""
    meta = ds.get("file_meta")
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    return UID(ts).name if ts else "no transfer syntax"


def _frames_of(ds: Dataset) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return 1


def _ensure_transfer_syntax(ds: Dataset) -> None:
    """Give a dataset read without file meta (old archives) the transfer syntax it was read in.

    Native pixel data only: encapsulated data without a transfer syntax names no codec, and
    pydicom then refuses to decode it (the caller reports that).
    """
    if ds.get("file_meta") is None:
        ds.file_meta = FileMetaDataset()
    if "TransferSyntaxUID" in ds.file_meta:
        return
    implicit, little = ds.original_encoding
    # the element, not its value (which is what Dataset.get gives)
    elem = ds["PixelData"] if "PixelData" in ds else None  # noqa: SIM401
    if implicit is None or (elem is not None and elem.is_undefined_length):
        return
    if little:
        ds.file_meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
        )
    elif not implicit:
        ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian


def _decode(ds: Dataset) -> np.ndarray:
    """Stored values as (frames, rows, columns[, samples]); colour comes back as RGB.

    JPEG, JPEG-LS, JPEG 2000 and RLE are decoded by the pylibjpeg and pyjpegls plugins.

    Raises
    ------
    PixelDecodeError
        When no installed decoder can read the pixel data (the message names the transfer
        syntax and the exception's type: pydicom's own messages may quote values).
    """
    try:
        arr = ds.pixel_array
    except Exception as exc:
        raise PixelDecodeError(_syntax_name(ds), type(exc).__name__) from exc
    arr = arr.astype(arr.dtype.newbyteorder("="), copy=False)  # big-endian input decodes as ">u2"
    frames, rows, cols = _frames_of(ds), int(ds.Rows), int(ds.Columns)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    shape = (frames, rows, cols) + ((samples,) if samples > 1 else ())
    return arr.reshape(shape)


def _render(ds: Dataset, frame: np.ndarray) -> np.ndarray:
    """One frame as a viewer shows it, in 8 bits (colour as luminance)."""
    from pydicom.pixels.processing import apply_color_lut, apply_modality_lut, apply_voi_lut

    if frame.ndim == 3:
        a = frame[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    elif ds.get("PhotometricInterpretation") == "PALETTE COLOR":
        try:
            rgb = apply_color_lut(frame, ds).astype(np.float32)
            a = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
        except Exception:
            a = frame.astype(np.float32)
    else:
        a = np.asarray(apply_modality_lut(frame, ds), np.float32)
        if "WindowCenter" in ds or "VOILUTSequence" in ds:
            with contextlib.suppress(Exception):  # a malformed window: the full range
                a = np.asarray(apply_voi_lut(a, ds), np.float32)
        if ds.get("PhotometricInterpretation") == "MONOCHROME1":
            a = -a
    lo, hi = float(a.min()), float(a.max())
    if hi <= lo:
        return np.zeros(a.shape, np.uint8)
    return ((a - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def _views(ds: Dataset, frame: np.ndarray) -> list[np.ndarray]:
    """The 8-bit images text is looked for in: the frame as shown (read by OCR) and, for colour,
    its brightest and its darkest channel. Coloured text (blue on black, yellow on grey) can
    barely differ from its background in luminance and still stand out in one channel."""
    shown = _render(ds, frame)
    rgb: np.ndarray | None = None
    if frame.ndim == 3:
        rgb = frame[..., :3]
    elif ds.get("PhotometricInterpretation") == "PALETTE COLOR":
        from pydicom.pixels.processing import apply_color_lut

        try:
            rgb = apply_color_lut(frame, ds)
        except Exception:  # a broken palette: the indices as they are (already in ``shown``)
            rgb = None
    if rgb is None:
        return [shown]
    brightest, darkest = rgb.max(axis=-1), rgb.min(axis=-1)
    if _grey(brightest, darkest):
        return [shown]  # grey stored as colour (most ultrasound): the channels show nothing more
    return [shown, _stretch(brightest), _stretch(darkest)]


def _grey(brightest: np.ndarray, darkest: np.ndarray) -> bool:
    """Whether every pixel's channels agree within 3 levels (YBR to RGB rounding): a grey image
    stored as colour, whose brightest and darkest channels are its luminance again."""
    return bool(((brightest.astype(np.int16) - darkest) <= 3).all())


def _stretch(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float32)
    lo, hi = float(a.min()), float(a.max())
    if hi <= lo:
        return np.zeros(a.shape, np.uint8)
    return ((a - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def _sample(n: int) -> list[int]:
    if n <= MAX_OCR_FRAMES:
        return list(range(n))
    return sorted({round(i * (n - 1) / (MAX_OCR_FRAMES - 1)) for i in range(MAX_OCR_FRAMES)})


def _fill_value(arr: np.ndarray, fill: str) -> int | float:
    """The value blanked boxes get: the lowest stored value (black for colour) or the highest."""
    if fill not in ("min", "max"):
        raise ValueError(f"fill must be 'min' or 'max', got {fill!r}")
    if fill == "min" and arr.ndim == 4:
        return 0  # black for colour
    value = arr.min() if fill == "min" else arr.max()
    return int(value) if arr.dtype.kind in "iub" else float(value)


def _mark_lossy(ds: Dataset, syntax: UID) -> None:
    """Record on ``ds`` that its pixels were once lossy compressed, when ``syntax`` says so.

    Lossy Image Compression stays (or becomes) ``01`` once data has lost information, whatever
    it is stored in afterwards (PS3.3 C.7.6.1.1.5); ratio and method already there are kept.
    """
    lossy = str(ds.get("LossyImageCompression", "") or "").strip() == "01"
    if syntax in _LOSSY_METHODS and (lossy or syntax != JPEG2000):
        ds.LossyImageCompression = "01"
        if "LossyImageCompressionMethod" not in ds:
            ds.LossyImageCompressionMethod = _LOSSY_METHODS[syntax]


def _encode(ds: Dataset, arr: np.ndarray) -> None:
    """Store ``arr`` as ``ds``'s pixel data, losslessly.

    Input in RLE Lossless, JPEG-LS Lossless or JPEG 2000 Lossless is re-encoded in its own
    syntax (:data:`LOSSLESS_REENCODE`); anything else, and data one of those encoders cannot
    hold, is written as Explicit VR Little Endian. Nothing is ever compressed lossily. Colour
    comes out of :func:`_decode` as RGB and is stored as RGB (Photometric Interpretation and
    Planar Configuration updated); a lossy source keeps Lossy Image Compression ``01``.
    """
    syntax = UID(ds.file_meta.get("TransferSyntaxUID", ExplicitVRLittleEndian))
    colour = arr.ndim == 4
    photometric = "RGB" if colour else str(ds.PhotometricInterpretation)
    out = arr if "NumberOfFrames" in ds else arr[0]
    bits = int(ds.BitsStored)
    big_endian = ds.original_encoding[1] is False
    if syntax.is_compressed:
        _mark_lossy(ds, syntax)
    # native data in any byte order or deflated, and compressed data, start as Explicit VR LE
    _set_native(ds, out, photometric, bits)
    if big_endian:
        _now_little_endian(ds)
    if syntax in LOSSLESS_REENCODE:
        _compress_lossless(ds, syntax)


def _set_native(ds: Dataset, arr: np.ndarray, photometric: str, bits: int) -> None:
    """``arr`` as ``ds``'s native Explicit VR Little Endian pixel data, with the Image Pixel
    attributes that describe it (pydicom's ``set_pixel_data``, which stops at 16 bits; 32-bit
    data, as RT Dose and RLE test images hold, is written here the same way)."""
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    if arr.dtype.itemsize <= 2:
        ds.set_pixel_data(arr, photometric, bits, generate_instance_uid=False)
        return
    colour = photometric == "RGB"
    if colour:
        ds.PlanarConfiguration = 0
    ds.SamplesPerPixel = 3 if colour else 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = arr.dtype.itemsize * 8
    ds.BitsStored = min(bits, ds.BitsAllocated)
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = int(arr.dtype.kind == "i")
    ds.PixelData = np.ascontiguousarray(arr, arr.dtype.newbyteorder("<")).tobytes()
    ds["PixelData"].VR = "OW"
    ds["PixelData"].is_undefined_length = False


def _compress_lossless(ds: Dataset, syntax: UID) -> bool:
    """Compress ``ds``'s native pixel data in the lossless ``syntax``; whether it could. When the
    encoder cannot hold the data (RLE and 32-bit data, 1-bit data...) it stays native.

    JPEG 2000 colour is written without the multiple-component transform, so it stays RGB.
    """
    try:
        if syntax == JPEG2000Lossless:
            ds.compress(syntax, generate_instance_uid=False, use_mct=False)
        else:
            ds.compress(syntax, generate_instance_uid=False)
    except Exception:  # pydicom's encoders raise ValueError, RuntimeError and their own
        return False
    return True


def _now_little_endian(ds: Dataset) -> None:
    """Record that a dataset read as big endian is now little endian, so ``save_as`` writes it.

    Every element still raw (bytes in big-endian order) is parsed first, at every depth, so no
    big-endian bytes are written out as they were read.
    """
    ds.walk(lambda _ds, _elem: None)  # __getitem__ parses each raw element, nested items too
    stack = [ds]
    while stack:
        d = stack.pop()
        d.set_original_encoding(d.original_encoding[0] or False, True, d.original_character_set)
        for elem in d:
            if elem.VR == "SQ":
                stack.extend(elem.value)


def blank_regions(ds: Dataset, boxes: Sequence[TextBox], *, fill: str = "min") -> None:
    """Overwrite ``boxes`` in the stored pixel values of ``ds``, in place.

    A box with ``frame=None`` is blanked in every frame, others in their frame only; every sample
    of colour images. The fill is the image's lowest stored value (``"min"``, black for colour)
    or its highest (``"max"``). See the module docstring for the transfer syntax written.

    Raises
    ------
    ValueError
        For an unknown ``fill`` or a dataset without Pixel Data.
    Exception
        Whatever pydicom raises when it cannot decode or encode the pixel data.

    Examples
    --------
    >>> from hipaa_lab.studies import make_study
    >>> ds = make_study("US", seed=1, slices=1).instances[0].dataset
    >>> blank_regions(ds, [TextBox(0, 0, 40, 10, None, "", "manual")])
    >>> int(ds.pixel_array[:10, :40].max())
    0
    """
    if "PixelData" not in ds:
        raise ValueError("the dataset has no Pixel Data (7FE0,0010) to blank")
    _ensure_transfer_syntax(ds)
    arr = _decode(ds).copy()
    value = _fill_value(arr, fill)
    for box in boxes:
        rows, cols = box.slices()
        frames = range(arr.shape[0]) if box.frame is None else [box.frame]
        for f in frames:
            arr[f, rows, cols] = value
    _encode(ds, arr)


def remove_overlays(ds: Dataset) -> int:
    """Delete every Overlay Plane (repeating groups 6000-601E) from ``ds``; return how many.

    Examples
    --------
    >>> from pydicom.dataset import Dataset
    >>> ds = Dataset()
    >>> ds.add_new(0x60000010, "US", 8); ds.add_new(0x60020010, "US", 8)
    >>> remove_overlays(ds), len(ds)
    (2, 0)
    """
    tags = [t for t in tuple(ds.keys()) if 0x6000 <= t.group <= 0x601E and t.group % 2 == 0]
    for t in tags:
        del ds[t]
    return len({t.group for t in tags})


# --------------------------------------------------------------------------- region rules


def _runs(flags: np.ndarray | np.bool_, max_gap: int = 0) -> list[tuple[int, int]]:
    """Runs of True in a 1-D array as (start, stop), merging runs separated by <= max_gap."""
    idx = np.flatnonzero(flags)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > max_gap + 1)
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    stops = np.concatenate([idx[breaks], [idx[-1]]]) + 1
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def _is_us(ds: Dataset) -> bool:
    return ds.get("Modality") == "US" or str(ds.get("SOPClassUID", "")) in _US_CLASSES


def _is_scanned(ds: Dataset) -> bool:
    return (
        ds.get("Modality") == "DOC"
        or (
            ds.get("Modality") in ("SC", "OT", "DOC", None) and ds.get("ConversionType") in _SCANNED
        )
        or (
            str(ds.get("SOPClassUID", "")).startswith(_SC_PREFIX)
            and ds.get("ConversionType") in _SCANNED
        )
    )


def _us_banner(gray: np.ndarray, frame: int | None) -> list[TextBox]:
    """Text lines in the band above an ultrasound sector, each across the full width.

    Rows whose pixels differ from the background form runs; a run that starts within the top
    :data:`US_BANNER_FRACTION` of the rows and is short (a line of text, not the sector, which runs
    on down the image) is a banner line. The first tall run ends the banner.
    """
    rows, cols = gray.shape
    limit = max(8, int(rows * US_BANNER_FRACTION))
    area = gray[: min(rows, 3 * limit)].astype(np.int16)
    background = int(np.median(area[: max(2, limit // 4)]))
    busy = (np.abs(area - background) > 60).sum(axis=1) >= 2
    boxes = []
    for start, stop in _runs(busy, max_gap=1):
        if start >= limit or stop - start > max(12, limit // 2):
            break
        y0, y1 = max(0, start - PAD), min(rows, stop + PAD)
        boxes.append(TextBox(0, y0, cols, y1 - y0, frame, "", "us-banner"))
    return boxes


def _page_lines(gray: np.ndarray, frame: int | None) -> list[TextBox]:
    """Every line of ink on a scanned page, found from row and column profiles."""
    rows, cols = gray.shape
    background = int(np.median(gray))
    ink = np.abs(gray.astype(np.int16) - background) > 60
    ink[:, ink.mean(axis=0) > 0.5] = False  # scanner edges, margins, vertical rules
    ink[ink.mean(axis=1) > 0.5, :] = False  # horizontal rules
    boxes = []
    for y0, y1 in _runs(ink.any(axis=1), max_gap=1):
        height = y1 - y0
        for x0, x1 in _runs(ink[y0:y1].any(axis=0), max_gap=max(4, height)):
            m = max(PAD, height // 3)
            bx0, by0 = max(0, x0 - m), max(0, y0 - m)
            boxes.append(
                TextBox(
                    bx0,
                    by0,
                    min(cols, x1 + m) - bx0,
                    min(rows, y1 + m) - by0,
                    frame,
                    "",
                    "document",
                )
            )
    return boxes


_STROKE_WINDOW = (
    7  # a square wider than a stroke of text: a grey opening or closing with it wipes text out
)
_JOIN = 6  # glyphs this close on a row belong to one line


def _text_lines(
    gray: np.ndarray, frame: int | None, contrast: int = LINE_CONTRAST
) -> list[TextBox]:
    """Lines of text-like marks, found without reading them: OCR misses small and cramped fonts.

    A stroke is a pixel that stands out by ``contrast`` (:data:`LINE_CONTRAST`, or
    :data:`LOW_LINE_CONTRAST` in images expected to carry text) from its local background, the
    grey opening (bright text) or closing (dark text) of the image with a square wider than a
    stroke. Strokes join into glyphs (connected components no taller than a line), and glyphs close
    to each other on a row into lines. A line counts as text when its glyphs are
    :data:`LINE_HEIGHTS` high (lines set so close that they touch make one taller block), it is at
    least 1.5 times as wide as a glyph, holds three glyphs or more of about its height, and stands
    on a clean background: (almost) nothing stands out in the ring of pixels around it. That last
    test keeps ultrasound speckle, the edge of a sector and anatomy out. A piece of one or two
    glyphs on a clean background (``ID``, a lone digit after a wide space) comes back as a
    ``"text-fragment"``: :func:`_regions` keeps it only next to a line. Images over 1400 pixels
    are searched at a reduced scale too, for their larger fonts.
    """
    rows, cols = gray.shape
    k = max(1, round(max(rows, cols) / 1000))
    boxes = _lines_at(gray, frame, 1, contrast)
    if k > 1 and min(rows, cols) >= 2 * k:
        r, c = rows // k, cols // k
        small = gray[: r * k, : c * k].reshape(r, k, c, k).mean(axis=(1, 3))
        boxes += _lines_at(small.astype(np.uint8), frame, k, contrast)
    return boxes


def _lines_at(
    gray: np.ndarray, frame: int | None, k: int, contrast: int = LINE_CONTRAST
) -> list[TextBox]:
    """:func:`_text_lines` at one scale; boxes are multiplied by ``k`` and padded (a third of a
    glyph's height above and below, half of it at the ends), clipped at the image's edges."""
    from scipy import ndimage as ndi

    g = gray.astype(np.int16)
    rows, cols = g.shape
    low, high = LINE_HEIGHTS
    size = (_STROKE_WINDOW, _STROKE_WINDOW)
    out = []
    for hat in (
        g - ndi.grey_opening(g, size=size, mode="nearest"),
        ndi.grey_closing(g, size=size, mode="nearest") - g,
    ):  # bright, dark
        strokes = hat >= contrast
        glyphs, n = ndi.label(strokes, structure=np.ones((3, 3), bool))
        if n == 0:
            continue
        heights = np.zeros(n + 1, int)
        small = np.zeros(n + 1, bool)
        for i, sl in enumerate(ndi.find_objects(glyphs), 1):
            h, w = sl[0].stop - sl[0].start, sl[1].stop - sl[1].start
            heights[i], small[i] = h, h <= high and w <= max(high, 3 * h)
        marks = small[glyphs]
        lines, _ = ndi.label(
            ndi.binary_dilation(marks, structure=np.ones((1, 2 * _JOIN + 1), bool))
        )
        for j, sl in enumerate(ndi.find_objects(lines), 1):
            y0, y1, x0, x1 = sl[0].start, sl[0].stop, sl[1].start, sl[1].stop
            h, w = y1 - y0, x1 - x0
            ids = np.unique(glyphs[sl][(lines[sl] == j) & marks[sl]])
            ids = ids[ids > 0]
            if len(ids) == 0:
                continue
            gh = float(np.median(heights[ids]))
            if h < low or gh < max(3, 0.4 * min(h, high)) or gh > high:
                continue
            if h > high and (len(ids) < 3 * h / max(gh, 1) or h > 8 * high):
                continue  # a tall block must be lines of glyphs, not one tall shape
            fragment = len(ids) < 3 or w < 1.5 * gh
            if fragment and (len(ids) == 0 or w > 4 * gh):
                continue
            ry0, rx0 = max(0, y0 - 2), max(0, x0 - 2)
            around = hat[ry0 : y1 + 2, rx0 : x1 + 2] >= contrast / 3
            inner = around[y0 - ry0 : y1 - ry0, x0 - rx0 : x1 - rx0]
            ring = around.size - inner.size
            inner[...] = False
            if ring and around.sum() > 0.05 * ring:
                continue
            my, mx = max(PAD, k * h // 3), max(PAD, k * int(gh) // 2)
            bx0, by0 = max(0, k * x0 - mx), max(0, k * y0 - my)
            bx1, by1 = min(k * cols, k * x1 + mx), min(k * rows, k * y1 + my)
            source = "text-fragment" if fragment else "text-lines"
            out.append(TextBox(bx0, by0, bx1 - bx0, by1 - by0, frame, "", source))
    return out


@dataclass
class _Block:
    """Boxes being merged by :func:`_regions`: their extent, whether all are text fragments, and
    their source (``"block"`` once boxes of several sources are merged)."""

    x0: int
    y0: int
    x1: int
    y1: int
    fragment: bool
    source: str

    def near(self, other: _Block) -> bool:
        """Whether the two touch or nearly touch: within a line and a half on a row, half a
        line (at least 2 pixels) on a column."""
        h = max(1, min(self.y1 - self.y0, other.y1 - other.y0))
        gx, gy = int(1.5 * h), max(2, h // 2)
        return (
            self.x0 < other.x1 + gx
            and other.x0 < self.x1 + gx
            and self.y0 < other.y1 + gy
            and other.y0 < self.y1 + gy
        )

    def absorb(self, other: _Block) -> None:
        self.x0, self.y0 = min(self.x0, other.x0), min(self.y0, other.y0)
        self.x1, self.y1 = max(self.x1, other.x1), max(self.y1, other.y1)
        self.fragment = self.fragment and other.fragment
        if self.source != other.source:
            self.source = "block"


def _regions(ds: Dataset, boxes: Sequence[TextBox], rows: int, cols: int) -> list[TextBox]:
    """Boxes grown into the regions to blank: every frame, blocks whole, a banner its full width.

    Boxes that touch or nearly touch (within half a line on a column, a line and a half on a row)
    merge into one block, so a corner annotation block or a label is blanked to its full extent,
    with the gaps between its lines and words. A text fragment that joins no line is dropped. In
    an ultrasound image a block that starts in the top :data:`US_BANNER_FRACTION` of the rows is
    the banner: it is blanked from the top row down to its bottom, across the full width.
    """
    items = [
        _Block(b.x, b.y, b.x + b.width, b.y + b.height, b.source == "text-fragment", b.source)
        for b in boxes
        if b.width > 0 and b.height > 0
    ]
    merged = True
    while merged:
        merged = False
        kept: list[_Block] = []
        for it in items:
            for other in kept:
                if it.near(other):
                    other.absorb(it)
                    merged = True
                    break
            else:
                kept.append(it)
        items = kept
    us = _is_us(ds)
    limit = max(8, int(rows * US_BANNER_FRACTION))
    out = []
    for it in items:
        if it.fragment:
            continue
        x0, y0, x1, y1, source = it.x0, it.y0, it.x1, it.y1, it.source
        if us and y0 < limit:
            x0, y0, x1, source = 0, 0, cols, "us-banner"
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(cols, x1), min(rows, y1)
        if x1 > x0 and y1 > y0:
            out.append(TextBox(x0, y0, x1 - x0, y1 - y0, None, "", source))
    return out


def _word_box(w: _Word, frame: int | None, source: str = "ocr", margin: int = PAD) -> TextBox:
    return TextBox(
        w.x - margin, w.y - margin, w.w + 2 * margin, w.h + 2 * margin, frame, w.text, source
    )


def ocr_lines(words: Sequence[_Word], frame: int | None) -> list[tuple[TextBox, list[_Word]]]:
    """OCR'd words grouped into Tesseract's lines, left to right: each line's box (with a margin
    of half a line height, so a word it misread at either end falls inside) and its words."""
    lines: dict[tuple[int, int, int, int], list[_Word]] = {}
    for w in words:
        if _alnum(w.text):
            lines.setdefault(w.line, []).append(w)
    out = []
    for ws in lines.values():
        ws.sort(key=lambda w: w.x)
        x0, y0 = min(w.x for w in ws), min(w.y for w in ws)
        x1, y1 = max(w.x + w.w for w in ws), max(w.y + w.h for w in ws)
        m = max(PAD, (y1 - y0) // 2)
        box = TextBox(x0 - m, y0 - m, x1 - x0 + 2 * m, y1 - y0 + 2 * m, frame, "", "ocr-line")
        out.append((box, ws))
    return out


def _legible(w: _Word, *, chars: int = 2, conf: float = MIN_CONFIDENCE) -> bool:
    return w.conf >= conf and w.h >= MIN_WORD_HEIGHT and len(_alnum(w.text)) >= chars


# --------------------------------------------------------------------------- surveying frames


@dataclass
class FrameSurvey:
    """What one frame shows: its text lines (every view) and, when it was read, its OCR words.

    ``words`` is ``None`` for a frame not read: its text lines are those of a frame that was.
    """

    frame: int
    lines: list[TextBox]
    words: list[_Word] | None
    shown: np.ndarray


def _line_signature(lines: Sequence[TextBox]) -> frozenset[tuple[int, int, int, int]]:
    return frozenset(
        (b.x // 8, b.y // 8, (b.x + b.width) // 8, (b.y + b.height) // 8)
        for b in lines
        if b.source == "text-lines"
    )


def _survey(ds: Dataset, arr: np.ndarray) -> list[FrameSurvey]:
    """Every frame through the text-lines detector; OCR on the frames of :func:`_sample` and on
    each frame whose set of lines no frame read so far had (a cine's banner is the same on every
    frame: it is read a few times, not once per frame)."""
    contrast = LOW_LINE_CONTRAST if _expects_text(ds) else LINE_CONTRAST
    n = arr.shape[0]
    sample = set(_sample(n))
    read: set[frozenset[tuple[int, int, int, int]]] = set()
    out = []
    for f in range(n):
        views = _views(ds, arr[f])
        lines = [b for v in views for b in _text_lines(v, f, contrast)]
        signature = _line_signature(lines)
        words = None
        if f in sample or signature not in read:
            words = _ocr(views[0])
            read.add(signature)
        out.append(FrameSurvey(f, lines, words, views[0]))
    return out


# --------------------------------------------------------------------------- the public steps


def _supported(w: _Word, lines: Sequence[TextBox], shown: np.ndarray) -> bool:
    """Whether an OCR'd word in a projection radiograph counts: on marks the text-lines detector
    found (a line or a fragment), or read with the confidence that verification reports
    (:data:`VERIFY_CONFIDENCE`) and read the same again (:func:`_reads_again`). At the edges of
    bright anatomy (a breast's skin line, a bar over a field) and on its texture, Tesseract reads
    shapes as short words, at 60-75 and now and then at 81; blanking them damaged clean images.
    An identifier it reads there at any confidence is still blanked: verification's patterns
    and header values put it among the leaks."""
    if any(
        w.x < b.x + b.width and b.x < w.x + w.w and w.y < b.y + b.height and b.y < w.y + w.h
        for b in lines
    ):
        return True
    return w.conf >= VERIFY_CONFIDENCE and _reads_again(w, shown)


def _reads_again(w: _Word, shown: np.ndarray) -> bool:
    """Whether Tesseract reads ``w`` the same in its own padded crop, cut into ink and
    background at the crop's Otsu threshold rather than at :func:`_ocr`'s fixed one. Printed
    glyphs have sharp edges, so any threshold between ink and background draws the same letters;
    the blotches that texture gives at one threshold change shape at another."""
    import pytesseract
    from PIL import Image

    pad = max(4, w.h // 2)
    top, left = max(0, w.y - pad), max(0, w.x - pad)
    crop = shown[top : w.y + w.h + pad, left : w.x + w.w + pad]
    threshold = _otsu(crop)
    ink = crop > threshold if w.line[0] == 0 else crop <= threshold
    if not ink.any() or ink.all():
        return False
    k = max(1, math.ceil(30 / max(w.h, 1)))
    binary = Image.fromarray(np.where(ink, 0, 255).astype(np.uint8))
    binary = binary.resize((binary.width * k, binary.height * k), Image.Resampling.NEAREST)
    again = pytesseract.image_to_string(binary, lang="eng", config="--psm 7")
    return _alnum(w.text) in _alnum(again)


def _otsu(gray: np.ndarray) -> int:
    """The grey level that best splits ``gray`` (uint8) in two (Otsu's between-class variance)."""
    if gray.min() == gray.max():
        return int(gray.min())
    hist = np.bincount(gray.ravel(), minlength=256).astype(np.float64)
    weight = np.cumsum(hist)
    mass = np.cumsum(hist * np.arange(256))
    total, total_mass = weight[-1], mass[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total_mass * weight - mass * total) ** 2 / (weight * (total - weight))
    return int(np.nanargmax(np.where(np.isfinite(between), between, np.nan)))


def _boxes(ds: Dataset, surveys: Sequence[FrameSurvey], leaks: Sequence[object]) -> list[TextBox]:
    """Everything to blank, before :func:`_regions` grows it: text lines and fragments, OCR'd
    lines, where the leaks are, the region rules."""
    us, scanned = _is_us(ds), _is_scanned(ds)
    sc = str(ds.get("SOPClassUID", "")).startswith(_SC_PREFIX)
    bands = print_bands(ds, int(ds.Rows))
    boxes: list[TextBox] = [leak.box for leak in leaks]  # type: ignore[attr-defined]
    for s in surveys:
        words = s.words or []
        legible = [w for w in words if _legible(w)]
        if bands is not None:
            legible = [w for w in legible if _supported(w, s.lines, s.shown)]
        found = s.lines + [_word_box(w, s.frame) for w in legible]
        found += [box for box, ws in ocr_lines(legible, s.frame)]
        boxes += [b for b in found if in_bands(b, bands)]
        if us:
            boxes += _us_banner(s.shown, s.frame)
        if scanned or (sc and len(legible) >= SC_TEXT_WORDS):
            boxes += [box for box, ws in ocr_lines(words, s.frame)]
            if scanned:
                boxes += _page_lines(s.shown, s.frame)
    return boxes


#: Modalities whose pixels often carry text.
_TEXT_MODALITIES = {"US", "OT", "SC", "DOC", "XC", "ES", "GM", "SM", "IVUS", "OP", "XA", "RF"}
#: SOP classes whose pixels often carry text: Secondary Capture, ultrasound, visible light.
_TEXT_SOP_PREFIXES = (
    _SC_PREFIX,
    "1.2.840.10008.5.1.4.1.1.6.",
    "1.2.840.10008.5.1.4.1.1.3.1",
    "1.2.840.10008.5.1.4.1.1.77.",
)


#: Projection radiography: CR, DX, mammography, intra-oral and panoramic, digitised film.
_PROJECTION_MODALITIES = {"CR", "DX", "MG", "IO", "PX", "RG", "DG"}
#: Their SOP classes: CR Image Storage, and the Digital X-Ray, Mammography and Intra-oral families
#: (1.2.840.10008.5.1.4.1.1.1.1, .1.2, .1.3 and their For Processing kinds).
_CR_CLASS = "1.2.840.10008.5.1.4.1.1.1"
_PROJECTION_SOP_PREFIX = _CR_CLASS + "."


def _projection_kind(ds: Dataset) -> bool:
    """Whether ``ds`` is a projection radiograph (CR, DX, MG, IO...), by modality or SOP class."""
    sop = str(ds.get("SOPClassUID", ""))
    return (
        str(ds.get("Modality", "")).upper() in _PROJECTION_MODALITIES
        or sop == _CR_CLASS
        or sop.startswith(_PROJECTION_SOP_PREFIX)
    )


def print_bands(ds: Dataset, rows: int) -> tuple[int, int] | None:
    """Where unread text is looked for in ``ds``: ``(top, bottom)`` row limits of the bands, or
    ``None`` for everywhere.

    A projection radiograph (CR, DX, MG, IO, PX) is read whatever ``BurnedInAnnotation`` says,
    because archives get that attribute wrong and CR readers, DX consoles, film digitisers and
    mammography units print the patient's name, ID and date in its corners and along its top and
    bottom edges. There, every text line (read by OCR or not) and every legible word is blanked,
    in the top and the bottom :data:`PRINT_BAND_FRACTION` of the rows. Over the anatomy between
    them, ribs, vessels and calcifications look like lines of small marks to the text-lines
    detector and OCR reads noise as words: blanking them destroyed up to 60% of a chest image and
    quarantined clean ones, so there only what OCR reads as an identifier (a pattern or one of the
    header's own values) counts. Text over the anatomy that OCR cannot read at all is the limit of
    this rule. Every other image is read everywhere (``None``).

    Examples
    --------
    >>> from pydicom.dataset import Dataset
    >>> ds = Dataset()
    >>> ds.Modality = "MG"
    >>> print_bands(ds, 400)
    (60, 340)
    >>> ds.Modality = "US"
    >>> print_bands(ds, 400) is None
    True
    """
    if not _projection_kind(ds) or _text_kind(ds):
        return None
    band = max(8, int(rows * PRINT_BAND_FRACTION))
    return band, rows - band


def in_bands(box: TextBox, bands: tuple[int, int] | None) -> bool:
    """Whether ``box`` reaches into the print bands (always, when ``bands`` is ``None``)."""
    return bands is None or box.y < bands[0] or box.y + box.height > bands[1]


def _marked(ds: Dataset) -> bool:
    return str(ds.get("BurnedInAnnotation", "")).upper() == "YES"


def _text_kind(ds: Dataset) -> bool:
    """Whether ``ds`` is of a kind of image machines write text into, whatever its header claims."""
    return (
        _is_us(ds)
        or _is_scanned(ds)
        or str(ds.get("Modality", "")).upper() in _TEXT_MODALITIES
        or str(ds.get("SOPClassUID", "")).startswith(_TEXT_SOP_PREFIXES)
    )


def _expects_text(ds: Dataset) -> bool:
    """Whether text in the pixels is to be expected: marked so, a kind of image that carries it,
    or a projection radiograph (in its print bands: :func:`print_bands`)."""
    return _marked(ds) or _text_kind(ds) or _projection_kind(ds)


def needs_cleaning(ds: Dataset, clean_pixel_data: bool = False) -> bool:
    """Whether the pixels of ``ds`` may carry burned-in text, so must be cleaned before sharing.

    Yes when ``BurnedInAnnotation`` is YES or ``clean_pixel_data`` (the Clean Pixel Data option)
    is asked for, and for the modalities and SOP classes where machines write text into images
    (ultrasound, secondary capture, scanned documents, endoscopy, angiography...) whatever
    ``BurnedInAnnotation`` says: archives get it wrong, and NO is a claim to verify. Projection
    radiographs (CR, DX, MG...) are read whatever it says too, in the bands where machines print
    (:func:`print_bands`). Other images (CT, MR, NM...) are read only when marked YES: their text
    is on secondary captures, which are read.

    Examples
    --------
    >>> from pydicom.dataset import Dataset
    >>> ds = Dataset()
    >>> ds.Modality, ds.PixelData = "US", b"\\0\\0"
    >>> ds.BurnedInAnnotation = "NO"
    >>> needs_cleaning(ds)
    True
    >>> ds.Modality = "CR"
    >>> needs_cleaning(ds)
    True
    >>> ds.Modality = "CT"
    >>> needs_cleaning(ds), needs_cleaning(ds, clean_pixel_data=True)
    (False, True)
    """
    if "PixelData" not in ds:
        return False
    return clean_pixel_data or _expects_text(ds)


def _clip(b: TextBox, rows: int, cols: int) -> TextBox:
    x0, y0 = max(0, b.x), max(0, b.y)
    x1, y1 = min(cols, b.x + b.width), min(rows, b.y + b.height)
    return TextBox(x0, y0, x1 - x0, y1 - y0, b.frame, b.text, b.source)


def find_text(ds: Dataset, *, frames: Iterable[int] | None = None) -> list[TextBox]:
    """Boxes of text burned into the pixels of ``ds``: OCR words, OCR'd lines and text lines.

    Every frame goes through the text-lines detector; OCR reads a sample of frames and each frame
    whose lines differ (see :func:`_survey`). Word boxes carry the text read (``source``
    ``"ocr"``); for whether any text is left, use :func:`hipaa_lab.deid.textcheck.find_leaks`.

    Parameters
    ----------
    ds
        A dataset with Pixel Data.
    frames
        0-based frames to keep boxes of (default: all).

    Raises
    ------
    OCRUnavailableError
        When Tesseract is not installed.
    ValueError
        For a dataset without Pixel Data or a frame out of range.
    """
    if "PixelData" not in ds:
        raise ValueError("the dataset has no Pixel Data (7FE0,0010) to read")
    if not ocr_available():
        raise OCRUnavailableError()
    _ensure_transfer_syntax(ds)
    arr = _decode(ds)
    chosen = set(range(arr.shape[0]) if frames is None else frames)
    bad = sorted(f for f in chosen if not 0 <= f < arr.shape[0])
    if bad:
        raise ValueError(f"frames {bad} out of range: the image has frames 0 to {arr.shape[0] - 1}")
    single = arr.shape[0] == 1
    rows, cols = arr.shape[1:3]
    out = []
    for s in _survey(ds, arr):
        if s.frame not in chosen:
            continue
        label = None if single else s.frame
        found = [b for b in s.lines if b.source == "text-lines"]
        found += [_word_box(w, label) for w in s.words or [] if _legible(w)]
        found += [box for box, _ in ocr_lines([w for w in s.words or [] if _legible(w)], label)]
        if _is_us(ds):
            found += _us_banner(s.shown, label)
        for b in found:
            b = _clip(b, rows, cols)
            if b.width > 0 and b.height > 0:
                out.append(TextBox(b.x, b.y, b.width, b.height, label, b.text, b.source))
    return out


def _rows_of(boxes: Sequence[TextBox]) -> str:
    return f"rows {min(b.y for b in boxes)}-{max(b.y + b.height for b in boxes)}"


def clean_burned_in(ds: Dataset, known: object | None = None) -> PixelCleanResult:
    """Find text in the pixels of ``ds``, blank it in every frame, verify; in place.

    Every frame is surveyed (:func:`_survey`); what is found is grown into whole regions
    (:func:`_regions`: lines padded, blocks whole, an ultrasound banner its full width) and
    blanked in every frame. The stored result is decoded again and checked with
    :func:`hipaa_lab.deid.textcheck.find_leaks`, the check ``hipaa-lab scan`` runs: text lines,
    identifier patterns, ``known`` values (default: those of ``ds``'s own header, so call this
    before the header is de-identified) and legible words. What it finds is blanked in up to
    :data:`EXTRA_ROUNDS` further rounds; text still there then fails the file. Sets
    ``BurnedInAnnotation`` to ``NO`` only when the result is ``"cleaned"``. A dataset that says
    ``BurnedInAnnotation`` YES but shows no text fails: the text may be where OCR cannot see it,
    and a person should look. Reasons name frames, rows and kinds of text, never the text.

    Examples
    --------
    >>> from hipaa_lab.studies import make_study
    >>> ds = make_study("US", seed=3, slices=1).instances[0].dataset
    >>> result = clean_burned_in(ds) if ocr_available() else PixelCleanResult("cleaned", "", [])
    >>> result.status
    'cleaned'
    """
    if "PixelData" not in ds:
        if any(k in ds for k in ("FloatPixelData", "DoubleFloatPixelData")):
            return PixelCleanResult("failed", "float pixel data cannot be cleaned")
        return PixelCleanResult("clean", "no pixel data")
    if not ocr_available():
        return PixelCleanResult("failed", _UNAVAILABLE)
    from hipaa_lab.deid import textcheck

    if known is None:
        known = textcheck.known_values_of(ds)
    _ensure_transfer_syntax(ds)
    ts = ds.file_meta.get("TransferSyntaxUID", "")
    try:
        arr = _decode(ds)
    except Exception as exc:
        name = UID(ts).name if ts else "unknown transfer syntax"
        return PixelCleanResult(
            "failed", f"cannot decode the pixel data ({name}): {type(exc).__name__}"
        )
    rows, cols = arr.shape[1:3]
    surveys = _survey(ds, arr)
    leaks = textcheck.leaks_in(surveys, known, print_bands(ds, rows))  # type: ignore[arg-type]
    found = _boxes(ds, surveys, leaks)
    todo = _regions(ds, found, rows, cols)
    if not todo:
        if str(ds.get("BurnedInAnnotation", "")).upper() == "YES":
            return PixelCleanResult(
                "failed", "BurnedInAnnotation is YES but no text was found; check by hand"
            )
        return PixelCleanResult("clean", "no text found")
    read_any = any(s.words and any(_legible(w) for w in s.words) for s in surveys)
    if not read_any and not _read_something(leaks) and not _expects_text(ds):
        return PixelCleanResult(
            "failed",
            f"{len(todo)} regions of text-like marks that OCR cannot read ({_rows_of(todo)}), "
            "in an image not marked as carrying text; check by hand",
            todo,
        )
    applied: list[TextBox] = []
    for _ in range(1 + EXTRA_ROUNDS):
        applied += todo
        try:
            blank_regions(ds, todo)
            arr = _decode(ds)  # verify what is stored, not what we meant to store
        except Exception as exc:
            return PixelCleanResult(
                "failed", f"cannot write the blanked pixel data: {type(exc).__name__}", applied
            )
        fill = _fill_value(arr, "min")
        for b in applied:
            sl_rows, sl_cols = b.slices()
            if np.any(arr[:, sl_rows, sl_cols] != fill):
                return PixelCleanResult(
                    "failed",
                    f"the region at rows {b.y}-{b.y + b.height}, columns {b.x}-{b.x + b.width} "
                    "was not blanked in the stored pixels",
                    applied,
                )
        leaks = textcheck.find_leaks(ds, known, arr=arr)  # type: ignore[arg-type]
        if not leaks:
            ds.BurnedInAnnotation = "NO"
            return PixelCleanResult(
                "cleaned",
                f"{len(applied)} regions blanked in {arr.shape[0]} frames, verified by the "
                "text-lines detector, OCR, the identifier patterns and the header's values",
                applied,
            )
        todo = _regions(ds, [leak.box for leak in leaks], rows, cols)
    return PixelCleanResult(
        "failed",
        f"text still legible after {1 + EXTRA_ROUNDS} rounds of blanking: "
        + textcheck.describe(leaks),
        applied,
    )


def _read_something(leaks: Sequence[object]) -> bool:
    """Whether any leak is more than an unread text line (OCR read something)."""
    return any(getattr(leak, "text", "") for leak in leaks)
