"""Files and batches: reading an input safely, writing its output whole, the provenance log and
the report (the ``hipaa-lab deid`` command)."""

from __future__ import annotations

import enum
import functools
import itertools
import json
import os
import re
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TextIO, cast

import orjson
from pydicom import config, dcmread
from pydicom.charset import default_encoding
from pydicom.datadict import (
    keyword_for_tag,
)
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomIO
from pydicom.filewriter import dcmwrite, write_data_element, write_dataset, write_file_meta_info
from pydicom.tag import BaseTag, tag_in_exception
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

from hipaa_lab.deid import profile as annex_e
from hipaa_lab.deid._tags import PIXEL_DATA, SOP_INSTANCE_UID, tags
from hipaa_lab.deid.engine import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION,
    Deidentifier,
)
from hipaa_lab.deid.pixels import needs_cleaning as _needs_cleaning
from hipaa_lab.deid.profile import EDITION, Option
from hipaa_lab.deid.pseudonyms import load_key
from hipaa_lab.errors import UsageError
from hipaa_lab.phi import write_atomic

__all__ = [
    "BatchReport",
    "FileResult",
    "SkipReason",
    "UIDOrigin",
    "deidentify_file",
    "deidentify_tree",
    "needs_pixel_cleaning",
    "write_dicom",
]

_PLAIN_SYNTAXES = frozenset({ExplicitVRLittleEndian, ImplicitVRLittleEndian})
_GROUP_ELEMENT_VR = struct.Struct("<HH2sH")
_GROUP_ELEMENT_VR_32 = struct.Struct("<HH2sHL")  # the reserved 2 bytes, then a 4-byte length
_GROUP_ELEMENT_32 = struct.Struct("<HHL")


_META_VERSION = b"\x00\x01"
_META_STRINGS = {  # the file meta elements hipaa-lab writes, with their VR and padding
    0x00020002: (b"UI", b"\0"),  # MediaStorageSOPClassUID
    0x00020003: (b"UI", b"\0"),  # MediaStorageSOPInstanceUID
    0x00020010: (b"UI", b"\0"),  # TransferSyntaxUID
    0x00020012: (b"UI", b"\0"),  # ImplementationClassUID
    0x00020013: (b"SH", b" "),  # ImplementationVersionName
}


def _file_meta_bytes(meta: FileMetaDataset) -> bytes | None:
    """The file meta group as ``write_file_meta_info(fp, meta, enforce_standard=True)`` writes
    it (group length and version added), for a meta of hipaa-lab's own five elements holding
    plain text; ``None`` for any other meta (pydicom's work). pydicom's way costs about a sixth
    of the rest of writing a CT file."""
    if meta._dict.keys() != _META_STRINGS.keys():
        return None  # pydicom adds what is missing, or refuses
    parts = [struct.pack("<HH2sHL", 2, 1, b"OB", 0, len(_META_VERSION)) + _META_VERSION]
    for tag in sorted(meta._dict):
        vr, pad = _META_STRINGS[tag]
        elem = meta._dict[tag]
        value = None if getattr(elem, "is_raw", False) else elem.value
        if not isinstance(value, str) or not value or not value.isascii():
            return None
        data = value.encode("ascii")
        if len(data) % 2:
            data += pad
        if len(data) > 0xFFFF:
            return None
        parts.append(_GROUP_ELEMENT_VR.pack(2, tag & 0xFFFF, vr, len(data)) + data)
    body = b"".join(parts)
    return _GROUP_ELEMENT_VR.pack(2, 0, b"UL", 4) + struct.pack("<L", len(body)) + body


def file_meta(sop_class: str, sop_instance: str, transfer_syntax: str) -> FileMetaDataset:
    """hipaa-lab's file meta for an output: the instance's class and UID, its transfer syntax,
    and hipaa-lab's implementation UID and version name (values not validated again: they come
    from a data set pydicom read, or from hipaa-lab)."""
    meta = FileMetaDataset()
    for tag, vr, value in (
        (0x00020002, "UI", UID(sop_class)),
        (0x00020003, "UI", UID(sop_instance)),
        (0x00020010, "UI", UID(transfer_syntax)),
        (0x00020012, "UI", UID(IMPLEMENTATION_CLASS_UID)),
        (0x00020013, "SH", IMPLEMENTATION_VERSION),
    ):
        meta._dict[BaseTag(tag)] = DataElement(tag, vr, value, validation_mode=config.IGNORE)
    return meta


