"""Audit events as DICOM audit messages (PS3.15 A.5.1 XML, the RFC 3881 structure)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hipaa_lab.safeguards.audit._events import AuditEvent, EventID
from hipaa_lab.safeguards.audit._trail import _when

__all__ = ["to_xml", "write_xml", "xml_message"]

# --------------------------------------------------------------------------- DICOM audit XML

#: HL7 v3 PurposeOfUse codes (ActReason, 2.16.840.1.113883.5.8) for the purposes of use.
_PURPOSE_CODES = {
    "treatment": ("TREAT", "treatment"),
    "payment": ("HPAYMT", "healthcare payment"),
    "operations": ("HOPERAT", "healthcare operations"),
    "research": ("HRESCH", "healthcare research"),
}
_HL7_ACT_REASON = "2.16.840.1.113883.5.8"
_LOCAL_SCHEME = "99HIPAALAB"  # a private coding scheme (PS3.16 8.2: designators begin with 99)
_STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"  # Study Root Q/R Information Model - FIND


def _code(parent: ET.Element, tag: str, code: str, scheme: str, meaning: str) -> ET.Element:
    """A CodedValueType element (PS3.15 A.5.1): csd-code, codeSystemName, originalText."""
    return ET.SubElement(
        parent, tag, {"csd-code": code, "codeSystemName": scheme, "originalText": meaning}
    )


def to_xml(event: AuditEvent) -> ET.Element:
    """The event as a DICOM audit message (PS3.15 A.5.1; the RFC 3881 structure).

    ``AuditMessage`` holds, in the schema's order: ``EventIdentification`` (EventActionCode,
    EventDateTime, EventOutcomeIndicator; ``EventID``, ``EventTypeCode`` when the event has one,
    ``EventOutcomeDescription`` for the reason, ``PurposeOfUse`` as an HL7 ActReason code); the
    requesting user as an ``ActiveParticipant`` (UserID, UserName, UserIsRequestor="true",
    ``RoleIDCode`` of the private scheme 99HIPAALAB) and the PACS as a second one
    (UserIsRequestor="false", 110150 Application, or 110153 Source Role ID for an export);
    ``AuditSourceIdentification`` (AuditSourceID); then a ``ParticipantObjectIdentification``
    for the query (type 2, role 24, 110181 SOP Class UID, ``ParticipantObjectQuery`` base64),
    for the study (type 2, role 3, 110180 Study Instance UID) and for the patient (type 1,
    role 1, RFC-3881 code 2 Patient Number, ``ParticipantObjectName``), each when the event
    names it.
    """
    msg = ET.Element("AuditMessage")
    ident = ET.SubElement(
        msg,
        "EventIdentification",
        {
            "EventActionCode": event.action.value,
            "EventDateTime": _when(event),
            "EventOutcomeIndicator": str(event.outcome.value),
        },
    )
    _code(ident, "EventID", event.event.code, "DCM", event.event.meaning)
    if event.event_type is not None:
        _code(ident, "EventTypeCode", event.event_type.code, "DCM", event.event_type.meaning)
    if event.reason:
        ET.SubElement(ident, "EventOutcomeDescription").text = event.reason
    if event.purpose:
        code, meaning = _PURPOSE_CODES.get(event.purpose, (event.purpose, event.purpose))
        scheme = _HL7_ACT_REASON if event.purpose in _PURPOSE_CODES else _LOCAL_SCHEME
        _code(ident, "PurposeOfUse", code, scheme, meaning)

    user = ET.SubElement(
        msg,
        "ActiveParticipant",
        {"UserID": event.user, "UserName": event.user_name, "UserIsRequestor": "true"},
    )
    _code(user, "RoleIDCode", event.role, _LOCAL_SCHEME, event.role.replace("_", " "))
    pacs = ET.SubElement(
        msg, "ActiveParticipant", {"UserID": event.source, "UserIsRequestor": "false"}
    )
    if event.event is EventID.EXPORT:
        _code(pacs, "RoleIDCode", "110153", "DCM", "Source Role ID")
    else:
        _code(pacs, "RoleIDCode", "110150", "DCM", "Application")

    ET.SubElement(msg, "AuditSourceIdentification", {"AuditSourceID": event.source})

    if event.query is not None:
        query = ET.SubElement(
            msg,
            "ParticipantObjectIdentification",
            {
                "ParticipantObjectID": _STUDY_ROOT_FIND,
                "ParticipantObjectTypeCode": "2",
                "ParticipantObjectTypeCodeRole": "24",
            },
        )
        _code(query, "ParticipantObjectIDTypeCode", "110181", "DCM", "SOP Class UID")
        keys = json.dumps(event.query, sort_keys=True, ensure_ascii=False).encode()
        ET.SubElement(query, "ParticipantObjectQuery").text = base64.b64encode(keys).decode()
    if event.study_uid:
        study = ET.SubElement(
            msg,
            "ParticipantObjectIdentification",
            {
                "ParticipantObjectID": event.study_uid,
                "ParticipantObjectTypeCode": "2",
                "ParticipantObjectTypeCodeRole": "3",
            },
        )
        _code(study, "ParticipantObjectIDTypeCode", "110180", "DCM", "Study Instance UID")
        if event.count is not None:
            ET.SubElement(
                study,
                "ParticipantObjectDetail",
                {
                    "type": "NumberOfInstances",
                    "value": base64.b64encode(str(event.count).encode()).decode(),
                },
            )
    if event.patient_id:
        patient = ET.SubElement(
            msg,
            "ParticipantObjectIdentification",
            {
                "ParticipantObjectID": event.patient_id,
                "ParticipantObjectTypeCode": "1",
                "ParticipantObjectTypeCodeRole": "1",
            },
        )
        _code(patient, "ParticipantObjectIDTypeCode", "2", "RFC-3881", "Patient Number")
        if event.patient_name:
            ET.SubElement(patient, "ParticipantObjectName").text = event.patient_name
    return msg


def xml_message(event: AuditEvent) -> bytes:
    """The event's audit message as a UTF-8 XML document."""
    msg = to_xml(event)
    ET.indent(msg)
    data: bytes = ET.tostring(msg, encoding="utf-8", xml_declaration=True)
    return data


def write_xml(
    events: Iterable[AuditEvent], out: str | os.PathLike[str], *, progress: bool = False
) -> int:
    """Write one XML audit message per event into the folder ``out`` (``line-NNNNNNN.xml``, the line number in seven digits,
    the first line, and so on); return how many.

    The messages are written into a temporary folder beside ``out`` that then takes its place
    (an existing ``out`` is replaced only once the new one is whole): a reader sees the old set
    or the new, never half of one.
    """
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    n = 0
    try:
        for n, event in enumerate(_progress(events, progress, "XML"), 1):
            (tmp / f"line-{n:07d}.xml").write_bytes(xml_message(event))
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            target.rename(old)
        tmp.rename(target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return n


def _progress(items: Iterable[Any], show: bool, what: str) -> Iterable[Any]:
    if not show:
        return items
    from tqdm.auto import tqdm

    bar: Iterable[Any] = tqdm(items, desc=what, unit=" events", leave=False, disable=None)
    return bar
