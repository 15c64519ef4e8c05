"""The residual-PHI scanner: finds identifiers left anywhere in a file or a tree.

It looks in every element (nested at any depth, private blocks, the file meta information), in file
and folder names, in overlay planes and, through OCR (:mod:`hipaa_lab.deid.pixels`), in text burned into
the pixels. Two kinds of evidence:

*Patterns* that suggest PHI, with no knowledge of the originals:

=====================  ====================================================================
rule                   what it flags
=====================  ====================================================================
``vr:PN``              a non-empty person name, unless a pseudonym (``^HL[A-Z0-9]{6,}$``; an
                       AccessionNumber may also start ``HA``, as hipaa_lab.deid.pseudonyms writes it)
                       or a placeholder (``ANONYMIZED``, ``REMOVED``...)
``vr:DA``, ``vr:DT``   a non-empty date (a date-time that is only a year is allowed, and so is
                       the dummy date 19000101 that de-identifiers write for action D)
``shifted-date``       a DA/DT value in a dataset whose LongitudinalTemporalInformationModified
                       is ``MODIFIED``: reported, but at *low* severity (see below)
``attribute``          a non-empty value of an attribute that identifies by definition
                       (PatientID, AccessionNumber, PatientAddress, DeviceSerialNumber, ...),
                       unless a pseudonym
``pattern:...``        free text (any text VR, private and unknown elements, text files, OCR):
                       ``date``, ``phone``, ``email``, ``ssn``, ``mrn`` (a label such as MRN,
                       ID or Acct followed by digits), ``digits`` (a run of six or more digits),
                       ``address``, ``zip``, ``url``, ``ip``, ``name`` (a name next to Pt,
                       Patient, Dr, Mr, Mrs...; ``LAST, First``; a name before DOB or MRN;
                       in file names ``Family^Given``), ``age`` (over 89)
``private:name``       a private text value that is nothing but two to five name words
``uid:date``           a UID with a component that is an 8-digit date
``overlay``            an overlay plane holding any set bit (graphics can hold text)
``burned-in``          BurnedInAnnotation is YES
``ocr:...``            text left in the pixels (:func:`hipaa_lab.deid.textcheck.find_leaks`, the
                       check the de-identifier verifies with): a pattern or an exact value in
                       text read from them, ``ocr:legible`` (a word read with high
                       confidence), ``ocr:text-lines`` (lines of text, read or not)
``exact-value``        a value of the answer key or of the original tree, found verbatim
                       (case-folded; punctuation-insensitive for numbers)
=====================  ====================================================================

Severity. Every finding is *high* except ``shifted-date``: PS3.15's Retain Longitudinal Temporal
Information with Modified Dates option keeps dates on purpose, shifted by a secret per-patient
offset, and says so in the dataset. Those dates are not the patient's, but Safe Harbor still does
not allow them (only Expert Determination does), so the scanner reports them as low-severity notes
rather than staying silent. :attr:`ScanReport.clean` and the command's exit status count only high
findings. A shifted date that still equals an original date is an ``exact-value`` hit (high), and
dates in free text are never treated as shifted.

Technical elements (numbers, codes, UIDs without embedded values, pixel data) are left alone, so
a file stripped of its patient data scans clean. The equipment's make and model (``Manufacturer``,
``ManufacturerModelName``...) are scanned as text, except that a web address there is the vendor's,
not the patient's (:data:`EQUIPMENT_KEYWORDS`).

Excerpts are masked (``J**e D*e``; digits but the last two hidden): scan output lands in logs.

Examples
--------
>>> from pydicom.dataset import Dataset
>>> ds = Dataset()
>>> ds.PatientName = "Doe^Jane"
>>> ds.ImageComments = "call 555-123-4567"
>>> [(f.path, f.category.value, f.rule, f.excerpt) for f in scan_dataset(ds)]
[('PatientName', 'names', 'vr:PN', 'PatientName: D*e^J**e'), ('ImageComments', 'telephone', 'pattern:phone', 'ImageComments: ***-***-**67')]
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import functools
import json
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from pydicom import dcmread
from pydicom._dicom_dict import DicomDictionary  # the standard's names, as pydicom ships them
from pydicom._uid_dict import UID_dictionary
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.sr._concepts_dict import concepts

from hipaa_lab.errors import AnswerKeyError
from hipaa_lab.phi import AnswerKey, Location, SafeHarborCategory, element_text, iter_elements

__all__ = [
    "Finding",
    "KnownValues",
    "ScanReport",
    "mask",
    "scan_dataset",
    "scan_file",
    "scan_paths",
]

C = SafeHarborCategory

PSEUDONYM = re.compile(r"^HL[A-Z0-9]{6,}$")
ACCESSION_PSEUDONYM = re.compile(
    r"^H[AL][A-Z0-9]{6,}$"
)  # hipaa_lab.deid.pseudonyms writes "HA" + code
LOW_RULES = frozenset({"shifted-date"})
# dummy values de-identifiers write where an attribute must stay (Annex E action D): not identifiers
PLACEHOLDERS = frozenset(
    [
        "anonymized",
        "anonymised",
        "anonymous",
        "anon",
        "removed",
        "redacted",
        "deidentified",
        "de-identified",
        "unknown",
    ]
)
PLACEHOLDER_DATES = ("19000101", "00010101")

# attributes that identify by definition: any non-empty value is a finding (pseudonyms aside)
IDENTIFYING_ATTRIBUTES: dict[str, SafeHarborCategory] = {
    "PatientID": C.MEDICAL_RECORD,
    "OtherPatientIDs": C.MEDICAL_RECORD,
    "MedicalRecordLocator": C.MEDICAL_RECORD,
    "AccessionNumber": C.OTHER,
    "IssuerOfPatientID": C.OTHER,
    "AdmissionID": C.ACCOUNT,
    "ServiceEpisodeID": C.ACCOUNT,
    "PlacerOrderNumberImagingServiceRequest": C.ACCOUNT,
    "FillerOrderNumberImagingServiceRequest": C.ACCOUNT,
    "InsurancePlanIdentification": C.HEALTH_PLAN,
    "PatientAddress": C.GEOGRAPHIC,
    "InstitutionAddress": C.GEOGRAPHIC,
    "PersonAddress": C.GEOGRAPHIC,
    "RegionOfResidence": C.GEOGRAPHIC,
    "PatientTelephoneNumbers": C.TELEPHONE,
    "PersonTelephoneNumbers": C.TELEPHONE,
    "PatientTelecomInformation": C.TELEPHONE,
    "PersonTelecomInformation": C.TELEPHONE,
    "DeviceSerialNumber": C.DEVICE,
    "PatientBirthTime": C.DATES,
}
# what Safe Harbor keeps of a PatientAddress: the first three digits of the ZIP code (or 000 where
# those three cover 20,000 people or fewer), 45 CFR 164.514(b)(2)(i)(B)
_ZIP3 = re.compile(r"\d{3}")
# attributes whose values a de-identifier replaces with a pseudonym
PSEUDONYMISED = frozenset({"PatientName", "PatientID", "AccessionNumber"})
# provider identity: not one of the 18 identifiers (and kept on purpose by Annex E's Retain
# Institution Identity option), so no pattern flags it; the values of the originals are searched
# for exactly. IssuerOfPatientID is different: it names who issued the patient's MRN. A department
# name is not searched: it is generic words ("Radiology") that equipment and report titles share.
PROVIDER_ATTRIBUTES = frozenset({"InstitutionName", "VerifyingOrganization"})
TEXT_VRS = frozenset({"LO", "LT", "SH", "ST", "UT", "UC", "UR"})
# technical text: codes and versions, where digit runs are not identifiers
NO_PATTERN_KEYWORDS = frozenset(
    {
        "SoftwareVersions",
        "CodeValue",
        "LongCodeValue",
        "CodingSchemeDesignator",
        "CodingSchemeVersion",
        "ContextIdentifier",
        "MappingResource",
        "MappingResourceName",
        "ContextGroupVersion",
        "TemplateIdentifier",
        "CodingSchemeRegistry",
        "CodingSchemeExternalID",
        "DeidentificationMethod",  # the de-identifier's own marking: profile and option names
    }
)
#: Sequences whose text is the de-identifier's own marking (CID 7050 code meanings).
NO_PATTERN_SEQUENCES = ("DeidentificationMethodCodeSequence",)
#: The equipment's make and model (General Equipment module): who made it, which product. Safe
#: Harbor's identifiers are those "of the individual or of relatives, employers, or household
#: members of the individual" (45 CFR 164.514(b)(2)(i)), so a vendor's name or web address is none
#: of them, and a device's own identity is another matter (DeviceSerialNumber above; PS3.15's Retain
#: Device Identity option). Here a web address is the vendor's (pydicom's liver_1frame.dcm names its
#: maker's source repository) and is not a finding; the text stays scanned for every other pattern
#: (a patient's name, an MRN, a date, a phone number) and for known values, as anywhere else.
EQUIPMENT_KEYWORDS = frozenset(
    {
        "Manufacturer",
        "ManufacturerModelName",
        "ManufacturerModelVersion",
        "SecondaryCaptureDeviceManufacturer",
        "SecondaryCaptureDeviceManufacturerModelName",
    }
)
#: The patterns that, in an equipment element, describe the equipment rather than a person.
EQUIPMENT_RULES = frozenset({"url"})

# --------------------------------------------------------------------------- masking


def _mask_word(word: str) -> str:
    if word.isdigit():
        return "*" * max(0, len(word) - 2) + word[-2:] if len(word) > 3 else "*" * len(word)
    if len(word) <= 2:
        return word[:1] + "*" * (len(word) - 1)
    return word[0] + "*" * (len(word) - 2) + word[-1]


def mask(text: str, limit: int = 48) -> str:
    """``text`` with every word masked, for output that may land in a log.

    Words keep their first and last letter; numbers keep their last two digits.

    Examples
    --------
    >>> mask("Doe^Jane")
    'D*e^J**e'
    >>> mask("918-34-5474")
    '***-**-**74'
    """
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return re.sub(r"\d+|[^\W\d_]+", lambda m: _mask_word(m.group()), text)


# --------------------------------------------------------------------------- patterns

_STATES = [
    "AL",
    "AK",
    "AZ",
    "AR",
    "CA",
    "CO",
    "CT",
    "DE",
    "FL",
    "GA",
    "HI",
    "ID",
    "IL",
    "IN",
    "IA",
    "KS",
    "KY",
    "LA",
    "ME",
    "MD",
    "MA",
    "MI",
    "MN",
    "MS",
    "MO",
    "MT",
    "NE",
    "NV",
    "NH",
    "NJ",
    "NM",
    "NY",
    "NC",
    "ND",
    "OH",
    "OK",
    "OR",
    "PA",
    "RI",
    "SC",
    "SD",
    "TN",
    "TX",
    "UT",
    "VT",
    "VA",
    "WA",
    "WV",
    "WI",
    "WY",
    "DC",
    "PR",
    "GU",
    "VI",
]
_MONTHS = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_STREET = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Ways|Place|Pl|"
    r"Terrace|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Freeway|Expressway|Square|Sq|Trail|Trl|Plaza|Loop|"
    r"Crossing|Route|Pike|Alley|Row|Walk|Path|Run|Bridge|Heights|Hills?|Glens?|Springs?|Landing|"
    r"Locks?|Orchard|Pines?|Viaduct|Mountains?|Ridge|Valley|Park|Point|Harbor|Estates?|Village|"
    r"Gardens?|Meadows?|Harbors?|Lands?|Creek|Lake|Island|Shore|Station|Turnpike|Crescent|Manor|Mill|Fork|Field)"
)
#: Words that follow "address" in a sentence, never as its value.
_PROSE_WORDS = (
    "is|are|was|were|be|other|numbers?|there|here|of|the|a|an|and|or|to|in|on|for|as|that|this|"
    "it|its|with|from|by|book|field|fields|line|lines|space|bar"
)
#: Legal forms of companies, which follow a vendor's name as a given name follows a family name.
_COMPANY_FORMS = frozenset(
    ["inc", "ltd", "llc", "corp", "co", "plc", "gmbh", "ag", "kg", "sa", "srl", "spa", "bv", "nv"]
)
#: Labels a name may follow with only a dot between (``Pt.`` then the name in capitals).
_NAME_LABELS = frozenset(["patient", "name", "doctor", "nurse", "physician", "referring"])
_NAME_WORD = r"[A-Z][a-z]+(?:[-'][A-Z][a-z]+)?"
_CAPS_WORD = r"[A-Z]{2,}(?:[-'][A-Z]{2,})?"
_NOT_NAMES = frozenset(
    [
        "position",
        "orientation",
        "name",
        "id",
        "age",
        "sex",
        "history",
        "comments",
        "weight",
        "size",
        "status",
        "dob",
        "mrn",
        "birth",
        "chest",
        "abdomen",
        "pelvis",
        "head",
        "brain",
        "contrast",
        "exam",
        "report",
        "study",
        "series",
        "image",
        "left",
        "right",
        "the",
        "and",
    ]
)


def _valid_date(y: str, m: str, d: str) -> bool:
    year = int(y) if len(y) == 4 else 2000 + int(y)
    try:
        dt.date(year, int(m), int(d))
    except ValueError:
        return False
    return 1880 <= year <= 2100


def _dates(text: str) -> Iterator[tuple[int, int]]:
    for m in re.finditer(r"(?<![\d.])((?:18|19|20)\d\d)(\d\d)(\d\d)(?!\d)", text):
        if _valid_date(*m.groups()):
            yield m.span()
    for m in re.finditer(r"(?<![\d.])((?:18|19|20)\d\d)([-/.])(\d\d?)\2(\d\d?)(?![\d.])", text):
        if _valid_date(m[1], m[3], m[4]):
            yield m.span()
    for m in re.finditer(
        r"(?<![\d.])(\d\d?)([-/.])(\d\d?)\2((?:18|19|20)\d\d|\d\d)(?![\d.])", text
    ):
        a, b, y = m[1], m[3], m[4]
        if _valid_date(y, a, b) or _valid_date(y, b, a):
            yield m.span()
    for m in re.finditer(rf"\b{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+(?:18|19|20)\d\d\b", text):
        yield m.span()
    for m in re.finditer(rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTHS}\s+(?:18|19|20)\d\d\b", text):
        yield m.span()


def _ips(text: str) -> Iterator[tuple[int, int]]:
    for m in re.finditer(r"(?<![\d.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![\d.])", text):
        octets = [int(x) for x in m.groups()]
        # 127.0.0.0/8 is every machine's own loopback (RFC 1122 3.2.1.3): no one's address
        if all(o <= 255 for o in octets) and max(octets) >= 10 and octets[0] != 127:
            yield m.span()


_URL = re.compile(r"\b(?:https?|ftp)://[^\s\"'<>\\]+|\bwww\.[\w-]+\.[\w./-]+", re.I)
_LOOPBACK_URL = re.compile(r"(?:https?|ftp)://(?:localhost|127(?:\.\d{1,3}){3})(?![\w.-])", re.I)


def _urls(text: str) -> Iterator[tuple[int, int]]:
    """Web addresses, but those of the machine itself (``http://127.0.0.1:8888/lab``): the text
    of those is left to the other patterns."""
    for m in _URL.finditer(text):
        if not _LOOPBACK_URL.match(m.group()):
            yield m.span()


_LAST_FIRST = re.compile(rf"\b({_CAPS_WORD},\s*{_NAME_WORD})\b")
#: A word and a dot (``Modality.``): where one ends, what follows is a member of a code object.
_OWNER = re.compile(r"\b([A-Za-z_]\w*)\.")


def _last_first(text: str) -> Iterator[tuple[int, int]]:
    """A family name in capitals, a comma and a given name; but not a member of a code object
    (``Modality.CT, Modality.MR``, ``Location.PIXELS, None``: a word and a dot before it, no
    space, the word neither a title nor a label), nor a company (a legal form for given name)."""
    owners: dict[int, str] | None = None
    for m in _LAST_FIRST.finditer(text):
        if owners is None:  # once a text: reading the text before each match took the square
            owners = {o.end(): o[1] for o in _OWNER.finditer(text)}
        start = m.start()
        owner = owners.get(start) or (text[start - 1 : start] == "\n" and owners.get(start - 1))
        if owner and owner.lower() not in _TITLES | _NAME_LABELS:
            continue
        if m[1].rpartition(",")[2].strip().lower() in _COMPANY_FORMS:  # "CMS, Inc": a company
            continue
        yield m.span(1)


_Finder = Callable[[str], Iterable[tuple[int, int]]]


def _regex(pattern: str, flags: int = 0) -> _Finder:
    compiled = re.compile(pattern, flags)
    return lambda text: (
        m.span(m.lastindex or 0) if m.lastindex else m.span() for m in compiled.finditer(text)
    )


# (name, category, finder) in order of precedence: a later pattern ignores spans an earlier one took
_PATTERNS: list[tuple[str, SafeHarborCategory, _Finder]] = [
    ("email", C.EMAIL, _regex(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b")),
    ("url", C.URL, _urls),
    ("ssn", C.SSN, _regex(r"(?<![\d-])\d{3}[- ]\d{2}[- ]\d{4}(?![\d-])")),
    (
        "ssn",
        C.SSN,
        _regex(r"\b(?:SSN|SS#|Social Security(?: No\.?| Number)?)\s*[#:.]?\s*(\d{9})(?!\d)", re.I),
    ),
    (
        "phone",
        C.TELEPHONE,
        _regex(r"(?<![\d-])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?![\d-])"),
    ),
    (
        "phone",
        C.TELEPHONE,
        _regex(r"\b(?:tel|phone|fax|cell|mobile)\.?\s*[#:.]?\s*(\d{7,11})(?!\d)", re.I),
    ),
    ("date", C.DATES, _dates),
    ("ip", C.IP_ADDRESS, _ips),
    ("zip", C.GEOGRAPHIC, _regex(rf"\b(?:{'|'.join(_STATES)})\.?,?\s+\d{{5}}(?:-\d{{4}})?(?!\d)")),
    (
        # "the 18 Safe Harbor identifiers" counts a list, it is no street: no address is followed
        # by the word "identifiers"
        "address",
        C.GEOGRAPHIC,
        _regex(
            rf"\b\d{{1,6}}\s+(?:[A-Z][A-Za-z]+\.?\s+){{1,3}}{_STREET}\b(?!\s+[Ii]dentifiers?\b)"
            r"\.?(?:,?\s+(?:Apt|Suite|Unit|#)\.?\s*\w+)?"
        ),
    ),
    ("address", C.GEOGRAPHIC, _regex(r"\b(?:Apt|Suite|Unit)\.?\s+\d+[A-Z]?\b")),
    (
        "address",
        C.GEOGRAPHIC,
        # a label, then the value; without a colon, "address" in a sentence ("an IP address is",
        # "postal address other than") is no label
        _regex(
            r"\b(?i:Address|Addr|Residence|Lives at)\b"
            rf"(?:\s*[:.]\s*(\w.{{3,}})|\s+(?!(?:{_PROSE_WORDS})\b)(\w.{{3,}}))"
        ),
    ),
    (
        "mrn",
        C.ACCOUNT,
        _regex(r"\b(?:Acct|Account|Acc|Billing)\s*(?:No\.?|#)?\s*[#:.]?\s*(\d{4,})(?!\d)", re.I),
    ),
    (
        "mrn",
        C.HEALTH_PLAN,
        _regex(
            r"\b(?:Insurance|Member|Policy|Plan)\s*(?:ID|No\.?|#)?\s*[#:.]?\s*([A-Z]{0,4}\d{6,})\b",
            re.I,
        ),
    ),
    (
        "mrn",
        C.MEDICAL_RECORD,
        _regex(
            r"(?:\b|_)(?:MRN|MR|ID|Chart|Patient ID|Pt ID)\s*(?:No\.?|#)?\s*[#:.]?\s*(\d{4,})(?!\d)",
            re.I,
        ),
    ),
    # (a run of zeros, "000000" for a blank time, numbers nothing)
    ("digits", C.MEDICAL_RECORD, _regex(r"(?<![\d.])(?!0+(?!\d))\d{6,}(?![\d.]\d)")),
    (
        "age",
        C.DATES,
        _regex(r"\b(?:age[d:]?\s*|)(9\d|1[0-2]\d)\s*(?:y/?o|yrs?|years? old|-year-old)\b", re.I),
    ),
    (
        "name",
        C.NAMES,
        _regex(
            rf"\b(?:Pt|Patient|Dr|Doctor|Mr|Mrs|Ms|Miss|Prof|Nurse|Name|Referring|Physician|Verified)\.?:?\s+"
            rf"((?:{_CAPS_WORD}|{_NAME_WORD})(?:,?\s+(?:{_CAPS_WORD}|{_NAME_WORD})){{0,2}})"
        ),
    ),
    ("name", C.NAMES, _last_first),
    (
        "name",
        C.NAMES,
        _regex(rf"\b({_NAME_WORD}(?:\s+{_NAME_WORD}){{1,2}}),?\s+\(?(?:DOB|D\.O\.B\.?|MRN|born)\b"),
    ),
]
# file names and OCR text: also Family^Given and LAST, FIRST
_LOOSE_NAMES = [
    ("name", C.NAMES, _regex(r"(?<![^\W\d_])[^\W\d_]{2,}\^[^\W\d_]{1,}")),
    ("name", C.NAMES, _regex(rf"\b({_CAPS_WORD},\s*{_CAPS_WORD})\b")),
]


#: A hexadecimal literal, or a digest (32 hex digits or more, a letter among them).
_HEX_NUMBER = re.compile(r"\b0[xX][0-9A-Fa-f]+\b|\b(?=[0-9A-Fa-f]*[A-Fa-f])[0-9A-Fa-f]{32,}\b")


@functools.cache
def _attribute_phrases() -> frozenset[str]:
    """Every run of two to five words, lower case, in the name of a DICOM attribute or UID, or in
    the meaning of a DICOM (DCM) code: the standard's own words, from the mappings pydicom's
    public modules are built on (``datadict``, ``uid``, ``sr.codedict``)."""
    names = [entry[2] for entry in DicomDictionary.values()]
    names += [entry[0] for entry in UID_dictionary.values()]
    dcm = cast(dict[str, dict[str, tuple[str, list[int]]]], concepts["DCM"])
    names += [meaning for group in dcm.values() for meaning, _ in group.values()]
    phrases = set()
    for name in names:
        words = re.findall(r"[a-z0-9]+", name.lower())
        for i in range(len(words)):
            for k in range(i + 2, min(len(words), i + 5) + 1):
                phrases.add(" ".join(words[i:k]))
    return frozenset(phrases)


_LAST_WORD = re.compile(r"[^\W\d_]+(?=[\W\d_]*\Z)")


def _word_before(text: str, start: int) -> list[str]:
    """The last word of ``text[:start]`` (a list of one, or none), read back from ``start`` in
    growing windows: a long text's every name once read it all, a time that grew with the
    square of the text's length."""
    width = 64
    while True:
        lo = max(0, start - width)
        found = _LAST_WORD.search(text, lo, start)
        # a word cut by the window's start may be longer: read again from further back
        if found is not None and (found.start() > lo or lo == 0):
            return [found.group()]
        if lo == 0:
            return []
        width *= 4


def _names_an_attribute(text: str, start: int, words: list[str]) -> bool:
    """Whether ``words``, found as a name at ``start``, are with the word before them part of a
    DICOM name (``Patient State``, ``Referring Physician Identification Sequence``, ``Retain
    Patient Characteristics Option``): an attribute or a code, not a person. A person's name
    is never one: no name in the standard has a title before a family name."""
    before = _word_before(text, start)
    phrase = " ".join(w.lower() for w in [*before, *words])
    return len(before) + len(words) >= 2 and phrase in _attribute_phrases()


def find_patterns(
    text: str, *, loose: bool = False, skip: frozenset[str] = frozenset()
) -> list[tuple[str, SafeHarborCategory, int, int]]:
    """Every pattern that suggests PHI in ``text``: ``(rule name, category, start, end)``.

    ``loose`` adds the patterns meant for file names and OCR text (``Family^Given``, ``LAST, FIRST``).
    ``skip`` names rules not to apply: their text is left to the other patterns, so an MRN inside
    a skipped URL is still found.

    Examples
    --------
    >>> [(r, c.value, "Pt BOYD, Robert on 01/21/1973"[s:e]) for r, c, s, e in find_patterns("Pt BOYD, Robert on 01/21/1973")]
    [('date', 'dates', '01/21/1973'), ('name', 'names', 'BOYD, Robert')]
    """
    # hexadecimal numbers (0x00100010, a SHA-256) hold digit runs by chance: they are not taken,
    # but nothing is found inside them
    hex_numbers = _Spans(m.span() for m in _HEX_NUMBER.finditer(text))
    taken = _Spans()
    out = []
    for name, cat, finder in _PATTERNS + (_LOOSE_NAMES if loose else []):
        if name in skip:
            continue
        for start, end in finder(text):
            if end <= start or taken.overlaps(start, end) or hex_numbers.covers(start, end):
                continue
            if name == "name":
                words = re.findall(r"[^\W\d_]+", text[start:end])
                if not words or all(w.lower() in _NOT_NAMES for w in words):
                    continue
                if _names_an_attribute(text, start, words):
                    continue
            taken.add(start, end)
            out.append((name, cat, start, end))
    return out


class _Spans:
    """Spans of a text that do not overlap, kept in order: whether a new one overlaps or lies
    within one of them, by bisection (a text of many matches once compared each with all)."""

    def __init__(self, spans: Iterable[tuple[int, int]] = ()) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        for start, end in spans:
            self.add(start, end)

    def add(self, start: int, end: int) -> None:
        at = bisect.bisect(self.starts, start)
        self.starts.insert(at, start)
        self.ends.insert(at, end)

    def overlaps(self, start: int, end: int) -> bool:
        at = bisect.bisect_left(self.starts, end)  # the spans that start before ``end``...
        return at > 0 and self.ends[at - 1] > start  # ...the last of which ends latest

    def covers(self, start: int, end: int) -> bool:
        at = bisect.bisect_right(self.starts, start)
        return at > 0 and self.ends[at - 1] >= end


# --------------------------------------------------------------------------- known values

_TOKEN = re.compile(r"[^\W\d_]+|\d+")
_TITLES = frozenset(
    [
        "dr",
        "mr",
        "mrs",
        "ms",
        "miss",
        "prof",
        "md",
        "phd",
        "jr",
        "sr",
        "ii",
        "iii",
        "iv",
        "rn",
        "do",
        "pt",
        "dds",
    ]
)
_MAX_PHRASE = 8
_MIN_DIGITS = 6


def _norm(token: str) -> str:
    token = unicodedata.normalize("NFKD", token.casefold())
    return "".join(ch for ch in token if not unicodedata.combining(ch))


def _whole_words(text: str, start: int, end: int) -> str:
    """``text[start:end]`` widened to whole words (letters) at both ends."""
    while start > 0 and text[start - 1].isalpha():
        start -= 1
    while end < len(text) and text[end].isalpha():
        end += 1
    return text[start:end]


def _tokens(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), _norm(m.group())) for m in _TOKEN.finditer(text)]


