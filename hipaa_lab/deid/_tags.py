"""The tags and tag ranges the engine names, as plain ints (the engine's tables are keyed by int:
pydicom's ``BaseTag`` compares in Python on every dict look-up)."""

from __future__ import annotations

from collections.abc import Iterable

from pydicom.datadict import tag_for_keyword

SPECIFIC_CHARACTER_SET = 0x00080005
SOP_CLASS_UID = 0x00080016
SOP_INSTANCE_UID = 0x00080018
STUDY_DATE = 0x00080020
CONTENT_DATE = 0x00080023
ACCESSION_NUMBER = 0x00080050
PATIENT_ID = 0x00100020
ISSUER_OF_PATIENT_ID = 0x00100021
PATIENT_BIRTH_DATE = 0x00100030
PATIENT_AGE = 0x00101010
PATIENT_ADDRESS = 0x00101040
CONTENT_SEQUENCE = 0x0040A730
PIXEL_DATA = 0x7FE00010

#: Groups: the Patient module's, and the repeating groups of curves (50xx) and overlays (60xx).
PATIENT_GROUP = 0x0010
FIRST_DATA_SET_GROUP = 0x0008  # below it: command and file meta groups
CURVE_GROUPS = range(0x5000, 0x501F)
OVERLAY_GROUPS = range(0x6000, 0x601F)
OVERLAY_DATA = 0x3000  # the element of Overlay Data in an overlay group
GROUP_LENGTH = 0x0000  # the element of a group's length
#: The element numbers of private creators in a private (odd) group: (gggg,0010) to (gggg,00FF).
PRIVATE_CREATORS = range(0x10, 0x100)


def tags(keywords: Iterable[str]) -> frozenset[int]:
    """The tags of DICOM ``keywords`` (each must be in pydicom's data dictionary)."""
    found = {keyword: tag_for_keyword(keyword) for keyword in keywords}
    unknown = sorted(k for k, tag in found.items() if tag is None)
    if unknown:
        raise KeyError(f"not DICOM keywords: {', '.join(unknown)}")
    return frozenset(int(tag) for tag in found.values() if tag is not None)


#: The values of SR content items (Table E.3.4-1 decides them by the item's concept).
CONTENT_ITEM_VALUES = tags(["DateTime", "Date", "Time", "PersonName", "UID", "TextValue"])
#: Codes and versions outside the table, where digit runs identify nobody (the scanner's list),
#: and the equipment's make and model ("DR 7500"): kept unless they hold this patient's identifier.
CODE_TAGS = tags(
    [
        "CodeValue",
        "CodingSchemeDesignator",
        "CodingSchemeVersion",
        "MappingResource",
        "ContextIdentifier",
        "CodingSchemeRegistry",
        "CodingSchemeExternalID",
        "LongCodeValue",
        "MappingResourceName",
        "TemplateIdentifier",
        "SoftwareVersions",
        "Manufacturer",
        "ManufacturerModelName",
    ]
)


def creator_tag(tag: int) -> int:
    """The tag of the private creator that reserves the block of private ``tag``."""
    return (tag >> 16 << 16) | ((tag & 0xFFFF) >> 8)