def write_dicom(f: BinaryIO, ds: Dataset) -> None:
    """Write ``ds`` (with its ``file_meta`` and ``preamble``) as a DICOM file, as
    ``dcmwrite(f, ds, enforce_file_format=True)`` does, byte for byte; the elements that no rule
    changed are written from their raw bytes.

    pydicom writes each element through a buffer of its own, even one that it copies as it was
    read (20 us an element, 84 elements in a CT header), and copies the pixel data twice;
    here a raw element of the data set's top level is its 8 or 12 header bytes and its value.
    Anything else (converted elements, sequences, another transfer syntax, a data set whose
    encoding or character set changed) is pydicom's work, as before.
    """
    meta = ds.file_meta
    ts = meta.get("TransferSyntaxUID")
    if ts not in _PLAIN_SYNTAXES or any(t >> 16 in (0, 2) for t in ds._dict):
        dcmwrite(f, ds, enforce_file_format=True)
        return
    implicit = ts == ImplicitVRLittleEndian
    fp = DicomIO(f)
    fp.is_implicit_VR, fp.is_little_endian = implicit, True
    fp.write((getattr(ds, "preamble", None) or b"\0" * 128) + b"DICM")
    meta_bytes = _file_meta_bytes(meta)
    if meta_bytes is None:
        write_file_meta_info(fp, meta, enforce_standard=True)
    else:
        fp.write(meta_bytes)
    if (implicit, True) != ds.original_encoding or (
        ds.original_character_set != ds._character_set
    ):  # pydicom converts every element to write it in the new encoding
        write_dataset(fp, ds)
        return
    if "PixelData" in ds and not ds.get_item(PIXEL_DATA).is_raw:
        ds["PixelData"].is_undefined_length = False  # as dcmwrite does for an uncompressed syntax
    encodings = ds.get("SpecificCharacterSet", default_encoding)
    write = f.write
    for tag in sorted(ds._dict):
        group, element = tag >> 16, tag & 0xFFFF
        if element == 0 and group > 6:
            continue  # retired group lengths are not written
        elem = cast("DataElement | RawDataElement", ds.get_item(tag))  # raw while unchanged
        value = elem.value
        if (
            isinstance(elem, RawDataElement)
            and isinstance(value, bytes)
            and elem.length != 0xFFFFFFFF
        ):
            vr = elem.VR
            n = len(value)
            if implicit:
                write(_GROUP_ELEMENT_32.pack(group, element, n))
                write(value)
                continue
            if vr is not None and len(vr) == 2:
                if vr in EXPLICIT_VR_LENGTH_32:
                    write(_GROUP_ELEMENT_VR_32.pack(group, element, vr.encode(), 0, n))
                    write(value)
                    continue
                if n <= 0xFFFF:
                    write(_GROUP_ELEMENT_VR.pack(group, element, vr.encode(), n))
                    write(value)
                    continue
        with tag_in_exception(elem.tag):
            write_data_element(fp, elem, encodings)


# ====================================================================== files and batches
class SkipReason(enum.StrEnum):
    """Why an input was skipped: the fixed words the report in DST counts skips by.

    The full reason names the file, the element or region and the kind of problem, never a value
    or text read from the input; it goes to the operator's console. These words hold nothing
    from the input.
    """

    EMPTY = "empty file"
    NOT_DICOM = "not DICOM"
    NO_SOP_INSTANCE_UID = "no SOP Instance UID"
    MEDIA_DIRECTORY = "media directory (DICOMDIR)"
    ENCAPSULATED_DOCUMENT = "encapsulated document"
    TRUNCATED = "truncated pixel data"
    UNDECODABLE = "pixel data cannot be decoded"
    DAMAGED = "damaged data set"
    BURNED_IN_TEXT = "burned-in text could not be verified"
    DUPLICATE = "duplicate SOP Instance UID"
    SYMLINK = "symbolic link"
    NOT_A_FILE = "not a regular file"
    FAILED = "could not be de-identified"


class UIDOrigin(enum.StrEnum):
    """Where an output's SOP Instance UID came from, when not from the input's own UID."""

    MISSING = "derived from content: the input had no SOP Instance UID"
    COLLISION = "derived from content: another input had this SOP Instance UID"


