"""The header: the modules every instance shares, and the marks that make the answer key.

:class:`Marks` remembers which elements of one dataset carry identifiers, and of which Safe
Harbor categories; :func:`base_dataset` fills in the Patient, General Study, General Series,
General Equipment and SOP Common modules (and, from ``NESTED`` up, the request, the original
attributes and private blocks); :func:`finish` turns a dataset and its marks into an
:class:`~hipaa_lab.studies.model.Instance` with its answer-key entries.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_ROOT_UID, UID, ExplicitVRLittleEndian

from hipaa_lab.phi import Layer, Location, PHIEntry, SafeHarborCategory, element_text, iter_elements
from hipaa_lab.studies.context import StudyContext, dicom_date
from hipaa_lab.studies.model import Instance, Modality
from hipaa_lab.studies.patients import INSTITUTIONS

__all__ = [
    "Marks",
    "base_dataset",
    "code_item",
    "finish",
    "original_attributes",
    "patient_module",
    "private_blocks",
]

C = SafeHarborCategory


class Marks:
    """Remembers which elements of one dataset carry identifiers, and of which categories."""

    def __init__(self) -> None:
        self._marks: dict[int, tuple[DataElement, tuple[SafeHarborCategory, ...]]] = {}
        self._staff: set[int] = set()

    def set(self, ds: Dataset, keyword: str, value: object, *cats: SafeHarborCategory) -> None:
        """Set ``ds.<keyword>`` to ``value``; with ``cats``, mark it as an identifier of those."""
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
        """Add a private element to ``creator``'s block in ``group``; with ``cats``, mark it."""
        block = ds.private_block(group, creator, create=True)
        block.add_new(offset, vr, value)
        if cats:
            elem = block[offset]
            self._marks[id(elem)] = (elem, cats)

    def entries(self, ds: Dataset, file: str) -> list[PHIEntry]:
        """The answer-key entries of the marked elements still in ``ds``, at their tag paths."""
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


