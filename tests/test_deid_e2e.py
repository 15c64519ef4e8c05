"""Issue 3, "Done when", as a trainer does it: `hipaa-lab deid` on a folder of mixed, partly damaged
studies, through the real command and the real OCR cleaner, then checked as the recipient would.

One expensive batch (the m01-sample dataset, PHI everywhere, plus damaged and odd files dropped in)
is shared by the checks of the first section; a kill in mid-batch, the options and the second batch
use small trees of their own. What `test_deid.py` (engine, in process, OCR faked) and
`test_deid_cli.py` (exit codes, key mode) already check is not repeated here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pydicom
import pytest
from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
    RLELossless,
    generate_uid,
)

from hipaa_lab.deid import SkipReason
from hipaa_lab.deid import profile as annex_e
from hipaa_lab.phi import Location, SafeHarborCategory
from hipaa_lab.studies import PHILevel, catalogue, make_patient, make_study, write_tree

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "hipaa_lab.cli"]
#: Output names: 2.25 UIDs (or keyed hashes) only, three levels deep, plus the report and provenance.
_UID_PART = r"(?:2\.25\.\d{1,39}|x[0-9a-f]{16})"
_OUTPUT_NAME = re.compile(rf"{_UID_PART}/{_UID_PART}/{_UID_PART}\.dcm")
_PROVENANCE_NAME = re.compile(r"provenance/part-\d+\.jsonl")
_SKIP_LINE = re.compile(r"hipaa-lab deid: skipped (/.+?): (.+)")
#: Damaged inputs the batch must skip, with a word its reason must hold.
UNREADABLE = {
    "empty.dcm": "empty",
    "notes.txt": "not DICOM",
    "truncated.dcm": "truncated",
    "garbage-after-dicm.dcm": "",
}
#: Odd but readable inputs the batch must de-identify.
ODD = (
    "implicit-no-meta.dcm",
    "deflated.dcm",
    "big-endian.dcm",
    "rle.dcm",
    "huge-private.dcm",
    "wrong-vrs.dcm",
    "report-with-evidence.dcm",
)


def _run(*args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def _sums(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


def _read(path: Path) -> pydicom.Dataset:
    ds = pydicom.dcmread(path, force=True)
    if "TransferSyntaxUID" not in getattr(ds, "file_meta", {}):  # a raw implicit VR data set
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    return ds


def _links(path: Path) -> dict[str, str]:
    """Source path -> output path relative to DST, from the linkage file."""
    return {x["source"]: x["output"] for x in map(json.loads, path.read_text().splitlines())}


def _codes(ds: pydicom.Dataset) -> set[str]:
    return {str(item.CodeValue) for item in ds.get("DeidentificationMethodCodeSequence", [])}


@functools.cache
def _not_conformant_by_the_standard() -> frozenset[str]:
    """Keywords whose Table E.1-1 action leaves the IOD non-conformant ("in std IOD: N"), e.g. X on a Type 2."""
    table = annex_e.load_table()
    return frozenset(
        keyword_for_tag(tag) for tag, rule in table.by_tag.items() if not rule.in_std_iod
    )


def _errors(path: Path) -> list[str]:
    """dciodvfy's errors, but those the standard's own action causes."""
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    errors = [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")]
    return [
        e
        for e in errors
        if (m := re.search(r"Element=<(\w+)>", e)) is None
        or m[1] not in _not_conformant_by_the_standard()
    ]


def _expected_pixel_bytes(ds: pydicom.Dataset) -> int:
    n = (
        ds.Rows
        * ds.Columns
        * int(ds.get("SamplesPerPixel", 1))
        * int(ds.get("NumberOfFrames", 1) or 1)
    )
    return (n * ds.BitsAllocated + 7) // 8


# ====================================================================== the damaged batch
def _fresh(path: Path, label: str) -> pydicom.Dataset:
    """A copy of an input as a new instance of the same series (so it is not a duplicate), derived
    from the input: it references it (Referenced Image and Source Image Sequences)."""
    ds = pydicom.dcmread(path)
    ref = pydicom.Dataset()
    ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    ds.ReferencedImageSequence = [ref]
    ds.SourceImageSequence = [ref]
    ds.SOPInstanceUID = generate_uid(entropy_srcs=[str(ds.SOPInstanceUID), label])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def _drop_odd_inputs(src: Path) -> Path:
    """Damaged and unusual files, made from a CT of the tree (so they carry its PHI), in SRC/incoming."""
    files = sorted(src.rglob("*.dcm"))
    ct = next(p for p in files if pydicom.dcmread(p, stop_before_pixels=True).Modality == "CT")
    raw = ct.read_bytes()
    odd = src / "incoming"
    odd.mkdir()
    (odd / "empty.dcm").write_bytes(b"")
    (odd / "notes.txt").write_text("Patient called back about the CT, see chart.\n" * 10)
    (odd / "truncated.dcm").write_bytes(raw[: len(raw) // 2])
    (odd / "garbage-after-dicm.dcm").write_bytes(raw[:132] + random.Random(5).randbytes(4000))

    ds = _fresh(ct, "implicit")  # as old archives hold: no preamble, no file meta, implicit VR
    ds.file_meta = FileMetaDataset()
    ds.preamble = None
    ds.save_as(
        odd / "implicit-no-meta.dcm",
        implicit_vr=True,
        little_endian=True,
        enforce_file_format=False,
    )
    assert (odd / "implicit-no-meta.dcm").read_bytes()[:2] == b"\x08\x00"

    ds = _fresh(ct, "deflated")
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.save_as(odd / "deflated.dcm", enforce_file_format=True)

    ds = _fresh(ct, "big-endian")
    arr = ds.pixel_array
    ds.PixelData = arr.astype(arr.dtype.newbyteorder(">")).tobytes()
    ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    dcmwrite(
        odd / "big-endian.dcm", ds, implicit_vr=False, little_endian=False, force_encoding=True
    )
    assert (pydicom.dcmread(odd / "big-endian.dcm").pixel_array == arr).all()

    ds = _fresh(ct, "rle")
    ds.compress(RLELossless)
    ds.save_as(odd / "rle.dcm", enforce_file_format=True)

    ds = _fresh(ct, "huge")
    block = ds.private_block(0x0071, "HUGE VENDOR BLOB", create=True)
    block.add_new(0x01, "OB", random.Random(2).randbytes(5 << 20))
    block.add_new(0x02, "LO", f"{ds.PatientName.family_name} MRN {ds.PatientID}")
    ds.save_as(odd / "huge-private.dcm", enforce_file_format=True)
    assert (odd / "huge-private.dcm").stat().st_size > 5 << 20

    ds = _fresh(ct, "wrong-vrs")  # identifiers and a UID under the wrong VR
    for tag, vr in (
        (0x00100010, "LO"),
        (0x00100030, "LO"),
        (0x00100020, "LT"),
        (0x00080020, "SH"),
        (0x00200052, "LO"),
    ):
        ds[tag] = DataElement(tag, vr, str(ds[tag].value))
    ds.save_as(odd / "wrong-vrs.dcm", enforce_file_format=True)

    # a report that references the CT it describes: an IMAGE content item and the evidence sequence
    # (references that the Basic Profile keeps, so they must be remapped, not dropped)
    report = next(p for p in files if pydicom.dcmread(p, stop_before_pixels=True).Modality == "SR")
    ds, image = _fresh(report, "evidence"), pydicom.dcmread(ct, stop_before_pixels=True)
    sop = pydicom.Dataset()
    sop.ReferencedSOPClassUID, sop.ReferencedSOPInstanceUID = (
        image.SOPClassUID,
        image.SOPInstanceUID,
    )
    item = pydicom.Dataset()
    item.RelationshipType, item.ValueType, item.ReferencedSOPSequence = "CONTAINS", "IMAGE", [sop]
    ds.ContentSequence.append(item)
    series, study = pydicom.Dataset(), pydicom.Dataset()
    series.SeriesInstanceUID, series.ReferencedSOPSequence = image.SeriesInstanceUID, [sop]
    study.StudyInstanceUID, study.ReferencedSeriesSequence = image.StudyInstanceUID, [series]
    ds.CurrentRequestedProcedureEvidenceSequence = [study]
    ds.save_as(odd / "report-with-evidence.dcm", enforce_file_format=True)
    return odd


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    key = catalogue.build("m01-sample", root / "m01", progress=False)
    src = root / "m01" / "studies"
    odd = _drop_odd_inputs(src)
    before = _sums(src)
    dst, key_file, linkage = (
        root / "shared",
        root / "secret" / "deid.key",
        root / "secret" / "linkage.jsonl",
    )
    run = _run("deid", src, dst, "--key-file", key_file, "--linkage", linkage, "--jobs", "2")
    return SimpleNamespace(
        root=root,
        src=src,
        odd=odd,
        key=key,
        answer_key=root / "m01" / "answer-key.json",
        before=before,
        dst=dst,
        linkage=linkage,
        run=run,
    )


@pytest.fixture(scope="module")
def outputs(batch):
    """Source path -> (source dataset, output dataset) for every de-identified input."""
    links = _links(batch.linkage)
    return {s: (_read(Path(s)), pydicom.dcmread(batch.dst / o)) for s, o in links.items()}


def test_exit_1_and_each_unreadable_input_named_with_its_reason(batch):
    assert batch.run.returncode == 1, batch.run.stderr[-3000:]
    skipped = {
        Path(m[1]).name: m[2] for m in _SKIP_LINE.finditer(batch.run.stderr.replace("\r", "\n"))
    }
    assert set(skipped) == set(UNREADABLE), batch.run.stderr[
        -3000:
    ]  # odd but readable ones are not skipped
    for name, word in UNREADABLE.items():
        assert word in skipped[name], (name, skipped[name])
        assert not skipped[name].startswith("could not be de-identified"), (
            name,
            skipped[name],
        )  # a crash
    # the report counts the same skips by their fixed reason (never the full one), and names no source
    report = json.loads((batch.dst / "deid-report.json").read_text())
    codes = [next(c.value for c in SkipReason if r.startswith(c.value)) for r in skipped.values()]
    assert report["skipped"] == dict(Counter(codes))
    assert report["skipped_total"] == len(UNREADABLE)
    assert report["processed"] == len(batch.before) - len(UNREADABLE) == len(_links(batch.linkage))


def test_odd_but_readable_inputs_are_de_identified(batch, outputs):
    done = {Path(s).name: pair for s, pair in outputs.items() if Path(s).parent == batch.odd}
    assert set(done) == set(ODD)
    for name, (source, out) in done.items():
        assert out.PatientIdentityRemoved == "YES", name
        assert str(out.SOPInstanceUID) != str(source.SOPInstanceUID)
        assert str(out.PatientID).startswith("HL"), name  # a keyed pseudonym, whatever the VR was
        assert "PatientName" not in out or not str(out.PatientName).strip(), name
        assert not [e for e in out if e.tag.is_private], name
        if "PixelData" in source:
            assert (out.pixel_array == source.pixel_array).all(), name
    assert (
        batch.dst / _links(batch.linkage)[str(batch.odd / "huge-private.dcm")]
    ).stat().st_size < 1 << 20


def test_src_unchanged_and_nothing_added(batch):
    assert _sums(batch.src) == batch.before


def test_dst_holds_only_outputs_report_and_provenance_with_safe_names(batch):
    names = sorted(p.relative_to(batch.dst).as_posix() for p in batch.dst.rglob("*") if p.is_file())
    dcm = [n for n in names if _OUTPUT_NAME.fullmatch(n)]
    prov = [n for n in names if _PROVENANCE_NAME.fullmatch(n)]
    assert sorted(dcm + prov + ["deid-report.json"]) == names, set(names) - set(dcm + prov)
    assert len(dcm) == len(_links(batch.linkage)) and prov
    # one record per output, keyed by its name
    records = [json.loads(line) for n in prov for line in (batch.dst / n).read_text().splitlines()]
    assert sorted(r["output"] for r in records) == sorted(dcm)
    assert not (batch.dst / batch.linkage.name).exists()
    # no component of a source path, and no planted identifier, in a name or in the report
    report = (batch.dst / "deid-report.json").read_text()
    everything = "\n".join(names) + "\n" + report
    assert str(batch.src) not in report and str(batch.root) not in report
    for rel in batch.before:
        for part in Path(rel).parts:
            assert part not in everything, part
    for entry in batch.key.entries:
        if len(entry.value) >= 4 and not entry.value.isdigit():
            assert entry.value.lower() not in everything.lower(), (entry.category, entry.path)


def test_scanner_finds_nothing_with_the_answer_key_and_the_originals(batch):
    """THE check: nothing identifying is left, in headers, pixels (OCR), names, report or provenance."""
    r = _run("scan", batch.dst, "--key", batch.answer_key, "--original", batch.src, "--jobs", "2")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1].startswith("0 finding(s)"), r.stdout[-2000:]


def test_pixels_unchanged_where_no_text_was_burned_in(batch, outputs):
    burned = {e.file for e in batch.key.entries if e.location is Location.PIXELS}
    assert burned, "the dataset plants text in pixels"
    unchanged = cleaned = 0
    for s, (source, out) in outputs.items():
        rel = Path(s).relative_to(batch.src).as_posix()
        if "PixelData" not in source:  # SR
            assert "PixelData" not in out
        elif rel in burned:
            assert out.BurnedInAnnotation == "NO" and "113101" in _codes(out), rel
            assert (out.pixel_array != source.pixel_array).any(), rel
            cleaned += 1
        else:
            assert out.pixel_array.shape == source.pixel_array.shape, rel
            assert (out.pixel_array == source.pixel_array).all(), rel
            unchanged += 1
    assert cleaned and unchanged


def test_every_reference_consistent(batch, outputs):
    outs = [out for _, out in outputs.values()]
    sops = {str(o.SOPInstanceUID) for o in outs}
    assert len(sops) == len(outs)
    targets = {
        "ReferencedSOPInstanceUID": sops,
        "StudyInstanceUID": {str(o.StudyInstanceUID) for o in outs},
        "SeriesInstanceUID": {str(o.SeriesInstanceUID) for o in outs},
    }
    referenced = Counter()
    for out in outs:
        assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
        for elem in out.iterall():
            if elem.keyword in targets:
                assert str(elem.value) in targets[elem.keyword], elem.keyword
                referenced[elem.keyword] += 1
    assert referenced["ReferencedSOPInstanceUID"] >= 2  # the report's IMAGE item and its evidence
    assert referenced["StudyInstanceUID"] > len(outs)  # the evidence names the CT's (new) study
    by = defaultdict(set)
    for source, out in outputs.values():
        by["study", str(source.StudyInstanceUID)].add(str(out.StudyInstanceUID))
        by["series", str(source.SeriesInstanceUID)].add(str(out.SeriesInstanceUID))
        by["patient", str(source.PatientID)].add(str(out.PatientID))
        if out.Modality == "CT":
            by["frame", str(out.SeriesInstanceUID)].add(str(out.FrameOfReferenceUID))
    assert all(len(v) == 1 for v in by.values()), {k: v for k, v in by.items() if len(v) != 1}
    for kind in ("study", "series", "patient"):  # distinct in, distinct out
        olds = [k for k in by if k[0] == kind]
        assert len({next(iter(by[k])) for k in olds}) == len(olds)
    assert any(k[0] == "frame" for k in by)


def test_dciodvfy_errors_no_more_than_the_inputs(batch):
    pairs = [(Path(s), batch.dst / o) for s, o in _links(batch.linkage).items()]
    with ThreadPoolExecutor(4) as pool:
        counts = list(pool.map(lambda pair: (_errors(pair[0]), _errors(pair[1])), pairs))
    worse = [
        (s.relative_to(batch.src).as_posix(), a, b)
        for (s, _), (a, b) in zip(pairs, counts, strict=True)
        if len(b) > len(a)
    ]
    assert not worse


def test_marked_as_de_identified(batch, outputs):
    for s, (_, out) in outputs.items():
        assert out.PatientIdentityRemoved == "YES"
        assert "113100" in _codes(out) and _codes(out) <= {"113100", "113101"}  # no options given
        assert out.LongitudinalTemporalInformationModified == "REMOVED"
        assert out.file_meta.ImplementationVersionName == "HIPAALAB_0.1"
        assert "SourceApplicationEntityTitle" not in out.file_meta
        if out.Modality in ("US", "SC", "OT"):
            assert out.BurnedInAnnotation == "NO", s


# ====================================================================== killed in mid-batch
def test_kill_mid_batch_leaves_no_half_written_file(tmp_path):
    src = tmp_path / "src"
    write_tree(
        [make_study("CT", seed=70 + i, slices=60, level=PHILevel.NESTED) for i in range(4)], src
    )
    total = sum(1 for p in src.rglob("*") if p.is_file())
    dst = tmp_path / "dst"
    proc = subprocess.Popen(
        [
            *CLI,
            "deid",
            str(src),
            str(dst),
            "--key-file",
            str(tmp_path / "k"),
            "--jobs",
            "2",
            "--quiet",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not any(dst.rglob("*.dcm")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole job: runner and its workers
        proc.wait(timeout=30)
    done = list(dst.rglob("*.dcm"))
    assert 0 < len(done) < total, "the kill came after the batch had finished"
    assert not (dst / "deid-report.json").exists()  # an unfinished batch claims nothing
    for p in dst.rglob("*"):
        if p.is_dir():
            continue
        rel = p.relative_to(dst).as_posix()
        if p.name.startswith("."):  # what the runner leaves: its hidden provenance logs only
            # (an output being written has no name: O_TMPFILE)
            assert re.fullmatch(r"provenance/\.\d+-\d+\.jsonl\.tmp", rel), rel
        elif rel.startswith("provenance/"):
            assert _PROVENANCE_NAME.fullmatch(rel), rel
            for line in p.read_text().splitlines():
                json.loads(line)
        else:
            assert _OUTPUT_NAME.fullmatch(rel), rel
            ds = pydicom.dcmread(p)
            assert ds.PatientIdentityRemoved == "YES"
            assert len(ds.PixelData) == _expected_pixel_bytes(ds), rel
            assert ds.pixel_array.shape == (ds.Rows, ds.Columns)
    # re-running into the killed DST is refused (DST must be new or empty): nothing half-done is mixed in
    again = _run("deid", src, dst, "--key-file", tmp_path / "k", "--quiet")
    assert again.returncode == 2 and "not empty" in again.stderr


def test_workers_die_with_a_killed_runner(tmp_path):
    src = tmp_path / "src"
    write_tree(
        [make_study("CT", seed=80 + i, slices=60, level=PHILevel.NESTED) for i in range(4)], src
    )
    dst = tmp_path / "dst"
    proc = subprocess.Popen(
        [
            *CLI,
            "deid",
            str(src),
            str(dst),
            "--key-file",
            str(tmp_path / "k"),
            "--jobs",
            "2",
            "--quiet",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while not any(dst.rglob("*.dcm")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        workers = [
            int(x)
            for x in subprocess.run(
                ["ps", "-o", "pid=", "--ppid", str(proc.pid)], capture_output=True, text=True
            ).stdout.split()
        ]
        os.kill(proc.pid, signal.SIGKILL)  # the runner only, as the OOM killer would
        proc.wait(timeout=30)
        assert workers
        time.sleep(5)
        assert not [w for w in workers if Path(f"/proc/{w}").exists()]
    finally:
        for w in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(w, signal.SIGKILL)


# ====================================================================== options
@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """Two studies of one patient aged 93 (ZIP 62704), one of another (ZIP 03601, restricted)."""
    root = tmp_path_factory.mktemp("options")
    old, young = make_patient(501), make_patient(502)
    studies = [
        make_study("CT", seed=511, slices=2, level=PHILevel.NESTED, patient=old),
        make_study("MR", seed=512, slices=2, level=PHILevel.NESTED, patient=old),
        make_study("CT", seed=513, slices=2, level=PHILevel.NESTED, patient=young),
    ]
    for study, age, birth, address in (
        (studies[0], "093Y", "19300105", "12 Elm Street, Springfield, IL 62704"),
        (studies[1], "094Y", "19300105", "12 Elm Street, Springfield, IL 62704"),
        (studies[2], "045Y", "19780302", "4 Pond Road, Lebanon, NH 03601"),
    ):
        for inst in study.instances:
            inst.dataset.PatientAge, inst.dataset.PatientBirthDate = age, birth
            inst.dataset.PatientAddress = address
    src = root / "src"
    write_tree(studies, src)
    assert len({str(s.instances[0].dataset.StudyDate) for s in studies[:2]}) == 2
    return SimpleNamespace(root=root, src=src, key=root / "deid.key", old=str(old.mrn))


def _option_run(small, name: str, *args) -> dict[str, tuple[pydicom.Dataset, pydicom.Dataset]]:
    dst, link = small.root / name, small.root / f"{name}.links"
    r = _run("deid", small.src, dst, "--key-file", small.key, "--linkage", link, "--quiet", *args)
    assert r.returncode == 0, r.stderr
    return {s: (pydicom.dcmread(s), pydicom.dcmread(dst / o)) for s, o in _links(link).items()}


def _day(value) -> dt.date:
    return dt.datetime.strptime(str(value)[:8], "%Y%m%d").date()


def test_retain_long_modified_dates_shifts_each_patient_consistently(small):
    pairs = _option_run(small, "modified-dates", "--option", "retain-long-modified-dates")
    shifts = defaultdict(set)
    for source, out in pairs.values():
        assert out.LongitudinalTemporalInformationModified == "MODIFIED"
        assert {"113100", "113107"} <= _codes(out)
        for kw in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"):
            if source.get(kw):
                assert out.get(kw), kw
                shifts[str(source.PatientID)].add((_day(out.get(kw)) - _day(source.get(kw))).days)
    assert len(shifts) == 2
    for patient, days in shifts.items():
        assert len(days) == 1 and 0 not in days, (
            patient,
            days,
        )  # one shift per patient: intervals kept


def test_safe_harbor_caps_age_at_90_and_keeps_three_zip_digits(small):
    pairs = _option_run(small, "safe-harbor", "--profile", "safe-harbor")
    for source, out in pairs.values():
        assert any("Safe Harbor" in v for v in out.DeidentificationMethod)
        if str(source.PatientID) == small.old:
            assert out.PatientAge == "090Y"
            assert not out.get("PatientBirthDate")  # the year alone would say 93
            assert out.PatientAddress == "627"
        else:
            assert out.PatientAge == "045Y" and out.PatientBirthDate == "19780101"
            assert out.PatientAddress == "000"  # 036: 20,000 people or fewer
        assert _day(out.StudyDate).strftime("%m%d") == "0101"


def test_safe_harbor_output_passes_the_scanner(small, tmp_path):
    """The 3-digit ZIP Safe Harbor keeps in PatientAddress is not a finding; nothing else is either."""
    from hipaa_lab.deid.scan import scan_paths

    dst = tmp_path / "sh"
    r = _run("deid", small.src, dst, "--key-file", small.key, "--profile", "safe-harbor", "--quiet")
    assert r.returncode == 0, r.stderr
    assert {str(pydicom.dcmread(p).PatientAddress) for p in dst.rglob("*.dcm")} == {"627", "000"}
    report = scan_paths([dst], ocr=False)
    assert not report.high, [f.format(f.file) for f in report.high]


def test_retain_uids_keeps_uids(small):
    pairs = _option_run(small, "retain-uids", "--option", "retain-uids")
    for source, out in pairs.values():
        assert "113110" in _codes(out)
        for kw in (
            "SOPInstanceUID",
            "StudyInstanceUID",
            "SeriesInstanceUID",
            "FrameOfReferenceUID",
        ):
            assert out[kw].value == source[kw].value, kw


def test_two_halves_give_what_one_batch_gives(small):
    """Same key: splitting SRC into two batches changes no output name, UID, pseudonym or shifted date."""
    files = sorted(p for p in small.src.rglob("*") if p.is_file())
    halves = [small.root / "half-a", small.root / "half-b"]
    for i, f in enumerate(files):
        target = halves[i % 2] / f.relative_to(small.src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, target)

    def summary(dst):
        return {
            p.relative_to(dst).as_posix(): tuple(
                str(ds.get(k, ""))
                for k in (
                    "SOPInstanceUID",
                    "StudyInstanceUID",
                    "SeriesInstanceUID",
                    "FrameOfReferenceUID",
                    "PatientID",
                    "AccessionNumber",
                    "StudyDate",
                )
            )
            for p in dst.rglob("*.dcm")
            for ds in [pydicom.dcmread(p)]
        }

    opt = ("--option", "retain-long-modified-dates")
    whole = small.root / "whole"
    assert _run("deid", small.src, whole, "--key-file", small.key, "--quiet", *opt).returncode == 0
    parts = {}
    for half in halves:
        assert (
            _run("deid", half, f"{half}-out", "--key-file", small.key, "--quiet", *opt).returncode
            == 0
        )
        parts |= summary(Path(f"{half}-out"))
    assert parts == summary(whole) and len(parts) == len(files)


# ====================================================================== regressions found end to end
def test_scanner_reads_its_own_provenance_log_as_tag_paths(tmp_path):
    """Rule labels ("E.1-1 00080090 Referring Physician's Name") are not PHI; an input's text in a path is."""
    from hipaa_lab.deid.scan import KnownValues, scan_file

    log = tmp_path / "x.jsonl"
    lines = [
        {
            "path": "ReferringPhysicianName",
            "action": "Z",
            "rule": "E.1-1 00080090 Referring Physician's Name",
        },
        {
            "path": "OtherPatientIDsSequence[0].PatientID",
            "action": "D",
            "rule": "E.1-1 00100020 Patient ID",
        },
    ]
    log.write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert scan_file(log) == []
    log.write_text(json.dumps({"output": "2.25.1/2.25.2/2.25.3.dcm", "changes": lines}) + "\n")
    assert scan_file(log) == []
    known = KnownValues()
    known.add("Smith^John", SafeHarborCategory.NAMES, person_name=True)
    log.write_text(
        json.dumps({"path": '(0009,"SMITH JOHN",10)', "action": "X", "rule": "E.1-1 private"})
        + "\n"
    )
    assert scan_file(log, known_values=known)


