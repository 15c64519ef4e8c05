"""De-identification per DICOM PS3.15 Annex E (Table E.1-1, edition 2026d) and HIPAA Safe Harbor.

:class:`Deidentifier` cleans one dataset in place; :func:`deidentify_tree` runs a batch (the
``hipaa-lab deid`` command).  A batch writes into DST the outputs, ``deid-report.json`` and the
provenance log: ``provenance/part-N.jsonl``, one per process, one JSON line per output
(``{"output": name, "changes": [{"path", "action", "rule"}...]}``, tag paths and the tool's own
words, no values).  Every file is written under a hidden ``.*.tmp`` name and gets its final name
only whole: an output by a link once written, a log by a rename once the batch has finished (a
killed batch leaves its logs hidden, and no report).  How each element is decided:

* a row of Table E.1-1 (:mod:`hipaa_lab.annex_e`), with the chosen options; combined actions
  (``X/Z``, ``Z/D`` ...) by the attribute's Type in the IOD (:data:`ATTRIBUTE_TYPES`);
* overlays (60xx) and curves (50xx) by their repeating-group rows; an overlay whose data would
  be removed, emptied or cleaned (Clean Graphics) loses its whole group, so no overlay is left
  that cannot be decoded;
* private elements: removed, except with Retain Safe Private the numeric ones in
  :data:`SAFE_PRIVATE` (their private creators stay);
* public elements outside the table, by VR, so that an attribute the table does not list cannot
  leak: PN removed, dates and times like the table's dates, UIDs replaced (registered UIDs such as
  SOP classes kept), text (LO, SH, ST, LT, UT, UC) cleaned of dates, numbers, contacts and the
  patient's names (codes kept), and removed in the Patient group (0010,xxxx); CS and AE kept unless
  they hold an identifier of this patient; elements unknown to the data dictionary removed (but
  sequences, whose items are cleaned, and UIDs, replaced);
* every sequence item at any depth, SR content items by Table E.3.4-1 where their concept is listed;
* PatientID and AccessionNumber become keyed pseudonyms; with Retain Longitudinal Temporal
  Information Modified Dates, dates move by a keyed per-patient shift.
"""

from __future__ import annotations

import datetime as dt
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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TextIO, cast

from pydicom import dcmread
from pydicom.charset import default_encoding
from pydicom.datadict import (  # type: ignore[attr-defined]  # DicomDictionary: not in __all__
    DicomDictionary,
    dictionary_VR,
    keyword_for_tag,
)
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO, DicomIO
from pydicom.filewriter import dcmwrite, write_data_element, write_dataset, write_file_meta_info
from pydicom.sequence import Sequence
from pydicom.tag import tag_in_exception
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

from hipaa_lab import annex_e
from hipaa_lab.annex_e import BASIC_CODE, EDITION, Option, Profile, resolve, resolve_by_type
from hipaa_lab.errors import UsageError
from hipaa_lab.phi import tag_path, write_atomic
from hipaa_lab.pixels import needs_cleaning as _needs_cleaning
from hipaa_lab.pseudonyms import Pseudonymizer, load_key

__all__ = [
    "ATTRIBUTE_TYPES",
    "BatchReport",
    "Change",
    "Deidentifier",
    "FileResult",
    "RESTRICTED_ZIP3",
    "SAFE_PRIVATE",
    "SkipReason",
    "UIDOrigin",
    "deidentify_file",
    "deidentify_tree",
    "needs_pixel_cleaning",
]

IMPLEMENTATION_CLASS_UID = "2.25.236218384066915427722574542738372539937"  # fixed, hipaa-lab's own
IMPLEMENTATION_VERSION = "HIPAALAB_0.1"

#: Type in the IODs hipaa-lab meets (CT, MR, CR, DX, MG, US, SC, Basic Text SR) of the attributes
#: whose row has a combined action.  Others are unknown: X where allowed, else Z, else D.
ATTRIBUTE_TYPES: dict[int, int] = {
    0x00080020: 2,
    0x00080030: 2,  # Study Date/Time (General Study)
    0x00080023: 2,
    0x00080033: 2,  # Content Date/Time: 2C in General Image
    0x00100020: 2,  # Patient ID
    0x00180010: 2,  # Contrast/Bolus Agent (Contrast/Bolus module)
    0x00080080: 3,
    0x00081010: 3,
    0x00181000: 3,
    0x00081070: 3,  # General Equipment, Series
    0x00080022: 3,
    0x00080032: 3,
    0x0008002A: 3,
    0x00080021: 3,
    0x00080031: 3,
    0x00080012: 3,
    0x00080013: 3,
    0x00181030: 3,
    0x00080082: 3,
    0x00081111: 3,
    0x00081110: 3,
    0x00081140: 3,
    0x00082112: 3,
    0x00400555: 3,
    0x00181400: 3,
    0x00321060: 3,
}
#: Overrides for one SOP class family (prefix of the SOP Class UID).
_TYPES_BY_CLASS = {
    "1.2.840.10008.5.1.4.1.1.88.": {
        0x00080023: 1,
        0x00080033: 1,  # SR Document General
        # Type 2 in SR Document Series and the Referenced Request Sequence
        0x00081111: 2,
        0x00081110: 2,
        0x00321060: 2,
    },
    "1.2.840.10008.5.1.4.1.1.1.": {0x00400555: 2},  # DX, MG, IO: Acquisition Context module
}

#: Retain Safe Private: (private creator, group, element byte) known to hold only numbers that
#: describe the acquisition. Kept only when their VR is numeric, too.
SAFE_PRIVATE: frozenset[tuple[str, int, int]] = frozenset(
    {
        ("SIEMENS MR HEADER", 0x0019, 0x0C),  # B value
        ("SIEMENS MR HEADER", 0x0019, 0x0E),  # diffusion gradient direction
        ("GEMS_PARM_01", 0x0043, 0x39),  # slop_int_6..9 (b value)
        ("GEMS_ACQU_01", 0x0019, 0x18),  # first scan RAS? no: acquisition matrix numbers
        ("Philips MR Imaging DD 001", 0x2005, 0x0D),  # scale intercept
        ("Philips MR Imaging DD 001", 0x2005, 0x0E),  # scale slope
        ("Philips Imaging DD 001", 0x2001, 0x03),  # diffusion b factor
    }
)
_SAFE_CREATORS = frozenset(creator for creator, _, _ in SAFE_PRIVATE)
_NUMERIC = {"US", "SS", "UL", "SL", "FL", "FD", "DS", "IS", "SV", "UV"}
#: Three-digit ZIP codes of 20,000 people or fewer (2000 census), which Safe Harbor turns into 000.
RESTRICTED_ZIP3 = frozenset(
    [
        "036",
        "059",
        "063",
        "102",
        "203",
        "556",
        "692",
        "790",
        "821",
        "823",
        "830",
        "831",
        "878",
        "879",
        "884",
        "890",
        "893",
    ]
)

