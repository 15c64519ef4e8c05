"""Throughput of hipaa-lab's CT generation against a bare pydicom build-and-write loop.

    python benchmarks/bench_studies.py [--n 200]

Both sides write N CT files of 512x512 16-bit pixels (Explicit VR Little Endian, Part 10). The raw
loop builds a minimal valid CT header and a pixel array of the same size; hipaa-lab adds the
phantom anatomy, planted PHI at every level (sequences, private blocks, overlay) and the answer key.
Prints files per second for both and the ratio (aim: at least 0.6).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from hipaa_lab.studies import make_study, write_tree

SLICES_PER_STUDY = 25


def hipaa_lab_run(n: int, out: Path) -> int:
    def studies():
        left, seed = n, 0
        while left > 0:
            k = min(SLICES_PER_STUDY, left)
            yield make_study("CT", seed=seed, slices=k, rows=512, columns=512)
            left, seed = left - k, seed + 1

    key = write_tree(studies(), out)
    return len(key.files())


def raw_run(n: int, out: Path) -> int:
    rng = np.random.default_rng(0)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    for i in range(n):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Doe^Jane", "123", "", ""
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = (
            "",
            "",
            "",
            "",
            "",
        )
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber, ds.Manufacturer = "CT", 1, i + 1, ""
        ds.PositionReferenceIndicator, ds.ImageType = "", ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.PixelSpacing, ds.ImageOrientationPatient = [0.7, 0.7], [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient, ds.SliceThickness = [0, 0, i * 2.5], 2.5
        ds.KVP, ds.AcquisitionNumber, ds.RescaleIntercept, ds.RescaleSlope = "", "", -1024, 1
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.Rows, ds.Columns = (
            1,
            "MONOCHROME2",
            512,
            512,
        )
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.PixelData = rng.integers(0, 4096, (512, 512), dtype=np.uint16).tobytes()
        ds.save_as(out / f"IM{i:05d}.dcm", enforce_file_format=True)
    return n


def timed(fn, n: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        count = fn(n, Path(tmp))
        elapsed = time.perf_counter() - start
        assert count == n, (fn.__name__, count)
        return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="CT files to write on each side")
    args = parser.parse_args()
    timed(raw_run, 5), timed(hipaa_lab_run, 5)  # warm up imports and caches fairly on both sides
    raw = timed(raw_run, args.n)
    ours = timed(hipaa_lab_run, args.n)
    print(f"raw pydicom loop: {raw:8.1f} files/s")
    print(f"hipaa-lab:        {ours:8.1f} files/s")
    print(f"ratio:            {ours / raw:8.2f}x (aim >= 0.6x)")


if __name__ == "__main__":
    main()