def _is_cjk(text: str) -> bool:
    return any(ord(ch) > 0x2E80 for ch in text)


#: How a known date's digits may be split in text: whole (19730121), or year, month and day each
#: in one piece (1973-01-21, 01/21/1973). A date's year is never split, so the digits of a time
#: stamp's day and clock (``12-07 20:19``) are not the date of 7 December of the year "2019",
#: digits though they share.
_DATE_LAYOUTS = frozenset({(8,), (4, 2, 2), (2, 2, 4)})


def _date_forms(value: str) -> list[str]:
    """An 8-digit date as the digit strings its common renderings give."""
    m = re.fullmatch(r"((?:18|19|20)\d\d)(\d\d)(\d\d)", value[:8])
    if not m or not _valid_date(*m.groups()):
        return []
    y, mo, d = m.groups()
    return [f"{y}{mo}{d}", f"{mo}{d}{y}", f"{d}{mo}{y}"]


@dataclass
class KnownValues:
    """The identifying values of an original tree (or an answer key), normalised for matching.

    Text is compared token by token, case-folded and without accents; a number is compared as its
    digits, whatever separates them (``(802) 555-0151`` matches ``802.555.0151``); a date is
    known in the forms YYYYMMDD, MMDDYYYY and DDMMYYYY, so ``1973-01-21`` and ``01/21/1973`` both
    match ``19730121``.

    Examples
    --------
    >>> known = KnownValues()
    >>> known.add("Doe^Jane", SafeHarborCategory.NAMES, person_name=True)
    >>> known.add("19730121", SafeHarborCategory.DATES)
    >>> [(c.value, "seen: JANE on 01/21/1973"[s:e]) for s, e, c in known.find("seen: JANE on 01/21/1973")]
    [('names', 'JANE'), ('dates', '01/21/1973')]
    """

    phrases: dict[str, SafeHarborCategory] = field(default_factory=dict)
    digits: dict[str, SafeHarborCategory] = field(default_factory=dict)
    long: dict[str, SafeHarborCategory] = field(default_factory=dict)
    firsts: set[str] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.phrases) + len(self.digits) + len(self.long)

    # ---------------------------------------------------------------- adding

    def _phrase(self, toks: list[str], category: SafeHarborCategory) -> None:
        if not toks:
            return
        if len(toks) == 1:
            t = toks[0]
            if t.isdigit() or t in _TITLES or (len(t) < 2 and not _is_cjk(t)):
                return
        key = " ".join(toks)
        if len(toks) > _MAX_PHRASE:
            self.long.setdefault(key, category)
            return
        self.phrases.setdefault(key, category)
        self.firsts.add(toks[0])

    def _digits(self, digits: str, category: SafeHarborCategory) -> None:
        if len(digits) >= _MIN_DIGITS:
            self.digits.setdefault(digits, category)

    def add(self, value: str, category: SafeHarborCategory, *, person_name: bool = False) -> None:
        """Remember one identifying value.

        A person name adds each of its components; a date adds its digit forms; any other value
        adds itself, its digits when it is a number, and what :func:`find_patterns` finds in it.
        """
        value = str(value).strip()
        if not value:
            return
        if person_name or ("^" in value and not re.search(r"\d", value)):
            for group in value.split("="):
                for comp in group.split("^"):
                    for word in re.split(r"[\s,]+", comp):
                        self._phrase([t for _, _, t in _tokens(word)], category)
            return
        if re.fullmatch(r"\d+(\.\d+){3,}", value):  # a UID: only the dates it embeds (roots and
            for comp in value.split("."):  # counters identify nobody; MRNs come from PatientID)
                if len(comp) == 8:
                    for form in _date_forms(comp):
                        self._digits(form, C.DATES)
            return
        if category is C.DATES and re.fullmatch(r"\d{8}(\d{6}([.]\d+)?)?([+-]\d{4})?", value):
            for form in _date_forms(value):
                self._digits(form, C.DATES)
            return
        toks = _tokens(value)
        words = [t for _, _, t in toks]
        if all(t.isdigit() for t in words):
            self._digits("".join(words), category)
            if len(words) > 1:
                for w in words:
                    if len(w) >= 7:
                        self._digits(w, category)
            return
        self._phrase(words, category)
        if category is C.NAMES and len(words) <= 3 and not any(t.isdigit() for t in words):
            for w in words:
                if w not in _NOT_NAMES:  # "CHAUVEAU, Alex MRN": the label is not a name
                    self._phrase([w], category)
        for w in words:
            if w.isdigit():
                self._digits(w, category)
        for rule, cat, start, end in find_patterns(value, loose=True):
            part = value[start:end]
            if rule == "date":
                digits = "".join(re.findall(r"\d+", part))
                if len(digits) == 8:
                    for form in {digits, *_date_forms(digits), digits[4:] + digits[:4]}:
                        self._digits(form, C.DATES)
                    if not _date_forms(digits):  # MMDDYYYY or DDMMYYYY
                        y = digits[4:]
                        for mo, d in ((digits[:2], digits[2:4]), (digits[2:4], digits[:2])):
                            if _valid_date(y, mo, d):
                                for form in _date_forms(y + mo + d):
                                    self._digits(form, C.DATES)
                continue
            if rule == "name":
                # the whole words: the pattern is ASCII and stops inside "CRÚZ"; its "CR" would
                # make every "CR" (the modality, a model name "Glx CR-729") a name found
                part = _whole_words(value, start, end)
                for w in re.findall(r"[^\W\d_]+", part):
                    if w.lower() not in _NOT_NAMES:
                        self._phrase([_norm(w)], C.NAMES)
                continue
            ptoks = [t for _, _, t in _tokens(part)]
            if ptoks and all(t.isdigit() for t in ptoks):
                self._digits("".join(ptoks), cat)
            else:
                self._phrase(ptoks, cat)

    def add_dataset(self, ds: Dataset) -> None:
        """Remember the identifying values of one original dataset."""
        for _path, elem in _all_elements(ds):
            keyword = elem.keyword
            if elem.VR == "SQ" or elem.value is None or elem.tag.is_private_creator:
                continue
            text = _text(elem)
            if not text.strip():
                continue
            if elem.VR == "PN":
                if not _is_pseudonym(text):
                    self.add(text, C.NAMES, person_name=True)
            elif elem.VR in ("DA", "DT"):
                for part in text.split("\\"):
                    for form in _date_forms(part.strip()):
                        self._digits(form, C.DATES)
            elif keyword in IDENTIFYING_ATTRIBUTES and keyword != "PatientBirthTime":
                if not _is_pseudonym(text, keyword):
                    self.add(text, IDENTIFYING_ATTRIBUTES[keyword])
            elif keyword in PROVIDER_ATTRIBUTES:
                self.add(text, C.OTHER)
            elif keyword in NO_PATTERN_KEYWORDS:
                continue  # codes and versions: digit runs there identify nobody
            elif elem.VR in TEXT_VRS or (elem.tag.is_private and elem.VR in ("UN", "OB")):
                for _rule, cat, start, end in find_patterns(text):
                    self.add(text[start:end], cat)
                if elem.tag.is_private and _name_like(text):
                    self.add(text, C.NAMES)

    # ---------------------------------------------------------------- building

    @classmethod
    def from_key(cls, key: AnswerKey) -> KnownValues:
        """The values of an answer key."""
        known = cls()
        for e in key.entries:
            if e.location is Location.FILENAME and e.category is C.NAMES:
                for word in re.split(r"[\s_^,]+", e.value):
                    known._phrase([t for _, _, t in _tokens(word)], C.NAMES)
                continue
            known.add(e.value, e.category)
        return known

    @classmethod
    def from_tree(cls, path: str | os.PathLike[str]) -> KnownValues:
        """The identifying values of every DICOM file under ``path`` (other files are skipped)."""
        known = cls()
        for file in _walk(Path(path)):
            try:
                ds = _read(file, stop_before_pixels=True)
            except Exception:  # noqa: S112 - a damaged original holds nothing we can read
                continue
            if ds is not None:
                known.add_dataset(ds)
        return known

    def update(self, other: KnownValues) -> None:
        """Add the values of ``other`` (a value already known keeps its category)."""
        for mine, theirs in (
            (self.phrases, other.phrases),
            (self.digits, other.digits),
            (self.long, other.long),
        ):
            for k, v in theirs.items():
                mine.setdefault(k, v)
        self.firsts |= other.firsts

    def copy(self) -> KnownValues:
        new = KnownValues()
        new.update(self)
        return new

    # ---------------------------------------------------------------- matching

    def find(self, text: str) -> list[tuple[int, int, SafeHarborCategory]]:
        """Where known values occur in ``text``: ``(start, end, category)``."""
        if not text or not len(self):
            return []
        toks = _tokens(text)
        out: list[tuple[int, int, SafeHarborCategory]] = []
        n = len(toks)
        for i in range(n):
            start, _, first = toks[i]
            if first in self.firsts:
                for k in range(i + 1, min(n, i + _MAX_PHRASE) + 1):
                    cat = self.phrases.get(" ".join(t for _, _, t in toks[i:k]))
                    if cat is not None:
                        out.append((start, toks[k - 1][1], cat))
            if first.isdigit() and self.digits:
                digits = ""
                lengths: tuple[int, ...] = ()
                for k in range(i, n):
                    s, e, t = toks[k]
                    if not t.isdigit() or (k > i and s - toks[k - 1][1] > 3):
                        break
                    digits += t
                    lengths += (len(t),)
                    cat = self.digits.get(digits)
                    if cat is not None and (
                        cat is not SafeHarborCategory.DATES or lengths in _DATE_LAYOUTS
                    ):
                        out.append((start, e, cat))
                    if len(digits) > 16:
                        break
        if self.long:
            joined = " " + " ".join(t for _, _, t in toks) + " "
            for value, cat in self.long.items():
                if f" {value} " in joined:
                    out.append((0, len(text), cat))
        return out

    def find_in_uid(self, uid: str) -> list[SafeHarborCategory]:
        """Known numbers inside the components of a UID (a timestamp component included).

        The component after ``2.25.`` is a UUID written as one integer (PS3.5 B.2): 128 random
        bits, about 39 digits, in which some known 7-digit number turns up by chance in about one
        batch in a hundred. It is matched only when it is that number exactly.
        """
        out = []
        parts = uid.split(".")
        uuid_component = 2 if parts[:2] == ["2", "25"] and len(parts) == 3 else -1
        for index, comp in enumerate(parts):
            for digits, cat in self.digits.items():
                if index == uuid_component and comp != digits:
                    continue
                if digits in comp and (len(digits) >= 7 or comp == digits):
                    out.append(cat)
        return out


