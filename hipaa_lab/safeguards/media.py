"""Device and media controls: what a discarded USB stick still holds, and carving it back.

HIPAA's device and media controls, 45 CFR 164.310(d)(1), ask for policies on hardware and
electronic media that hold ePHI as they move in, out of and within a facility. Disposal,
164.310(d)(2)(i), is required: address the final disposition of ePHI and the media it is stored
on. Media re-use, 164.310(d)(2)(ii), is required too: remove ePHI before media are made available
for re-use. Data backup and storage, 164.310(d)(2)(iv), is addressable: make a retrievable, exact
copy of ePHI, when needed, before moving equipment. How to remove it is NIST SP 800-88
(Guidelines for Media Sanitization): *clear* (overwrite the user-addressable storage with
non-sensitive data), *purge* (e.g. a cryptographic or block erase that defeats laboratory
recovery) or *destroy* (shred, disintegrate, incinerate).

Deleting a file is none of these: a filesystem removes the directory entry and marks the clusters
free, and the bytes stay on the medium until something else is written there. :func:`carve`
shows it: it finds DICOM files in a raw image by their ``DICM`` magic alone, with no directory.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

__all__ = ["CarvedFile", "PREAMBLE", "carve", "dicom_offsets"]

#: Bytes of the DICOM Part 10 preamble before the ``DICM`` prefix (PS3.10 section 7.1).
PREAMBLE = 128
_MAGIC = b"DICM"


@dataclass(frozen=True)
class CarvedFile:
    """One DICOM file recovered from raw bytes, with no filesystem's help.

    Parameters
    ----------
    offset
        Where the file starts in the image (its preamble), in bytes.
    sop_instance_uid
        Its SOP Instance UID, from the file meta or the dataset.
    patient_name
        The patient's name as found (synthetic PHI here; real PHI on a real stick).
    patient_id
        The patient ID as found.
    study_date
        The study date as found.
    modality
        The modality.
    """

    offset: int
    sop_instance_uid: str
    patient_name: str
    patient_id: str
    study_date: str
    modality: str


def dicom_offsets(data: bytes | bytearray | memoryview) -> Iterator[int]:
    """Offsets of every ``DICM`` magic that has room for a preamble before it, minus the preamble.

    Examples
    --------
    >>> list(dicom_offsets(bytes(300) + bytes(128) + b"DICM"))
    [300]
    """
    view = bytes(data)
    at = view.find(_MAGIC, PREAMBLE)
    while at != -1:
        yield at - PREAMBLE
        at = view.find(_MAGIC, at + 1)


def carve(image: str | os.PathLike[str] | bytes) -> list[CarvedFile]:
    """Recover every DICOM file in a raw image (a disk image, a memory dump, any bytes).

    Each ``DICM`` at offset 128 of a candidate is read with pydicom from the preamble on, up to
    the pixel data (``stop_before_pixels``): enough for who the file is about. The header must be
    contiguous on the medium. That holds for the small files of these labs, written to a fresh
    FAT image whose clusters are allocated one after another; a fragmented file's header would
    be cut at a cluster boundary, and a real carver would have to chain clusters by guesswork. A
    candidate pydicom cannot read (a stray ``DICM``, an overwritten header) is skipped.

    Parameters
    ----------
    image
        A path to the image, or its bytes.

    Returns
    -------
    list[CarvedFile]
        The files recovered, by offset.
    """
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
