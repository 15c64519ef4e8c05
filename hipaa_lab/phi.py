"""Protected health information: the 18 Safe Harbor identifiers, tag paths, and answer keys.

A *tag path* names one element anywhere in a dataset, through sequences and private blocks::

    PatientName
    OtherPatientIDsSequence[0].PatientID
    (0009,"ACME_PACS 1",10)              a private element: group, private creator, element byte
    (0011,1001)                          a public element with no keyword in this pydicom

An *answer key* lists every identifier planted in a generated tree: its file, where it is (a tag
path, a pixel or overlay box, or the file name), its Safe Harbor category and its value.
"""

from __future__ import annotations

import enum
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydicom.datadict import keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag, Tag

from hipaa_lab.errors import AnswerKeyError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "AnswerKey",
    "Layer",
    "Location",
    "PHIEntry",
    "PROFILE_KEYWORDS",
    "SafeHarborCategory",
    "element_text",
    "get_element",
    "iter_elements",
    "last_keyword",
    "remove_element",
    "safe_harbor_table",
    "tag_path",
    "write_atomic",
]


class SafeHarborCategory(str, enum.Enum):
    """The 18 identifiers of HIPAA Safe Harbor, 45 CFR 164.514(b)(2)(i)(A)-(R)."""

    NAMES = "names"
    GEOGRAPHIC = "geographic"
    DATES = "dates"
    TELEPHONE = "telephone"
    FAX = "fax"
    EMAIL = "email"
    SSN = "ssn"
    MEDICAL_RECORD = "medical_record"
    HEALTH_PLAN = "health_plan"
    ACCOUNT = "account"
    LICENSE = "license"
    VEHICLE = "vehicle"
    DEVICE = "device"
    URL = "url"
    IP_ADDRESS = "ip_address"
    BIOMETRIC = "biometric"
    PHOTO = "photo"
    OTHER = "other"

    @property
    def paragraph(self) -> str:
        """The paragraph letter in 164.514(b)(2)(i), ``"A"`` for names."""
        return "ABCDEFGHIJKLMNOPQR"[list(SafeHarborCategory).index(self)]

    @property
    def description(self) -> str:
        """The identifier as the rule words it."""
        return _DESCRIPTIONS[self]


#: Each identifier as 45 CFR 164.514(b)(2)(i) words it. Messages quote the text before the first
#: comma (``description.split(",")[0]``), so that part stays a short name of the identifier.
_DESCRIPTIONS = {
    SafeHarborCategory.NAMES: "Names",
    SafeHarborCategory.GEOGRAPHIC: (
        "All geographic subdivisions smaller than a State, including street address, city, county,"
        " precinct, zip code, and their equivalent geocodes, except for the initial three digits of"
        " a zip code if, according to the current publicly available data from the Bureau of the"
        " Census: (1) the geographic unit formed by combining all zip codes with the same three"
        " initial digits contains more than 20,000 people; and (2) the initial three digits of a zip"
        " code for all such geographic units containing 20,000 or fewer people is changed to 000"
    ),
    SafeHarborCategory.DATES: (
        "All elements of dates (except year) for dates directly related to an individual, including"
        " birth date, admission date, discharge date, date of death; and all ages over 89 and all"
        " elements of dates (including year) indicative of such age, except that such ages and"
        " elements may be aggregated into a single category of age 90 or older"
    ),
    SafeHarborCategory.TELEPHONE: "Telephone numbers",
    SafeHarborCategory.FAX: "Fax numbers",
    SafeHarborCategory.EMAIL: "Electronic mail addresses",
    SafeHarborCategory.SSN: "Social security numbers",
    SafeHarborCategory.MEDICAL_RECORD: "Medical record numbers",
    SafeHarborCategory.HEALTH_PLAN: "Health plan beneficiary numbers",
    SafeHarborCategory.ACCOUNT: "Account numbers",
    SafeHarborCategory.LICENSE: "Certificate/license numbers",
    SafeHarborCategory.VEHICLE: "Vehicle identifiers and serial numbers, including license plate numbers",
    SafeHarborCategory.DEVICE: "Device identifiers and serial numbers",
    SafeHarborCategory.URL: "Web Universal Resource Locators (URLs)",
    SafeHarborCategory.IP_ADDRESS: "Internet Protocol (IP) address numbers",
    SafeHarborCategory.BIOMETRIC: "Biometric identifiers, including finger and voice prints",
    SafeHarborCategory.PHOTO: "Full face photographic images and any comparable images",
    SafeHarborCategory.OTHER: (
        "Any other unique identifying number, characteristic, or code, except as permitted by"
        " paragraph (c) of this section (45 CFR 164.514(c): re-identification codes)"
    ),
}