# --------------------------------------------------------------------------- findings


@dataclass(frozen=True)
class Finding:
    """One identifier (or what looks like one) found in a file.

    Parameters
    ----------
    file
        The file's path relative to the scanned root, with ``/`` separators (the answer key's form).
    location
        Header, pixels, overlay or file name.
    path
        The tag path for a header element (``line N`` for a text file's content), else ``None``.
    category
        The Safe Harbor category it suggests.
    rule
        Which rule found it, e.g. ``pattern:ssn``, ``vr:PN``, ``exact-value``, ``ocr:pattern:date``.
    excerpt
        The element name and a masked form of what was found; never the full value.
    """

    file: str
    location: Location
    path: str | None
    category: SafeHarborCategory
    rule: str
    excerpt: str

    @property
    def severity(self) -> str:
        """``"low"`` for a shifted date, ``"high"`` for everything else."""
        return "low" if self.rule in LOW_RULES else "high"

    def format(self, file: str | None = None) -> str:
        """One output line: file, tag path or location, category, rule, excerpt (tab-separated)."""
        where = self.path if self.path is not None else self.location.value
        rule = self.rule if self.severity == "high" else f"{self.rule} (low)"
        return "\t".join(
            [
                file if file is not None else self.file,
                where,
                self.category.value,
                rule,
                self.excerpt,
            ]
        )


