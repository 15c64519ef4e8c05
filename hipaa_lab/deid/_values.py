"""The values that change rather than go: keyed pseudonyms, new UIDs, dummies, shifted dates,
Safe Harbor's years, ages and 3-digit ZIP codes."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.uid import UID

from hipaa_lab.deid._raw import map_text
from hipaa_lab.deid._tags import ACCESSION_NUMBER, PATIENT_BIRTH_DATE
from hipaa_lab.deid.profile import Action
from hipaa_lab.deid.pseudonyms import Pseudonymizer
from hipaa_lab.deid.text import _TEXT_VRS, clean_descriptor

if TYPE_CHECKING:
    from hipaa_lab.deid._context import PatientContext

__all__ = ["DUMMY", "RESTRICTED_ZIP3", "ValueCleaner", "cap_age"]

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

#: The dummy value of each VR (action D); ``"ANONYMIZED"`` for the others.
DUMMY = {
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
_ZIP = re.compile(r"\b(\d{5})(?:-\d{4})?\b")
_OLDEST_AGE = 89  # Safe Harbor: older ages are "90 or older"


class ValueCleaner:
    """New values under one key: the same input value gets the same output, batch after batch.

    Parameters
    ----------
    pseudo
        The keyed pseudonyms, UIDs and date shifts.
    retains_uids
        Retain UIDs: UIDs outside Table E.1-1 (the VR rule) stay as they are.
    """

    def __init__(self, pseudo: Pseudonymizer, retains_uids: bool) -> None:
        self.pseudo = pseudo
        self.retains_uids = retains_uids
        self._uids: dict[str, str] = {}

    def pseudonym(self, tag: int, value: str, ds: Dataset) -> str:
        """The keyed pseudonym of a Patient ID (with its issuer in ``ds``) or Accession Number."""
        if tag == ACCESSION_NUMBER:
            return self.pseudo.accession(value)
        return self.pseudo.patient_id(value, str(ds.get("IssuerOfPatientID", "") or ""))

    def keeps_uid(self, rule: str) -> bool:
        """Whether a UID decided by ``rule`` stays as it is (Retain UIDs, for the VR rule)."""
        return self.retains_uids and rule.startswith("VR rule")

    def uid(self, value: str) -> str:
        """The replacement of one UID (registered UIDs such as SOP classes stay), cached per batch."""
        new = self._uids.get(value)
        if new is None:
            if len(self._uids) > 100_000:
                self._uids.clear()
            u = value.strip("\0 ")
            new = u if not u or (UID(u).is_valid and UID(u).name != u) else self.pseudo.uid(u)
            self._uids[value] = new
        return new

    def replace_uids(self, elem: DataElement, path: str, ctx: PatientContext, rule: str) -> None:
        """Every UID of ``elem`` replaced (action U), unless :meth:`keeps_uid`."""
        if self.keeps_uid(rule):
            return
        old = elem.value
        elem.value = map_text(old, self.uid)
        if elem.value != old:
            ctx.log(path, Action.NEW_UID, rule)

    @staticmethod
    def clean(elem: DataElement, vr: str, ctx: PatientContext) -> None:
        """Action C on a value: dates shifted, times kept, text cleaned, anything else a dummy."""
        if vr in ("DA", "DT"):

            def shift(v: object) -> str:
                v = str(v)
                new = Pseudonymizer.shift_date(v[:8], ctx.shift)
                return "" if new is None else new + v[8:]

            elem.value = map_text(elem.value, shift)
        elif vr == "TM":
            pass  # a whole-day shift leaves times of day as they were
        elif vr in _TEXT_VRS - {"PN", "AE"}:
            elem.value = map_text(elem.value, lambda s: clean_descriptor(s, ctx.tokens))
        elif vr in ("PN", "AE"):
            elem.value = "ANONYMIZED"
        else:
            elem.value = DUMMY.get(vr, elem.empty_value)

    @staticmethod
    def year(elem: DataElement, vr: str, ctx: PatientContext) -> None:
        """Safe Harbor: a date's year only (January 1st); a birth date over 89 years ago, none."""
        if elem.tag == PATIENT_BIRTH_DATE and ctx.birth_over_89:
            elem.value = elem.empty_value
            return

        def year(v: object) -> str:
            v = str(v).strip()
            if len(v) < 4 or not v[:4].isdigit():
                return ""
            return v[:4] if vr == "DT" else v[:4] + "0101"

        elem.value = map_text(elem.value, year)

    @staticmethod
    def zip3(elem: DataElement) -> None:
        """Safe Harbor: the first three digits of the last ZIP code, 000 for a small area."""
        zips = _ZIP.findall(str(elem.value or ""))
        z3 = zips[-1][:3] if zips else ""
        elem.value = ("000" if z3 in RESTRICTED_ZIP3 else z3) if z3 else elem.empty_value


def age_over_89(age: str) -> bool:
    """Whether an Age String (``"092Y"``) is over 89 years."""
    return age.endswith("Y") and age[:-1].isdigit() and int(age[:-1]) > _OLDEST_AGE


def cap_age(ds: Dataset, ctx: PatientContext, safe_harbor: bool) -> None:
    """Safe Harbor: a Patient's Age over 89 becomes 90.  The age is read under either profile
    (reading converts a raw element, so the output is written the same either way)."""
    age = str(ds.get("PatientAge", "") or "")
    if safe_harbor and age_over_89(age):
        ds.PatientAge = "090Y"
        ctx.log("PatientAge", Action.CLEAN, "Safe Harbor: ages over 89 become 90 or more")