@dataclass
class FileResult:
    """What happened to one input: ``output`` relative to DST when done, else why it was skipped:
    ``code``, one of :class:`SkipReason`, and ``reason``, the full text for the operator.
    ``uid_origin`` says when the output's SOP Instance UID was derived from the input's content
    (:class:`UIDOrigin`)."""

    source: str
    output: str | None = None
    reason: str | None = None
    changes: int = 0
    code: SkipReason | None = None
    uid_origin: UIDOrigin | None = None


@dataclass
class BatchReport:
    """Counts for ``deid-report.json``: outputs, skips by :class:`SkipReason`, and outputs whose
    SOP Instance UID was derived from their content (``uid_collisions``: the input shared its
    UID with another input of different content; ``uids_missing``: it had none)."""

    processed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    options: list[str] = field(default_factory=list)
    profile: str = "basic"
    edition: str = EDITION
    uid_collisions: int = 0
    uids_missing: int = 0

    def to_json(self) -> dict[str, object]:
        skipped = {SkipReason(k).value: n for k, n in self.skipped.items()}  # fixed words only
        return {
            "processed": self.processed,
            "skipped": dict(sorted(skipped.items())),
            "skipped_total": sum(self.skipped.values()),
            "uid_collisions": self.uid_collisions,
            "uids_missing": self.uids_missing,
            "profile": self.profile,
            "options": self.options,
            "edition": f"DICOM PS3.15 {self.edition} Table E.1-1",
        }


class _SkipFile(Exception):
    """An input that cannot be de-identified safely: a :class:`SkipReason` and the detail (the
    element or region and the kind of problem; never a value from the input)."""

    def __init__(self, code: SkipReason, detail: str = "") -> None:
        self.code = code
        super().__init__(f"{code.value} ({detail})" if detail else code.value)


#: Elements every image has: a data set read without a preamble must hold two of them.
_KNOWN = tags(
    [
        "SOPClassUID",
        "SOPInstanceUID",
        "Modality",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "PatientName",
        "PatientID",
        "StudyDate",
    ]
)
_MEDIA_DIRECTORY = "1.2.840.10008.1.3.10"  # Media Storage Directory Storage (a DICOMDIR)
_TAG_IN_MESSAGE = re.compile(r"\(([0-9A-Fa-f]{4}),\s*([0-9A-Fa-f]{4})\)")


def _describe(exc: BaseException) -> str:
    """An exception as its type and the element it names (keyword and tag), never its message:
    pydicom's messages may quote a value."""
    m = _TAG_IN_MESSAGE.search(str(exc))
    if m is None:
        return type(exc).__name__
    tag = int(m.group(1) + m.group(2), 16)
    keyword = keyword_for_tag(tag)
    where = f"{keyword} ({m.group(1)},{m.group(2)})" if keyword else f"({m.group(1)},{m.group(2)})"
    return f"{type(exc).__name__} in {where}"


def _read_as_written(ds: Dataset) -> None:
    """Record the encoding the data set was actually read in.

    A file whose meta says an explicit VR transfer syntax but whose data set is implicit VR
    (pydicom reads it implicit, with a warning) keeps the meta's encoding as its "original" one,
    so the writer would copy its raw elements, which have no VR, into an explicit VR file: the
    cause of "TypeError: encoding without a string argument" on ``SC_rgb_jpeg.dcm``. With the
    real encoding recorded, the writer converts every element (VR from the data dictionary, as
    PS3.5 7.1.3 has for implicit VR; UN elements with a known tag get their dictionary VR the
    same way, pydicom's ``config.replace_un_with_known_vr``).
    """
    implicit, little = ds.original_encoding
    for raw in itertools.islice(ds._dict.values(), 4):
        actual = getattr(raw, "is_implicit_VR", None)
        if actual is not None and implicit is not None and actual != implicit:
            ds.set_original_encoding(actual, little, ds.original_character_set)
            return


def _recognisable(ds: Dataset) -> bool:
    """Whether a data set without a SOP Instance UID is still a DICOM data set, not bytes that
    parsed by chance (``dcmread(force=True)`` parses anything): file meta naming a transfer
    syntax, or a public element of the data dictionary; and every element whole, with a VR of
    the standard (or none, read implicit) and a tag that is private, a group length or in the
    data dictionary."""
    from pydicom.datadict import get_entry
    from pydicom.valuerep import VR

    known = {v.value for v in VR}
    meta = ds.get("file_meta")
    public = meta is not None and UID(meta.get("TransferSyntaxUID", "")).is_transfer_syntax
    for raw in ds._dict.values():
        vr = getattr(raw, "VR", None)
        if vr is not None and vr not in known:
            return False
        length, value = getattr(raw, "length", None), getattr(raw, "value", None)
        if isinstance(value, bytes) and length not in (None, 0xFFFFFFFF) and len(value) < length:
            return False  # an element longer than what is left of the file
        if raw.tag.is_private or raw.tag.element == 0:
            continue
        try:
            get_entry(raw.tag)
        except KeyError:
            return False
        public = True
    return public