def _is_pseudonym(value: str, keyword: str = "") -> bool:
    """A pseudonym or a placeholder (``ANONYMIZED``): a value that names nobody."""
    value = value.strip().strip("^=").strip()
    if value.casefold() in PLACEHOLDERS:
        return True
    pattern = ACCESSION_PSEUDONYM if keyword == "AccessionNumber" else PSEUDONYM
    return bool(pattern.match(value))


_PARTICLES = frozenset(
    [
        "de",
        "del",
        "della",
        "der",
        "den",
        "di",
        "da",
        "das",
        "do",
        "dos",
        "du",
        "la",
        "le",
        "van",
        "von",
        "y",
        "bin",
        "al",
        "el",
        "st",
    ]
)


def _name_like(text: str) -> bool:
    """Nothing but two or three name words (a name as vendors store it in a private tag).

    Latin words are capitalised (``Rolando Regalado``, ``Michelle Börner``, ``REGALADO ROLANDO``);
    CJK words are short (``小林 幹``); particles may sit between (``Linda de Anda``).
    """
    words = text.strip().split()
    if not 2 <= len(words) <= 5 or words[0] in _PARTICLES or words[-1] in _PARTICLES:
        return False
    for word in words:
        if word in _PARTICLES:
            continue
        if not all(ch.isalpha() or ch in "-'" for ch in word) or word.lower() in _NOT_NAMES:
            return False
        if _is_cjk(word):
            if len(word) > 5:
                return False
        elif len(word) < 2 or not word[0].isupper():
            return False
    return True


