"""The carver: :func:`hipaa_lab.safeguards.media.carve` and
:func:`~hipaa_lab.safeguards.crypto.what_a_finder_reads` run it.

Module 5's answer (``carve_dicom``): kept apart from :mod:`hipaa_lab.safeguards.media`, which
makes the USB sticks a notebook uses, so that sealed autograding can withhold this module while
module 5 is graded (:data:`hipaa_lab.course.rules.RULES`).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from hipaa_lab.safeguards.media import _MAGIC, PREAMBLE, CarvedFile

__all__ = ["carve", "dicom_offsets"]


def dicom_offsets(data: bytes | bytearray | memoryview) -> Iterator[int]:
    """:func:`hipaa_lab.safeguards.media.dicom_offsets` (see there)."""
    view = bytes(data)
    at = view.find(_MAGIC, PREAMBLE)
    while at != -1:
        yield at - PREAMBLE
        at = view.find(_MAGIC, at + 1)


def carve(image: str | os.PathLike[str] | bytes) -> list[CarvedFile]:
    """:func:`hipaa_lab.safeguards.media.carve` (see there)."""
    data = image if isinstance(image, bytes) else Path(image).read_bytes()
    found: list[CarvedFile] = []
    for offset in dicom_offsets(data):
        try:
            ds = pydicom.dcmread(io.BytesIO(data[offset:]), stop_before_pixels=True)
        except (InvalidDicomError, ValueError, TypeError, KeyError, EOFError, OSError):
            continue
        meta = getattr(ds, "file_meta", None)
        uid = str(
            ds.get("SOPInstanceUID", "")
            or (meta.get("MediaStorageSOPInstanceUID", "") if meta is not None else "")
        )
        if not uid:
            continue  # a stray DICM, or bytes that parse as a dataset but are not an instance
        found.append(
            CarvedFile(
                offset=offset,
                sop_instance_uid=uid,
                patient_name=str(ds.get("PatientName", "")),
                patient_id=str(ds.get("PatientID", "")),
                study_date=str(ds.get("StudyDate", "")),
                modality=str(ds.get("Modality", "")),
            )
        )
    return found
