"""The de-identification engine: :class:`Deidentifier` cleans one data set in place, element by
element, by Table E.1-1 (:mod:`.profile`) and the rules described in :mod:`hipaa_lab.deid`."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from pydicom.charset import default_encoding
from pydicom.datadict import (  # type: ignore[attr-defined]  # DicomDictionary: not in __all__
    DicomDictionary,
    dictionary_VR,
    keyword_for_tag,
)
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.sequence import Sequence
from pydicom.uid import UID
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

from hipaa_lab.deid import profile as annex_e
from hipaa_lab.deid.profile import BASIC_CODE, EDITION, Option, Profile, resolve, resolve_by_type
from hipaa_lab.deid.pseudonyms import Pseudonymizer
from hipaa_lab.deid.text import (
    _AMBIGUOUS,
    _CODE_TAGS,
    _COLLECTED_VRS,
    _CONTENT_SEQUENCE,
    _CREATOR,
    _DATE_VRS,
    _DIGIT,
    _FREE_TEXT,
    _ITEM_VALUES,
    _SINGLE_VALUED,
    _TEXT_VRS,
    _TOKEN,
    _WORD,
    _date_formats,
    clean_descriptor,
    clean_text,
)
from hipaa_lab.phi import tag_path

__all__ = [
    "ATTRIBUTE_TYPES",
    "Change",
    "Deidentifier",
    "RESTRICTED_ZIP3",
    "SAFE_PRIVATE",
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
#: Three-digit ZIP codes whose area holds 20,000 people or fewer, which Safe Harbor turns into 000
#: (45 CFR 164.514(b)(2)(i)(B)). The rule asks for "the current publicly available data from the
#: Bureau of the Census". Source of this list: HHS OCR, "Guidance Regarding Methods for
#: De-identification of Protected Health Information in Accordance with the HIPAA Privacy Rule"
#: (26 November 2012), section "Guidance on Satisfying the Safe Harbor Method", which lists these 17
#: codes from the 2000 Census; it is the list HHS has published, not necessarily the current data.
#: To update it: take the latest decennial Census population by ZIP Code Tabulation Area (ZCTA)
#: from data.census.gov (table P1, "Total Population", geography "ZIP Code Tabulation Area"), add up
#: the population of the ZCTAs sharing each first three digits, list every three-digit prefix whose
#: total is 20,000 or fewer, and replace the codes below (with the Census table named in this
#: comment); tests/test_deid_e2e.py plants one restricted code (036).
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


class Deidentifier:
    """Cleans datasets in place under one key, profile and set of options.

    Parameters
    ----------
    key
        The secret behind pseudonyms, UIDs and date shifts (see :func:`hipaa_lab.deid.pseudonyms.load_key`).
    options
        :class:`~hipaa_lab.deid.profile.Option` values or their names (``"retain-uids"``...).
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