def _text(elem: DataElement) -> str:
    """:func:`hipaa_lab.phi.element_text`, except that bytes count only when they read as text."""
    value = elem.value
    if isinstance(value, (bytes, bytearray)):
        if len(value) > 65536:
            return ""
        text = bytes(value).rstrip(b"\0 ").decode("latin-1")
        printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
        return text if len(text) >= 4 and printable >= 0.9 * len(text) else ""
    return element_text(elem)


def _all_elements(ds: Dataset) -> Iterator[tuple[str, DataElement]]:
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        yield from iter_elements(meta)
    yield from iter_elements(ds)


class _Collector:
    def __init__(self, file: str) -> None:
        self.file = file
        self.out: list[Finding] = []
        self._seen: set[tuple[object, ...]] = set()

    def add(
        self,
        location: Location,
        path: str | None,
        category: SafeHarborCategory,
        rule: str,
        excerpt: str,
    ) -> None:
        key = (location, path, category, rule, excerpt)
        if key not in self._seen:
            self._seen.add(key)
            self.out.append(Finding(self.file, location, path, category, rule, excerpt))

    def text(
        self,
        location: Location,
        path: str | None,
        label: str,
        text: str,
        known: KnownValues | None,
        *,
        prefix: str = "",
        loose: bool = False,
        skip: frozenset[str] = frozenset(),
    ) -> None:
        """Patterns (but those in ``skip``) and known values in one piece of text."""
        for rule, cat, start, end in find_patterns(text, loose=loose, skip=skip):
            self.add(
                location, path, cat, f"{prefix}pattern:{rule}", f"{label}{mask(text[start:end])}"
            )
        if known is not None:
            for start, end, cat in known.find(text):
                self.add(
                    location, path, cat, f"{prefix}exact-value", f"{label}{mask(text[start:end])}"
                )