#: The elements that give the size of native pixel data, with their defaults when absent.
_IMAGE_SIZE_DEFAULTS = {
    "Rows": None,
    "Columns": None,
    "BitsAllocated": None,
    "SamplesPerPixel": 1,
    "NumberOfFrames": 1,
}
_IMAGE_SIZE_TAGS = {keyword: min(tags([keyword])) for keyword in _IMAGE_SIZE_DEFAULTS}


def _image_size(ds: Dataset) -> int:
    """The bytes native pixel data of ``ds`` needs (odd-length padding aside).

    YBR_FULL_422 holds two samples per pixel (Y for each, Cb and Cr once per pair: PS3.3
    C.7.6.3.1.2), so Rows x Columns x 2 values, not x 3.
    """
    values: dict[str, int] = {}
    little = ds.original_encoding[1] is not False
    for keyword, default in _IMAGE_SIZE_DEFAULTS.items():
        raw = ds.get_item(_IMAGE_SIZE_TAGS[keyword])
        if (
            little  # a US value as read, without converting the element (most files)
            and raw is not None
            and raw.is_raw
            and raw.VR in ("US", None)
            and keyword != "NumberOfFrames"  # IS
            and isinstance(raw.value, bytes)
            and len(raw.value) == 2
        ):
            values[keyword] = int.from_bytes(raw.value, "little")
            continue
        try:
            value = ds.get(keyword, default)
            values[keyword] = int(default if value in (None, "") else value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise _SkipFile(
                SkipReason.DAMAGED, f"pixel data whose {keyword} is missing or not a number"
            ) from None
    samples = values["SamplesPerPixel"]
    if samples == 3 and str(ds.get("PhotometricInterpretation", "")).strip() == "YBR_FULL_422":
        samples = 2
    pixels = values["Rows"] * values["Columns"] * samples * max(1, values["NumberOfFrames"])
    bits = values["BitsAllocated"]
    return (pixels + 7) // 8 if bits == 1 else pixels * (bits // 8)


def _check_decodes(ds: Dataset) -> None:
    """Decode every frame of compressed pixel data, with the plugins pydicom has: an image that
    none can read is quarantined, its transfer syntax named."""
    from pydicom.pixels.utils import iter_pixels

    ts = UID(ds.file_meta.TransferSyntaxUID)
    try:
        for _ in iter_pixels(ds, raw=True):
            pass
    except Exception as exc:
        raise _SkipFile(
            SkipReason.UNDECODABLE,
            f"{ts.name}: no installed decoder could read it ({_describe(exc)})",
        ) from None


def _read(path: Path) -> Dataset:
    with open(path, "rb") as f:
        head = f.read(132)
        if not head:
            raise _SkipFile(SkipReason.EMPTY)
        preamble = len(head) == 132 and head[128:132] == b"DICM"
        f.seek(0)
        try:
            ds = dcmread(f, force=True)
        except Exception as exc:
            raise _SkipFile(SkipReason.NOT_DICOM, f"not readable: {_describe(exc)}") from None
    if not preamble and sum(t in ds for t in _KNOWN) < 2:
        raise _SkipFile(SkipReason.NOT_DICOM, "no preamble and no recognisable data set")
    uid = ds.get_item(SOP_INSTANCE_UID)
    if (uid is None or not uid.value) and not _recognisable(ds):
        raise _SkipFile(
            SkipReason.NOT_DICOM, "no SOP Instance UID and elements no DICOM data set has"
        )
    meta = ds.get("file_meta")
    if "DirectoryRecordSequence" in ds or (
        meta is not None and meta.get("MediaStorageSOPClassUID") == _MEDIA_DIRECTORY
    ):
        raise _SkipFile(
            SkipReason.MEDIA_DIRECTORY,
            "an index of a file set, not an instance: its records point at files by path and "
            "byte offset, which a de-identified tree does not keep",
        )
    _read_as_written(ds)
    # values are converted lazily; one that cannot be converted is removed by the engine
    if "EncapsulatedDocument" in ds:
        raise _SkipFile(SkipReason.ENCAPSULATED_DOCUMENT, "PDF/CDA cannot be cleaned")
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    if "PixelData" in ds:
        elem = ds.get_item(PIXEL_DATA)
        undefined = getattr(elem, "is_undefined_length", None)
        if undefined is None:  # still raw
            undefined = getattr(elem, "length", 0) == 0xFFFFFFFF
        encapsulated = undefined or (ts is not None and UID(ts).is_encapsulated)
        need = _image_size(ds)
        if not encapsulated:
            have = len(elem.value or b"")
            if have < need:
                raise _SkipFile(SkipReason.TRUNCATED, f"{have} of {need} bytes")
        elif ts is None:
            raise _SkipFile(
                SkipReason.UNDECODABLE, "compressed pixel data without a transfer syntax"
            )
        else:
            _check_decodes(ds)
    return ds


def needs_pixel_cleaning(ds: Dataset, options: Iterable[str | Option] = ()) -> bool:
    """Whether ``ds``'s pixels may carry burned-in text, so must be cleaned before sharing:
    :func:`hipaa_lab.deid.pixels.needs_cleaning`, with Clean Pixel Data when it is among ``options``."""
    return _needs_cleaning(ds, Option.CLEAN_PIXEL_DATA in annex_e._parse_options(options))


def _output_name(ds: Dataset, deid: Deidentifier) -> str:
    def part(keyword: str) -> str:
        uid = str(ds.get(keyword, "") or "unknown")
        return uid if uid.startswith("2.25.") else "x" + deid.pseudo.digest(uid)

    return f"{part('StudyInstanceUID')}/{part('SeriesInstanceUID')}/{part('SOPInstanceUID')}.dcm"


_TEMP_NAMES = itertools.count()
_PROC_FD = "/proc/self/fd"


class _Staged:
    """An output being written, with no name in DST until it is whole.

    On Linux the file is made with ``O_TMPFILE``: it has no name at all until :meth:`link` gives
    it one, so a batch killed mid-write leaves nothing (and a file costs no unlink). Elsewhere,
    or where the file system or ``/proc`` does not allow it, it is a hidden ``.<pid>-<n>.tmp``
    (:func:`_create_temp`), removed by :meth:`close`. :attr:`path` reaches the file while it is
    open, either way.
    """

    def __init__(self, folder: Path) -> None:
        fd = _open_unnamed(folder)
        self.named = fd is None
        if fd is None:
            fd, self.path = _create_temp(folder)
        else:
            self.path = f"{_PROC_FD}/{fd}"
        self.file = os.fdopen(fd, "wb")

    def link(self, to: Path) -> None:
        """Give the written file the name ``to``; :class:`FileExistsError` when it is taken."""
        self.file.flush()
        if self.named:
            os.link(self.path, to)
        else:  # linkat(..., AT_SYMLINK_FOLLOW), which os.link uses only given a dir fd
            os.link(self.path, to, src_dir_fd=_root_fd(), follow_symlinks=True)

    def close(self) -> None:
        self.file.close()
        if self.named:
            os.unlink(self.path)


def _open_unnamed(folder: Path) -> int | None:
    """A new file in ``folder`` (made when missing) that has no name, or ``None`` where the
    system cannot make one (not Linux, no ``/proc``, a file system without ``O_TMPFILE``)."""
    if not hasattr(os, "O_TMPFILE") or not os.path.isdir(_PROC_FD):
        return None
    for _ in range(2):
        try:
            return os.open(folder, os.O_WRONLY | os.O_TMPFILE, 0o600)
        except FileNotFoundError:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:  # EOPNOTSUPP; EISDIR from a kernel older than O_TMPFILE
            return None
    return None


@functools.cache
def _root_fd() -> int:
    """An fd of ``/``, opened once a process (any directory fd will do for an absolute path)."""
    return os.open("/", os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))