_DUMMY = {
    "DA": "19000101",
    "TM": "000000",
    "DT": "19000101000000.000000",
    "AS": "000Y",
    "IS": "0",
    "DS": "0",
    "US": 0,
    "SS": 0,
    "UL": 0,
    "SL": 0,
    "FL": 0.0,
    "FD": 0.0,
    "SV": 0,
    "UV": 0,
    "AT": 0,
    "OB": b"\0\0",
    "OW": b"\0\0",
    "OF": b"\0\0\0\0",
    "OD": b"\0" * 8,
    "OL": b"\0" * 4,
    "OV": b"\0" * 8,
    "UN": b"\0\0",
    "UR": "",
    "CS": "ANONYMIZED",
}
_TEXT_VRS = {"LO", "SH", "PN", "ST", "LT", "UT", "UC", "CS", "AE"}
_LONG_TEXT = {"ST", "LT", "UT", "UC"}
#: Public elements outside Table E.1-1 with these VRs have their text cleaned (dates, numbers,
#: contacts, the patient's names), so an attribute the table does not list cannot leak.
_FREE_TEXT = frozenset(_LONG_TEXT | {"LO", "SH"})
#: Codes and versions outside the table, where digit runs identify nobody (the scanner's list),
#: and the equipment's make and model ("DR 7500"): kept unless they hold this patient's identifier.
_CODE_TAGS = frozenset(
    {
        0x00080100,
        0x00080102,
        0x00080103,
        0x00080105,
        0x0008010F,
        0x00080112,
        0x00080114,
        0x00080119,
        0x00080122,
        0x0040DB00,
        0x00181020,
        0x00080070,
        0x00081090,  # Manufacturer, Manufacturer's Model Name
    }
)
_DATE_VRS = {"DA", "DT", "TM"}
_COLLECTED_VRS = frozenset(_TEXT_VRS | _DATE_VRS - {"TM"})
#: VRs whose value is one string: a backslash in it is text, not a value delimiter.
_SINGLE_VALUED = frozenset({"ST", "LT", "UT", "UR"})
# values of SR content items
_ITEM_VALUES = {0x0040A160, 0x0040A123, 0x0040A121, 0x0040A122, 0x0040A120, 0x0040A124}
_CONTENT_SEQUENCE = 0x0040A730
_CREATOR = object()  # a private creator: :meth:`Deidentifier._clean` decides it after its block
_AMBIGUOUS = object()  # a VR such as "US or SS": the data set decides it, element by element

#: Words a cleaned descriptor may keep: procedure, anatomy and technique, never a name or number.
SAFE_WORDS = frozenset(
    [
        "ct",
        "mr",
        "mri",
        "cr",
        "dx",
        "us",
        "mg",
        "xr",
        "pet",
        "nm",
        "spect",
        "sc",
        "sr",
        "ot",
        "cta",
        "mra",
        "mrv",
        "dwi",
        "dti",
        "adc",
        "swi",
        "flair",
        "stir",
        "tse",
        "fse",
        "gre",
        "epi",
        "bold",
        "perfusion",
        "diffusion",
        "localizer",
        "scout",
        "topogram",
        "survey",
        "axial",
        "coronal",
        "sagittal",
        "oblique",
        "ax",
        "cor",
        "sag",
        "t1",
        "t2",
        "pd",
        "pdw",
        "mprage",
        "vibe",
        "dixon",
        "fat",
        "sat",
        "water",
        "in",
        "out",
        "phase",
        "post",
        "pre",
        "contrast",
        "with",
        "without",
        "w",
        "wo",
        "and",
        "or",
        "of",
        "the",
        "to",
        "iv",
        "oral",
        "arterial",
        "venous",
        "portal",
        "delayed",
        "late",
        "early",
        "dynamic",
        "routine",
        "standard",
        "protocol",
        "head",
        "brain",
        "skull",
        "face",
        "facial",
        "orbit",
        "orbits",
        "sinus",
        "sinuses",
        "neck",
        "cervical",
        "thoracic",
        "lumbar",
        "sacral",
        "spine",
        "chest",
        "thorax",
        "lung",
        "lungs",
        "cardiac",
        "heart",
        "coronary",
        "aorta",
        "abdomen",
        "abdominal",
        "pelvis",
        "pelvic",
        "liver",
        "kidney",
        "kidneys",
        "renal",
        "pancreas",
        "spleen",
        "bladder",
        "prostate",
        "breast",
        "breasts",
        "bilateral",
        "left",
        "right",
        "lt",
        "rt",
        "upper",
        "lower",
        "extremity",
        "arm",
        "leg",
        "hip",
        "hips",
        "knee",
        "knees",
        "ankle",
        "foot",
        "feet",
        "shoulder",
        "elbow",
        "wrist",
        "hand",
        "hands",
        "femur",
        "tibia",
        "humerus",
        "whole",
        "body",
        "bone",
        "soft",
        "tissue",
        "lung",
        "window",
        "mediastinum",
        "recon",
        "reconstruction",
        "mip",
        "mpr",
        "3d",
        "2d",
        "thin",
        "thick",
        "slice",
        "slices",
        "series",
        "image",
        "images",
        "view",
        "views",
        "ap",
        "pa",
        "lateral",
        "lat",
        "decubitus",
        "supine",
        "prone",
        "erect",
        "screening",
        "diagnostic",
        "mammogram",
        "mammography",
        "tomosynthesis",
        "cc",
        "mlo",
        "ultrasound",
        "doppler",
        "duplex",
        "echo",
        "obstetric",
        "fetal",
        "thyroid",
        "carotid",
        "venous",
        "renal",
        "study",
        "exam",
        "examination",
        "scan",
        "helical",
        "spiral",
        "low",
        "dose",
        "high",
        "resolution",
        "hr",
        "angio",
        "angiography",
        "urography",
        "enterography",
        "colonography",
        "trauma",
        "stroke",
        "pulmonary",
        "embolism",
        "pe",
        "abscess",
        "mass",
        "follow",
        "up",
        "followup",
        "fu",
        "limited",
        "complete",
        "report",
        "dose",
        "sheet",
        "requisition",
        "scanned",
        "document",
        "page",
        "summary",
        "findings",
        "impression",
    ]
)

