"""pydicom's own bundled test files: every transfer syntax, every readable data set.

Real archives hold JPEG baseline ultrasound, JPEG Lossless, JPEG-LS and JPEG 2000; pydicom ships
one or more images of each (with the pylibjpeg and pyjpegls plugins they all decode). Each is
de-identified and cleaned losslessly, and a batch over the whole bundled set de-identifies every
file whose data set and pixels pydicom can read, names each other one with its reason, and writes
nothing the scanner finds.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import (
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from hipaa_lab.deid import Deidentifier, SkipReason, deidentify_file, deidentify_tree
from hipaa_lab.deid import pixels as px
from hipaa_lab.deid.scan import scan_paths

needs_ocr = pytest.mark.skipif(not px.ocr_available(), reason="Tesseract is not installed")

TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"

#: One bundled image per transfer syntax, and the syntax it is written in once its pixels change.
BY_SYNTAX = {
    ExplicitVRLittleEndian: ("CT_small.dcm", ExplicitVRLittleEndian),
    ImplicitVRLittleEndian: ("MR_small_implicit.dcm", ExplicitVRLittleEndian),
    ExplicitVRBigEndian: ("MR_small_bigendian.dcm", ExplicitVRLittleEndian),
    DeflatedExplicitVRLittleEndian: ("image_dfl.dcm", ExplicitVRLittleEndian),
    RLELossless: ("SC_rgb_rle.dcm", RLELossless),
    JPEGBaseline8Bit: ("SC_rgb_jpeg_dcmtk.dcm", ExplicitVRLittleEndian),
    JPEGExtended12Bit: ("JPGExtended.dcm", ExplicitVRLittleEndian),
    JPEGLosslessSV1: ("SC_rgb_jpeg_gdcm.dcm", ExplicitVRLittleEndian),
    JPEGLSLossless: ("MR_small_jpeg_ls_lossless.dcm", JPEGLSLossless),
    JPEGLSNearLossless: ("JPEGLSNearLossless_08.dcm", ExplicitVRLittleEndian),
    JPEG2000Lossless: ("MR_small_jp2klossless.dcm", JPEG2000Lossless),
    JPEG2000: ("JPEG2000.dcm", ExplicitVRLittleEndian),
}
LOSSY = {JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLSNearLossless}

#: What the batch over every bundled file gives (pydicom 3.0 with the plugins). Quarantines for
#: burned-in text are counted apart: the pixel check decides those, not the reader. Three are
#: true duplicates, their outputs the same bytes as another's: ``ExplVR_LitEndNoMeta.dcm``,
#: ``SC_rgb_jpeg_app14_dcmd.dcm``, and ``MR_small_expb.dcm`` (``MR_small_bigendian.dcm`` in
#: another encoding; the two were kept twice when a renamed UID was keyed on the input's bytes).
HANDLED, NAMED = 149, 27


def _read(name: str) -> pydicom.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(get_testdata_file(name))


def _roundtrip(ds: pydicom.Dataset) -> pydicom.Dataset:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buf.getvalue()))


def _decoded(ds: pydicom.Dataset) -> np.ndarray:
    px._ensure_transfer_syntax(ds)
    return px._decode(ds)


@pytest.mark.parametrize("syntax", list(BY_SYNTAX), ids=lambda s: UID(s).keyword)
def test_blanked_pixels_are_stored_losslessly_in_the_expected_syntax(syntax):
    name, expected = BY_SYNTAX[syntax]
    ds = _read(name)
    assert ds.file_meta.TransferSyntaxUID == syntax
    before = _decoded(ds).copy()
    box = px.TextBox(1, 2, 5, 4, None, "", "test")
    px.blank_regions(ds, [box])
    out = _roundtrip(ds)
    assert out.file_meta.TransferSyntaxUID == expected
    after = _decoded(out)
    inside = np.zeros(before.shape[1:3], bool)
    inside[box.slices()] = True
    assert np.array_equal(after[:, ~inside], before[:, ~inside]), "pixels outside the box changed"
    fill = 0 if before.ndim == 4 else before.min()
    assert (after[:, inside] == fill).all()
    if before.ndim == 4:
        assert out.PhotometricInterpretation == "RGB"
    if syntax in LOSSY:  # once lossy, always marked so
        assert out.LossyImageCompression == "01" and "LossyImageCompressionMethod" in out


def test_uncompressed_ybr_full_422_is_read_at_two_samples_a_pixel_and_stored_as_rgb(tmp_path):
    """Regression: a valid 100x100 YBR_FULL_422 image (20,000 bytes) was skipped as truncated."""
    ds = _read("SC_ybr_full_422_uncompressed.dcm")
    assert len(ds.PixelData) == ds.Rows * ds.Columns * 2
    before = _decoded(ds).copy()
    src = tmp_path / "src"
    src.mkdir()
    ds.save_as(src / "ybr.dcm")
    deid = Deidentifier(bytes(range(32)), options=["clean-pixel-data"])
    result = deidentify_file(src / "ybr.dcm", tmp_path / "out", deid)
    assert result.output, result.reason
    out = pydicom.dcmread(tmp_path / "out" / result.output)
    assert out.PhotometricInterpretation in ("RGB", "YBR_FULL_422")
    after = _decoded(out)
    changed = (after != before).any(axis=-1)
    assert (after[changed] == 0).all(), "a pixel changed that was not blanked"


def test_rgb_jpeg_with_an_implicit_vr_data_set_is_de_identified(tmp_path):
    """Regression: SC_rgb_jpeg.dcm's meta says JPEG Baseline (explicit VR) but its data set is
    implicit VR; its raw elements had no VR and writing failed ("encoding without a string")."""
    src = get_testdata_file("SC_rgb_jpeg.dcm")
    result = deidentify_file(Path(src), tmp_path / "out", Deidentifier(bytes(range(32))))
    assert result.output, result.reason
    out = pydicom.dcmread(tmp_path / "out" / result.output)
    assert out.ImageType == ["DERIVED", "SECONDARY", "OTHER"]
    assert out.pixel_array.shape == (256, 256, 3)


def test_a_kept_text_holding_the_patient_name_as_a_word_part_loses_it(tmp_path):
    """Regression: examples_palette.dcm's patient is ``OB^^^^`` and its Processing Function
    ``OB_GENERAL``; the name token was not seen inside the word, and ``scan --original`` found it."""
    src = get_testdata_file("examples_palette.dcm")
    result = deidentify_file(Path(src), tmp_path / "out", Deidentifier(bytes(range(32))))
    assert result.output, result.reason
    out = pydicom.dcmread(tmp_path / "out" / result.output, stop_before_pixels=True)
    assert out.ProcessingFunction == "***_GENERAL"


@needs_ocr
@pytest.mark.parametrize("syntax", list(BY_SYNTAX), ids=lambda s: UID(s).keyword)
def test_one_image_of_every_transfer_syntax_is_de_identified(syntax, tmp_path):
    name, reencoded = BY_SYNTAX[syntax]
    source = _read(name)
    before = _decoded(source)
    deid = Deidentifier(bytes(range(32)), options=["clean-pixel-data"])
    result = deidentify_file(Path(get_testdata_file(name)), tmp_path / "out", deid)
    if result.code is SkipReason.BURNED_IN_TEXT:  # the pixel check's call, not the codec's
        pytest.skip(f"quarantined by the pixel check: {result.code.value}")
    assert result.output, result.reason
    out = pydicom.dcmread(tmp_path / "out" / result.output)
    assert out.PatientIdentityRemoved == "YES"
    ts = out.file_meta.TransferSyntaxUID
    assert ts in (syntax, reencoded), ts
    after = _decoded(out)
    assert after.shape == before.shape
    changed = after != before
    if changed.any():  # cleaned: stored losslessly in the expected syntax, only blanks changed
        assert ts == reencoded
        fill = 0 if before.ndim == 4 else before.min()
        assert (after[changed] == fill).all(), "a pixel changed that was not blanked"
    elif ts == syntax and UID(ts).is_compressed:  # untouched: the same bytes, not re-compressed
        assert out.PixelData == source.PixelData


def _readable(path: Path) -> bool:
    """Whether pydicom itself reads the data set (no force) and, when there is one, its pixels."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(path)
            if "PixelData" in ds:
                ds.pixel_array  # noqa: B018 - decoding is the check
        except Exception:
            return False
    return True


