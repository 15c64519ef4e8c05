"""What one profile and set of options does: Table E.1-1's actions resolved once for a batch, the
Safe Harbor overrides, and the attribute Types that decide the combined actions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydicom.datadict import (  # type: ignore[attr-defined]  # DicomDictionary: not in __all__
    DicomDictionary,
    dictionary_VR,
    tag_for_keyword,
)

from hipaa_lab.deid import profile as annex_e
from hipaa_lab.deid._tags import PATIENT_ADDRESS, PATIENT_BIRTH_DATE
from hipaa_lab.deid.profile import Action, Option, Profile, resolve

__all__ = ["ATTRIBUTE_TYPES", "Policy", "SAFE_CREATORS", "SAFE_PRIVATE"]


def _by_tag(types: Mapping[str, int]) -> dict[int, int]:
    """``types`` keyed by tag instead of DICOM keyword."""
    out = {}
    for keyword, attribute_type in types.items():
        tag = tag_for_keyword(keyword)
        if tag is None:
            raise KeyError(f"{keyword!r} is not a DICOM keyword")
        out[int(tag)] = attribute_type
    return out


#: Type in the IODs hipaa-lab meets (CT, MR, CR, DX, MG, US, SC, Basic Text SR) of the attributes
#: whose row has a combined action.  Others are unknown: X where allowed, else Z, else D.
ATTRIBUTE_TYPES: dict[int, int] = _by_tag(
    {
        "StudyDate": 2,
        "StudyTime": 2,  # General Study
        "ContentDate": 2,
        "ContentTime": 2,  # 2C in General Image
        "PatientID": 2,
        "ContrastBolusAgent": 2,  # Contrast/Bolus module
        "InstitutionName": 3,
        "StationName": 3,
        "DeviceSerialNumber": 3,
        "OperatorsName": 3,  # General Equipment, Series
        "AcquisitionDate": 3,
        "AcquisitionTime": 3,
        "AcquisitionDateTime": 3,
        "SeriesDate": 3,
        "SeriesTime": 3,
        "InstanceCreationDate": 3,
        "InstanceCreationTime": 3,
        "ProtocolName": 3,
        "InstitutionCodeSequence": 3,
        "ReferencedPerformedProcedureStepSequence": 3,
        "ReferencedStudySequence": 3,
        "ReferencedImageSequence": 3,
        "SourceImageSequence": 3,
        "AcquisitionContextSequence": 3,
        "AcquisitionDeviceProcessingDescription": 3,
        "RequestedProcedureDescription": 3,
    }
)
#: Overrides for one SOP class family (prefix of the SOP Class UID).
_TYPES_BY_CLASS = {
    "1.2.840.10008.5.1.4.1.1.88.": _by_tag(
        {
            "ContentDate": 1,
            "ContentTime": 1,  # SR Document General
            # Type 2 in SR Document Series and the Referenced Request Sequence
            "ReferencedPerformedProcedureStepSequence": 2,
            "ReferencedStudySequence": 2,
            "RequestedProcedureDescription": 2,
        }
    ),
    # DX, MG, IO: Acquisition Context module
    "1.2.840.10008.5.1.4.1.1.1.": _by_tag({"AcquisitionContextSequence": 2}),
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
#: The private creators of :data:`SAFE_PRIVATE`: the only ones named in the provenance log.
SAFE_CREATORS = frozenset(creator for creator, _, _ in SAFE_PRIVATE)
#: The options that keep dates: whole (K), or shifted by a keyed per-patient offset (C).
_DATE_ACTIONS = {
    Option.RETAIN_LONG_FULL_DATES: Action.KEEP,
    Option.RETAIN_LONG_MODIFIED_DATES: Action.CLEAN,
}


class Policy:
    """Table E.1-1 under one profile and set of options, resolved once.

    Parameters
    ----------
    options
        :class:`~hipaa_lab.deid.profile.Option` values or their names.
    profile
        ``"basic"`` or ``"safe-harbor"``.

    Raises
    ------
    ValueError
        For an unknown option or profile, or options that contradict each other or the profile.
    """

    def __init__(self, options: Iterable[Option | str], profile: str | Profile) -> None:
        self.options = annex_e._parse_options(options)
        try:
            self.profile = Profile(profile)
        except ValueError:
            raise ValueError(f"unknown profile {profile!r}; choose basic or safe-harbor") from None
        harbor = self.profile is Profile.SAFE_HARBOR
        if harbor and self.options & {*_DATE_ACTIONS, Option.RETAIN_UIDS}:
            raise ValueError(
                "the safe-harbor profile keeps only years of dates and no original UID: "
                "drop retain-long-*-dates and retain-uids, or use --profile basic"
            )
        self.table = annex_e.load_table()
        effective = set(self.options)
        if harbor:
            effective.add(Option.RETAIN_PATIENT_CHARACTERISTICS)
        #: The action of every tag of the table (Safe Harbor's own where it overrides the table).
        self.actions = self.table.actions(effective)
        if harbor:
            self._add_safe_harbor()
        self.overlay = {el: resolve(rule, effective) for el, rule in self.table.overlay.items()}
        self.curve = resolve(self.table.curve, effective)
        self.private = resolve(self.table.private, effective)
        self.items = {
            code: resolve(rule, effective) for code, rule in self.table.content_items.items()
        }
        #: What a date outside the table becomes (and the table's dates that the options keep).
        self.dates = next(
            (a for option, a in _DATE_ACTIONS.items() if option in self.options),
            Action.YEAR if harbor else Action.REMOVE,
        )
        #: Retain UIDs: UIDs outside the table (the VR rule) stay as they are.
        self.retains_uids = Option.RETAIN_UIDS in self.options and not harbor

    def _add_safe_harbor(self) -> None:
        """The years of the dates that longitudinal options would keep, and the 3-digit ZIP."""
        full_dates = Option.RETAIN_LONG_FULL_DATES.table_key
        for tag, rule in self.table.by_tag.items():
            if (
                rule.options.get(full_dates or "") is Action.KEEP
                and tag in DicomDictionary
                and dictionary_VR(tag) in ("DA", "DT")
            ):
                self.actions[tag] = Action.YEAR
        self.actions[PATIENT_BIRTH_DATE] = Action.YEAR  # the year, unless over 89
        self.actions[PATIENT_ADDRESS] = Action.ZIP3

    @staticmethod
    def attribute_type(tag: int, sop_class: str) -> int | None:
        """The Type of ``tag`` in the IOD of ``sop_class`` (``None`` when not known)."""
        for prefix, types in _TYPES_BY_CLASS.items():
            if sop_class.startswith(prefix) and tag in types:
                return types[tag]
        return ATTRIBUTE_TYPES.get(tag)