def _create_temp(folder: Path, suffix: str = ".tmp") -> tuple[int, str]:
    """A new, empty, hidden ``.<pid>-<n><suffix>`` in ``folder`` (made when missing): its fd and path.

    Created with ``O_EXCL``, so it is never another's file; the folder is made only when the
    creation finds it missing, so that a batch costs no ``mkdir`` per file.
    """
    for _ in range(100):
        tmp = os.path.join(folder, f".{os.getpid()}-{next(_TEMP_NAMES)}{suffix}")
        try:
            return os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600
            ), tmp
        except FileNotFoundError:
            folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError:  # left by a process with this id that was killed
            continue
    raise FileExistsError(f"no free temporary name in {folder}")


#: This process's open provenance logs, by DST: hidden ``provenance/.<pid>-<n>.jsonl.tmp`` files.
_LOGS: dict[str, TextIO] = {}


def _provenance_log(dst: Path) -> TextIO:
    """This process's provenance log in ``dst``, opened (hidden, ``O_EXCL``) on first use."""
    log = _LOGS.get(str(dst))
    if log is None:
        fd, _ = _create_temp(dst / "provenance", ".jsonl.tmp")
        log = _LOGS[str(dst)] = os.fdopen(fd, "w", encoding="utf-8")
    return log