def test_every_bundled_file_is_de_identified_or_named(tmp_path):
    files = sorted(p for p in TEST_FILES.rglob("*") if p.is_file())
    errors = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = deidentify_tree(
            TEST_FILES, tmp_path / "out", key_file=tmp_path / "key", progress=False, err=errors
        )
    named = {}
    for line in errors.getvalue().splitlines():
        if line.startswith("hipaa-lab deid: skipped "):
            source, _, reason = line.removeprefix("hipaa-lab deid: skipped ").partition(": ")
            named[Path(source)] = reason
    burned_in = report.skipped[SkipReason.BURNED_IN_TEXT.value]
    print(
        f"\nbundled files: {len(files)}; de-identified {report.processed}; "
        f"named with a reason {len(named)} ({burned_in} for burned-in text); "
        f"{report.uid_collisions} renamed for a shared SOP Instance UID, "
        f"{report.uids_missing} given a UID for having none"
    )
    assert report.processed + len(named) == len(files)
    assert report.processed + burned_in == HANDLED
    assert len(named) - burned_in == NAMED
    assert report.uid_collisions > 0 and report.uids_missing > 0
    for path in files:
        if not _readable(path) or path not in named:
            continue
        reason = named[path]
        # a readable instance is skipped only as a true duplicate, for the pixel check, or as an
        # index of a file set; never as undecodable or damaged
        assert reason.startswith(
            (
                SkipReason.DUPLICATE.value,
                SkipReason.BURNED_IN_TEXT.value,
                SkipReason.MEDIA_DIRECTORY.value,
            )
        ), (path.name, reason)
    for path, reason in named.items():
        assert reason, path  # every other one named with its reason
    undecodable = [r for r in named.values() if r.startswith(SkipReason.UNDECODABLE.value)]
    assert all("JPEG" in r for r in undecodable), undecodable  # the transfer syntax is named
    # what was written passes the scanner: headers, names, the report and the provenance log
    # (the pixels are the de-identifier's own check, the one the scanner's OCR shares)
    scanned = scan_paths([tmp_path / "out"], ocr=False)
    assert scanned.files > report.processed, scanned.files
    assert scanned.clean, "\n".join(f.format() for f in scanned.findings) + str(scanned.errors)