def code_item(value: str, scheme: str, meaning: str) -> Dataset:
    """A code sequence item: code value, coding scheme designator, code meaning."""
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def base_dataset(
    ctx: StudyContext,
    marks: Marks,
    series: int,
    number: int,
    sop_class: str,
    *,
    acquisition: bool = True,
) -> Dataset:
    """A dataset with the Patient, Study, Series, Equipment and SOP Common modules filled in."""
    p, o, nested = ctx.p, ctx.opt, ctx.nested
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = UID(sop_class)
    sop_uid = ctx.uid("sop", series, number)
    ds.file_meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    if p.charset:
        ds.SpecificCharacterSet = list(p.charset) if len(p.charset) > 1 else p.charset[0]
    if o["creation_date"]:
        marks.set(ds, "InstanceCreationDate", dicom_date(ctx.date), C.DATES)
        ds.InstanceCreationTime = ctx.time
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    marks.set(ds, "StudyDate", dicom_date(ctx.date), C.DATES)
    marks.set(ds, "SeriesDate", dicom_date(ctx.date), C.DATES)
    marks.set(ds, "ContentDate", dicom_date(ctx.date), C.DATES)
    ds.StudyTime = ctx.time
    ds.SeriesTime = ctx.time
    ds.ContentTime = ctx.time
    if acquisition:
        marks.set(ds, "AcquisitionDate", dicom_date(ctx.date), C.DATES)
        ds.AcquisitionTime = ctx.time
    marks.set(ds, "AccessionNumber", ctx.accession, C.OTHER)
    ds.Modality = "OT" if ctx.modality is Modality.SC else ctx.modality.value
    ds.Manufacturer = ctx.manufacturer
    marks.set(ds, "InstitutionName", ctx.institution, C.OTHER)
    if o["inst_address"]:
        marks.set(ds, "InstitutionAddress", ctx.inst_address, C.GEOGRAPHIC)
    marks.set(ds, "ReferringPhysicianName", ctx.referring, C.NAMES)
    ds.StationName = ctx.station
    desc = ctx.description
    if nested and ctx.nopt["desc"]:
        desc = f"{desc} {p.family.upper()} {ctx.fmt(ctx.date)}"
        marks.set(ds, "StudyDescription", desc[:64], C.NAMES, C.DATES)
    else:
        ds.StudyDescription = desc
    ds.SeriesDescription = desc.split(" ")[0] + f" series {series}"
    ds.InstitutionalDepartmentName = ctx.department
    if o["reading"]:
        marks.set(ds, "NameOfPhysiciansReadingStudy", ctx.reader, C.NAMES)
    sr = ctx.modality is Modality.SR
    if o["performing"] and not sr:
        marks.set(ds, "PerformingPhysicianName", ctx.reader, C.NAMES)
    if o["operator"] and not sr:
        marks.set(ds, "OperatorsName", ctx.operator, C.NAMES)
    ds.ManufacturerModelName = ctx.model
    if nested and ctx.nopt["ref_patient"]:
        item = Dataset()
        item.ReferencedSOPClassUID = (
            "1.2.840.10008.3.1.2.1.1"  # Detached Patient Management (retired)
        )
        ds.ReferencedPatientSequence = [item]
        marks.set(
            item,
            "ReferencedSOPInstanceUID",
            f"{PYDICOM_ROOT_UID}{p.mrn}.{dicom_date(p.birth_date)}",
            C.MEDICAL_RECORD,
            C.DATES,
        )
    patient_module(ctx, ds, marks)
    if o["serial"]:
        marks.set(ds, "DeviceSerialNumber", ctx.serial, C.DEVICE)
    ds.SoftwareVersions = "4.2.1"
    if acquisition and ctx.modality in (Modality.CT, Modality.MR):
        ds.ProtocolName = desc.split(" ")[0] + " ROUTINE"
    if nested and ctx.nopt["history"]:
        text = f"{p.display_name}, DOB {ctx.fmt(p.birth_date)}: follow-up of prior exam."
        marks.set(ds, "AdditionalPatientHistory", text, C.NAMES, C.DATES)
    if o["admission"]:
        marks.set(ds, "AdmissionID", p.account, C.ACCOUNT)
    ds.StudyInstanceUID = ctx.study_uid
    if nested:
        marks.set(ds, "StudyInstanceUID", ctx.study_uid, C.MEDICAL_RECORD, C.DATES)
    ds.SeriesInstanceUID = ctx.uid("series", series)
    ds.StudyID = ctx.study_id
    ds.SeriesNumber = series
    ds.InstanceNumber = number
    if nested and ctx.nopt["request"]:
        req = Dataset()
        marks.set(req, "AccessionNumber", ctx.accession, C.OTHER)
        marks.set(req, "StudyInstanceUID", ctx.study_uid, C.MEDICAL_RECORD, C.DATES)
        req.RequestedProcedureDescription = ctx.description
        req.RequestedProcedureID = f"RP{ctx.accession}"[:16]
        req.ScheduledProcedureStepID = f"SPS{ctx.study_id}"
        req.ScheduledProcedureStepDescription = ctx.description
        reason = f"Pt {p.family.upper()}, {p.given} MRN {p.mrn}; ordered by Dr {ctx.referring.split('^')[0]}"
        marks.set(req, "ReasonForTheRequestedProcedure", reason[:64], C.NAMES, C.MEDICAL_RECORD)
        if ctx.modality is Modality.SR:  # an SR names its request in the SR Document General module
            del req.ScheduledProcedureStepID, req.ScheduledProcedureStepDescription
            req.RequestedProcedureCodeSequence = []
            req.ReferencedStudySequence = []
            req.PlacerOrderNumberImagingServiceRequest = ""
            req.FillerOrderNumberImagingServiceRequest = ""
            ds.ReferencedRequestSequence = [req]
        else:
            ds.RequestAttributesSequence = [req]
    if o["pps_date"] and not sr:
        marks.set(ds, "PerformedProcedureStepStartDate", dicom_date(ctx.date), C.DATES)
        ds.PerformedProcedureStepStartTime = ctx.time
        ds.PerformedProcedureStepID = f"PPS{ctx.study_id}"
    if nested and ctx.nopt["image_comments"] and ctx.modality is not Modality.SR:
        text = f"MRN {p.mrn}; prior {ctx.fmt(ctx.date - dt.timedelta(days=365))}"
        marks.set(ds, "ImageComments", text, C.MEDICAL_RECORD, C.DATES)
    if nested and ctx.nopt["original"]:
        original_attributes(ctx, ds, marks)
    if nested:
        private_blocks(ctx, ds, marks)
    return ds