def _finish_provenance(dst: Path) -> None:
    """Close this process's log in ``dst`` and give every process's log its final name,
    ``provenance/part-<n>.jsonl`` (called once every worker has ended)."""
    log = _LOGS.pop(str(dst), None)
    if log is not None:
        log.close()
    folder = dst / "provenance"
    if folder.is_dir():
        parts = sorted(
            p for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".jsonl.tmp")
        )
        for i, p in enumerate(parts, 1):
            os.rename(p, folder / f"part-{i}.jsonl")


def _content_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, hex: what a content-derived UID is keyed on."""
    import hashlib

    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _same_bytes(a: str | Path, b: str | Path) -> bool:
    """Whether two files hold the same bytes. :func:`filecmp.cmp`'s cache keys on the path, size
    and time, and a staged file's ``/proc/self/fd/N`` is reused: it is cleared first."""
    import filecmp

    filecmp.clear_cache()
    return filecmp.cmp(a, b, shallow=False)


def deidentify_file(src: Path, dst: Path, deid: Deidentifier) -> FileResult:
    """De-identify one file into the tree ``dst``; never raises for a bad input (see ``reason``).

    A readable data set without a SOP Instance UID gets one keyed on its file's bytes
    (:meth:`~hipaa_lab.deid.pseudonyms.Pseudonymizer.content_uid`). An input whose output name is
    taken by another input's output is a duplicate when the two outputs are the same bytes, and
    otherwise is written under a UID keyed on its output's bytes (``uid_origin`` COLLISION): the
    same names run after run with one key. (With several processes, which of the inputs sharing
    a UID keeps it depends on which is reached first; which outputs there are does not.)

    The output's provenance record is appended to this process's hidden log in ``dst``, which
    :func:`deidentify_tree` names ``provenance/part-N.jsonl`` at the end of the batch.
    """
    result = FileResult(str(src))
    try:
        ds = _read(Path(src))
        if "SOPInstanceUID" not in ds or not str(ds.SOPInstanceUID).strip("\0 "):
            ds.SOPInstanceUID = deid.pseudo.content_uid(_content_digest(Path(src)))
            result.uid_origin = UIDOrigin.MISSING
        ts = ds.file_meta.get("TransferSyntaxUID") if getattr(ds, "file_meta", None) else None
        ts = UID(ts) if ts else ImplicitVRLittleEndian
        pixel_cleaned = False
        if _needs_cleaning(ds, Option.CLEAN_PIXEL_DATA in deid.options):
            try:
                from hipaa_lab.deid import pixels
            except ImportError:
                raise _SkipFile(
                    SkipReason.BURNED_IN_TEXT,
                    "burned-in text may be present and the pixel cleaner is not installed",
                ) from None
            outcome = pixels.clean_burned_in(ds)
            if outcome.status == "failed":
                raise _SkipFile(SkipReason.BURNED_IN_TEXT, f"not removed: {outcome.reason}")
            pixel_cleaned = outcome.status == "cleaned" or Option.CLEAN_PIXEL_DATA in deid.options
            if getattr(ds, "file_meta", None) and ds.file_meta.get("TransferSyntaxUID"):
                ts = UID(ds.file_meta.TransferSyntaxUID)
        ctx_changes = deid.deidentify(ds, pixel_cleaned=pixel_cleaned)
        ds.file_meta = file_meta(
            str(ds.get("SOPClassUID", "1.2.840.10008.5.1.4.1.1.7")), str(ds.SOPInstanceUID), ts
        )
        ds.preamble = b"\0" * 128
        name = _output_name(ds, deid)
        out = dst / name
        log = _provenance_log(
            dst
        )  # before the output: a log that cannot be opened leaves no output
        staged = _Staged(out.parent)
        try:
            _write(staged.file, ds)
            try:  # never overwrite
                staged.link(out)
            except FileExistsError:
                name = _renamed(staged, dst, out, ds, deid)
                result.uid_origin = UIDOrigin.COLLISION
                try:
                    staged.link(dst / name)
                except FileExistsError:  # another process, since _renamed looked
                    if not _same_bytes(staged.path, dst / name):
                        raise
                    raise _SkipFile(SkipReason.DUPLICATE, _SAME_OUTPUT) from None
        finally:
            staged.close()
        # the output's record, whole, right after it (one write; no fsync: the log has a final
        # name only once the batch has finished, see _finish_provenance)
        record = orjson.dumps({"output": name, "changes": [c.to_json() for c in ctx_changes]})
        log.write(record.decode() + "\n")
        log.flush()
        result.output, result.changes = name, len(ctx_changes)
    except _SkipFile as exc:
        result.code, result.reason = exc.code, str(exc)
        result.uid_origin = None
    except Exception as exc:  # never stop the batch
        result.code = SkipReason.FAILED
        result.reason = f"{SkipReason.FAILED.value} ({_describe(exc)})"
        result.uid_origin = None
    return result