def test_the_scanner_reads_every_file_the_de_identifier_reads():
    from hipaa_lab import deid, scan

    missed = []
    for path in sorted(p for p in TEST_FILES.rglob("*") if p.is_file()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                deid.batch._read(path)
            except deid.batch._SkipFile as exc:
                if exc.code in (SkipReason.NOT_DICOM, SkipReason.EMPTY):
                    continue
            if scan._read(path) is None:
                missed.append(path.name)
    assert not missed


def test_hipaa_lab_scan_runs_over_every_bundled_file():
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-m", "hipaa_lab.cli", "scan", "--no-ocr", str(TEST_FILES)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode in (0, 1), run.stderr[-2000:]  # 1: findings (these are not de-identified)
    assert "Traceback" not in run.stderr


@needs_ocr
@pytest.mark.parametrize(
    "syntax", [RLELossless, JPEGLSLossless, JPEG2000Lossless], ids=lambda s: UID(s).keyword
)
def test_text_cleaned_from_a_losslessly_compressed_image_stays_in_its_syntax(syntax):
    """An ultrasound with a banner, stored in a lossless syntax, comes back cleaned in the same
    syntax, every pixel outside the blanked boxes as it was."""
    from hipaa_lab.studies import make_study

    ds = make_study("US", seed=1, slices=1).instances[0].dataset
    original = ds.pixel_array.copy()
    ds.compress(syntax, generate_instance_uid=False)
    ds = _roundtrip(ds)
    assert np.array_equal(ds.pixel_array, original)
    result = px.clean_burned_in(ds)
    assert result.status == "cleaned", result.reason
    out = _roundtrip(ds)
    assert out.file_meta.TransferSyntaxUID == syntax
    arr = out.pixel_array
    inside = np.zeros(arr.shape[:2], bool)
    for b in result.boxes:
        inside[b.slices()] = True
    assert inside.any()
    assert np.array_equal(arr[~inside], original[~inside])
