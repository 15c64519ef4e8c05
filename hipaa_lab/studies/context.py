"""The context of one study: every choice drawn once from the seed and shared by its instances.

Three random streams, one per :class:`~hipaa_lab.studies.model.PHILevel`, decide what is planted
and where: the header stream (dates, site, staff, which optional attributes), the nested stream
(sequences, private blocks, free text, UIDs that embed identifiers) and the everywhere stream
(overlays, burned-in labels, the layout of file and folder names). A lower level's choices never
depend on the level asked for, so a study made at ``NESTED`` has the header identifiers of the same
seed at ``HEADER``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import uuid

import numpy as np
from pydicom.uid import PYDICOM_ROOT_UID

from hipaa_lab.phi import PHIEntry, SafeHarborCategory
from hipaa_lab.studies.model import Modality, PHILevel
from hipaa_lab.studies.patients import INSTITUTIONS, Patient, faker_for, file_word

__all__ = ["StudyContext", "dicom_date", "us_date"]

C = SafeHarborCategory

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
_UID_NAMESPACE = uuid.UUID("5b1f0c44-0c0e-4b8e-9d43-6a1e0c1f4a11")  # hipaa-lab synthetic studies


def dicom_date(d: dt.date) -> str:
    """``d`` as a DICOM DA value (``YYYYMMDD``)."""
    return d.strftime("%Y%m%d")


def us_date(d: dt.date) -> str:
    """``d`` as people in the US write it (``MM/DD/YYYY``)."""
    return d.strftime("%m/%d/%Y")


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


class StudyContext:
    """Everything shared by the instances of one study, drawn once from the seed.

    ``p`` is the patient; ``rh``, ``rn`` and ``re`` the header, nested and everywhere streams,
    ``np`` the pixels' generator. The header draws are the date, time, accession, site, device and
    staff, and ``opt`` (which optional attributes are set); the nested ones ``other_ids``, ``nopt``
    (which sequences and free text), ``private_blocks``, ``date_format`` and the study UID; the
    everywhere ones ``overlay``, ``corner_label`` and ``layout`` (the file names).
    ``overlays`` keeps the overlay already drawn for each image size
    (:func:`~hipaa_lab.studies.burned.add_overlay`).
    """

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
        self.institution, self.department = rh.choice(INSTITUTIONS)
        self.manufacturer, short = rh.choice(_MANUFACTURERS)
        self.model = f"{short} {modality.value}-{rh.randint(100, 990)}"
        self.serial = f"{short.upper()}{rh.randint(10000, 99999)}"
        self.station = f"{modality.value}{rh.randint(1, 9):02d}"
        staff = faker_for("en_US")
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
        self.date_format = rn.choice([us_date, lambda d: d.isoformat(), dicom_date])
        self.study_uid = (
            f"{PYDICOM_ROOT_UID}{patient.mrn}.{dicom_date(self.date)}.{rn.randint(1, 10**6)}"
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
        self.overlays: dict[tuple[int, int], tuple[bytes, list[PHIEntry]]] = {}

    def uid(self, *parts: object) -> str:
        """A 2.25 UID from a name-based (version 5) UUID: unique, and the same for the same seed."""
        name = ":".join(
            [str(self.seed), self.modality.value, str(int(self.level)), *map(str, parts)]
        )
        return f"2.25.{uuid.uuid5(_UID_NAMESPACE, name).int}"

    def fmt(self, d: dt.date) -> str:
        """``d`` written the way this study's free text writes dates."""
        return str(self.date_format(d))

    # ------------------------------------------------------------------ file names

    def file_for(self, series: int, n: int) -> tuple[str, list[tuple[str, SafeHarborCategory]]]:
        """The file's path in the tree and the identifiers its name carries."""
        p, mod = self.p, self.modality.value
        if self.layout < 0:
            return f"{self.counter_folder}/series-{series:03d}/IM{n:04d}.dcm", []
        fam, giv = file_word(p.family), file_word(p.given)
        if self.layout == 0:
            who = f"{fam}_{giv}"
            return (
                f"{who}_MRN{p.mrn}/{dicom_date(self.date)}_{mod}_{self.accession}/S{series:03d}/IM{n:04d}.dcm",
                [(who, C.NAMES), (p.mrn, C.MEDICAL_RECORD), (dicom_date(self.date), C.DATES)],
            )
        if self.layout == 1:
            who = f"{fam.upper()} {giv.upper()}"
            return (
                f"{p.mrn} {who}/{mod} {self.accession}/{fam.upper()}_{series:02d}_{n:04d}.dcm",
                [(p.mrn, C.MEDICAL_RECORD), (who, C.NAMES), (fam.upper(), C.NAMES)],
            )
        dob = dicom_date(p.birth_date)
        return (
            f"{fam}^{giv}_{dob}/{mod}_{dicom_date(self.date)}/{n:03d}_{series}.dcm",
            [(f"{fam}^{giv}", C.NAMES), (dob, C.DATES), (dicom_date(self.date), C.DATES)],
        )
