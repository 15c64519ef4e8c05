"""The issue's acceptance test: `hipaa-lab deid` then `hipaa-lab scan` on a mixed folder of the forms
real machines write finds nothing, and every input is either de-identified or named with a reason.

The folder is built here, not by hipaa-lab's generator: ultrasound in RGB, in JPEG baseline
YBR_FULL_422 and as a coloured multi-frame cine, a MONOCHROME1 CR with a corner block in JPEG-LS,
a scanned document (dark text on a light page) in JPEG 2000, a palette-colour image, and banners
in several scripts (Latin with diacritics, Japanese, digits-only IDs), plus pydicom's own
ultrasound and secondary-capture files. Every banner repeats its file's header values, as real
machines do, so the scan's ``--original`` values and the de-identifier's verification both see
them.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image, ImageDraw, ImageFont
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)
from scipy import ndimage

pytestmark = pytest.mark.slow

US_CLASS = "1.2.840.10008.5.1.4.1.1.6.1"
US_MULTIFRAME_CLASS = "1.2.840.10008.5.1.4.1.1.3.1"
CR_CLASS = "1.2.840.10008.5.1.4.1.1.1"
SC_CLASS = "1.2.840.10008.5.1.4.1.1.7"

LATIN_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
LATIN_MONO = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"


def _cjk_font() -> str:
    out = subprocess.run(
        ["fc-match", "-f", "%{file}", ":lang=ja"], capture_output=True, text=True, check=False
    ).stdout
    if not out or "DejaVu" in out:
        pytest.fail("no Japanese font: scripts/install-system-packages.sh installs one")
    return out


@dataclass
class Planted:
    """One input file and the text burned into it (the mask of every ink pixel, per frame)."""

    name: str
    text: list[str]
    masks: dict[int, np.ndarray]  # frame -> boolean mask of ink


def _header(ds: Dataset, sop_class: str, modality: str, patient: tuple[str, str, str]) -> None:
    name, mrn, birth = patient
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = modality
    ds.PatientName = name
    ds.PatientID = mrn
    ds.PatientBirthDate = birth
    ds.PatientSex = "F"
    ds.StudyDate = "20240611"
    ds.AccessionNumber = "A" + mrn[-6:]
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.BurnedInAnnotation = "NO"  # wrong, as real archives often are: a claim to check


def _draw(
    img: Image.Image, lines: list[tuple[tuple[int, int], str, str, int]], fill: object
) -> np.ndarray:
    """Draw text lines (position, text, font file, size) on ``img``; the ink mask."""
    mask = Image.new("L", img.size, 0)
    for (x, y), text, font_file, size in lines:
        font = ImageFont.truetype(font_file, size)
        ImageDraw.Draw(img).text((x, y), text, font=font, fill=fill)
        ImageDraw.Draw(mask).text((x, y), text, font=font, fill=255)
    return np.asarray(mask) > 128


def _file(ds: Dataset, ts: str) -> Dataset:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ts
    return ds


def _rgb(ds: Dataset, arr: np.ndarray) -> None:
    ds.Rows, ds.Columns = arr.shape[-3], arr.shape[-2]
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = np.ascontiguousarray(arr).tobytes()


def _speckle(rows: int, cols: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.gamma(2.0, 18.0, (rows, cols)).clip(0, 120).astype(np.uint8)
    base[: rows // 8] = 0  # the banner strip is black, as on real scanners
    return base


def us_rgb(folder: Path) -> Planted:
    """RGB ultrasound, white banner text on black, a surname with a non-ASCII first letter."""
    patient = ("Østergård^Ingrid", "40817263", "19610314")
    gray = _speckle(480, 640, 1)
    img = Image.fromarray(np.stack([gray] * 3, -1), "RGB")
    lines = [
        ((8, 6), "ØSTERGÅRD, INGRID   ID 40817263", LATIN_FONT, 18),
        ((8, 30), "DOB 14.03.1961   11-Jun-2024 09:14", LATIN_FONT, 14),
    ]
    mask = _draw(img, lines, (255, 255, 255))
    ds = Dataset()
    _header(ds, US_CLASS, "US", patient)
    _rgb(ds, np.asarray(img))
    _file(ds, ExplicitVRLittleEndian).save_as(folder / "us-rgb.dcm", enforce_file_format=True)
    return Planted("us-rgb.dcm", [t for _, t, _, _ in lines], {0: mask})


def us_jpeg_ybr(folder: Path) -> Planted:
    """JPEG baseline ultrasound stored as YBR_FULL_422, grey text right-aligned, low contrast."""
    patient = ("Straßer^Jürgen", "7730125", "19750902")
    gray = _speckle(480, 640, 2)
    img = Image.fromarray(np.stack([gray] * 3, -1), "RGB")
    lines = [
        ((372, 8), "STRAßER JÜRGEN  7730125", LATIN_MONO, 16),
        ((440, 30), "02/09/1975", LATIN_MONO, 16),
    ]
    mask = _draw(img, lines, (96, 96, 96))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95, subsampling=1)  # 4:2:2, as ultrasound machines write
    ds = Dataset()
    _header(ds, US_CLASS, "US", patient)
    ds.Rows, ds.Columns = 480, 640
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "YBR_FULL_422", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.LossyImageCompression = "01"
    ds.PixelData = encapsulate([buf.getvalue()])
    ds["PixelData"].VR = "OB"
    _file(ds, JPEGBaseline8Bit).save_as(folder / "us-jpeg-ybr.dcm", enforce_file_format=True)
    return Planted("us-jpeg-ybr.dcm", [t for _, t, _, _ in lines], {0: mask})


def us_cine(folder: Path) -> Planted:
    """A 6-frame RGB cine, RLE; yellow Japanese banner on frames 2 to 5 only, ID at the bottom edge."""
    patient = ("山田^花子", "5512087", "19880123")
    font = _cjk_font()
    frames, masks = [], {}
    for f in range(6):
        gray = _speckle(240, 320, 10 + f)
        img = Image.fromarray(np.stack([gray] * 3, -1), "RGB")
        if 2 <= f <= 5:
            lines = [
                ((4, 4), "山田 花子  5512087", font, 16),
                ((200, 224), "5512087", LATIN_FONT, 12),
            ]
            masks[f] = _draw(img, lines, (255, 230, 0))
        frames.append(np.asarray(img))
    ds = Dataset()
    _header(ds, US_MULTIFRAME_CLASS, "US", patient)
    ds.NumberOfFrames = 6
    ds.FrameIncrementPointer = 0x00181063
    ds.FrameTime = 33.3
    _rgb(ds, np.stack(frames))
    _file(ds, ExplicitVRLittleEndian)
    ds.compress(RLELossless, generate_instance_uid=False)
    ds.save_as(folder / "us-cine-rle.dcm", enforce_file_format=True)
    return Planted("us-cine-rle.dcm", ["山田 花子  5512087", "5512087"], masks)


def cr_monochrome1(folder: Path) -> Planted:
    """A MONOCHROME1 CR, 12 bits in 16, corner block bottom-left, JPEG-LS lossless.

    In MONOCHROME1 low values show white: the block is drawn with 0 so a viewer shows white text.
    """
    patient = ("Nakamura-Ölund^Sven", "88120457", "19490730")
    rng = np.random.default_rng(3)
    arr = (rng.normal(2600, 150, (512, 512))).clip(0, 4095).astype(np.uint16)
    img = Image.fromarray(arr.astype(np.int32), "I")
    lines = [
        ((6, 448), "NAKAMURA-ÖLUND SVEN", LATIN_FONT, 14),
        ((6, 468), "88120457  30.07.1949", LATIN_FONT, 14),
        ((6, 488), "R  PA ERECT", LATIN_FONT, 14),
    ]
    mask = _draw(img, lines, 0)
    ds = Dataset()
    _header(ds, CR_CLASS, "CR", patient)
    ds.Rows, ds.Columns, ds.SamplesPerPixel = 512, 512, 1
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.asarray(img, np.uint16).tobytes()
    ds.BurnedInAnnotation = "NO"  # wrong, as real archives often are: read in the print bands
    _file(ds, ExplicitVRLittleEndian)
    ds.compress(JPEGLSLossless, generate_instance_uid=False)
    ds.save_as(folder / "cr-mono1-jls.dcm", enforce_file_format=True)
    return Planted("cr-mono1-jls.dcm", [t for _, t, _, _ in lines], {0: mask})


def sc_document(folder: Path) -> Planted:
    """A scanned request form: dark text on a light page, JPEG 2000 lossless."""
    patient = ("Kowalczyk^Zoë", "61002938", "19920417")
    page = np.full((400, 320), 235, np.uint8)
    img = Image.fromarray(page, "L")
    lines = [
        ((20, 20), "Referral", LATIN_FONT, 20),
        ((20, 60), "Patient: Zoë Kowalczyk", LATIN_FONT, 14),
        ((20, 84), "MRN 61002938", LATIN_FONT, 14),
        ((20, 108), "Born 1992-04-17", LATIN_FONT, 14),
    ]
    mask = _draw(img, lines, 30)
    ds = Dataset()
    _header(ds, SC_CLASS, "OT", patient)
    ds.ConversionType = "SD"
    ds.Rows, ds.Columns, ds.SamplesPerPixel = 400, 320, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = np.asarray(img).tobytes()
    _file(ds, ExplicitVRLittleEndian)
    ds.compress(JPEG2000Lossless, generate_instance_uid=False)
    ds.save_as(folder / "sc-document-j2k.dcm", enforce_file_format=True)
    return Planted("sc-document-j2k.dcm", [t for _, t, _, _ in lines], {0: mask})


def us_palette(folder: Path) -> Planted:
    """A palette-colour ultrasound: index 255 maps to white, the banner is drawn in it."""
    patient = ("Ferreira^João", "30955182", "19580506")
    idx = _speckle(300, 400, 4)
    img = Image.fromarray(idx, "L")
    lines = [((6, 4), "FERREIRA JOÃO  30955182", LATIN_FONT, 15)]
    mask = _draw(img, lines, 255)
    ds = Dataset()
    _header(ds, US_CLASS, "US", patient)
    ds.Rows, ds.Columns, ds.SamplesPerPixel = 300, 400, 1
    ds.PhotometricInterpretation = "PALETTE COLOR"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ramp = (np.arange(256, dtype=np.uint16) * 257).tobytes()
    for colour in ("Red", "Green", "Blue"):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 16])
        setattr(ds, f"{colour}PaletteColorLookupTableData", ramp)
    ds.PixelData = np.asarray(img).tobytes()
    _file(ds, ExplicitVRLittleEndian).save_as(folder / "us-palette.dcm", enforce_file_format=True)
    return Planted("us-palette.dcm", [t for _, t, _, _ in lines], {0: mask})


BUNDLED = [
    "examples_rgb_color.dcm",
    "examples_palette.dcm",
    "examples_jpeg2k.dcm",
    "examples_ybr_color.dcm",
    "SC_rgb_jpeg_gdcm.dcm",
    "SC_rgb_rle_2frame.dcm",
]


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("real-world")
    src, dst = root / "src", root / "dst"
    src.mkdir()
    planted = [
        f(src) for f in (us_rgb, us_jpeg_ybr, us_cine, cr_monochrome1, sc_document, us_palette)
    ]
    for name in BUNDLED:
        (src / f"pydicom-{name}").write_bytes(Path(get_testdata_file(name)).read_bytes())
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    deid = subprocess.run(
        [sys.executable, "-m", "hipaa_lab.cli", "deid", str(src), str(dst), "--quiet", "--jobs", "2",
         "--key-file", str(root / "site.key"), "--linkage", str(root / "linkage.jsonl")],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert deid.returncode in (0, 1), deid.stderr
    scan = subprocess.run(
        [sys.executable, "-m", "hipaa_lab.cli", "scan", str(dst), "--original", str(src), "--jobs", "2"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    links = [json.loads(line) for line in (root / "linkage.jsonl").read_text().splitlines()]
    return (
        src,
        dst,
        planted,
        before,
        deid,
        scan,
        {Path(x["source"]).name: x["output"] for x in links},
    )


def test_originals_are_never_changed(batch):
    src, _, _, before, *_ = batch
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before


def test_every_input_is_de_identified_or_named(batch):
    src, _, _, _, deid, _, outputs = batch
    for p in src.iterdir():
        assert p.name in outputs or p.name in deid.stderr, f"{p.name}: neither output nor named"
    # what we generated is readable by pydicom with the plugins: it must come out, not be refused
    for name in ("us-rgb.dcm", "us-jpeg-ybr.dcm", "us-cine-rle.dcm", "cr-mono1-jls.dcm",
                 "sc-document-j2k.dcm", "us-palette.dcm"):  # fmt: skip
        assert name in outputs, f"{name} was not de-identified:\n{deid.stderr}"


def test_scan_finds_nothing_in_the_outputs(batch):
    *_, scan, _ = batch
    assert scan.returncode == 0, scan.stdout + scan.stderr


def test_no_pixel_of_planted_text_survives(batch):
    """Around every planted glyph (its ink and 2 pixels beyond) the output is flat: no contrast
    is left to read, whatever fill the cleaner chose."""
    _, dst, planted, _, _, _, outputs = batch
    for p in planted:
        out = pydicom.dcmread(dst / outputs[p.name])
        arr = out.pixel_array
        arr = arr if int(out.get("NumberOfFrames", 1) or 1) > 1 else arr[None]
        for frame, mask in p.masks.items():
            image = arr[frame].astype(int)
            image = image if image.ndim == 3 else image[..., None]
            halo, n = ndimage.label(ndimage.binary_dilation(mask, iterations=2))
            for region in range(1, n + 1):
                values = image[halo == region]
                spread = int((values.max(axis=0) - values.min(axis=0)).max())
                assert spread <= 8, f"{p.name} frame {frame}: text region {region} of {n} not blank"


def test_outputs_stay_lossless_and_say_so(batch):
    _, dst, _, _, _, _, outputs = batch
    for name in ("us-cine-rle.dcm", "cr-mono1-jls.dcm", "sc-document-j2k.dcm", "us-rgb.dcm"):
        out = pydicom.dcmread(dst / outputs[name])
        ts = out.file_meta.TransferSyntaxUID
        assert not ts.is_compressed or ts in (RLELossless, JPEGLSLossless, JPEG2000Lossless), (
            name,
            ts,
        )
        assert out.get("LossyImageCompression", "00") == "00", name
    jpeg = pydicom.dcmread(dst / outputs["us-jpeg-ybr.dcm"])
    assert jpeg.file_meta.TransferSyntaxUID != JPEGBaseline8Bit  # never re-compressed lossily
    assert jpeg.LossyImageCompression == "01"  # it was lossy once, and says so


def test_reasons_never_quote_planted_text(batch):
    """What the de-identifier and the scanner print names files and kinds, never a value."""
    _, _, planted, _, deid, scan, _ = batch
    values = {
        w
        for p in planted
        for line in p.text
        for w in line.split()
        if any(c.isdigit() for c in w) and len(w) >= 7
    }
    values |= {
        "Østergård",
        "Ingrid",
        "Straßer",
        "Jürgen",
        "山田",
        "花子",
        "Nakamura",
        "Kowalczyk",
        "Ferreira",
    }
    for text in (deid.stderr, scan.stdout, scan.stderr):
        leaked = sorted(v for v in values if v.lower() in text.lower())
        assert not leaked, f"{len(leaked)} planted values in a log"