def _overlay_has_data(elem: DataElement) -> bool:
    value = elem.value
    return isinstance(value, (bytes, bytearray)) and any(value)


def scan_dataset(
    ds: Dataset,
    *,
    file: str = "",
    known_values: KnownValues | None = None,
    ocr: bool = False,
) -> list[Finding]:
    """Every finding in one dataset: its elements at any depth, its file meta, overlays, pixels.

    Parameters
    ----------
    ds
        The dataset (with ``file_meta`` when read from a file).
    file
        The file name the findings carry.
    known_values
        Exact values to search for besides the patterns (an answer key's or an original tree's).
    ocr
        Look for text left in the pixels with :func:`hipaa_lab.deid.textcheck.find_leaks` (slow).

    Returns
    -------
    list[Finding]
        In dataset order; the file name itself is not scanned (see :func:`scan_file`).
    """
    found = _Collector(file)
    modified = (
        str(ds.get("LongitudinalTemporalInformationModified", "")).strip().upper() == "MODIFIED"
    )
    for path, elem in _all_elements(ds):
        vr, keyword = elem.VR, elem.keyword
        if vr == "SQ" or elem.tag.is_private_creator:
            continue
        if (elem.tag >> 16) & 0xFF00 == 0x6000 and (elem.tag & 0xFFFF) == 0x3000:
            if _overlay_has_data(elem):
                found.add(
                    Location.OVERLAY,
                    path,
                    C.OTHER,
                    "overlay",
                    f"{keyword or path}: overlay bitmap with data",
                )
            continue
        if elem.tag == 0x7FE00010 or vr in (
            "OW",
            "OF",
            "OD",
            "OL",
            "OV",
            "FL",
            "FD",
            "SL",
            "SS",
            "UL",
            "US",
            "SV",
            "UV",
            "AT",
        ):
            continue
        text = _text(elem)
        if not text.strip():
            continue
        label = f"{keyword or path}: "
        if keyword == "BurnedInAnnotation":
            if text.strip().upper() == "YES":
                found.add(Location.PIXELS, path, C.OTHER, "burned-in", "BurnedInAnnotation: YES")
            continue
        if vr == "PN":
            if not _is_pseudonym(text):
                found.add(Location.HEADER, path, C.NAMES, "vr:PN", label + mask(text))
        elif vr in ("DA", "DT"):
            for part in text.split("\\"):
                part = part.strip()
                if part.startswith(PLACEHOLDER_DATES):
                    continue
                if len(part) > 4 or (vr == "DA" and part):
                    found.add(
                        Location.HEADER,
                        path,
                        C.DATES,
                        "shifted-date" if modified else f"vr:{vr}",
                        label + mask(part),
                    )
        elif vr == "AS":
            m = re.fullmatch(r"(\d{3})Y", text.strip())
            if m and int(m[1]) > 90:  # 090Y is Safe Harbor's "90 or older"
                found.add(Location.HEADER, path, C.DATES, "pattern:age", label + mask(text))
            continue
        elif vr == "UI":
            for comp in text.split("."):
                if len(comp) == 8 and _date_forms(comp):
                    found.add(Location.HEADER, path, C.DATES, "uid:date", label + "…" + mask(comp))
            if known_values is not None:
                for cat in known_values.find_in_uid(text):
                    found.add(
                        Location.HEADER,
                        path,
                        cat,
                        "exact-value",
                        label + "… (a known value inside the UID)",
                    )
            continue
        elif vr in ("DS", "IS", "CS", "TM", "AE"):
            if keyword in IDENTIFYING_ATTRIBUTES:
                found.add(
                    Location.HEADER,
                    path,
                    IDENTIFYING_ATTRIBUTES[keyword],
                    "attribute",
                    label + mask(text),
                )
            if known_values is not None and vr != "DS":
                for start, end, cat in known_values.find(text):
                    found.add(
                        Location.HEADER, path, cat, "exact-value", label + mask(text[start:end])
                    )
            continue
        if (
            keyword in IDENTIFYING_ATTRIBUTES
            and not (keyword in PSEUDONYMISED and _is_pseudonym(text, keyword))
            and not (keyword == "PatientAddress" and _ZIP3.fullmatch(text))
        ):
            found.add(
                Location.HEADER,
                path,
                IDENTIFYING_ATTRIBUTES[keyword],
                "attribute",
                label + mask(text),
            )
        if vr in TEXT_VRS or vr in ("UN", "OB"):
            if keyword not in NO_PATTERN_KEYWORDS and not path.startswith(NO_PATTERN_SEQUENCES):
                skip = EQUIPMENT_RULES if keyword in EQUIPMENT_KEYWORDS else frozenset()
                found.text(Location.HEADER, path, label, text, None, skip=skip)
            if elem.tag.is_private and _name_like(text):
                found.add(Location.HEADER, path, C.NAMES, "private:name", label + mask(text))
        # a keyed pseudonym (HL..., HA...) can contain a short name or number only by chance
        if known_values is not None and not (
            keyword in PSEUDONYMISED and _is_pseudonym(text, keyword)
        ):
            for start, end, cat in known_values.find(text):
                found.add(Location.HEADER, path, cat, "exact-value", label + mask(text[start:end]))
    if ocr:
        _ocr(ds, found, known_values)
    return found.out


