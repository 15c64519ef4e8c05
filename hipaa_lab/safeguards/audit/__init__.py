"""The audit trail of the simulated PACS: DICOM audit events (PS3.15 A.5) in a tamper-evident log.

An audit event has the structure of a DICOM audit message (DICOM PS3.15 Annex A.5, which follows
RFC 3881): what happened (EventIdentification: EventID, EventActionCode, EventDateTime,
EventOutcomeIndicator, EventTypeCode), who did it (ActiveParticipant), which system saw it
(AuditSourceIdentification) and to what (ParticipantObjectIdentification: the study by its UID and
the patient). The Security Rule asks for audit controls, "mechanisms that record and examine
activity in information systems that contain or use electronic protected health information"
(45 CFR 164.312(b)), and for regular review of those records (164.308(a)(1)(ii)(D)); it names no
format: the DICOM message is what real archives send to an audit record repository.

The codes are DICOM's (PS3.16, coding scheme DCM):

=================================  ======================================================
:class:`EventID`                   110103 DICOM Instances Accessed, 110106 Export,
                                   110112 Query, 110114 User Authentication,
                                   110113 Security Alert
:class:`EventType`                 110122 Login, 110123 Logout, 110127 Emergency Override
                                   Started, 110138 Emergency Override Stopped
:class:`Action`                    C create, R read, U update, D delete, E execute
:class:`Outcome`                   0 success, 4 minor failure, 8 serious failure,
                                   12 major failure
=================================  ======================================================

The wing's parts, all re-exported here:

* the event model (:class:`AuditEvent` and its codes; :class:`AuditSink`, what the simulated
  PACS sends every decision to);
* :class:`AuditTrail`, the sink that keeps the events in the tamper-evident log of
  :mod:`hipaa_lab.ledger` as a JSON-lines file (one event a line), with :meth:`~AuditTrail.verify`
  naming the first bad line, signed checkpoints and receipts;
* the exports: :func:`to_xml` / :func:`xml_message` / :func:`write_xml`, one DICOM audit message
  (PS3.15 A.5.1 XML) per event; :func:`to_frame` / :func:`from_frame`, a pandas table;
  :func:`write_csv` / :func:`read_csv`, CSV with formula-like cells neutralised.

A generated workday to review, with planted inappropriate access, is
:mod:`hipaa_lab.safeguards.workday`; the command is ``hipaa-lab audit``
(:mod:`hipaa_lab.safeguards.commands`).
"""

from hipaa_lab.safeguards.audit._events import (
    Action,
    AuditEvent,
    AuditSink,
    EventID,
    EventType,
    Outcome,
)
from hipaa_lab.safeguards.audit._tables import COLUMNS, from_frame, read_csv, to_frame, write_csv
from hipaa_lab.safeguards.audit._trail import KIND, AuditTrail
from hipaa_lab.safeguards.audit._xml import to_xml, write_xml, xml_message

__all__ = [
    "Action",
    "AuditEvent",
    "AuditSink",
    "AuditTrail",
    "COLUMNS",
    "EventID",
    "EventType",
    "KIND",
    "Outcome",
    "from_frame",
    "read_csv",
    "to_frame",
    "to_xml",
    "write_csv",
    "write_xml",
    "xml_message",
]
