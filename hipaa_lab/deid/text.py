"""Rules for free text in a header: which words are safe, which patterns are identifiers, and
how text is cleaned of a patient's names, dates and numbers (used by :mod:`.engine`)."""

from __future__ import annotations

import datetime as dt
import functools
import re

__all__ = ["SAFE_WORDS", "clean_descriptor", "clean_text"]

_TEXT_VRS = {"LO", "SH", "PN", "ST", "LT", "UT", "UC", "CS", "AE"}
_LONG_TEXT = {"ST", "LT", "UT", "UC"}
#: Public elements outside Table E.1-1 with these VRs have their text cleaned (dates, numbers,
#: contacts, the patient's names), so an attribute the table does not list cannot leak.
_FREE_TEXT = frozenset(_LONG_TEXT | {"LO", "SH"})
_DATE_VRS = {"DA", "DT", "TM"}
_COLLECTED_VRS = frozenset(_TEXT_VRS | _DATE_VRS - {"TM"})
#: VRs whose value is one string: a backslash in it is text, not a value delimiter.
_SINGLE_VALUED = frozenset({"ST", "LT", "UT", "UR"})

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
