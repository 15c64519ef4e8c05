"""Synthetic patients and DICOM studies with protected health information planted on purpose.

Every study is deterministic by seed: the same seed gives byte-identical files. A different seed
changes not only the values but *where* identifiers sit (which optional attributes, which private
creators and groups, which sequences, which free-text fields, file-name layout), so code that
hard-codes the places of one study fails on the next.

How much is planted is set by :class:`PHILevel`; each level keeps everything of the level below
(a study made at ``NESTED`` has the same header identifiers as the same seed at ``HEADER``).

Answer-key rule for values (:func:`hipaa_lab.phi.element_text`): a header entry's ``value`` is ``str`` of the
element's value, person names as ``str(PersonName)`` (all component groups, ``=``-separated), and a
multi-valued element as its values joined with a backslash, as DICOM encodes them. An element that
holds identifiers of more than one Safe Harbor category gets one entry per category (same path).

Examples
--------
>>> study = make_study("CT", seed=7, slices=2, rows=64, columns=64)
>>> len(study.instances), study.instances[0].dataset.Modality
(2, 'CT')
>>> any(e.path == "PatientName" for e in study.instances[0].entries)
True
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import hashlib
import random
import re
import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels.utils import pack_bits
from pydicom.uid import PYDICOM_ROOT_UID, UID, ExplicitVRLittleEndian

from hipaa_lab import phantoms
from hipaa_lab.phi import (
    AnswerKey,
    Layer,
    Location,
    PHIEntry,
    SafeHarborCategory,
    element_text,
    iter_elements,
)

if TYPE_CHECKING:
    from faker import Faker

__all__ = [
    "Instance",
    "Modality",
    "PHILevel",
    "Patient",
    "Study",
    "element_text",
    "make_patient",
    "make_study",
    "write_tree",
]

C = SafeHarborCategory


class Modality(str, enum.Enum):
    """The kinds of study :func:`make_study` makes (``SC``: a scanned requisition or dose sheet)."""

    CT = "CT"
    MR = "MR"
    CR = "CR"
    DX = "DX"
    US = "US"
    MG = "MG"
    SC = "SC"
    SR = "SR"


class PHILevel(enum.IntEnum):
    """How deep identifiers are planted; each level includes the ones below."""

    HEADER = 1  #: standard top-level header attributes
    NESTED = 2  #: + sequences, private blocks, free text, UIDs embedding MRNs and dates
    EVERYWHERE = (
        3  #: + overlays with text, text burned into pixels, identifiers in file and folder names
    )


SOP_CLASS = {
    Modality.CT: "1.2.840.10008.5.1.4.1.1.2",
    Modality.MR: "1.2.840.10008.5.1.4.1.1.4",
    Modality.CR: "1.2.840.10008.5.1.4.1.1.1",
    Modality.DX: "1.2.840.10008.5.1.4.1.1.1.1",
    Modality.MG: "1.2.840.10008.5.1.4.1.1.1.2",
    Modality.US: "1.2.840.10008.5.1.4.1.1.6.1",
    Modality.SC: "1.2.840.10008.5.1.4.1.1.7",
    Modality.SR: "1.2.840.10008.5.1.4.1.1.88.11",
}

# --------------------------------------------------------------------------- fictional world

_INSTITUTIONS = [
    ("Northside General Hospital", "Radiology"),
    ("Lakeview Imaging Center", "Diagnostic Imaging"),
    ("St. Brendan Medical Center", "Department of Radiology"),
    ("Riverbend Community Clinic", "Medical Imaging"),
    ("Harbor Point Orthopedics", "X-Ray"),
]
_PAYERS = ["BLUEHARBOR HEALTH PLAN", "MERIDIAN CARE", "UNITY MUTUAL HEALTH", "PIONEER MEDICAID"]
_MANUFACTURERS = [
    ("ACME Medical Systems", "Acme"),
    ("Globex Imaging", "Glx"),
    ("Initech Radiology", "Itr"),
]
_PRIVATE_CREATORS = [
    "ACME_PACS 1",
    "NORTHWIND RIS 2",
    "GLOBEX_IMG_PRIV",
    "CONTOSO CLINICAL",
    "INITECH WS 3.1",
]
_PRIVATE_GROUPS = [0x0009, 0x0011, 0x0013, 0x0019, 0x0029, 0x0033, 0x0043]
_LOCALES = ["en_US"] * 6 + ["es_MX"] * 2 + ["de_DE", "fr_FR"] + ["ja_JP"] * 2
_UID_NAMESPACE = uuid.UUID("5b1f0c44-0c0e-4b8e-9d43-6a1e0c1f4a11")  # hipaa-lab synthetic studies
_RELATIONS = ["PARENT", "CHILD", "SPOUSE", "SIBLING", "GUARDIAN", "RELATIVE"]


@functools.cache
def _faker(locale: str) -> Faker:
    from faker import Faker

    return Faker(locale)


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _fs(text: str) -> str:
    """``text`` made safe as one file-name word: ASCII letters, digits and hyphens."""
    return re.sub(r"[^A-Za-z0-9]+", "-", _ascii(text)).strip("-")


# --------------------------------------------------------------------------- patients


@dataclass
class Patient:
    """A synthetic identity. No value belongs to a real person.

    ``name`` is the DICOM person name with all component groups (alphabetic, then ideographic and
    phonetic when present), e.g. ``"Yamada^Tarou=山田^太郎=やまだ^たろう"``; ``family`` and
    ``given`` are the alphabetic components. ``charset`` is the Specific Character Set the
    patient's files use (empty: the default repertoire).
    """

    seed: int
    name: str
    family: str
    given: str
    charset: tuple[str, ...]
    mrn: str
    issuer: str
    birth_date: dt.date
    sex: str
    street: str
    city: str
    state: str
    zip: str
    phone: str
    email: str
    ssn: str
    health_plan: str
    payer: str
    account: str
    ideographic: tuple[str, str] | None = None
    phonetic: tuple[str, str] | None = None
    birth_family: str | None = None
    prior_mrn: str = ""
    relative: str = ""
    relation: str = ""
    locale: str = "en_US"

    @property
    def address(self) -> str:
        """One-line postal address."""
        return f"{self.street}, {self.city}, {self.state} {self.zip}"

    @property
    def display_name(self) -> str:
        """Given name then family name, as people write it in free text."""
        if self.ideographic and self.locale == "ja_JP":
            return f"{self.ideographic[0]} {self.ideographic[1]}"
        return f"{self.given} {self.family}"

    def age_on(self, day: dt.date) -> int:
        b = self.birth_date
        return day.year - b.year - ((day.month, day.day) < (b.month, b.day))

    def name_components(self) -> list[str]:
        """Every name component of every group, and the birth name: what a scanner should look for."""
        parts = [self.family, self.given]
        for group in (self.ideographic, self.phonetic):
            if group:
                parts.extend(group)
        if self.birth_family:
            parts.append(self.birth_family)
        return parts


#: PS3.5 Table 6.2-1 allows 64 characters per PN component group; dciodvfy (dicom3tools) holds
#: the whole encoded value, every group with its escape sequences, to 64 bytes, and so do we.
PN_MAX_BYTES = 64


def _pn_bytes(name: str, charset: tuple[str, ...]) -> int:
    """Length in bytes of a person name as written in a file of Specific Character Set ``charset``."""
    from pydicom.charset import convert_encodings
    from pydicom.valuerep import PersonName

    return len(PersonName(name).encode(convert_encodings(list(charset) or ["ISO_IR 6"])))


def make_patient(seed: int) -> Patient:
    """A deterministic synthetic patient.

    Examples
    --------
    >>> make_patient(3) == make_patient(3)
    True
    >>> make_patient(3).mrn != make_patient(4).mrn
    True
    """
    rng = random.Random(f"patient:{seed}")
    locale = rng.choice(_LOCALES)
    sex = rng.choice("FM")
    fake = _faker(locale)
    fake.seed_instance(seed)
    ideographic = phonetic = None
    if locale == "ja_JP":
        fam = fake.last_name_pair()
        giv = fake.first_name_female_pair() if sex == "F" else fake.first_name_male_pair()
        family, given = fam[2], giv[2]
        ideographic = (fam[0], giv[0])
        groups = [f"{family}^{given}", f"{fam[0]}^{giv[0]}"]
        if rng.random() < 0.7:
            phonetic = (fam[1], giv[1])
            groups.append(f"{fam[1]}^{giv[1]}")
        charset = rng.choice([("", "ISO 2022 IR 87"), ("ISO_IR 192",)])
        if phonetic and _pn_bytes("=".join(groups), charset) > PN_MAX_BYTES:
            phonetic = (
                None  # the phonetic group would overflow PN: dciodvfy measures the whole value
            )
            groups.pop()
        name = "=".join(groups)
    else:
        family = fake.last_name()
        given = fake.first_name_female() if sex == "F" else fake.first_name_male()
        name = f"{family}^{given}"
        if name.isascii():
            charset = rng.choice([(), ("ISO_IR 100",)])
        else:
            try:
                name.encode("latin-1")
                charset = rng.choice([("ISO_IR 100",), ("ISO_IR 192",)])
            except UnicodeEncodeError:
                charset = ("ISO_IR 192",)
    us = _faker("en_US")
    us.seed_instance(f"contact:{seed}")
    street, city = us.street_address(), us.city()
    state = us.state_abbr(include_territories=False, include_freely_associated_states=False)
    zipcode = us.zipcode()
    birth_family = us.last_name() if sex == "F" and rng.random() < 0.5 else None
    relative_given = us.first_name()
    # one in five over 89: an age that is itself an identifier
    year = rng.randint(1915, 1929) if rng.random() < 0.2 else rng.randint(1940, 2012)
    birth = dt.date(year, rng.randint(1, 12), rng.randint(1, 28))
    user = f"{_fs(given).lower()}.{_fs(family).lower()}{rng.randint(1, 99)}"
    return Patient(
        seed=seed,
        name=name,
        family=family,
        given=given,
        charset=charset,
        mrn=str(rng.randint(1_000_000, 9_999_999)),
        issuer=rng.choice(_INSTITUTIONS)[0].upper(),
        birth_date=birth,
        sex=sex,
        street=street,
        city=city,
        state=state,
        zip=zipcode,
        phone=f"({rng.randint(201, 989)}) 555-01{rng.randint(0, 99):02d}",
        email=f"{user}@example.{rng.choice(['com', 'org', 'net'])}",
        ssn=f"9{rng.randint(0, 99):02d}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
        health_plan=f"{rng.choice(['BHX', 'MRC', 'UMH', 'PMD'])}{rng.randint(100_000_000, 999_999_999)}",
        payer=rng.choice(_PAYERS),
        account=str(rng.randint(10**9, 10**10 - 1)),
        ideographic=ideographic,
        phonetic=phonetic,
        birth_family=birth_family,
        prior_mrn=str(rng.randint(100_000, 999_999)),
        relative=f"{family}^{relative_given}",
        relation=rng.choice(_RELATIONS),
        locale=locale,
    )


# --------------------------------------------------------------------------- studies


@dataclass
class Instance:
    """One DICOM file to be: its dataset, its path in the tree, and its planted identifiers."""

    dataset: Dataset
    file: str
    entries: list[PHIEntry] = field(default_factory=list)


@dataclass
class Study:
    """One study of one patient."""

    patient: Patient
    modality: Modality
    instances: list[Instance]
    seed: int = 0
    level: PHILevel = PHILevel.EVERYWHERE

    @property
    def entries(self) -> list[PHIEntry]:
        return [e for inst in self.instances for e in inst.entries]


class _Marks:
    """Remembers which elements of one dataset carry identifiers, and of which categories."""

    def __init__(self) -> None:
        self._marks: dict[int, tuple[DataElement, tuple[SafeHarborCategory, ...]]] = {}
        self._staff: set[int] = set()

    def set(self, ds: Dataset, keyword: str, value: object, *cats: SafeHarborCategory) -> None:
        setattr(ds, keyword, value)
        if cats:
            elem = ds[keyword]
            self._marks[id(elem)] = (elem, cats)

    def staff(self, ds: Dataset, keyword: str) -> None:
        """Mark an element set with :meth:`set` as a staff member's: the profile's layer."""
        self._staff.add(id(ds[keyword]))

    def private(
        self,
        ds: Dataset,
        group: int,
        creator: str,
        offset: int,
        vr: str,
        value: object,
        *cats: SafeHarborCategory,
    ) -> None:
        block = ds.private_block(group, creator, create=True)
        block.add_new(offset, vr, value)
        if cats:
            elem = block[offset]
            self._marks[id(elem)] = (elem, cats)

    def entries(self, ds: Dataset, file: str) -> list[PHIEntry]:
        out: list[PHIEntry] = []
        for path, elem in iter_elements(ds):
            mark = self._marks.get(id(elem))
            if mark is not None and mark[0] is elem:
                text = element_text(elem)
                layer = Layer.PROFILE if id(elem) in self._staff else Layer.RULE
                out.extend(
                    PHIEntry(file, Location.HEADER, cat, text, path=path, layer=layer)
                    for cat in mark[1]
                )
        return out


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _da(d: dt.date) -> str:
    return d.strftime("%Y%m%d")


def _us_date(d: dt.date) -> str:
    return d.strftime("%m/%d/%Y")


_DEFAULTS = {  # modality: (rows, columns, images)
    Modality.CT: (256, 256, 8),
    Modality.MR: (256, 256, 6),
    Modality.CR: (384, 320, 2),
    Modality.DX: (384, 320, 1),
    Modality.MG: (384, 288, 4),
    Modality.US: (480, 640, 2),
    Modality.SC: (660, 510, 1),
    Modality.SR: (0, 0, 1),
}

_DESCRIPTIONS = {
    Modality.CT: ("CT CHEST ABDOMEN W CONTRAST", "CHEST"),
    Modality.MR: ("MR BRAIN WO CONTRAST", "BRAIN"),
    Modality.CR: ("XR CHEST 2 VIEWS", "CHEST"),
    Modality.DX: ("XR CHEST PA", "CHEST"),
    Modality.MG: ("MAMMO SCREENING BILATERAL", "BREAST"),
    Modality.US: ("US ABDOMEN COMPLETE", "ABDOMEN"),
    Modality.SC: ("SCANNED REQUISITION", ""),
    Modality.SR: ("RADIOLOGY REPORT", ""),
}


class _Ctx:
    """Everything shared by the instances of one study, drawn once from the seed."""

    def __init__(self, modality: Modality, seed: int, level: PHILevel, patient: Patient) -> None:
        self.modality, self.seed, self.level, self.p = modality, seed, level, patient
        # one stream per level, so a lower level's choices do not depend on the level asked for
        rh = self.rh = random.Random(f"study:{seed}:{modality.value}:header")
        self.rn = random.Random(f"study:{seed}:{modality.value}:nested")
        self.re = random.Random(f"study:{seed}:{modality.value}:everywhere")
        self.np = np.random.default_rng([seed, list(Modality).index(modality)])
        start = max(dt.date(2019, 1, 1), patient.birth_date + dt.timedelta(days=30))
        self.date = start + dt.timedelta(
            days=rh.randint(0, max(0, (dt.date(2024, 12, 31) - start).days))
        )
        h, m = rh.randint(7, 18), rh.randint(0, 59)
        self.time = f"{h:02d}{m:02d}{rh.randint(0, 59):02d}"
        self.accession = f"{rh.choice(['A', 'ACC', 'RAD', ''])}{rh.randint(10**6, 10**8)}"
        self.institution, self.department = rh.choice(_INSTITUTIONS)
        self.manufacturer, short = rh.choice(_MANUFACTURERS)
        self.model = f"{short} {modality.value}-{rh.randint(100, 990)}"
        self.serial = f"{short.upper()}{rh.randint(10000, 99999)}"
        self.station = f"{modality.value}{rh.randint(1, 9):02d}"
        staff = _faker("en_US")
        staff.seed_instance(f"staff:{seed}:{modality.value}")
        self.inst_address = f"{staff.street_address()}, {staff.city()}, {staff.state_abbr(include_territories=False, include_freely_associated_states=False)} {staff.zipcode()}"
        self.referring = f"{staff.last_name()}^{staff.first_name()}^^Dr"
        self.reader = f"{staff.last_name()}^{staff.first_name()}^^Dr"
        self.operator = f"{staff.last_name()}^{staff.first_name()}"
        self.study_id = str(rh.randint(1, 9999))
        self.description, self.body_part = _DESCRIPTIONS[modality]
        # where the header identifiers go (HEADER level and up)
        self.opt = {
            k: rh.random() < p
            for k, p in [
                ("address", 0.6),
                ("phone", 0.6),
                ("email", 0.4),
                ("other_names", 0.4),
                ("mother", 0.3),
                ("responsible", 0.35),
                ("admission", 0.6),
                ("birth_time", 0.3),
                ("inst_address", 0.6),
                ("serial", 0.6),
                ("operator", 0.7),
                ("performing", 0.4),
                ("reading", 0.5),
                ("creation_date", 0.6),
                ("pps_date", 0.5),
                ("birth_name", 0.5),
            ]
        }
        # where the nested identifiers go
        rn = self.rn
        self.nested = level >= PHILevel.NESTED
        self.other_ids = rn.sample(["ssn", "plan", "prior", "account"], rn.randint(1, 4))
        self.nopt = {
            k: rn.random() < p
            for k, p in [
                ("request", 0.7),
                ("ref_patient", 0.5),
                ("original", 0.6),
                ("desc", 0.5),
                ("comments", 0.6),
                ("history", 0.6),
                ("image_comments", 0.6),
                ("patient_comments", 0.5),
            ]
        }
        if not any(
            self.nopt[k]
            for k in ("desc", "comments", "history", "image_comments", "patient_comments")
        ):
            self.nopt["history"] = True
        groups = rn.sample(_PRIVATE_GROUPS, 2)
        creators = rn.sample(_PRIVATE_CREATORS, 2)
        fields = ["name", "mrn", "dob", "phone", "ssn", "note", "address"]
        self.private_blocks = []
        for i in range(rn.randint(1, 2)):
            chosen = rn.sample(fields, rn.randint(2, 4))
            self.private_blocks.append((groups[i], creators[i], rn.randint(0x10, 0x40), chosen))
        self.date_format = rn.choice([_us_date, lambda d: d.isoformat(), _da])
        self.study_uid = (
            f"{PYDICOM_ROOT_UID}{patient.mrn}.{_da(self.date)}.{rn.randint(1, 10**6)}"
            if self.nested
            else self.uid("study")
        )
        # where the everywhere identifiers go
        re_ = self.re
        self.everywhere = level >= PHILevel.EVERYWHERE
        self.overlay = self.everywhere and (
            modality in (Modality.CT, Modality.MR) or re_.random() < 0.5
        )
        self.corner_label = self.everywhere and re_.random() < 0.6
        self.layout = re_.randint(0, 2) if self.everywhere else -1
        self.frame_uid = self.uid("frame")
        digest = hashlib.sha256(
            f"{seed}:{modality.value}:{patient.seed}:{int(level)}".encode()
        ).hexdigest()[:8]
        self.counter_folder = f"study-{digest}"
        self._overlays: dict[tuple[int, int], tuple[bytes, list[PHIEntry]]] = {}

    def uid(self, *parts: object) -> str:
        """A 2.25 UID from a name-based (version 5) UUID: unique, and the same for the same seed."""
        name = ":".join(
            [str(self.seed), self.modality.value, str(int(self.level)), *map(str, parts)]
        )
        return f"2.25.{uuid.uuid5(_UID_NAMESPACE, name).int}"

    def fmt(self, d: dt.date) -> str:
        return str(self.date_format(d))

    # ------------------------------------------------------------------ file names

    def file_for(self, series: int, n: int) -> tuple[str, list[tuple[str, SafeHarborCategory]]]:
        """The file's path in the tree and the identifiers its name carries."""
        p, mod = self.p, self.modality.value
        if self.layout < 0:
            return f"{self.counter_folder}/series-{series:03d}/IM{n:04d}.dcm", []
        fam, giv = _fs(p.family), _fs(p.given)
        if self.layout == 0:
            who = f"{fam}_{giv}"
            return (
                f"{who}_MRN{p.mrn}/{_da(self.date)}_{mod}_{self.accession}/S{series:03d}/IM{n:04d}.dcm",
                [(who, C.NAMES), (p.mrn, C.MEDICAL_RECORD), (_da(self.date), C.DATES)],
            )
        if self.layout == 1:
            who = f"{fam.upper()} {giv.upper()}"
            return (
                f"{p.mrn} {who}/{mod} {self.accession}/{fam.upper()}_{series:02d}_{n:04d}.dcm",
                [(p.mrn, C.MEDICAL_RECORD), (who, C.NAMES), (fam.upper(), C.NAMES)],
            )
        dob = _da(p.birth_date)
        return (
            f"{fam}^{giv}_{dob}/{mod}_{_da(self.date)}/{n:03d}_{series}.dcm",
            [(f"{fam}^{giv}", C.NAMES), (dob, C.DATES), (_da(self.date), C.DATES)],
        )

    # ------------------------------------------------------------------ common modules

    def base(
        self, marks: _Marks, series: int, number: int, sop_class: str, *, acquisition: bool = True
    ) -> Dataset:
        """A dataset with the Patient, Study, Series, Equipment and SOP Common modules filled in."""
        p, o, nested = self.p, self.opt, self.nested
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = UID(sop_class)
        sop_uid = self.uid("sop", series, number)
        ds.file_meta.MediaStorageSOPInstanceUID = UID(sop_uid)
        if p.charset:
            ds.SpecificCharacterSet = list(p.charset) if len(p.charset) > 1 else p.charset[0]
        if o["creation_date"]:
            marks.set(ds, "InstanceCreationDate", _da(self.date), C.DATES)
            ds.InstanceCreationTime = self.time
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = sop_uid
        marks.set(ds, "StudyDate", _da(self.date), C.DATES)
        marks.set(ds, "SeriesDate", _da(self.date), C.DATES)
        marks.set(ds, "ContentDate", _da(self.date), C.DATES)
        ds.StudyTime = self.time
        ds.SeriesTime = self.time
        ds.ContentTime = self.time
        if acquisition:
            marks.set(ds, "AcquisitionDate", _da(self.date), C.DATES)
            ds.AcquisitionTime = self.time
        marks.set(ds, "AccessionNumber", self.accession, C.OTHER)
        ds.Modality = "OT" if self.modality is Modality.SC else self.modality.value
        ds.Manufacturer = self.manufacturer
        marks.set(ds, "InstitutionName", self.institution, C.OTHER)
        if o["inst_address"]:
            marks.set(ds, "InstitutionAddress", self.inst_address, C.GEOGRAPHIC)
        marks.set(ds, "ReferringPhysicianName", self.referring, C.NAMES)
        ds.StationName = self.station
        desc = self.description
        if nested and self.nopt["desc"]:
            desc = f"{desc} {p.family.upper()} {self.fmt(self.date)}"
            marks.set(ds, "StudyDescription", desc[:64], C.NAMES, C.DATES)
        else:
            ds.StudyDescription = desc
        ds.SeriesDescription = desc.split(" ")[0] + f" series {series}"
        ds.InstitutionalDepartmentName = self.department
        if o["reading"]:
            marks.set(ds, "NameOfPhysiciansReadingStudy", self.reader, C.NAMES)
        sr = self.modality is Modality.SR
        if o["performing"] and not sr:
            marks.set(ds, "PerformingPhysicianName", self.reader, C.NAMES)
        if o["operator"] and not sr:
            marks.set(ds, "OperatorsName", self.operator, C.NAMES)
        ds.ManufacturerModelName = self.model
        if nested and self.nopt["ref_patient"]:
            item = Dataset()
            item.ReferencedSOPClassUID = (
                "1.2.840.10008.3.1.2.1.1"  # Detached Patient Management (retired)
            )
            ds.ReferencedPatientSequence = [item]
            marks.set(
                item,
                "ReferencedSOPInstanceUID",
                f"{PYDICOM_ROOT_UID}{p.mrn}.{_da(p.birth_date)}",
                C.MEDICAL_RECORD,
                C.DATES,
            )
        self.patient_module(ds, marks)
        if o["serial"]:
            marks.set(ds, "DeviceSerialNumber", self.serial, C.DEVICE)
        ds.SoftwareVersions = "4.2.1"
        if acquisition and self.modality in (Modality.CT, Modality.MR):
            ds.ProtocolName = desc.split(" ")[0] + " ROUTINE"
        if nested and self.nopt["history"]:
            text = f"{p.display_name}, DOB {self.fmt(p.birth_date)}: follow-up of prior exam."
            marks.set(ds, "AdditionalPatientHistory", text, C.NAMES, C.DATES)
        if o["admission"]:
            marks.set(ds, "AdmissionID", p.account, C.ACCOUNT)
        ds.StudyInstanceUID = self.study_uid
        if nested:
            marks.set(ds, "StudyInstanceUID", self.study_uid, C.MEDICAL_RECORD, C.DATES)
        ds.SeriesInstanceUID = self.uid("series", series)
        ds.StudyID = self.study_id
        ds.SeriesNumber = series
        ds.InstanceNumber = number
        if nested and self.nopt["request"]:
            req = Dataset()
            marks.set(req, "AccessionNumber", self.accession, C.OTHER)
            marks.set(req, "StudyInstanceUID", self.study_uid, C.MEDICAL_RECORD, C.DATES)
            req.RequestedProcedureDescription = self.description
            req.RequestedProcedureID = f"RP{self.accession}"[:16]
            req.ScheduledProcedureStepID = f"SPS{self.study_id}"
            req.ScheduledProcedureStepDescription = self.description
            reason = f"Pt {p.family.upper()}, {p.given} MRN {p.mrn}; ordered by Dr {self.referring.split('^')[0]}"
            marks.set(req, "ReasonForTheRequestedProcedure", reason[:64], C.NAMES, C.MEDICAL_RECORD)
            if (
                self.modality is Modality.SR
            ):  # an SR names its request in the SR Document General module
                del req.ScheduledProcedureStepID, req.ScheduledProcedureStepDescription
                req.RequestedProcedureCodeSequence = []
                req.ReferencedStudySequence = []
                req.PlacerOrderNumberImagingServiceRequest = ""
                req.FillerOrderNumberImagingServiceRequest = ""
                ds.ReferencedRequestSequence = [req]
            else:
                ds.RequestAttributesSequence = [req]
        if o["pps_date"] and not sr:
            marks.set(ds, "PerformedProcedureStepStartDate", _da(self.date), C.DATES)
            ds.PerformedProcedureStepStartTime = self.time
            ds.PerformedProcedureStepID = f"PPS{self.study_id}"
        if nested and self.nopt["image_comments"] and self.modality is not Modality.SR:
            text = f"MRN {p.mrn}; prior {self.fmt(self.date - dt.timedelta(days=365))}"
            marks.set(ds, "ImageComments", text, C.MEDICAL_RECORD, C.DATES)
        if nested and self.nopt["original"]:
            self.original_attributes(ds, marks)
        if nested:
            self.private(ds, marks)
        return ds

    def patient_module(self, ds: Dataset, marks: _Marks) -> None:
        p, o, nested = self.p, self.opt, self.nested
        marks.set(ds, "PatientName", p.name, C.NAMES)
        marks.set(ds, "PatientID", p.mrn, C.MEDICAL_RECORD)
        marks.set(ds, "IssuerOfPatientID", p.issuer, C.OTHER)
        marks.set(ds, "PatientBirthDate", _da(p.birth_date), C.DATES)
        ds.PatientSex = p.sex
        age = p.age_on(self.date)
        if age > 89:
            marks.set(ds, "PatientAge", f"{age:03d}Y", C.DATES)
        else:
            ds.PatientAge = f"{age:03d}Y"
        if o["birth_time"]:
            marks.set(ds, "PatientBirthTime", "0412", C.DATES)
        if o["other_names"]:
            alias = f"{(p.birth_family or p.family)}^{p.given[:1]}"
            marks.set(ds, "OtherPatientNames", alias, C.NAMES)
        if o["birth_name"] and p.birth_family:
            marks.set(ds, "PatientBirthName", f"{p.birth_family}^{p.given}", C.NAMES)
        if o["mother"]:
            marks.set(
                ds, "PatientMotherBirthName", f"{p.family}^{p.relative.split('^')[1]}", C.NAMES
            )
        if o["address"]:
            marks.set(ds, "PatientAddress", p.address[:64], C.GEOGRAPHIC)
        if o["phone"]:
            marks.set(ds, "PatientTelephoneNumbers", p.phone, C.TELEPHONE)
        if o["email"]:
            marks.set(
                ds,
                "PatientTelecomInformation",
                f"email: {p.email}; phone: {p.phone}",
                C.EMAIL,
                C.TELEPHONE,
            )
        if o["responsible"]:
            marks.set(ds, "ResponsiblePerson", p.relative, C.NAMES)
            ds.ResponsiblePersonRole = p.relation
        if nested:
            items = []
            for kind in self.other_ids:
                item = Dataset()
                value, issuer, cat = {
                    "ssn": (p.ssn, "US SSA", C.SSN),
                    "plan": (p.health_plan, p.payer, C.HEALTH_PLAN),
                    "prior": (
                        p.prior_mrn,
                        _INSTITUTIONS[p.seed % len(_INSTITUTIONS)][0].upper(),
                        C.MEDICAL_RECORD,
                    ),
                    "account": (p.account, f"{p.issuer[:40]} BILLING", C.ACCOUNT),
                }[kind]
                marks.set(item, "PatientID", value, cat)
                if kind == "ssn":
                    item.IssuerOfPatientID = issuer
                else:
                    marks.set(item, "IssuerOfPatientID", issuer, C.OTHER)
                item.TypeOfPatientID = "TEXT"
                items.append(item)
            ds.OtherPatientIDsSequence = items
            if self.nopt["patient_comments"]:
                text = f"Call {p.phone} or {p.email}; lives at {p.address}"
                marks.set(ds, "PatientComments", text, C.TELEPHONE, C.EMAIL, C.GEOGRAPHIC)

    def original_attributes(self, ds: Dataset, marks: _Marks) -> None:
        p = self.p
        modified = Dataset()
        old_name = f"{p.birth_family or p.family.upper()}^{p.given}"
        marks.set(modified, "PatientName", old_name, C.NAMES)
        marks.set(modified, "PatientID", p.prior_mrn, C.MEDICAL_RECORD)
        item = Dataset()
        item.SourceOfPreviousValues = ""
        marks.set(item, "AttributeModificationDateTime", _da(self.date) + "093000", C.DATES)
        item.ModifyingSystem = "RIS RECONCILE"
        item.ReasonForTheAttributeModification = "CORRECT"
        item.ModifiedAttributesSequence = [modified]
        ds.OriginalAttributesSequence = [item]

    def private(self, ds: Dataset, marks: _Marks) -> None:
        p = self.p
        for group, creator, start, fields in self.private_blocks:
            offset = start
            for name in fields:
                vr, value, cats = {
                    "name": ("LO", p.display_name, (C.NAMES,)),
                    "mrn": ("LO", p.mrn, (C.MEDICAL_RECORD,)),
                    "dob": ("DA", _da(p.birth_date), (C.DATES,)),
                    "phone": ("SH", p.phone, (C.TELEPHONE,)),
                    "ssn": ("LO", p.ssn, (C.SSN,)),
                    "note": (
                        "LT",
                        f"Verified {p.family}, {p.given} with {p.relation.lower()} {p.relative.split('^')[1]} by phone {p.phone}",
                        (C.NAMES, C.TELEPHONE),
                    ),
                    "address": ("LO", p.address[:64], (C.GEOGRAPHIC,)),
                }[name]
                marks.private(ds, group, creator, offset, vr, value, *cats)
                offset += 1
            marks.private(ds, group, creator, offset, "DS", "40")  # a vendor window level: no PHI

    # ------------------------------------------------------------------ pixels

    def pixels(self, ds: Dataset, arr: np.ndarray, *, bits_stored: int) -> None:
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = arr.shape
        ds.BitsAllocated = arr.dtype.itemsize * 8
        ds.BitsStored = bits_stored
        ds.HighBit = bits_stored - 1
        ds.PixelRepresentation = 0
        ds.PixelData = arr.tobytes()

    def add_overlay(self, ds: Dataset, rows: int, cols: int, file: str) -> list[PHIEntry]:
        """An Overlay Plane (group 6000) with the patient's name and MRN drawn as a 1-bit bitmap."""
        cached = self._overlays.get((rows, cols))
        if cached is None:
            cached = self._overlays[(rows, cols)] = self._render_overlay(rows, cols)
        packed, entries = cached
        ds.add_new(0x60000010, "US", rows)
        ds.add_new(0x60000011, "US", cols)
        ds.add_new(0x60000022, "LO", "Technologist annotation")
        ds.add_new(0x60000040, "CS", "G")
        ds.add_new(0x60000050, "SS", [1, 1])
        ds.add_new(0x60000100, "US", 1)
        ds.add_new(0x60000102, "US", 0)
        ds.add_new(0x60003000, "OW", packed)
        return [dataclasses.replace(e, file=file) for e in entries]

    def _render_overlay(self, rows: int, cols: int) -> tuple[bytes, list[PHIEntry]]:
        """The overlay bitmap (packed, even length) and its entries; the same on every slice."""
        p, re_ = self.p, random.Random(f"overlay:{self.seed}:{self.modality.value}")
        mask = np.zeros((rows, cols), bool)
        size = max(9, rows // 28)
        x = re_.randint(4, max(4, cols // 3))
        y = re_.choice([4, rows - 3 * size - 8])
        name = f"{_fs(p.family).upper()}^{_fs(p.given).upper()}"
        runs = [
            (name, C.NAMES),
            (f"ID {p.mrn}", C.MEDICAL_RECORD),
            (self.fmt(p.birth_date), C.DATES),
        ]
        entries = []
        for i, (text, cat) in enumerate(runs):
            box = phantoms.draw_text(mask, x, y + i * (size + 4), text, size, True)
            entries.append(PHIEntry("", Location.OVERLAY, cat, text, box=box))
        packed = pack_bits(mask)
        if len(packed) % 2:
            packed += b"\0"
        return packed, entries

    def corner(self, img: np.ndarray, value: int, file: str) -> list[PHIEntry]:
        """A label burned into a corner, like older CR readers and film digitisers print."""
        p = self.p
        rows, cols = img.shape
        size = max(10, rows // 30)
        name = f"{_fs(p.family).upper()}, {_fs(p.given).upper()}"
        runs = [(name, C.NAMES), (p.mrn, C.MEDICAL_RECORD), (self.fmt(p.birth_date), C.DATES)]
        x0, y0 = (6, 6) if self.re.random() < 0.5 else (cols // 2, 6)
        img[y0 : y0 + 3 * (size + 4) + 4, x0 - 2 : min(cols, x0 + cols // 2 - 4)] = 0
        out = []
        for i, (text, cat) in enumerate(runs):
            box = phantoms.draw_text(img, x0, y0 + 2 + i * (size + 4), text, size, value)
            out.append(PHIEntry(file, Location.PIXELS, cat, text, box=box))
        return out


# --------------------------------------------------------------------------- modality builders


def _finish(
    ctx: _Ctx,
    ds: Dataset,
    marks: _Marks,
    series: int,
    number: int,
    extra: list[PHIEntry] | None = None,
) -> Instance:
    file, name_ids = ctx.file_for(series, number)
    entries = marks.entries(ds, file)
    for text, cat in name_ids:
        entries.append(PHIEntry(file, Location.FILENAME, cat, text))
    for e in extra or []:
        entries.append(dataclasses.replace(e, file=file))
    return Instance(ds, file, entries)


def _image_plane(
    ds: Dataset, rows: int, cols: int, spacing: float, z: float, thickness: float
) -> None:
    ds.PixelSpacing = [f"{spacing:.4g}", f"{spacing:.4g}"]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [
        f"{-cols * spacing / 2:.2f}",
        f"{-rows * spacing / 2:.2f}",
        f"{z:.2f}",
    ]
    ds.SliceThickness = f"{thickness:g}"
    ds.SliceLocation = f"{z:.2f}"


def _cross_sectional(ctx: _Ctx, rows: int, cols: int, n: int) -> list[Instance]:
    mr = ctx.modality is Modality.MR
    thickness = 5.0 if mr else ctx.rh.choice([2.5, 5.0])
    spacing = (220.0 if mr else 380.0) / max(rows, cols)
    z0 = -ctx.rh.randint(20, 120) * 1.0
    out = []
    for i in range(n):
        marks = _Marks()
        ds = ctx.base(marks, 1, i + 1, SOP_CLASS[ctx.modality])
        ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"] if mr else ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.FrameOfReferenceUID = ctx.frame_uid
        ds.PositionReferenceIndicator = ""
        ds.BodyPartExamined = ctx.body_part
        ds.PatientPosition = "HFS"
        z = z0 + i * thickness
        _image_plane(ds, rows, cols, spacing, z, thickness)
        ds.AcquisitionNumber = 1
        zf = i / (n - 1) if n > 1 else 0.5
        if mr:
            ds.ScanningSequence = "SE"
            ds.SequenceVariant = "NONE"
            ds.ScanOptions = ""
            ds.MRAcquisitionType = "2D"
            ds.RepetitionTime = "500"
            ds.EchoTime = "15"
            ds.EchoTrainLength = 1
            ds.MagneticFieldStrength = "1.5"
            ds.ImagedNucleus = "1H"
            arr = phantoms.mr_slice(rows, cols, 0.15 + 0.75 * zf, ctx.np)
            ds.WindowCenter, ds.WindowWidth = "500", "1000"
        else:
            ds.KVP = "120"
            ds.ConvolutionKernel = "STANDARD"
            ds.RescaleIntercept = "-1024"
            ds.RescaleSlope = "1"
            ds.RescaleType = "HU"
            ds.WindowCenter, ds.WindowWidth = "40", "400"
            arr = phantoms.ct_slice(rows, cols, zf, ctx.np)
        ctx.pixels(ds, arr, bits_stored=12)
        extra = ctx.add_overlay(ds, rows, cols, "") if ctx.overlay else []
        out.append(_finish(ctx, ds, marks, 1, i + 1, extra))
    return out


def _projection(ctx: _Ctx, rows: int, cols: int, n: int) -> list[Instance]:
    mod = ctx.modality
    out = []
    view_sets: dict[Modality, list[tuple[str, bool | str]]] = {
        Modality.CR: [("PA", False), ("LL", True)],
        Modality.DX: [("PA", False), ("LL", True)],
        Modality.MG: [("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO")],
    }
    views = view_sets[mod]
    for i in range(n):
        marks = _Marks()
        ds = ctx.base(marks, 1, i + 1, SOP_CLASS[mod])
        view = views[i % len(views)]
        ds.BodyPartExamined = ctx.body_part
        ds.ImagerPixelSpacing = ["0.139", "0.139"] if mod is not Modality.MG else ["0.1", "0.1"]
        if mod is Modality.MG:
            side, proj = view
            arr = phantoms.mammogram(rows, cols, ctx.np, right=side == "R", mlo=proj == "MLO")
        else:
            arr = phantoms.chest_xray(rows, cols, ctx.np, lateral=view[1] is True)
        extra: list[PHIEntry] = []
        burned = (ctx.corner_label and mod is not Modality.MG) or (ctx.corner_label and i == 0)
        if burned:
            extra += ctx.corner(arr, 4000, "")
        if mod is Modality.CR:
            ds.ViewPosition = view[0]
            ds.KVP = "110"
            ds.PatientOrientation = ["P", "F"] if view[0] == "PA" else ["A", "F"]
            ds.WindowCenter, ds.WindowWidth = "2000", "4000"
            if burned:
                ds.BurnedInAnnotation = "YES"
        else:
            _dx_modules(ctx, ds, mod, view, burned, marks)
        ctx.pixels(ds, arr, bits_stored=12)
        if ctx.overlay:
            extra += ctx.add_overlay(ds, rows, cols, "")
        out.append(_finish(ctx, ds, marks, 1, i + 1, extra))
    return out


def _dx_modules(
    ctx: _Ctx, ds: Dataset, mod: Modality, view: tuple[str, bool | str], burned: bool, marks: _Marks
) -> None:
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ImageType = ["ORIGINAL", "PRIMARY", ""]
    ds.PixelIntensityRelationship = "LIN"
    ds.PixelIntensityRelationshipSign = 1
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "US"
    ds.PresentationLUTShape = "IDENTITY"
    ds.LossyImageCompression = "00"
    ds.BurnedInAnnotation = "YES" if burned else "NO"
    ds.WindowCenter, ds.WindowWidth = "2000", "4000"
    ds.DetectorType = "SCINTILLATOR"
    ds.AcquisitionContextSequence = []
    ds.KVP = "110" if mod is Modality.DX else "28"
    if mod is Modality.DX:
        ds.ImageLaterality = "U"
        ds.AnatomicRegionSequence = [_code("51185008", "SCT", "Chest")]
        ds.ViewPosition = view[0]
        ds.PositionerType = ""
        code = (
            ("399348003", "postero-anterior") if view[0] == "PA" else ("399173006", "left lateral")
        )
        view_item = _code(code[0], "SCT", code[1])
        view_item.ViewModifierCodeSequence = []
        ds.ViewCodeSequence = [view_item]
        ds.PatientOrientation = ["P", "F"] if view[0] == "PA" else ["A", "F"]
        return
    side, proj = view
    ds.ImageType = ["ORIGINAL", "PRIMARY", ""]
    ds.PositionerType = "MAMMOGRAPHIC"
    ds.ImageLaterality = side
    ds.OrganExposed = "BREAST"
    ds.AnatomicRegionSequence = [_code("76752008", "SCT", "Breast")]
    code = (
        ("399162004", "cranio-caudal") if proj == "CC" else ("399368009", "medio-lateral oblique")
    )
    view_item = _code(code[0], "SCT", code[1])
    view_item.ViewModifierCodeSequence = []
    ds.ViewCodeSequence = [view_item]
    ds.PatientOrientation = ["A", "R"] if side == "L" else ["P", "L"]
    ds.BreastImplantPresent = "NO"
    ds.PartialView = "NO"


def _ultrasound(ctx: _Ctx, rows: int, cols: int, n: int) -> list[Instance]:
    p = ctx.p
    out = []
    top = max(30, rows // 12)
    for i in range(n):
        marks = _Marks()
        ds = ctx.base(marks, 1, i + 1, SOP_CLASS[Modality.US], acquisition=True)
        arr = phantoms.ultrasound(rows, cols, ctx.np, top=top)
        size = max(10, top // 3)
        extra: list[PHIEntry] = []
        if ctx.everywhere:
            name = f"{_fs(p.family).upper()}^{_fs(p.given).upper()}"
            runs = [
                (name, C.NAMES),
                (f"ID:{p.mrn}", C.MEDICAL_RECORD),
                (ctx.fmt(ctx.date), C.DATES),
                (ctx.institution.upper(), C.OTHER),
            ]
            x = 6
            for j, (text, cat) in enumerate(runs):
                row = 3 if j < 2 else 3 + size + 4
                if j in (0, 2):
                    x = 6
                box = phantoms.draw_text(arr, x, row, text, size, 255)
                x = box[0] + box[2] + 14
                extra.append(PHIEntry("", Location.PIXELS, cat, text, box=box))
            ds.BurnedInAnnotation = "YES"
        phantoms.draw_text(arr, cols - 8 * size, 3, f"{ctx.model[:12]} C5-2", size, 200)
        phantoms.draw_text(arr, cols - 8 * size, 3 + size + 4, "MI 1.1 TIS 0.4", size, 200)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "ABDOMINAL"]
        ds.BodyPartExamined = ctx.body_part
        ds.PatientOrientation = ""
        ctx.pixels(ds, arr, bits_stored=8)
        ds.LossyImageCompression = "00"
        if ctx.overlay:
            extra += ctx.add_overlay(ds, rows, cols, "")
        out.append(_finish(ctx, ds, marks, 1, i + 1, extra))
    return out


def _secondary_capture(ctx: _Ctx, rows: int, cols: int, n: int) -> list[Instance]:
    p = ctx.p
    out = []
    for i in range(n):
        marks = _Marks()
        ds = ctx.base(marks, 1, i + 1, SOP_CLASS[Modality.SC], acquisition=False)
        ds.ConversionType = "SD"
        ds.BodyPartExamined = "CHEST"
        marks.set(ds, "DateOfSecondaryCapture", _da(ctx.date), C.DATES)
        ds.TimeOfSecondaryCapture = ctx.time
        ds.PatientOrientation = ""
        ds.BurnedInAnnotation = "YES" if ctx.everywhere else "NO"
        arr = phantoms.page(rows, cols, ctx.np)
        size = max(11, rows // 40)
        step = size + size // 2 + 4
        extra: list[PHIEntry] = []
        y = 16
        dose = not ctx.everywhere or ctx.re.random() < 0.3
        title = "CT DOSE REPORT" if dose else "RADIOLOGY REQUISITION"
        phantoms.draw_text(arr, 20, y, title, size + 6, 20)
        y += 2 * step
        phantoms.draw_text(arr, 20, y, ctx.institution, size, 20)
        y += step
        arr[y : y + 2, 16 : cols - 16] = 40
        y += step
        fields: list[tuple[str, str, SafeHarborCategory | None]] = []
        if ctx.everywhere:
            fields += [
                ("Patient:", f"{_fs(p.family)}, {_fs(p.given)}", C.NAMES),
                ("DOB:", _us_date(p.birth_date), C.DATES),
                ("MRN:", p.mrn, C.MEDICAL_RECORD),
                ("Phone:", p.phone, C.TELEPHONE),
            ]
            if not dose:
                fields += [
                    ("Address:", f"{p.street}, {p.city} {p.state} {p.zip}", C.GEOGRAPHIC),
                    ("Insurance:", p.health_plan, C.HEALTH_PLAN),
                    (
                        "Referring:",
                        f"Dr. {ctx.referring.split('^')[1]} {ctx.referring.split('^')[0]}",
                        C.NAMES,
                    ),
                    ("Exam date:", _us_date(ctx.date), C.DATES),
                ]
        if dose:
            fields += [
                ("Exam:", "CT CHEST ABDOMEN", None),
                ("CTDIvol:", "12.4 mGy", None),
                ("DLP:", "610 mGy*cm", None),
                ("Phantom:", "Body 32 cm", None),
            ]
        else:
            fields += [
                ("Exam:", ctx.description, None),
                ("Reason:", "Follow-up of pulmonary nodule", None),
            ]
        for label, value, cat in fields:
            phantoms.draw_text(arr, 24, y, label, size, 30)
            box = phantoms.draw_text(arr, 24 + 9 * size, y, value, size, 10)
            if cat is not None:
                extra.append(PHIEntry("", Location.PIXELS, cat, value, box=box))
            y += step
        ctx.pixels(ds, arr, bits_stored=8)
        out.append(_finish(ctx, ds, marks, 1, i + 1, extra))
    return out


def _report(ctx: _Ctx) -> list[Instance]:
    p, nested = ctx.p, ctx.nested
    marks = _Marks()
    ds = ctx.base(marks, 1, 1, SOP_CLASS[Modality.SR], acquisition=False)
    ds.ReferencedPerformedProcedureStepSequence = []
    ds.CompletionFlag = "COMPLETE"
    ds.PerformedProcedureCodeSequence = []
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = [_code("18748-4", "LN", "Diagnostic Imaging Report")]
    ds.ContinuityOfContent = "SEPARATE"
    content: list[Dataset] = []

    def item(
        rel: str,
        vt: str,
        code: tuple[str, str, str],
        value: object = None,
        cats: tuple[SafeHarborCategory, ...] = (),
        children: list[Dataset] | None = None,
        staff: bool = False,
    ) -> Dataset:
        it = Dataset()
        it.RelationshipType = rel
        it.ValueType = vt
        it.ConceptNameCodeSequence = [_code(*code)]
        keyword = {"TEXT": "TextValue", "PNAME": "PersonName", "DATE": "Date"}.get(vt)
        if vt == "CONTAINER":
            it.ContinuityOfContent = "SEPARATE"
            it.ContentSequence = children or []
        elif keyword is None:
            raise ValueError(f"no value element for content items of value type {vt}")
        elif nested and cats:
            marks.set(it, keyword, value, *cats)
            if staff:
                marks.staff(it, keyword)
        else:
            setattr(it, keyword, value)
        return it

    if nested:
        ds.VerificationFlag = "VERIFIED"
        obs = Dataset()
        marks.set(obs, "VerifyingObserverName", ctx.reader, C.NAMES)
        obs.VerifyingObserverIdentificationCodeSequence = []
        marks.set(obs, "VerifyingOrganization", ctx.institution, C.OTHER)
        marks.set(obs, "VerificationDateTime", _da(ctx.date) + "170500", C.DATES)
        ds.VerifyingObserverSequence = [obs]
        content += [
            item(
                "HAS OBS CONTEXT",
                "PNAME",
                ("121008", "DCM", "Person Observer Name"),
                ctx.reader,
                (C.NAMES,),
                staff=True,
            ),
            item("HAS OBS CONTEXT", "PNAME", ("121029", "DCM", "Subject Name"), p.name, (C.NAMES,)),
            item(
                "HAS OBS CONTEXT",
                "TEXT",
                ("121030", "DCM", "Subject ID"),
                p.mrn,
                (C.MEDICAL_RECORD,),
            ),
            item(
                "HAS OBS CONTEXT",
                "DATE",
                ("121031", "DCM", "Subject Birth Date"),
                _da(p.birth_date),
                (C.DATES,),
            ),
        ]
        history = (
            f"{p.display_name} (MRN {p.mrn}), seen on {ctx.fmt(ctx.date)}, "
            f"referred by Dr {ctx.referring.split('^')[0]} for cough."
        )
        hist_cats: tuple[SafeHarborCategory, ...] = (C.NAMES, C.MEDICAL_RECORD, C.DATES)
        impression = f"No acute disease. Results phoned to the patient at {p.phone}."
        imp_cats: tuple[SafeHarborCategory, ...] = (C.TELEPHONE,)
    else:
        ds.VerificationFlag = "UNVERIFIED"
        history, hist_cats = "Cough for two weeks.", ()
        impression, imp_cats = "No acute disease.", ()
    findings = "Lungs are clear. Heart size is normal. No pleural effusion."
    content += [
        item(
            "CONTAINS",
            "CONTAINER",
            ("121060", "DCM", "History"),
            children=[item("CONTAINS", "TEXT", ("121060", "DCM", "History"), history, hist_cats)],
        ),
        item(
            "CONTAINS",
            "CONTAINER",
            ("121070", "DCM", "Findings"),
            children=[item("CONTAINS", "TEXT", ("121071", "DCM", "Finding"), findings)],
        ),
        item(
            "CONTAINS",
            "CONTAINER",
            ("121072", "DCM", "Impressions"),
            children=[
                item("CONTAINS", "TEXT", ("121073", "DCM", "Impression"), impression, imp_cats)
            ],
        ),
    ]
    ds.ContentSequence = content
    return [_finish(ctx, ds, marks, 1, 1)]


def make_study(
    modality: str | Modality,
    *,
    seed: int,
    level: PHILevel | int = PHILevel.EVERYWHERE,
    patient: Patient | None = None,
    slices: int | None = None,
    rows: int | None = None,
    columns: int | None = None,
) -> Study:
    """One synthetic study with identifiers planted up to ``level``.

    Parameters
    ----------
    modality
        ``"CT"``, ``"MR"``, ``"CR"``, ``"DX"``, ``"US"``, ``"MG"``, ``"SC"`` or ``"SR"``.
    seed
        Decides every value and every placement; the same seed gives the same files.
    level
        How deep identifiers are planted (:class:`PHILevel`).
    patient
        Whose study it is (default: ``make_patient(seed)``).
    slices
        How many images (slices for CT and MR, views for CR/DX/MG, frames for US, pages for SC).
    rows, columns
        Image size (defaults are small, e.g. CT 256x256 with 8 slices).

    Raises
    ------
    ValueError
        For an unknown modality or level, or sizes that are not positive.
    """
    try:
        mod = Modality(modality.upper() if isinstance(modality, str) else modality)
    except ValueError:
        raise ValueError(
            f"unknown modality {modality!r}; choose one of {', '.join(m.value for m in Modality)}"
        ) from None
    try:
        lvl = PHILevel(level)
    except ValueError:
        raise ValueError(
            f"unknown PHI level {level!r}; choose one of {[int(x) for x in PHILevel]}"
        ) from None
    d_rows, d_cols, d_n = _DEFAULTS[mod]
    r, c, n = rows or d_rows, columns or d_cols, slices or d_n
    if mod is Modality.SR:
        r, c, n = 0, 0, 1
    elif min(r, c, n) <= 0 or min(r, c) < 64:
        raise ValueError(
            f"rows and columns must be at least 64 and slices positive, got {r}x{c}x{n}"
        )
    patient = patient if patient is not None else make_patient(seed)
    ctx = _Ctx(mod, seed, lvl, patient)
    if mod in (Modality.CT, Modality.MR):
        instances = _cross_sectional(ctx, r, c, n)
    elif mod in (Modality.CR, Modality.DX, Modality.MG):
        instances = _projection(ctx, r, c, n)
    elif mod is Modality.US:
        instances = _ultrasound(ctx, r, c, n)
    elif mod is Modality.SC:
        instances = _secondary_capture(ctx, r, c, n)
    else:
        instances = _report(ctx)
    return Study(patient, mod, instances, seed=seed, level=lvl)


def write_tree(
    studies: Iterable[Study],
    out: Path,
    *,
    dataset: str = "",
    seed: int = 0,
    progress: bool = False,
) -> AnswerKey:
    """Write every instance of ``studies`` under ``out``; return the answer key (not written).

    Studies may come from a generator, so a large tree never sits in memory at once.

    Raises
    ------
    ValueError
        When two instances would be written to the same file.
    """
    out = Path(out)
    key = AnswerKey(dataset, seed)
    seen: set[str] = set()
    bar = None
    if progress:
        from tqdm import tqdm

        total = sum(len(s.instances) for s in studies) if isinstance(studies, Sequence) else None
        bar = tqdm(total=total, unit="file", desc=dataset or "writing", leave=False)
    try:
        for study in studies:
            for inst in study.instances:
                if inst.file in seen:
                    raise ValueError(f"two instances map to the same file {inst.file!r}")
                seen.add(inst.file)
                path = out / inst.file
                path.parent.mkdir(parents=True, exist_ok=True)
                inst.dataset.save_as(path, enforce_file_format=True)
                key.entries.extend(inst.entries)
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return key