class Location(str, enum.Enum):
    """Where in a file an identifier sits."""

    HEADER = "header"
    PIXELS = "pixels"
    OVERLAY = "overlay"
    FILENAME = "filename"


class Layer(str, enum.Enum):
    """Why an identifier is removed: because the rule requires it, or because the DICOM profile does.

    Safe Harbor's list is of identifiers "of the individual or of relatives, employers, or
    household members of the individual" (45 CFR 164.514(b)(2)(i)). The DICOM Basic Application
    Level Confidentiality Profile (PS3.15 Annex E) also removes the identity of the staff, the
    institution and the equipment: sound practice, and the kit follows it, but not the rule.
    """

    RULE = "rule"
    PROFILE = "profile"

    @property
    def label(self) -> str:
        """What a learner sees beside an identifier of this layer."""
        return {
            Layer.RULE: "Safe Harbor, 45 CFR 164.514(b)(2)",
            Layer.PROFILE: "DICOM profile (PS3.15 Annex E), beyond Safe Harbor",
        }[self]


#: Elements that identify the institution, its staff or its equipment, not the patient or their
#: relatives, employers or household: removed by the DICOM profile, not required by the rule.
PROFILE_KEYWORDS = frozenset(
    {
        # staff
        "ReferringPhysicianName",
        "PerformingPhysicianName",
        "NameOfPhysiciansReadingStudy",
        "PhysiciansOfRecord",
        "RequestingPhysician",
        "ScheduledPerformingPhysicianName",
        "OperatorsName",
        "VerifyingObserverName",
        "ReviewerName",
        # the institution, and who issued the patient's ID
        "InstitutionName",
        "InstitutionAddress",
        "InstitutionalDepartmentName",
        "IssuerOfPatientID",
        "VerifyingOrganization",
        # the equipment (not a device of the patient's: 164.514(b)(2)(i)(M))
        "DeviceSerialNumber",
        "StationName",
    }
)


def last_keyword(path: str) -> str:
    """The last segment of a tag path, without an item index.

    >>> last_keyword("OtherPatientIDsSequence[0].PatientID")
    'PatientID'
    """
    return re.sub(r"\[\d+\]$", "", re.split(r"\.(?=[A-Z(])", path)[-1])


@dataclass(frozen=True)
class PHIEntry:
    """One planted identifier.

    Parameters
    ----------
    file
        The file's path relative to the tree's root, with ``/`` separators.
    location
        Header, pixels, overlay or file name.
    category
        Its Safe Harbor category.
    value
        The identifier as planted (for a header element, ``str`` of its value).
    path
        The tag path, for a header element.
    box
        ``(x, y, width, height)`` in pixels, for text in pixels or an overlay.
    layer
        What the rule requires, or what the DICOM profile adds (:class:`Layer`); an element of
        :data:`PROFILE_KEYWORDS` is always of the profile's layer.
    """

    file: str
    location: Location
    category: SafeHarborCategory
    value: str
    path: str | None = None
    box: tuple[int, int, int, int] | None = None
    layer: Layer = Layer.RULE

    def __post_init__(self) -> None:
        if self.path and last_keyword(self.path) in PROFILE_KEYWORDS:
            object.__setattr__(self, "layer", Layer.PROFILE)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["location"] = self.location.value
        data["category"] = self.category.value
        data["box"] = list(self.box) if self.box else None
        data["layer"] = self.layer.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PHIEntry:
        return cls(
            file=data["file"],
            location=Location(data["location"]),
            category=SafeHarborCategory(data["category"]),
            value=data["value"],
            path=data.get("path"),
            box=tuple(data["box"]) if data.get("box") else None,
            layer=Layer(data.get("layer", Layer.RULE.value)),
        )