def _write(f: BinaryIO, ds: Dataset) -> None:
    try:
        write_dicom(f, ds)
    except Exception as exc:  # a value that pydicom cannot encode: a damaged element
        raise _SkipFile(SkipReason.DAMAGED, f"cannot be written: {_describe(exc)}") from None


_SAME_OUTPUT = "an output with the same UID and content exists"


def _renamed(staged: _Staged, dst: Path, taken: Path, ds: Dataset, deid: Deidentifier) -> str:
    """The output name for ``ds`` (written to ``staged``) when ``taken`` already holds another
    input's output of the same SOP Instance UID.

    Same bytes: a true duplicate, skipped. Otherwise ``ds`` gets a SOP Instance UID keyed on its
    de-identified UID and its output's bytes, ``staged`` is written again, and its new name
    returned; a name taken again by the same bytes is a duplicate too. Keyed on the output, not
    the input: two inputs that come out the same (a copy that differs only in what is removed)
    are one output, whichever of the inputs of that UID a batch's processes reach first.
    """
    staged.file.flush()
    if _same_bytes(staged.path, taken):
        raise _SkipFile(SkipReason.DUPLICATE, _SAME_OUTPUT)
    uid = deid.pseudo.content_uid(f"{ds.SOPInstanceUID}\0{_content_digest(Path(staged.path))}")
    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = UID(uid)
    staged.file.seek(0)
    staged.file.truncate()
    _write(staged.file, ds)
    staged.file.flush()
    name = _output_name(ds, deid)
    if (dst / name).exists() and _same_bytes(staged.path, dst / name):
        raise _SkipFile(SkipReason.DUPLICATE, _SAME_OUTPUT)
    _check_reads_back(Path(staged.path))
    return name


def _check_reads_back(path: Path) -> None:
    """Parse every element of a written output: a second input under a known UID is often a
    damaged copy of the first, and an element the engine kept raw would go out as it came."""
    try:
        dcmread(path).walk(lambda _ds, _elem: None)
    except Exception as exc:
        raise _SkipFile(SkipReason.DAMAGED, f"output unreadable: {_describe(exc)}") from None


_WORKER: Deidentifier | None = None


def _init_worker(key: bytes, options: list[str], profile: str) -> None:
    global _WORKER
    _WORKER = Deidentifier(key, options, profile)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """End this worker when the runner that started it dies (killed, out of memory): no orphans."""
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(1)


def _work(args: tuple[str, str]) -> FileResult:
    assert _WORKER is not None, "_init_worker runs first in every worker"
    return deidentify_file(Path(args[0]), Path(args[1]), _WORKER)


def _inside(a: Path, b: Path) -> bool:
    return a == b or b in a.parents