_OCR_STATE: dict[str, object] = {}


def ocr_status() -> str | None:
    """``None`` when OCR can run, else why not (a note for the report)."""
    if "status" not in _OCR_STATE:
        try:
            from hipaa_lab.deid import pixels
        except ImportError:
            _OCR_STATE["status"] = "OCR skipped: hipaa_lab.deid.pixels is not installed"
        else:
            try:
                ok = pixels.ocr_available()
            except Exception as exc:  # a broken OCR set-up is a note, not a crash
                ok, why = False, f"OCR skipped: {exc}"
            else:
                why = "OCR skipped: tesseract is not available (install Debian's tesseract-ocr)"
            _OCR_STATE["status"] = None if ok else why
    return _OCR_STATE["status"]  # type: ignore[return-value]


def _ocr(ds: Dataset, found: _Collector, known: KnownValues | None) -> None:
    """Text left in the pixels, by :func:`hipaa_lab.deid.textcheck.find_leaks`: the check the
    de-identifier verifies its output with, so what it lets out this finds nothing in."""
    if "PixelData" not in ds or ocr_status() is not None:
        return
    from hipaa_lab.deid import textcheck
    from hipaa_lab.deid.textcheck import LeakKind

    try:
        leaks = textcheck.find_leaks(ds, known)
    except Exception as exc:  # undecodable pixels: say so, go on
        found.add(
            Location.PIXELS, None, C.OTHER, "ocr:error", f"pixels not read: {type(exc).__name__}"
        )
        return
    single = _frames(ds) == 1
    lines: dict[int, list[Any]] = {}
    for leak in leaks:
        label = "" if single else f"frame {leak.frame + 1}: "
        if leak.kind is LeakKind.TEXT_LINES:
            lines.setdefault(leak.frame, []).append(leak.box)
        elif leak.kind is LeakKind.PATTERN:
            found.add(
                Location.PIXELS,
                None,
                leak.category,
                f"ocr:pattern:{leak.rule}",
                label + mask(leak.text),
            )
        elif leak.kind is LeakKind.KNOWN_VALUE:
            found.add(
                Location.PIXELS, None, leak.category, "ocr:exact-value", label + mask(leak.text)
            )
        else:
            found.add(Location.PIXELS, None, C.OTHER, "ocr:legible", label + mask(leak.text))
    for frame, boxes in lines.items():
        label = "" if single else f"frame {frame + 1}: "
        top, bottom = min(b.y for b in boxes), max(b.y + b.height for b in boxes)
        found.add(
            Location.PIXELS,
            None,
            C.OTHER,
            "ocr:text-lines",
            f"{label}{len(boxes)} lines of text at rows {top}-{bottom}",
        )


def _frames(ds: Dataset) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return 1


# --------------------------------------------------------------------------- files and trees


def _walk(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name


def _read(path: Path, *, stop_before_pixels: bool = False) -> Dataset | None:
    """The dataset in ``path``, or ``None`` when it is not DICOM; raises on a damaged DICOM file."""
    try:
        return dcmread(path, stop_before_pixels=stop_before_pixels, defer_size="2 MB")
    except InvalidDicomError:
        pass
    with open(path, "rb") as f:
        head = f.read(8)
    # no preamble: a raw dataset as old archives hold, starting with group 0008 (or 0002), in
    # little or big endian (the de-identifier reads both: ExplVR_BigEndNoMeta.dcm)
    little = head[:2] in (b"\x08\x00", b"\x02\x00") and head[3:4] == b"\0"
    big = head[:2] in (b"\x00\x08", b"\x00\x02") and head[2:3] == b"\0"
    if len(head) == 8 and (little or big):
        try:
            return dcmread(
                path, force=True, stop_before_pixels=stop_before_pixels, defer_size="2 MB"
            )
        except Exception:
            return None
    return None


def _text_content(path: Path, limit: int = 4 << 20) -> str | None:
    with open(path, "rb") as f:
        data = f.read(limit)
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
        printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text[:8192])
        return text if printable >= 0.95 * min(len(text), 8192) else None


_UID_NAME = re.compile(r"^\d+(?:\.\d+)+$")
#: A name hipaa_lab.deid.batch writes for a UID it did not replace: "x" and a keyed digest (16 hex
#: digits), whose digit runs are chance.
_KEYED_NAME = re.compile(r"(?<![A-Za-z0-9])x[0-9a-f]{16}(?![A-Za-z0-9])")


def _scan_name(rel: str, found: _Collector, known: KnownValues | None) -> None:
    for part in rel.split("/"):
        stem = part
        for ext in (".dcm", ".dicom", ".ima", ".img", ".txt", ".json", ".csv", ".xml", ".log"):
            if stem.lower().endswith(ext):
                stem = stem[: -len(ext)]
        if _UID_NAME.match(stem):  # a UID as a name: only embedded dates and known values count
            for comp in stem.split("."):
                if len(comp) == 8 and _date_forms(comp):
                    found.add(Location.FILENAME, None, C.DATES, "uid:date", f"name {mask(part)}")
            if known is not None:
                for cat in known.find_in_uid(stem):
                    found.add(Location.FILENAME, None, cat, "exact-value", f"name {mask(part)}")
            continue
        words = re.sub(r"(?<![A-Z])HL[A-Z0-9]{6,}", " ", stem)  # pseudonyms
        words = _KEYED_NAME.sub(" ", words)
        words = words.replace("_", " ")
        for rule, cat, _, _ in find_patterns(words, loose=True):
            found.add(Location.FILENAME, None, cat, f"pattern:{rule}", f"name {mask(part, 64)}")
        if known is not None:
            for _, _, cat in known.find(words):
                found.add(Location.FILENAME, None, cat, "exact-value", f"name {mask(part, 64)}")


def _provenance_paths(line: str) -> list[str]:
    """Of a line of the de-identifier's provenance log, the text to scan: the tag paths.

    A line is one output's record, ``{"output": name, "changes": [{"path", "action", "rule"}...]}``
    (or, in logs of earlier versions, one change). The action and the rule (a table row's number
    and name, "Referring Physician's Name") are the tool's own words, not the input's, and the
    output's name is made of new UIDs and keyed hashes; any other line is scanned whole.
    """
    if line.startswith(('{"path": ', '{"output": ', '{"path":"', '{"output":"')):
        try:
            record = json.loads(line)
        except ValueError:
            return [line]
        if isinstance(record, dict) and set(record) == {"path", "action", "rule"}:
            return [str(record["path"])]
        if (
            isinstance(record, dict)
            and set(record) == {"output", "changes"}
            and isinstance(record["output"], str)
            and isinstance(record["changes"], list)
            and all(
                isinstance(c, dict) and set(c) == {"path", "action", "rule"}
                for c in record["changes"]
            )
        ):
            return [_KEYED_NAME.sub(" ", record["output"])] + [
                str(c["path"]) for c in record["changes"]
            ]
    return [line]