@dataclass
class AnswerKey:
    """Every identifier planted in one generated tree."""

    dataset: str
    seed: int
    entries: list[PHIEntry] = field(default_factory=list)

    def for_file(self, file: str) -> list[PHIEntry]:
        """The entries of one file (path relative to the tree's root)."""
        return [e for e in self.entries if e.file == file]

    def files(self) -> list[str]:
        return sorted({e.file for e in self.entries})

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the key as JSON, atomically: a reader never sees half a key."""
        data = {
            "dataset": self.dataset,
            "seed": self.seed,
            "entries": [e.to_json() for e in self.entries],
        }
        write_atomic(Path(path), json.dumps(data, indent=1, ensure_ascii=False).encode())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> AnswerKey:
        """The key saved in ``path`` by :meth:`save`.

        Raises
        ------
        AnswerKeyError
            When the file is not an answer key (not UTF-8 JSON, or not its fields).
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls(
                data["dataset"], data["seed"], [PHIEntry.from_json(e) for e in data["entries"]]
            )
        except (
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
        ) as exc:  # JSONDecodeError, UnicodeError...
            raise AnswerKeyError(
                f"{path} is not an answer key (expected the JSON of `hipaa-lab datasets build`, with "
                f"dataset, seed and entries; {type(exc).__name__}: {str(exc)[:80]})"
            ) from None


def write_atomic(path: Path, data: bytes, *, replace: bool = True) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: a reader sees all or nothing.

    With ``replace=False`` an existing ``path`` is never overwritten (the temporary file is linked,
    not renamed): :class:`FileExistsError` instead.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _private_creator(ds: Dataset, tag: BaseTag) -> str | None:
    if not tag.is_private or tag.is_private_creator:
        return None
    creator = ds.get(Tag(tag.group, tag.element >> 8))
    return None if creator is None else str(creator.value)


def _segment(ds: Dataset, elem: DataElement | RawDataElement) -> str:
    tag = Tag(elem.tag)
    creator = _private_creator(ds, tag)
    if creator is not None:
        return f'({tag.group:04X},"{creator}",{tag.element & 0xFF:02X})'
    keyword = keyword_for_tag(tag)
    return keyword or f"({tag.group:04X},{tag.element:04X})"


def element_text(elem: DataElement) -> str:
    """The answer-key text of an element's value (see the module docstring for the rule).

    Examples
    --------
    >>> from pydicom.dataelem import DataElement
    >>> element_text(DataElement(0x00100010, "PN", "Doe^Jane"))
    'Doe^Jane'
    >>> element_text(DataElement(0x00102154, "SH", ["555-0101", "555-0102"]))
    '555-0101\\\\555-0102'
    """
    value = elem.value
    if value is None:
        return ""
    if isinstance(value, (MultiValue, list, tuple)):
        return "\\".join(str(v) for v in value)
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value)