def deidentify_tree(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    key_file: str | os.PathLike[str],
    options: Iterable[str | Option] = (),
    profile: str = "basic",
    jobs: int = 1,
    linkage: str | os.PathLike[str] | None = None,
    progress: bool = True,
    err: TextIO | None = None,
) -> BatchReport:
    """De-identify every file under ``src`` into ``dst`` (the ``hipaa-lab deid`` command).

    Raises
    ------
    UsageError
        (a :class:`ValueError`) For a DST inside SRC (or SRC inside DST), a linkage file inside
        DST or SRC, a new key file inside SRC, a DST that is a file or not empty, a key file that
        cannot be used.
    ValueError
        For bad options.
    """
    err = err or sys.stderr
    src, dst = Path(src).resolve(), Path(dst).resolve()
    if not src.is_dir():
        raise UsageError(f"SRC {src} is not a folder")
    if _inside(dst, src) or _inside(src, dst):
        raise UsageError(f"DST {dst} and SRC {src} must not contain one another")
    if linkage is not None and _inside(Path(linkage).resolve(), dst):
        raise UsageError("the linkage file is PHI: write it outside DST")
    # SRC is never changed: nothing may be written there, not even the key or the linkage
    if linkage is not None and _inside(Path(linkage).resolve(), src):
        raise UsageError(
            f"the linkage file {linkage} is inside SRC {src}, which is never changed: "
            "write it outside SRC (and outside DST)"
        )
    key_path = Path(key_file).expanduser().resolve()
    if not key_path.exists() and _inside(key_path, src):
        raise UsageError(
            f"the key file {key_file} does not exist and would be created inside SRC {src}, "
            "which is never changed: keep the key outside SRC"
        )
    if dst.exists() and not dst.is_dir():
        raise UsageError(f"DST {dst} is a file, not a folder; choose a new or empty folder")
    if dst.exists() and any(dst.iterdir()):
        raise UsageError(f"DST {dst} is not empty; choose a new or empty folder")
    try:
        key = load_key(key_file)
    except OSError as exc:  # a folder, no permission...
        raise UsageError(
            f"cannot use {key_file} as the key file ({type(exc).__name__}: {exc.strerror or exc})"
        ) from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    deid = Deidentifier(key, options, profile)  # validates the options before any work
    files, unread = [], []
    for p in sorted(src.rglob("*")):  # rglob does not descend into a linked folder
        if p.is_symlink():  # not followed: it may point outside SRC
            unread.append(
                FileResult(
                    str(p),
                    code=SkipReason.SYMLINK,
                    reason=f"{SkipReason.SYMLINK.value} (not followed: it may point outside SRC)",
                )
            )
        elif p.is_file():
            files.append(p)
        elif not p.is_dir():  # a FIFO, a socket, a device: reading could block
            unread.append(
                FileResult(str(p), code=SkipReason.NOT_A_FILE, reason=SkipReason.NOT_A_FILE.value)
            )
    try:
        dst.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a parent that is a file, no permission...
        raise UsageError(
            f"cannot make DST {dst} ({type(exc).__name__}: {exc.strerror or exc})"
        ) from None
    report = BatchReport(options=sorted(o.value for o in deid.options), profile=deid.profile.value)
    links = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(files) + len(unread), unit="file", desc="deid", file=sys.stderr)
    tasks = [(str(p), str(dst)) for p in files]
    if jobs <= 1:
        results: Iterator[FileResult] = (deidentify_file(p, dst, deid) for p in files)
    else:
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(
            jobs,
            initializer=_init_worker,
            initargs=(key, [o.value for o in deid.options], deid.profile.value),
        )
        # small chunks: the last ones end together (a chunk of 32 CT files is 0.1 s of one core
        # idle at the end); a chunk's results are a few short strings each
        results = pool.map(_work, tasks, chunksize=max(1, min(8, len(tasks) // (jobs * 8))))
    try:
        for res in itertools.chain(unread, results):
            if res.output:
                report.processed += 1
                report.uid_collisions += res.uid_origin is UIDOrigin.COLLISION
                report.uids_missing += res.uid_origin is UIDOrigin.MISSING
                links.append({"source": res.source, "output": res.output})
            else:
                # the report counts the fixed code; the full reason may quote the input: console only
                report.skipped[(res.code or SkipReason.FAILED).value] += 1
                print(
                    f"hipaa-lab deid: skipped {res.source}: {res.reason or (res.code or SkipReason.FAILED).value}",
                    file=err,
                )
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        if jobs > 1:
            pool.shutdown(cancel_futures=True)  # waits for the workers: their logs are closed
        log = _LOGS.pop(str(dst), None)
        if log is not None:
            log.close()
    _finish_provenance(dst)
    write_atomic(dst / "deid-report.json", json.dumps(report.to_json(), indent=1).encode())
    if linkage is not None:
        write_atomic(Path(linkage), "".join(json.dumps(x) + "\n" for x in links).encode())
    return report