_DATE_PATTERNS = re.compile(
    r"\b\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}\b|\b(?:19|20)\d{6}\b"
    r"|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{2,4}\b"
    r"|\b\d{1,2}\.?\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{2,4}\b",
    re.IGNORECASE,
)
_PATTERNS = re.compile(
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail
    r"|\bhttps?://\S+|\bwww\.\S+"  # URL
    r"|\b\d{1,3}(?:\.\d{1,3}){3}\b"  # IP address
    r"|\(?\+?\d[\d ()./-]{5,}\d"  # phone numbers, SSNs, long digit runs
    r"|\b[A-Za-z]*\d[A-Za-z0-9-]{3,}\b",  # MRN-like: a token of 4+ characters with a digit
)
_TOKEN = re.compile(r"\w+")
#: A word of an inspected value: letters only or digits only (split at ``_`` and digit runs).
_WORD = re.compile(r"[^\W\d_]+|\d+")
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True)
class Change:
    """One element changed: where (tag path), what (action), and why (rule). No values."""

    path: str
    action: str
    rule: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "action": self.action, "rule": self.rule}


@dataclass
class _Ctx:
    sop_class: str
    shift: int
    identities: set[str]
    tokens: set[str]
    birth_over_89: bool
    changes: list[Change] = field(default_factory=list)
    encoding: str | None = "latin-1"  # codec of the data set being cleaned (see _encoding)

    def log(self, path: str, action: str, rule: str) -> None:
        self.changes.append(Change(path, action, rule))

    def holds_identifier(self, text: str) -> bool:
        """Whether lower-case ``text`` holds one of the patient's identifiers or tokens."""
        long = self.__dict__.get("_long")
        if long is None:  # the identities are complete once the context is made: listed once
            long = self.__dict__["_long"] = tuple(v for v in self.identities if len(v) >= 4)
        words = _TOKEN.findall(text)
        return (
            any(v in text for v in long)
            or not self.tokens.isdisjoint(words)
            or not self.tokens.isdisjoint(_WORD.findall(text))  # ``OB_GENERAL`` holds ``ob``
        )


def _segment(ds: Dataset, tag: int) -> str:
    """The :func:`hipaa_lab.phi.tag_path` segment of ``tag`` in ``ds``, for the provenance log in DST.

    A private creator is the input's own text, so it is named only when it is one of
    :data:`SAFE_PRIVATE`'s; any other private element is written as its tag, ``(0009,1010)``.
    """
    group = tag >> 16
    if not group & 1:
        return _public_segment(tag)
    if tag & 0xFF00:
        creator = ds.get((group << 16) | ((tag & 0xFFFF) >> 8))
        if creator is None or str(creator.value) not in _SAFE_CREATORS:
            return f"({group:04X},{tag & 0xFFFF:04X})"
    return tag_path(ds, ds.get_item(tag))