def iter_elements(ds: Dataset, prefix: str = "") -> Iterator[tuple[str, DataElement]]:
    """Yield ``(tag path, element)`` for every element of ``ds``, depth first, sequences included.

    Examples
    --------
    >>> from pydicom.dataset import Dataset
    >>> ds = Dataset()
    >>> ds.PatientName = "Doe^Jane"
    >>> item = Dataset()
    >>> item.PatientID = "MRN0001"
    >>> ds.OtherPatientIDsSequence = [item]
    >>> [path for path, _ in iter_elements(ds)]
    ['PatientName', 'OtherPatientIDsSequence', 'OtherPatientIDsSequence[0].PatientID']
    """
    for elem in ds:
        path = prefix + _segment(ds, elem)
        yield path, elem
        if elem.VR == "SQ" and elem.value is not None:
            for i, item in enumerate(elem.value):
                yield from iter_elements(item, f"{path}[{i}].")


def tag_path(ds: Dataset, elem: DataElement | RawDataElement, prefix: str = "") -> str:
    """The tag path of ``elem``, a direct child of ``ds`` (which sits at ``prefix``)."""
    return prefix + _segment(ds, elem)


_SEGMENT = re.compile(
    r"(?:(?P<kw>[A-Za-z][A-Za-z0-9]*)"
    r'|\((?P<pg>[0-9A-Fa-f]{4}),"(?P<creator>[^"]*)",(?P<pe>[0-9A-Fa-f]{2})\)'
    r"|\((?P<g>[0-9A-Fa-f]{4}),(?P<e>[0-9A-Fa-f]{4})\))"
    r"(?:\[(?P<index>\d+)\])?"
    r"(?:\.|$)"
)


def _locate(ds: Dataset, path: str) -> tuple[Dataset, BaseTag]:
    """The dataset that holds the element at ``path``, and its tag."""
    pos, current, parent, tag = 0, ds, ds, None
    while pos < len(path):
        m = _SEGMENT.match(path, pos)
        if not m or m.end() == pos:
            raise ValueError(f"not a tag path: {path!r} (stuck at character {pos})")
        if m["kw"]:
            tag = tag_for_keyword(m["kw"])
            if tag is None:
                raise ValueError(f"{m['kw']!r} in {path!r} is not a DICOM keyword")
            tag = Tag(tag)
        elif m["creator"] is not None:
            group = int(m["pg"], 16)
            try:
                block = current.private_block(group, m["creator"])
            except KeyError:
                raise KeyError(
                    f"no private creator {m['creator']!r} in group {group:04X} of {path!r}"
                ) from None
            tag = Tag(block.get_tag(int(m["pe"], 16)))
        else:
            tag = Tag(int(m["g"], 16), int(m["e"], 16))
        if tag not in current:
            raise KeyError(f"{m.group(0).rstrip('.')!r} of {path!r} is not in the dataset")
        parent = current
        if m["index"] is not None:
            current = current[tag].value[int(m["index"])]
        pos = m.end()
    if tag is None:
        raise ValueError("an empty tag path names no element")
    return parent, BaseTag(tag)


def get_element(ds: Dataset, path: str) -> DataElement:
    """The element at ``path`` in ``ds``.

    Raises
    ------
    KeyError
        When no element sits at ``path``; the message names the first segment not found.
    ValueError
        When ``path`` is not a tag path.
    """
    parent, tag = _locate(ds, path)
    return parent[tag]


def remove_element(ds: Dataset, path: str) -> None:
    """Delete the element at ``path`` (at any depth) from ``ds``.

    Examples
    --------
    >>> from pydicom.dataset import Dataset
    >>> item = Dataset()
    >>> item.PatientID = "MRN0001"
    >>> ds = Dataset()
    >>> ds.OtherPatientIDsSequence = [item]
    >>> remove_element(ds, "OtherPatientIDsSequence[0].PatientID")
    >>> "PatientID" in ds.OtherPatientIDsSequence[0]
    False
    """
    parent, tag = _locate(ds, path)
    del parent[tag]


def safe_harbor_table() -> pd.DataFrame:
    """The 18 Safe Harbor identifiers as a table: paragraph, identifier, category name.

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd

    return pd.DataFrame(
        [(c.paragraph, c.description, c.value) for c in SafeHarborCategory],
        columns=["paragraph", "identifier", "category"],
    ).set_index("paragraph")
