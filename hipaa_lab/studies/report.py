"""The SR builder: a radiology report whose content tree names the patient, from ``NESTED`` up.

A Basic Text SR with History, Findings and Impressions; at ``NESTED`` and above it is verified,
its observation context names the reader and the subject (name, ID, birth date), and its free
text carries the patient's name, MRN, the exam date and a telephone number.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from hipaa_lab.phi import SafeHarborCategory
from hipaa_lab.studies.context import StudyContext, dicom_date
from hipaa_lab.studies.header import Marks, base_dataset, code_item, finish
from hipaa_lab.studies.model import SOP_CLASS, Instance, Modality

__all__ = ["report"]

C = SafeHarborCategory


def report(ctx: StudyContext) -> list[Instance]:
    """The one instance of an SR study: the report, with identifiers planted up to the context's level."""
    p, nested = ctx.p, ctx.nested
    marks = Marks()
    ds = base_dataset(ctx, marks, 1, 1, SOP_CLASS[Modality.SR], acquisition=False)
    ds.ReferencedPerformedProcedureStepSequence = []
    ds.CompletionFlag = "COMPLETE"
    ds.PerformedProcedureCodeSequence = []
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = [code_item("18748-4", "LN", "Diagnostic Imaging Report")]
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
        it.ConceptNameCodeSequence = [code_item(*code)]
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
        marks.set(obs, "VerificationDateTime", dicom_date(ctx.date) + "170500", C.DATES)
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
                dicom_date(p.birth_date),
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
    return [finish(ctx, ds, marks, 1, 1)]