@functools.lru_cache(maxsize=8192)
def _public_segment(tag: int) -> str:
    """A public tag's path segment (its keyword, else ``(gggg,eeee)``), as :func:`tag_path` writes it."""
    return keyword_for_tag(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


@functools.lru_cache(maxsize=4096)  # a series repeats its dates in every file
def _date_formats(value: str) -> frozenset[str]:
    try:
        d = dt.date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except (ValueError, IndexError):
        return frozenset()
    return frozenset(
        {
            d.strftime(f)
            for f in (
                "%Y%m%d",
                "%Y-%m-%d",
                "%m/%d/%Y",
                "%d.%m.%Y",
                "%d/%m/%Y",
                "%Y/%m/%d",
                "%B %d, %Y",
                "%d %B %Y",
                "%b %d, %Y",
                "%m-%d-%Y",
            )
        }
        | {f"{d.month}/{d.day}/{d.year}", f"{d.day}.{d.month}.{d.year}"}
    )


def clean_text(
    text: str,
    identities: set[str] | frozenset[str] = frozenset(),
    tokens: set[str] | frozenset[str] = frozenset(),
) -> str:
    """Free text with dates, numbers, contacts and the patient's own identifiers taken out.

    Examples
    --------
    >>> clean_text("Seen 03/04/2021 by Dr Smith, call 555-0101", tokens={"smith"})
    'Seen *** by Dr ***, call ***'
    """
    out = _DATE_PATTERNS.sub("***", text)
    out = _PATTERNS.sub("***", out)
    low = out.lower()
    for value in sorted(identities, key=len, reverse=True):
        if len(value) >= 4 and value in low:
            out = re.sub(re.escape(value), "***", out, flags=re.IGNORECASE)
            low = out.lower()
    return _TOKEN.sub(lambda m: _masked_word(m.group(0), tokens), out)


def _masked_word(word: str, tokens: set[str] | frozenset[str]) -> str:
    """``***`` for a word that is one of ``tokens``, else the word with each of its parts split at
    underscores and digits (as the scanner splits them) that is one masked: ``OB_GENERAL`` holds
    the name ``OB``."""
    if word.lower() in tokens:
        return "***"
    return _WORD.sub(lambda m: "***" if m.group(0).lower() in tokens else m.group(0), word)


def clean_descriptor(text: str, tokens: set[str] | frozenset[str] = frozenset()) -> str:
    """A descriptor reduced to words of :data:`SAFE_WORDS` that are not the patient's.

    Examples
    --------
    >>> clean_descriptor("CT CHEST W CONTRAST for John Smith MRN 12345")
    'CT CHEST W CONTRAST'
    """
    words = [w for w in _TOKEN.findall(text) if w.lower() in SAFE_WORDS and w.lower() not in tokens]
    return " ".join(words)


class Deidentifier:
    """Cleans datasets in place under one key, profile and set of options.

    Parameters
    ----------
    key
        The secret behind pseudonyms, UIDs and date shifts (see :func:`hipaa_lab.pseudonyms.load_key`).
    options
        :class:`~hipaa_lab.annex_e.Option` values or their names (``"retain-uids"``...).
    profile
        ``"basic"`` or ``"safe-harbor"``.

    Raises
    ------
    ValueError
        For an unknown option or profile, or options that contradict each other or the profile.
    """

    def __init__(
        self,
        key: bytes,
        options: Iterable[Option | str] = (),
        profile: str | Profile = Profile.BASIC,
    ) -> None:
        self.options = annex_e._parse_options(options)
        try:
            self.profile = Profile(profile)
        except ValueError:
            raise ValueError(f"unknown profile {profile!r}; choose basic or safe-harbor") from None
        if self.profile is Profile.SAFE_HARBOR and self.options & {
            Option.RETAIN_LONG_FULL_DATES,
            Option.RETAIN_LONG_MODIFIED_DATES,
            Option.RETAIN_UIDS,
        }:
            raise ValueError(
                "the safe-harbor profile keeps only years of dates and no original UID: "
                "drop retain-long-*-dates and retain-uids, or use --profile basic"
            )
        self.table = annex_e.load_table()
        self.pseudo = Pseudonymizer(key)
        self._uid_cache: dict[str, str] = {}
        self._decided: dict[tuple[int, str], tuple[str, str]] = {}
        # per (tag, VR as read): what _collect and _clean do with an element
        self._collect_plans: dict[tuple[int, str | None], str] = {}
        self._clean_plans: dict[tuple[int, str | None], tuple[str, str, str] | object] = {}
        self._marks: dict[tuple[bool, bool], tuple[RawDataElement, ...]] = {}
        effective = set(self.options)
        if self.profile is Profile.SAFE_HARBOR:
            effective.add(Option.RETAIN_PATIENT_CHARACTERISTICS)
        self._effective = frozenset(effective)
        self.actions = self.table.actions(effective)
        if self.profile is Profile.SAFE_HARBOR:
            for tag, rule in self.table.by_tag.items():
                if (
                    rule.options.get("retain_longitudinal_full_dates") == "K"
                    and tag in DicomDictionary
                    and dictionary_VR(tag) in ("DA", "DT")
                ):
                    self.actions[tag] = "Y"
            self.actions[0x00100030] = "Y"  # Patient's Birth Date: the year, unless over 89
            self.actions[0x00101040] = "ZIP"  # Patient's Address: the 3-digit ZIP
        self.overlay = {el: resolve(rule, effective) for el, rule in self.table.overlay.items()}
        self.curve = resolve(self.table.curve, effective)
        self.private = resolve(self.table.private, effective)
        self.items = {
            code: resolve(rule, effective) for code, rule in self.table.content_items.items()
        }
        self._dates = (
            "K"
            if Option.RETAIN_LONG_FULL_DATES in self.options
            else "C"
            if Option.RETAIN_LONG_MODIFIED_DATES in self.options
            else "Y"
            if self.profile is Profile.SAFE_HARBOR
            else "X"
        )

    # ------------------------------------------------------------------ marking
    def method_text(self) -> list[str]:
        """DeidentificationMethod values (LO, 64 characters each): profile, edition, options."""
        head = f"hipaa-lab 0.1 DICOM PS3.15 {EDITION} Basic Profile"
        values = [head] + (
            ["HIPAA Safe Harbor 45 CFR 164.514(b)(2)"]
            if self.profile is Profile.SAFE_HARBOR
            else []
        )
        return values + sorted(o.code[1][:64] for o in self.options)

    def _mark(self, ds: Dataset, pixel_cleaned: bool) -> None:
        """The de-identification attributes; in a data set read from a little-endian file, as raw
        elements encoded once per encoding (written as they are, read back when asked for)."""
        implicit, little = ds.original_encoding
        if implicit is None or not little:
            self._mark_elements(ds, pixel_cleaned)
            return
        key = (implicit, pixel_cleaned)
        marks = self._marks.get(key)
        if marks is None:
            marks = self._marks[key] = self._encode_marks(implicit, pixel_cleaned)
        for raw in marks:
            ds[raw.tag] = raw

    def _encode_marks(self, implicit: bool, pixel_cleaned: bool) -> tuple[RawDataElement, ...]:
        scratch = Dataset()
        self._mark_elements(scratch, pixel_cleaned)
        marks = []
        for tag in sorted(scratch.keys()):
            elem = scratch[tag]
            fp = DicomBytesIO()
            fp.is_implicit_VR, fp.is_little_endian = implicit, True
            write_data_element(fp, elem, [default_encoding])
            data = fp.getvalue()
            head = 8 if implicit or elem.VR not in EXPLICIT_VR_LENGTH_32 else 12
            value = data[head:]
            marks.append(RawDataElement(tag, elem.VR, len(value), value, 0, implicit, True))
        return tuple(marks)

    def _mark_elements(self, ds: Dataset, pixel_cleaned: bool) -> None:
        codes = [
            BASIC_CODE,
            *sorted(o.code for o in self.options if o is not Option.CLEAN_PIXEL_DATA),
        ]
        if pixel_cleaned:
            codes.append(Option.CLEAN_PIXEL_DATA.code)
        items = []
        for value, meaning in codes:
            item = Dataset()
            item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
            items.append(item)
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = self.method_text()
        ds.DeidentificationMethodCodeSequence = items
        ds.LongitudinalTemporalInformationModified = {
            "K": "UNMODIFIED",
            "C": "MODIFIED",
            "Y": "MODIFIED",
            "X": "REMOVED",
        }[self._dates]

    # ------------------------------------------------------------------ one dataset
    def _context(self, ds: Dataset) -> _Ctx:
        identities: set[str] = set()
        tokens: set[str] = set()
        self._collect(ds, identities, tokens, 0)
        encoding = _encoding(ds, "latin-1")

        def text(tag: int) -> str:  # str(ds.get(tag) or ""), from the raw bytes when they are plain
            raw = cast("DataElement | RawDataElement | None", ds.get_item(tag))  # pydicom: as read
            if raw is None:
                return ""
            values: list[str] | None = None
            if raw.is_raw and isinstance(raw.value, bytes) and not raw.value[:1].isspace():
                vr = raw.VR or (dictionary_VR(tag) if tag in DicomDictionary else "UN")
                values = _raw_strings(raw, vr, encoding) if vr != "UN" else None
            if values is None or len(values) > 1:
                return str(ds[tag].value or "")
            return values[0] if values else ""

        pid = text(0x00100020)
        issuer = text(0x00100021)
        over = False
        age = text(0x00101010)
        if age.endswith("Y") and age[:-1].isdigit() and int(age[:-1]) > 89:
            over = True
        birth = text(0x00100030)[:4]
        study = (text(0x00080020) or text(0x00080023))[:4]
        if (
            birth.isdigit()
            and (int(study) if study.isdigit() else dt.date.today().year) - int(birth) > 89
        ):
            over = True
        return _Ctx(text(0x00080016), self.pseudo.date_shift(pid, issuer), identities, tokens, over)

    def _collect(
        self,
        ds: Dataset,
        identities: set[str],
        tokens: set[str],
        depth: int,
        encoding: str | None = "latin-1",
    ) -> None:
        encoding = _encoding(ds, encoding)
        plans = self._collect_plans
        for key, raw in list(ds._dict.items()):
            tag = int(key)  # a plain int: BaseTag compares in Python on every dict lookup
            vr = plans.get((tag, raw.VR))
            if vr is None:
                if len(plans) > 100_000:
                    plans.clear()
                vr = plans[(tag, raw.VR)] = self._collect_plan(tag, raw.VR)
            if not vr:
                continue
            if vr == "SQ":
                if depth < 32:
                    try:
                        for item in ds[key].value or ():
                            self._collect(item, identities, tokens, depth + 1, encoding)
                    except Exception:  # noqa: S110  an unreadable sequence: _clean removes it
                        pass
                continue
            value = _raw_strings(raw, vr, encoding)
            if value is None:
                try:
                    value = ds[key].value
                except Exception:  # noqa: S112  an unreadable value: _clean removes it
                    continue
            for v in (
                value
                if isinstance(value, (list, tuple, Sequence))
                or type(value).__name__ == "MultiValue"
                else [value]
            ):
                text = str(v).strip() if v is not None else ""
                if not text:
                    continue
                if vr in ("DA", "DT"):
                    identities |= _date_formats(text[:8])
                    continue
                identities.add(text.lower())
                if vr == "PN":
                    parts = re.split(r"[\^=\s,.]+", text)
                    identities.add(" ".join(p for p in parts if p).lower())
                    # every part of a name, even one that is also a protocol word ("Dixon"):
                    # a descriptor loses a word before a text keeps a name
                    # (a one-character given name is common in Chinese and Japanese)
                    tokens |= {p.lower() for p in parts if len(p) >= 2 or not p.isascii()}
                elif _DIGIT.search(text):
                    tokens |= {
                        t.lower() for t in _TOKEN.findall(text) if len(t) >= 3 and _DIGIT.search(t)
                    }

    def _collect_plan(self, tag: int, raw_vr: str | None) -> str:
        """What :meth:`_collect` does with an element (decided once per tag and VR as read):
        ``"SQ"`` (walk its items), its VR (collect its values), or ``""`` (nothing to collect)."""
        vr = raw_vr or (dictionary_VR(tag) if tag in DicomDictionary else "UN")
        if vr == "SQ":
            return vr
        action = self.actions.get(tag, "X" if tag >> 16 & 1 else "K")
        if (action == "K" and vr != "PN") or vr not in _COLLECTED_VRS:
            return ""
        return vr

    def deidentify(self, ds: Dataset, *, pixel_cleaned: bool = False) -> list[Change]:
        """Clean ``ds`` in place (header only; see :func:`deidentify_file` for pixels); return the changes."""
        ctx = self._context(ds)
        self._clean(ds, "", ctx, 0, None)
        if "ResponsiblePersonRole" in ds and not ds.get("ResponsiblePerson"):
            del ds.ResponsiblePersonRole  # Type 1C: present only with a Responsible Person
            ctx.log(
                "ResponsiblePersonRole",
                "X",
                "Type 1C: required only if Responsible Person is present",
            )
        _cap_age(ds, ctx, self)
        self._mark(ds, pixel_cleaned)
        return ctx.changes

    def _type(self, tag: int, ctx: _Ctx) -> int | None:
        for prefix, types in _TYPES_BY_CLASS.items():
            if ctx.sop_class.startswith(prefix) and tag in types:
                return types[tag]
        return ATTRIBUTE_TYPES.get(tag)

    def _clean_plan(self, tag: int, raw_vr: str | None) -> tuple[str, str, str] | object:
        """What :meth:`_clean` does with an element outside the item-value rules, decided once
        per tag and VR as read: (VR, action, rule), or :data:`_CREATOR` or :data:`_AMBIGUOUS`."""
        if tag >> 16 & 1 and 0x10 <= (tag & 0xFFFF) <= 0xFF:
            return _CREATOR
        vr = raw_vr or (dictionary_VR(tag) if tag in DicomDictionary else "UN")
        if vr in ("US or SS", "OB or OW", "US or OW", "US or SS or OW"):
            return _AMBIGUOUS
        return (vr, *self._decide(tag, vr))

    def _decide(self, tag: int, vr: str) -> tuple[str, str]:
        """(action, rule) for one element outside the item-value rules (decided once per tag and VR)."""
        decided = self._decided.get((tag, vr))
        if decided is None:
            if len(self._decided) > 100_000:
                self._decided.clear()
            decided = self._decided[(tag, vr)] = self._decide_anew(tag, vr)
        return decided

    def _decide_anew(self, tag: int, vr: str) -> tuple[str, str]:
        group, el = tag >> 16, tag & 0xFFFF
        if el == 0:
            return "X", "group length"
        if group & 1:
            return ("P" if self.private == "C" else "X"), "E.1-1 private attributes"
        if group < 0x0008:
            return "X", "command or file meta group in the data set"
        if 0x5000 <= group <= 0x501E:
            return self.curve, "E.1-1 50xxxxxx Curve Data"
        if 0x6000 <= group <= 0x601E:
            rule = self.table.overlay.get(el)
            return (self.overlay[el], rule.label()) if rule else ("K", "")
        action = self.actions.get(tag)
        if action is not None:
            return action, self.table.by_tag[
                tag
            ].label() if tag in self.table.by_tag else "Safe Harbor"
        known = tag in DicomDictionary
        if vr == "SQ":
            return "K", ""
        if vr == "UI":
            return "U", "VR rule UI"
        if not known:
            return "X", f"VR rule {vr}: not in the data dictionary"
        if vr == "PN":
            return "X", "VR rule PN"
        if vr in _DATE_VRS:
            return ("X" if vr == "TM" and self._dates == "Y" else self._dates), f"VR rule {vr}"
        if vr in _FREE_TEXT:
            if group == 0x0010:  # the Patient module: whatever it holds is about this patient
                return "X", f"VR rule {vr}: patient text outside Table E.1-1"
            if tag in _CODE_TAGS:  # a code's digits are not an identifier
                return "I", f"VR rule {vr}: code"
            return "T", f"VR rule {vr}: text"
        if vr in _TEXT_VRS:
            return "I", f"VR rule {vr}"
        return "K", ""

    def _clean(
        self, ds: Dataset, prefix: str, ctx: _Ctx, depth: int, item_action: str | None
    ) -> None:
        drop_groups: set[int] = set()
        kept_creators: set[tuple[int, int]] = set()
        outer = ctx.encoding
        ctx.encoding = _encoding(ds, outer)
        plans = self._clean_plans
        for key, raw in list(ds._dict.items()):
            # a plain int for this module's tables (BaseTag compares in Python on every dict
            # lookup) and the data set's own key for the data set (found by identity)
            tag = int(key)
            plan = plans.get((tag, raw.VR))
            if plan is None:
                if len(plans) > 100_000:
                    plans.clear()
                plan = plans[(tag, raw.VR)] = self._clean_plan(tag, raw.VR)
            if plan is _CREATOR:
                continue  # private creators: decided after their blocks
            if plan is _AMBIGUOUS:  # "US or SS"...: pydicom resolves it from the data set
                vr = ds[key].VR
                action, rule = self._decide(tag, vr)
            else:
                vr, action, rule = cast("tuple[str, str, str]", plan)
            if item_action is not None and tag in _ITEM_VALUES:
                action, rule = item_action, "E.3.4-1 content item"
            if action == "K" and vr != "SQ":
                if vr in _MAX_LEN and not _plausible(raw.value, vr):
                    del ds[key]  # damaged length: the value swallowed other elements
                    ctx.log(
                        prefix + _segment(ds, tag),
                        "X",
                        f"value not valid for VR {vr} (damaged file?)",
                    )
                continue
            path = prefix + _segment(ds, tag)
            try:
                self._apply(ds, key, vr, action, rule, path, ctx, depth, drop_groups, kept_creators)
            except Exception as exc:  # an unreadable value: remove it
                if key in ds:
                    del ds[key]
                ctx.log(path, "X", f"{rule}; value unreadable ({type(exc).__name__})")
        for tag in list(ds.keys()):
            group = tag >> 16
            if group in drop_groups:
                del ds[tag]
            elif (
                group & 1
                and 0x10 <= (tag & 0xFFFF) <= 0xFF
                and (group, tag & 0xFF) not in kept_creators
            ):
                ctx.log(
                    prefix + f"({group:04X},{tag & 0xFFFF:04X})",
                    "X",
                    "E.1-1 private attributes (creator)",
                )
                del ds[tag]
        ctx.encoding = outer

    def _apply(
        self,
        ds: Dataset,
        tag: int,
        vr: str,
        action: str,
        rule: str,
        path: str,
        ctx: _Ctx,
        depth: int,
        drop_groups: set[int],
        kept_creators: set[tuple[int, int]],
    ) -> None:
        if action == "P":  # Retain Safe Private
            creator = ds.get((tag >> 16 << 16) | ((tag & 0xFFFF) >> 8))
            key = (str(creator.value) if creator is not None else "", tag >> 16, tag & 0xFF)
            if key in SAFE_PRIVATE and vr in _NUMERIC:
                kept_creators.add((tag >> 16, (tag & 0xFFFF) >> 8))
                return
            action = "X"
        if "/" in action:
            action = resolve_by_type(action, self._type(int(tag), ctx))
            rule += f" (by Type: {action})"
        if action != "K" and 0x6000 <= tag >> 16 <= 0x601E and tag & 0xFFFF == 0x3000:
            # a bitmap cannot be cleaned, emptied or replaced by a dummy and still decode against
            # its Overlay Rows and Columns: the overlay goes whole (Clean Graphics too)
            action = "X"
            drop_groups.add(tag >> 16)
            rule += "; the whole overlay group"
        if action == "X":
            del ds[tag]
            ctx.log(path, "X", rule)
            return
        raw = ds.get_item(tag)
        if (
            raw.is_raw
            and vr != "SQ"
            and raw.VR != "UN"
            and self._apply_raw(ds, raw, vr, action, rule, path, ctx)
        ):
            return
        elem = ds[tag]
        if vr == "SQ":
            if action == "Z":
                elem.value = Sequence()
                ctx.log(path, "Z", rule)
                return
            self._sequence(elem, tag, path, ctx, depth)
            return
        if tag in (0x00100020, 0x00080050) and action in ("Z", "D", "C"):  # keyed pseudonyms
            if elem.value:
                if tag == 0x00080050:
                    elem.value = self.pseudo.accession(str(elem.value))
                else:
                    elem.value = self.pseudo.patient_id(
                        str(elem.value), str(ds.get("IssuerOfPatientID", "") or "")
                    )
                ctx.log(path, "D", rule + "; keyed pseudonym")
            return
        if action == "U" or (vr == "UI" and action in ("C", "D")):
            self._uid(elem, path, ctx, rule)
            return
        if action == "Z":
            elem.value = elem.empty_value
        elif action == "D":
            elem.value = _DUMMY.get(vr, "ANONYMIZED")
        elif action == "C":
            self._clean_value(elem, vr, ctx, rule)
        elif action == "Y":
            self._year(elem, vr, ctx)
        elif action == "ZIP":
            self._zip(elem)
        elif action == "I":
            text = str(elem.value or "").lower()
            if ctx.holds_identifier(text):
                del ds[tag]
                ctx.log(path, "X", rule + ": holds an identifier of this patient")
            return
        elif action == "T":
            old = elem.value
            elem.value = _map_text(old, lambda s: clean_text(s, ctx.identities, ctx.tokens))
            if elem.value == old:
                return
        ctx.log(path, action, rule)

    def _apply_raw(
        self,
        ds: Dataset,
        raw: Any,  # a RawDataElement; pydicom's get_item types it DataElement | RawDataElement
        vr: str,
        action: str,
        rule: str,
        path: str,
        ctx: _Ctx,
    ) -> bool:
        """The common actions on an element's raw bytes, so that a value that stays is never decoded
        and encoded again; ``False`` when pydicom must convert the element first."""
        values = _raw_strings(raw, vr, ctx.encoding)
        if values is None:
            return False
        tag = int(raw.tag)
        if tag in (0x00100020, 0x00080050) and action in ("Z", "D", "C"):  # keyed pseudonyms
            if len(values) > 1:
                return False
            if values and values[0]:
                if tag == 0x00080050:
                    new = self.pseudo.accession(values[0])
                else:
                    new = self.pseudo.patient_id(
                        values[0], str(ds.get("IssuerOfPatientID", "") or "")
                    )
                ds[raw.tag] = _raw_with(raw, vr, [new], ctx.encoding)
                ctx.log(path, "D", rule + "; keyed pseudonym")
            return True
        if action == "U" or (vr == "UI" and action in ("C", "D")):
            if (
                Option.RETAIN_UIDS in self.options
                and self.profile is Profile.BASIC
                and rule.startswith("VR rule")
            ):
                return True
            uids = [self._uid_one(v) for v in values]
            if uids != values:
                ds[raw.tag] = _raw_with(raw, vr, uids, ctx.encoding)
                ctx.log(path, "U", rule)
            return True
        if action == "Z":
            ds[raw.tag] = raw._replace(value=b"", length=0)
        elif action == "D":
            dummy = _DUMMY.get(vr, "ANONYMIZED")
            if not isinstance(dummy, str):
                return False
            ds[raw.tag] = _raw_with(raw, vr, [dummy], ctx.encoding)
        elif action == "I":
            text = "\\".join(values).lower()
            if ctx.holds_identifier(text):
                del ds[raw.tag]
                ctx.log(path, "X", rule + ": holds an identifier of this patient")
            elif vr in _MAX_LEN and not _plausible(raw.value, vr):
                del ds[raw.tag]  # damaged length: the value swallowed other elements
                ctx.log(path, "X", f"value not valid for VR {vr} (damaged file?)")
            return True
        else:
            return False
        ctx.log(path, action, rule)
        return True

    def _uid_one(self, v: str) -> str:
        """The replacement of one UID (registered UIDs such as SOP classes stay), cached per batch."""
        new = self._uid_cache.get(v)
        if new is None:
            if len(self._uid_cache) > 100_000:
                self._uid_cache.clear()
            u = v.strip("\0 ")
            new = u if not u or (UID(u).is_valid and UID(u).name != u) else self.pseudo.uid(u)
            self._uid_cache[v] = new
        return new

    def _sequence(self, elem: DataElement, tag: int, path: str, ctx: _Ctx, depth: int) -> None:
        if depth >= 64:
            raise ValueError("sequences nested deeper than 64")
        kept = []
        for i, item in enumerate(elem.value or ()):
            item_action = None
            if tag == _CONTENT_SEQUENCE:
                concept = item.get("ConceptNameCodeSequence")
                if concept:
                    code = concept[0]
                    key = (
                        str(code.get("CodeValue", "")),
                        str(code.get("CodingSchemeDesignator", "")),
                    )
                    item_action = self.items.get(key)
                if item_action == "X":
                    ctx.log(f"{path}[{i}]", "X", "E.3.4-1 content item")
                    continue
                if item_action is not None and "/" in item_action:
                    # the item stays, so its value is required (Type 1C by its Value Type): D, not X
                    item_action = resolve_by_type(item_action, 1)
            self._clean(item, f"{path}[{i}].", ctx, depth + 1, item_action)
            kept.append(item)
        if len(kept) != len(elem.value or ()):
            elem.value = kept

    def _uid(self, elem: DataElement, path: str, ctx: _Ctx, rule: str) -> None:
        if (
            Option.RETAIN_UIDS in self.options
            and self.profile is Profile.BASIC
            and rule.startswith("VR rule")
        ):
            return

        def one(v: object) -> str:
            v = str(v).strip("\0 ")
            if not v or (UID(v).is_valid and UID(v).name != v):  # registered: a SOP class, a syntax
                return v
            return self.pseudo.uid(v)

        old = elem.value
        elem.value = _map_text(old, one)
        if elem.value != old:
            ctx.log(path, "U", rule)

    def _clean_value(self, elem: DataElement, vr: str, ctx: _Ctx, rule: str) -> None:
        if vr in ("DA", "DT"):

            def shift(v: object) -> str:
                v = str(v)
                new = Pseudonymizer.shift_date(v[:8], ctx.shift)
                return "" if new is None else new + v[8:]

            elem.value = _map_text(elem.value, shift)
        elif vr == "TM":
            pass  # a whole-day shift leaves times of day as they were
        elif vr in _TEXT_VRS - {"PN", "AE"}:
            elem.value = _map_text(elem.value, lambda s: clean_descriptor(s, ctx.tokens))
        elif vr in ("PN", "AE"):
            elem.value = "ANONYMIZED"
        else:
            elem.value = _DUMMY.get(vr, elem.empty_value)

    def _year(self, elem: DataElement, vr: str, ctx: _Ctx) -> None:
        if elem.tag == 0x00100030 and ctx.birth_over_89:
            elem.value = elem.empty_value
            return

        def year(v: object) -> str:
            v = str(v).strip()
            if len(v) < 4 or not v[:4].isdigit():
                return ""
            return v[:4] if vr == "DT" else v[:4] + "0101"

        elem.value = _map_text(elem.value, year)

    def _zip(self, elem: DataElement) -> None:
        zips = re.findall(r"\b(\d{5})(?:-\d{4})?\b", str(elem.value or ""))
        z3 = zips[-1][:3] if zips else ""
        elem.value = ("000" if z3 in RESTRICTED_ZIP3 else z3) if z3 else elem.empty_value


_MAX_LEN = {
    "AE": 16,
    "AS": 4,
    "CS": 16,
    "DA": 18,
    "DS": 16,
    "DT": 54,
    "IS": 12,
    "LO": 64,
    "SH": 16,
    "TM": 28,
    "UI": 64,
    "PN": 324,
    "ST": 1024,
    "LT": 10240,
}
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")


def _plausible(value: Any, vr: str) -> bool:  # Any: a pydicom element value
    """Whether a kept string value fits its VR: no control characters, no value over its maximum."""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        value = "\\".join(str(v) for v in value)
    if not isinstance(value, bytes):
        value = str(value).encode("utf-8", "replace") if value is not None else b""
    value = value.rstrip(b"\0 ")
    if _CONTROL.search(value):
        return False
    limit = _MAX_LEN[vr]
    return all(len(v) <= limit for v in value.split(b"\\"))


def _encoding(ds: Dataset, parent: str | None) -> str | None:
    """The Python codec of ``ds``'s text when it is one-byte Latin-1 or UTF-8 (else ``None``).

    Values in those character sets can be read straight from the raw bytes, as pydicom would
    decode them; for any other (ISO 2022 code extensions, ...) pydicom decodes the element.
    """
    raw = cast("DataElement | RawDataElement | None", ds.get_item(0x00080005))  # as read
    if raw is None:
        return parent
    value: Any = raw.value
    if isinstance(value, bytes):
        value = value.decode("latin-1").split("\\")
    names = [str(v).strip(" \0") for v in ([value] if isinstance(value, str) else value or [""])]
    if len(names) != 1:
        return None
    return {
        "": "latin-1",
        "ISO_IR 6": "latin-1",
        "ISO_IR 100": "latin-1",
        "ISO_IR 192": "utf-8",
    }.get(names[0])


def _raw_strings(raw: Any, vr: str, encoding: str | None) -> list[str] | None:
    """The values of a raw (not yet converted) string element, or ``None`` when pydicom must decode it."""
    if not raw.is_raw or encoding is None or raw.is_buffered:
        return None
    value = raw.value
    if not value:
        return []
    text = value.decode(encoding, "replace")
    return (
        [text.strip(" \0")] if vr in _SINGLE_VALUED else [v.strip(" \0") for v in text.split("\\")]
    )


def _raw_with(
    raw: RawDataElement, vr: str, values: list[str], encoding: str | None
) -> RawDataElement:
    """``raw`` with new string values, encoded and padded to even length as DICOM wants."""
    assert encoding is not None  # _raw_strings gave the values, so the encoding is known
    data = "\\".join(values).encode(encoding)
    if len(data) % 2:
        data += b"\0" if vr == "UI" else b" "
    return raw._replace(value=data, length=len(data))


def _map_text(value: Any, fn: Callable[[str], str]) -> Any:  # Any: pydicom's element values
    if value is None or value == "":
        return value
    if isinstance(value, (str, bytes, int, float)) and not isinstance(value, bytes):
        return fn(str(value) if not isinstance(value, str) else value)
    if isinstance(value, bytes):
        return fn(value.decode("latin-1"))
    return [fn(str(v)) for v in value]


#: The transfer syntaxes whose data sets :func:`write_dicom` writes itself (uncompressed, little
#: endian, not deflated); any other goes through :func:`pydicom.filewriter.dcmwrite` whole.
_PLAIN_SYNTAXES = frozenset({ExplicitVRLittleEndian, ImplicitVRLittleEndian})
_GROUP_ELEMENT_VR = struct.Struct("<HH2sH")
_GROUP_ELEMENT_VR_32 = struct.Struct("<HH2sHL")  # the reserved 2 bytes, then a 4-byte length
_GROUP_ELEMENT_32 = struct.Struct("<HHL")


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
    write_file_meta_info(fp, meta, enforce_standard=True)
    if (implicit, True) != ds.original_encoding or (
        ds.original_character_set != ds._character_set
    ):  # pydicom converts every element to write it in the new encoding
        write_dataset(fp, ds)
        return
    if "PixelData" in ds and not ds.get_item(0x7FE00010).is_raw:
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


def _cap_age(ds: Dataset, ctx: _Ctx, deid: Deidentifier) -> None:
    age = str(ds.get("PatientAge", "") or "")
    if (
        deid.profile is Profile.SAFE_HARBOR
        and age.endswith("Y")
        and age[:-1].isdigit()
        and int(age[:-1]) > 89
    ):
        ds.PatientAge = "090Y"
        ctx.log("PatientAge", "C", "Safe Harbor: ages over 89 become 90 or more")


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


_KNOWN = (
    0x00080016,
    0x00080018,
    0x00080060,
    0x0020000D,
    0x0020000E,
    0x00100010,
    0x00100020,
    0x00080020,
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


def _image_size(ds: Dataset) -> int:
    """The bytes native pixel data of ``ds`` needs (odd-length padding aside).

    YBR_FULL_422 holds two samples per pixel (Y for each, Cb and Cr once per pair: PS3.3
    C.7.6.3.1.2), so Rows x Columns x 2 values, not x 3.
    """
    values: dict[str, int] = {}
    for keyword, default in (
        ("Rows", None),
        ("Columns", None),
        ("BitsAllocated", None),
        ("SamplesPerPixel", 1),
        ("NumberOfFrames", 1),
    ):
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
    uid = ds.get_item(0x00080018)
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
        elem = ds.get_item(0x7FE00010)
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
    :func:`hipaa_lab.pixels.needs_cleaning`, with Clean Pixel Data when it is among ``options``."""
    return _needs_cleaning(ds, Option.CLEAN_PIXEL_DATA in annex_e._parse_options(options))


def _output_name(ds: Dataset, deid: Deidentifier) -> str:
    def part(keyword: str) -> str:
        uid = str(ds.get(keyword, "") or "unknown")
        return uid if uid.startswith("2.25.") else "x" + deid.pseudo.digest(uid)

    return f"{part('StudyInstanceUID')}/{part('SeriesInstanceUID')}/{part('SOPInstanceUID')}.dcm"


_TEMP_NAMES = itertools.count()


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
    import filecmp

    return filecmp.cmp(a, b, shallow=False)


def deidentify_file(src: Path, dst: Path, deid: Deidentifier) -> FileResult:
    """De-identify one file into the tree ``dst``; never raises for a bad input (see ``reason``).

    A readable data set without a SOP Instance UID gets one keyed on its file's bytes
    (:meth:`~hipaa_lab.pseudonyms.Pseudonymizer.content_uid`). An input whose output name is
    taken by another input's output is a duplicate when the two outputs are the same bytes, and
    otherwise is written under a UID keyed on its own bytes (``uid_origin`` COLLISION): the same
    names run after run with one key.

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
        if needs_pixel_cleaning(ds, deid.options):
            try:
                from hipaa_lab import pixels
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
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.get("SOPClassUID", "1.2.840.10008.5.1.4.1.1.7")
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = ts
        meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
        meta.ImplementationVersionName = IMPLEMENTATION_VERSION
        ds.file_meta = meta
        ds.preamble = b"\0" * 128
        name = _output_name(ds, deid)
        out = dst / name
        log = _provenance_log(
            dst
        )  # before the output: a log that cannot be opened leaves no output
        fd, tmp = _create_temp(out.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                _write(f, ds)
            try:  # never overwrite
                os.link(tmp, out)
            except FileExistsError:
                name = _renamed(Path(src), Path(tmp), dst, out, ds, deid)
                result.uid_origin = UIDOrigin.COLLISION
                os.link(tmp, dst / name)
        finally:
            os.unlink(tmp)
        # the output's record, whole, right after it (one write; no fsync: the log has a final
        # name only once the batch has finished, see _finish_provenance)
        record = json.dumps({"output": name, "changes": [c.to_json() for c in ctx_changes]})
        log.write(record + "\n")
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


def _renamed(src: Path, tmp: Path, dst: Path, taken: Path, ds: Dataset, deid: Deidentifier) -> str:
    """The output name for ``ds`` (written to ``tmp``) when ``taken`` already holds another
    input's output of the same SOP Instance UID.

    Same bytes: a true duplicate, skipped. Otherwise ``ds`` gets a SOP Instance UID keyed on its
    de-identified UID and its input's bytes, ``tmp`` is written again, and its new name returned;
    a name taken again by the same bytes is a duplicate too (the same input twice).
    """
    if _same_bytes(tmp, taken):
        raise _SkipFile(SkipReason.DUPLICATE, "an output with the same UID and content exists")
    uid = deid.pseudo.content_uid(f"{ds.SOPInstanceUID}\0{_content_digest(src)}")
    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = UID(uid)
    with open(tmp, "wb") as f:
        _write(f, ds)
    name = _output_name(ds, deid)
    if (dst / name).exists() and _same_bytes(tmp, dst / name):
        raise _SkipFile(SkipReason.DUPLICATE, "an output with the same UID and content exists")
    _check_reads_back(tmp)
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