def scan_file(
    path: str | os.PathLike[str],
    *,
    rel: str | None = None,
    known_values: KnownValues | None = None,
    ocr: bool = False,
) -> list[Finding]:
    """Every finding in one file: its name (each folder of ``rel``) and its content.

    A DICOM file is scanned with :func:`scan_dataset`; any other file for its name and, when it
    is text, its content (``path`` is then ``line N``).

    Raises
    ------
    Exception
        Whatever pydicom raises for a damaged DICOM file (:func:`scan_paths` reports it and goes on).
    """
    path = Path(path)
    rel = rel if rel is not None else path.name
    found = _Collector(rel)
    _scan_name(rel, found, known_values)
    ds = _read(path, stop_before_pixels=False)
    if ds is not None:
        findings = scan_dataset(ds, file=rel, known_values=known_values, ocr=ocr)
        return found.out + findings
    text = _text_content(path)
    if text is not None:
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                for text in _provenance_paths(line):
                    found.text(Location.HEADER, f"line {n}", "", text, known_values, loose=False)
    return found.out


@dataclass
class ScanReport:
    """What one scan found, with the files it could not read and notes (e.g. OCR skipped)."""

    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def high(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "high"]

    @property
    def clean(self) -> bool:
        """No high-severity finding (shifted dates are low) and every file read."""
        return not self.high and not self.errors

    def by_category(self) -> Counter[str]:
        """High-severity findings counted by Safe Harbor category."""
        return Counter(f.category.value for f in self.high)

    def files_with_findings(self) -> list[str]:
        return sorted({f.file for f in self.high})

    def masked_file(self, file: str) -> str:
        """``file`` with every folder or name that holds a finding masked, for printing."""
        flagged = {
            f.excerpt for f in self.findings if f.file == file and f.location is Location.FILENAME
        }
        if not flagged:
            return file

        def one(part: str) -> str:
            if f"name {mask(part, 64)}" not in flagged:
                return part
            stem, dot, ext = part.rpartition(".")
            return (
                mask(stem, 10_000) + dot + ext
                if dot and stem and len(ext) <= 5
                else mask(part, 10_000)
            )

        return "/".join(one(p) for p in file.split("/"))

    def summary(self) -> str:
        """A few lines: counts by category, low-severity notes, unreadable files, notes."""
        counts = self.by_category()
        lines = [
            f"{len(self.high)} finding(s) in {len(self.files_with_findings())} of {self.files} file(s)"
            + (
                ": " + ", ".join(f"{cat} {n}" for cat, n in sorted(counts.items()))
                if counts
                else ""
            )
        ]
        low = len(self.findings) - len(self.high)
        if low:
            lines.append(
                f"{low} low-severity finding(s): shifted dates (LongitudinalTemporalInformationModified)"
            )
        if self.errors:
            lines.append(f"{len(self.errors)} file(s) could not be read")
        lines.extend(self.notes)
        return "\n".join(lines)


_WORKER: dict[str, object] = {}


def _init_worker(known: KnownValues | None, ocr: bool) -> None:
    _WORKER["known"], _WORKER["ocr"] = known, ocr


def _scan_one(task: tuple[str, str]) -> tuple[list[Finding], str | None]:
    path, rel = task
    try:
        known = _WORKER.get("known")
        known = known if isinstance(known, KnownValues) else None
        return scan_file(path, rel=rel, known_values=known, ocr=bool(_WORKER.get("ocr"))), None
    except Exception as exc:  # a damaged file is reported; the scan goes on
        return [], f"{type(exc).__name__}: {exc}"[:200]


def scan_paths(
    paths: Iterable[str | os.PathLike[str]],
    *,
    key: AnswerKey | None = None,
    originals: str | os.PathLike[str] | None = None,
    ocr: bool = True,
    jobs: int = 1,
    known_values: KnownValues | None = None,
) -> ScanReport:
    """Scan files and trees (recursively).

    Parameters
    ----------
    paths
        Files and folders. A finding's ``file`` is relative to the folder it was found under (the
        answer key's form), or the file's name for a file given directly.
    key, originals
        Search also for the exact values of an answer key and/or of the original tree.
    ocr
        Read burned-in text (skipped, with a note, when Tesseract is unavailable).
    jobs
        Worker processes.
    known_values
        Exact values already collected (added to those of ``key`` and ``originals``).

    Raises
    ------
    FileNotFoundError
        When a path does not exist.
    """
    roots = [Path(p) for p in paths]
    for root in roots:
        if not root.exists():
            raise FileNotFoundError(f"no such file or folder: {root}")
    known = known_values
    if key is not None or originals is not None:
        known = KnownValues() if known is None else known.copy()
        if key is not None:
            known.update(KnownValues.from_key(key))
        if originals is not None:
            known.update(KnownValues.from_tree(originals))
    report = ScanReport()
    if ocr and ocr_status() is not None:
        report.notes.append(str(ocr_status()))
        ocr = False
    tasks = []
    for root in roots:
        for file in _walk(root):
            tasks.append(
                (str(file), file.name if root.is_file() else file.relative_to(root).as_posix())
            )
    report.files = len(tasks)
    if jobs > 1 and len(tasks) > 1:
        # the known values go to each worker once, not with every file
        with ProcessPoolExecutor(
            max_workers=jobs, initializer=_init_worker, initargs=(known, ocr)
        ) as pool:
            results = list(
                pool.map(_scan_one, tasks, chunksize=max(1, min(64, len(tasks) // (jobs * 8))))
            )
    else:
        _init_worker(known, ocr)
        results = [_scan_one(t) for t in tasks]
    for (_, rel), (findings, error) in zip(tasks, results, strict=True):
        report.findings.extend(findings)
        if error is not None:
            report.errors.append((rel, error))
    return report


def main(args: argparse.Namespace) -> int:
    """``hipaa-lab scan PATH... [--key FILE] [--original DIR] [--no-ocr] [--jobs N] [--show-paths]``.

    Prints one finding a line (file, tag path or location, category, rule, masked excerpt,
    tab-separated), then a summary. Exit status: 1 when something was found (or a file could not be
    read), 0 when clean, 2 on a usage error.
    """
    import sys

    missing = [
        p for p in [*args.paths, args.key, args.original] if p is not None and not Path(p).exists()
    ]
    if missing:
        print(
            f"hipaa-lab scan: no such file or folder: {', '.join(map(str, missing))}",
            file=sys.stderr,
        )
        return 2
    if args.jobs < 1:
        print(f"hipaa-lab scan: --jobs must be at least 1, got {args.jobs}", file=sys.stderr)
        return 2
    try:
        key = AnswerKey.load(args.key) if args.key else None
    except AnswerKeyError as exc:
        print(f"hipaa-lab scan: --key: {exc}", file=sys.stderr)
        return 2
    known = None
    if key is not None or args.original:
        known = KnownValues.from_key(key) if key is not None else KnownValues()
        if args.original:
            known.update(KnownValues.from_tree(args.original))
    total = ScanReport()
    for root in args.paths:
        report = scan_paths([root], known_values=known, ocr=not args.no_ocr, jobs=args.jobs)
        base = Path(root).parent if Path(root).is_file() else Path(root)
        prefix = "" if str(base) == "." else base.as_posix().rstrip("/") + "/"
        for f in report.findings:
            print(f.format(prefix + (f.file if args.show_paths else report.masked_file(f.file))))
        for rel, error in report.errors:
            print(
                f"hipaa-lab scan: {prefix}{rel if args.show_paths else report.masked_file(rel)}: not read: {error}",
                file=sys.stderr,
            )
        total.findings += report.findings
        total.files += report.files
        total.errors += report.errors
        total.notes += [n for n in report.notes if n not in total.notes]
    print(total.summary())
    return 0 if total.clean else 1