def test_scanner_learns_no_codes_departments_or_labels_from_the_originals():
    from hipaa_lab.deid.scan import KnownValues

    ds = pydicom.Dataset()
    ds.InstitutionalDepartmentName = "Radiology"
    ds.ReasonForTheRequestedProcedure = "Pt CHAUVEAU, Alex MRN 5247786; ordered by Dr Brown"
    item = pydicom.Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = (
        "121008",
        "DCM",
        "Person Observer Name",
    )
    ds.ConceptNameCodeSequence = [item]
    known = KnownValues()
    known.add_dataset(ds)
    for text in ("Initech Radiology", "121008", "MRN ***"):
        assert known.find(text) == [], text
    for text in ("CHAUVEAU", "5247786", "Dr Brown"):
        assert known.find(text), text


def _engine_input(sop_class: str) -> pydicom.Dataset:
    ds = pydicom.Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, "1.2.3.4.5.6"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.3.4", "1.2.3.4.5"
    ds.PatientID, ds.PatientName = "MRN0001", "Doe^Jane"
    return ds


def test_deid_keeps_what_the_iod_requires():
    """dciodvfy found these: an output must not be less conformant than its input."""
    from hipaa_lab.deid import Deidentifier

    deid = Deidentifier(bytes(32))
    ds = _engine_input("1.2.840.10008.5.1.4.1.1.1.2")  # MG
    ds.ResponsiblePerson, ds.ResponsiblePersonRole = "Doe^John", "PARENT"
    context = pydicom.Dataset()
    context.ValueType = "TEXT"
    ds.AcquisitionContextSequence = [context]
    deid.deidentify(ds)
    assert (
        "ResponsiblePerson" not in ds and "ResponsiblePersonRole" not in ds
    )  # Type 1C on the person
    assert (
        "AcquisitionContextSequence" in ds and len(ds.AcquisitionContextSequence) == 0
    )  # Type 2 in MG

    sr = _engine_input("1.2.840.10008.5.1.4.1.1.88.11")  # Basic Text SR
    step = pydicom.Dataset()
    step.ReferencedSOPInstanceUID = "1.2.3.9"
    sr.ReferencedPerformedProcedureStepSequence = [step]
    request = pydicom.Dataset()
    request.ReferencedStudySequence, request.RequestedProcedureDescription = (
        [step],
        "RADIOLOGY REPORT",
    )
    sr.ReferencedRequestSequence = [request]
    finding = pydicom.Dataset()
    finding.RelationshipType, finding.ValueType, finding.TextValue = (
        "CONTAINS",
        "TEXT",
        "Lungs clear, Jane Doe",
    )
    code = pydicom.Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = (
        "121071",
        "DCM",
        "Finding",
    )  # X/D
    finding.ConceptNameCodeSequence = [code]
    sr.ContentSequence = [finding]
    deid.deidentify(sr)
    assert (
        "ReferencedPerformedProcedureStepSequence" in sr
        and not sr.ReferencedPerformedProcedureStepSequence
    )
    request = sr.ReferencedRequestSequence[0]
    assert "ReferencedStudySequence" in request and "RequestedProcedureDescription" in request
    assert not request.RequestedProcedureDescription
    assert (
        sr.ContentSequence[0].TextValue and "Jane" not in sr.ContentSequence[0].TextValue
    )  # D, not X
