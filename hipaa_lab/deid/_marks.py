"""The de-identification marks a cleaned data set carries (PS3.15 E.1.1, PS3.3 C.7.1.1):
Patient Identity Removed, the method in words and as CID 7050 codes, and what became of dates."""

from __future__ import annotations

from pydicom.charset import default_encoding
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

from hipaa_lab.deid.profile import BASIC_CODE, EDITION, Action, Option, Profile

__all__ = ["Marks"]

#: Longitudinal Temporal Information Modified, by what dates outside the options became.
_DATES_MODIFIED = {
    Action.KEEP: "UNMODIFIED",
    Action.CLEAN: "MODIFIED",
    Action.YEAR: "MODIFIED",
    Action.REMOVE: "REMOVED",
}


class Marks:
    """The marks of one profile and set of options, encoded once per encoding.

    Parameters
    ----------
    options
        The options chosen.
    profile
        The profile chosen.
    dates
        What dates became (:attr:`hipaa_lab.deid._policy.Policy.dates`).
    """

    def __init__(self, options: frozenset[Option], profile: Profile, dates: Action) -> None:
        self.options = options
        self.profile = profile
        self.dates_modified = _DATES_MODIFIED[dates]
        self._encoded: dict[tuple[bool, bool], tuple[RawDataElement, ...]] = {}

    def method_text(self) -> list[str]:
        """DeidentificationMethod values (LO, 64 characters each): profile, edition, options."""
        head = f"hipaa-lab 0.1 DICOM PS3.15 {EDITION} Basic Profile"
        values = [head] + (
            ["HIPAA Safe Harbor 45 CFR 164.514(b)(2)"]
            if self.profile is Profile.SAFE_HARBOR
            else []
        )
        return values + sorted(o.code[1][:64] for o in self.options)

    def mark(self, ds: Dataset, pixel_cleaned: bool) -> None:
        """Add the marks to ``ds``; in a data set read from a little-endian file, as raw
        elements encoded once per encoding (written as they are, read back when asked for)."""
        implicit, little = ds.original_encoding
        if implicit is None or not little:
            self._add(ds, pixel_cleaned)
            return
        key = (implicit, pixel_cleaned)
        marks = self._encoded.get(key)
        if marks is None:
            marks = self._encoded[key] = self._encode(implicit, pixel_cleaned)
        for raw in marks:
            ds[raw.tag] = raw

    def _encode(self, implicit: bool, pixel_cleaned: bool) -> tuple[RawDataElement, ...]:
        scratch = Dataset()
        self._add(scratch, pixel_cleaned)
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

    def _add(self, ds: Dataset, pixel_cleaned: bool) -> None:
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
        ds.LongitudinalTemporalInformationModified = self.dates_modified