def patient_module(ctx: StudyContext, ds: Dataset, marks: Marks) -> None:
    """The Patient module, with the optional identifiers the context chose (and, nested, other IDs)."""
    p, o, nested = ctx.p, ctx.opt, ctx.nested
    marks.set(ds, "PatientName", p.name, C.NAMES)
    marks.set(ds, "PatientID", p.mrn, C.MEDICAL_RECORD)
    marks.set(ds, "IssuerOfPatientID", p.issuer, C.OTHER)
    marks.set(ds, "PatientBirthDate", dicom_date(p.birth_date), C.DATES)
    ds.PatientSex = p.sex
    age = p.age_on(ctx.date)
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
        marks.set(ds, "PatientMotherBirthName", f"{p.family}^{p.relative.split('^')[1]}", C.NAMES)
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
        for kind in ctx.other_ids:
            item = Dataset()
            value, issuer, cat = {
                "ssn": (p.ssn, "US SSA", C.SSN),
                "plan": (p.health_plan, p.payer, C.HEALTH_PLAN),
                "prior": (
                    p.prior_mrn,
                    INSTITUTIONS[p.seed % len(INSTITUTIONS)][0].upper(),
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
        if ctx.nopt["patient_comments"]:
            text = f"Call {p.phone} or {p.email}; lives at {p.address}"
            marks.set(ds, "PatientComments", text, C.TELEPHONE, C.EMAIL, C.GEOGRAPHIC)


def original_attributes(ctx: StudyContext, ds: Dataset, marks: Marks) -> None:
    """An Original Attributes Sequence: the name and ID the patient had before a RIS reconcile."""
    p = ctx.p
    modified = Dataset()
    old_name = f"{p.birth_family or p.family.upper()}^{p.given}"
    marks.set(modified, "PatientName", old_name, C.NAMES)
    marks.set(modified, "PatientID", p.prior_mrn, C.MEDICAL_RECORD)
    item = Dataset()
    item.SourceOfPreviousValues = ""
    marks.set(item, "AttributeModificationDateTime", dicom_date(ctx.date) + "093000", C.DATES)
    item.ModifyingSystem = "RIS RECONCILE"
    item.ReasonForTheAttributeModification = "CORRECT"
    item.ModifiedAttributesSequence = [modified]
    ds.OriginalAttributesSequence = [item]


def private_blocks(ctx: StudyContext, ds: Dataset, marks: Marks) -> None:
    """The private blocks the context chose, each with some of the patient's identifiers."""
    p = ctx.p
    for group, creator, start, fields in ctx.private_blocks:
        offset = start
        for name in fields:
            vr, value, cats = {
                "name": ("LO", p.display_name, (C.NAMES,)),
                "mrn": ("LO", p.mrn, (C.MEDICAL_RECORD,)),
                "dob": ("DA", dicom_date(p.birth_date), (C.DATES,)),
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


def finish(
    ctx: StudyContext,
    ds: Dataset,
    marks: Marks,
    series: int,
    number: int,
    extra: list[PHIEntry] | None = None,
) -> Instance:
    """The instance: its file name, the entries of its marks, its name and ``extra`` (pixels)."""
    file, name_ids = ctx.file_for(series, number)
    entries = marks.entries(ds, file)
    for text, cat in name_ids:
        entries.append(PHIEntry(file, Location.FILENAME, cat, text))
    for e in extra or []:
        entries.append(dataclasses.replace(e, file=file))
    return Instance(ds, file, entries)
