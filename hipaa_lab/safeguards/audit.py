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
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import json
import os
import shutil
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hipaa_lab.errors import AuditLogError
from hipaa_lab.ledger import Checkpoint, FileLedger, Receipt, Verification

if TYPE_CHECKING:
    import pandas as pd
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = [
    "Action",
    "AuditEvent",
    "AuditSink",
    "AuditTrail",
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


class _Coded(enum.Enum):
    """A coded value of DICOM's DCM coding scheme: ``(code, meaning)``."""

    @property
    def code(self) -> str:
        return str(self.value[0])

    @property
    def meaning(self) -> str:
        return str(self.value[1])

    @classmethod
    def from_code(cls, code: str) -> Any:
        for member in cls:
            if member.code == code:
                return member
        known = ", ".join(f"{m.code} {m.meaning}" for m in cls)
        raise ValueError(f"{code!r} is not a {cls.__name__} code; known: {known}")


class EventID(_Coded):
    """EventIdentification/EventID: what kind of event (PS3.15 A.5.3)."""

    INSTANCES_ACCESSED = ("110103", "DICOM Instances Accessed")
    EXPORT = ("110106", "Export")
    QUERY = ("110112", "Query")
    SECURITY_ALERT = ("110113", "Security Alert")
    USER_AUTHENTICATION = ("110114", "User Authentication")


class EventType(_Coded):
    """EventIdentification/EventTypeCode: the event's subtype, where DICOM defines one."""

    LOGIN = ("110122", "Login")
    LOGOUT = ("110123", "Logout")
    EMERGENCY_OVERRIDE_STARTED = ("110127", "Emergency Override Started")
    EMERGENCY_OVERRIDE_STOPPED = ("110138", "Emergency Override Stopped")


class Action(enum.Enum):
    """EventIdentification/@EventActionCode (RFC 3881)."""

    CREATE = "C"
    READ = "R"
    UPDATE = "U"
    DELETE = "D"
    EXECUTE = "E"


class Outcome(enum.Enum):
    """EventIdentification/@EventOutcomeIndicator (RFC 3881): a refused request is a failure."""

    SUCCESS = 0
    MINOR_FAILURE = 4
    SERIOUS_FAILURE = 8
    MAJOR_FAILURE = 12


@dataclass(frozen=True)
class AuditEvent:
    """One audited event of the simulated PACS.

    Attributes
    ----------
    event, action, outcome, time
        What happened, how, whether it succeeded, and when (a timezone-aware UTC time).
    user, user_name, role
        The requesting user (ActiveParticipant, UserIsRequestor): the unique user ID, the
        person's name and their role.
    source
        AuditSourceIdentification/@AuditSourceID: the system that saw the event.
    event_type
        The EventTypeCode, where the event has one (login, logout, emergency override).
    study_uid, patient_id, patient_name
        ParticipantObjectIdentification: the study (Study Instance UID) and its patient.
    purpose
        The purpose of use stated with the request (treatment, payment, operations, research).
    reason
        Why it was decided so (the policy's reason for a refusal), or the break-glass reason.
    query
        The query's keys, for a Query event.
    count
        How many instances were read or exported.
    """

    event: EventID
    action: Action
    outcome: Outcome
    time: dt.datetime
    user: str
    user_name: str
    role: str
    source: str = "HIPAA-LAB-PACS"
    event_type: EventType | None = None
    study_uid: str | None = None
    patient_id: str | None = None
    patient_name: str | None = None
    purpose: str | None = None
    reason: str | None = None
    query: dict[str, str] | None = None
    count: int | None = None

    def __post_init__(self) -> None:
        if self.time.tzinfo is None or self.time.utcoffset() != dt.timedelta(0):
            raise ValueError(f"an audit event's time must be UTC, not {self.time.isoformat()}")
        if not self.user:
            raise ValueError("an audit event needs the user's unique ID (164.312(a)(2)(i))")

    def to_body(self) -> dict[str, Any]:
        """The event as the JSON body of a ledger entry (codes by value, time ISO 8601)."""
        body: dict[str, Any] = {
            "event": self.event.code,
            "action": self.action.value,
            "outcome": self.outcome.value,
            "time": self.time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "user": self.user,
            "user_name": self.user_name,
            "role": self.role,
            "source": self.source,
        }
        optional = {
            "event_type": self.event_type.code if self.event_type else None,
            "study_uid": self.study_uid,
            "patient_id": self.patient_id,
            "patient_name": self.patient_name,
            "purpose": self.purpose,
            "reason": self.reason,
            "query": self.query,
            "count": self.count,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        return body

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> AuditEvent:
        """The event a :meth:`to_body` dict holds.

        Raises
        ------
        ValueError
            When a field is missing or holds an unknown code.
        """
        try:
            return cls(
                event=EventID.from_code(body["event"]),
                action=Action(body["action"]),
                outcome=Outcome(body["outcome"]),
                time=dt.datetime.fromisoformat(body["time"].replace("Z", "+00:00")),
                user=body["user"],
                user_name=body["user_name"],
                role=body["role"],
                source=body["source"],
                event_type=EventType.from_code(body["event_type"])
                if "event_type" in body
                else None,
                study_uid=body.get("study_uid"),
                patient_id=body.get("patient_id"),
                patient_name=body.get("patient_name"),
                purpose=body.get("purpose"),
                reason=body.get("reason"),
                query=body.get("query"),
                count=body.get("count"),
            )
        except KeyError as exc:
            raise ValueError(f"an audit event without its {exc.args[0]!r}") from None


class AuditSink(Protocol):
    """Where the PACS sends its audit events: every decision, allowed or refused, exactly once."""

    def record(self, event: AuditEvent) -> None: ...


# --------------------------------------------------------------------------- the trail

#: The ``kind`` of every audit entry in the log.
KIND = "dicom-audit"


def _when(event: AuditEvent) -> str:
    return str(event.to_body()["time"])


class AuditTrail:
    """The audit trail: an :class:`AuditSink` that keeps every event in a tamper-evident
    JSON-lines log (:class:`~hipaa_lab.ledger.FileLedger`), one event a line.

    Line ``n`` is entry ``n - 1`` of the log: ``{"body": <AuditEvent.to_body()>, "index": n-1,
    "kind": "dicom-audit", "prev": <SHA-256 of line n-1>, "time": <the event's time>}`` in
    canonical JSON. :meth:`verify` names the first bad line; :meth:`checkpoint` signs the log
    as it is (the key lives beside the log, ``<log>.signing-key``, mode 600, unless
    ``key_file`` says otherwise); :meth:`receipt` proves one event is in a checkpoint.

    What the log alone cannot show: an edit of the **last** line's event, a cut-off tail, or a
    chain recomputed from an edit onwards by whoever can write the file. A checkpoint saved
    earlier, away from the log, catches all three for the events it signed; events recorded
    after the latest checkpoint are protected by the chain only. See
    :class:`~hipaa_lab.ledger.FileLedger` for how appends stay whole.

    Examples
    --------
    >>> import tempfile, pathlib, datetime as dt
    >>> trail = AuditTrail(pathlib.Path(tempfile.mkdtemp()) / "audit.jsonl")
    >>> when = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
    >>> trail.record(AuditEvent(EventID.USER_AUTHENTICATION, Action.EXECUTE, Outcome.SUCCESS,
    ...     when, "U0001", "Doe^Alex", "radiologist", event_type=EventType.LOGIN))
    >>> [e.event_type for e in trail.events()], trail.verify().ok
    ([<EventType.LOGIN: ('110122', 'Login')>], True)
    """

    def __init__(
        self, path: str | os.PathLike[str], *, key_file: str | os.PathLike[str] | None = None
    ) -> None:
        self.path = Path(path)
        self.ledger = FileLedger(self.path, key_file=key_file)

    def record(self, event: AuditEvent) -> None:
        """Append one event (one whole line, fsynced) at the end of the log."""
        self.ledger.append(KIND, event.to_body(), time=_when(event))

    def record_many(self, events: Sequence[AuditEvent]) -> None:
        """Append events in order, in one write."""
        self.ledger.append_many(
            [(KIND, e.to_body()) for e in events], times=[_when(e) for e in events]
        )

    def __len__(self) -> int:
        return len(self.ledger)

    def events(self) -> Iterator[AuditEvent]:
        """Every event, in order of the lines.

        Raises
        ------
        AuditLogError
            At the first line that is not JSON or not an audit entry, naming it (1-based);
            nothing after it is read. (Whether the lines were changed is :meth:`verify`'s
            business.)
        """
        for line, (_n, body) in self.bodies():
            try:
                yield AuditEvent.from_body(body)
            except (ValueError, TypeError, AttributeError) as exc:
                raise AuditLogError(self.path, line, f"not an audit event: {exc}") from None

    def bodies(self) -> Iterator[tuple[int, tuple[int, dict[str, Any]]]]:
        """``(line, (index, body))`` of every entry, parsed but not made into events."""
        import orjson

        for n, raw in enumerate(self.ledger.lines(), 1):
            try:
                v = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise AuditLogError(self.path, n, f"not JSON ({exc})") from None
            if not isinstance(v, dict) or not isinstance(v.get("body"), dict):
                raise AuditLogError(self.path, n, "not a ledger entry (no body)")
            if v.get("kind") != KIND:
                raise AuditLogError(
                    self.path, n, f"an entry of kind {v.get('kind')!r}, not {KIND!r}"
                )
            yield n, (int(v.get("index", -1)), v["body"])

    def verify(
        self,
        checkpoint: Checkpoint | None = None,
        public_key: Ed25519PublicKey | None = None,
        *,
        progress: Callable[[int], object] | None = None,
    ) -> Verification:
        """Check every line and, given a checkpoint saved earlier, that the log still extends
        it; ``first_bad + 1`` is the first bad line. See the class docstring for the limits.
        ``progress`` is called with the bytes of each block read."""
        return self.ledger.verify(checkpoint, public_key, progress=progress)

    def checkpoint(self) -> Checkpoint:
        """Sign the log as it is now (save :meth:`Checkpoint.to_json` away from the log)."""
        return self.ledger.checkpoint()

    def receipt(self, line: int, checkpoint: Checkpoint) -> Receipt:
        """The proof that line ``line`` (1-based) is in the log ``checkpoint`` signs."""
        return self.ledger.receipt(line - 1, checkpoint)

    def public_key(self) -> Ed25519PublicKey:
        return self.ledger.public_key()


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


# --------------------------------------------------------------------------- tables

#: The table's fixed columns, in order; a query's keys follow as ``query.<key>``.
COLUMNS = (
    "line",
    "time",
    "event",
    "event_meaning",
    "event_type",
    "event_type_meaning",
    "action",
    "outcome",
    "user",
    "user_name",
    "role",
    "source",
    "study_uid",
    "patient_id",
    "patient_name",
    "purpose",
    "reason",
    "count",
)
_TEXT = (
    "event",
    "event_meaning",
    "event_type",
    "event_type_meaning",
    "action",
    "user",
    "user_name",
    "role",
    "source",
    "study_uid",
    "patient_id",
    "patient_name",
    "purpose",
    "reason",
)


def to_frame(events: Iterable[AuditEvent]) -> pd.DataFrame:
    """One row per event, the fields flattened: codes beside their meanings, the outcome as
    its number, ``time`` as UTC timestamps, ``line`` the event's 1-based line, a query's keys
    as ``query.<key>`` columns; absent values are missing (``None``/``<NA>``)."""
    import pandas as pd

    rows = []
    for n, e in enumerate(events, 1):
        row: dict[str, Any] = {
            "line": n,
            "time": e.time,
            "event": e.event.code,
            "event_meaning": e.event.meaning,
            "event_type": e.event_type.code if e.event_type else None,
            "event_type_meaning": e.event_type.meaning if e.event_type else None,
            "action": e.action.value,
            "outcome": e.outcome.value,
            "user": e.user,
            "user_name": e.user_name,
            "role": e.role,
            "source": e.source,
            "study_uid": e.study_uid,
            "patient_id": e.patient_id,
            "patient_name": e.patient_name,
            "purpose": e.purpose,
            "reason": e.reason,
            "count": e.count,
        }
        for key, value in (e.query or {}).items():
            row[f"query.{key}"] = value
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(COLUMNS)) if not rows else pd.DataFrame(rows)
    extra = sorted(c for c in frame.columns if c.startswith("query."))
    frame = frame.reindex(columns=[*COLUMNS, *extra])
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    for column in ("line", "outcome", "count"):
        frame[column] = frame[column].astype("Int64")
    for column in (*_TEXT, *extra):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame


def from_frame(frame: pd.DataFrame) -> list[AuditEvent]:
    """The events of a :func:`to_frame` table (or of :func:`read_csv`), in row order.

    Raises
    ------
    ValueError
        When a row lacks a field or holds an unknown code (the row's ``line`` is named).
    """
    import pandas as pd

    query_columns = [c for c in frame.columns if str(c).startswith("query.")]
    out = []
    for record in frame.to_dict("records"):

        def value(name: str, r: dict[str, Any] = record) -> Any:
            v = r.get(name)
            return None if v is None or (not isinstance(v, dict) and pd.isna(v)) else v

        body: dict[str, Any] = {
            "event": str(value("event")),
            "action": value("action"),
            "outcome": int(value("outcome")),
            "time": pd.Timestamp(value("time")).isoformat(timespec="milliseconds"),
            "user": value("user"),
            "user_name": value("user_name") or "",
            "role": value("role"),
            "source": value("source"),
        }
        for name in ("study_uid", "patient_id", "patient_name", "purpose", "reason"):
            if value(name) is not None:
                body[name] = str(value(name))
        if value("event_type") is not None:
            body["event_type"] = str(value("event_type"))
        if value("count") is not None:
            body["count"] = int(value("count"))
        query = {c[6:]: str(value(c)) for c in query_columns if value(c) is not None}
        if query:
            body["query"] = query
        try:
            out.append(AuditEvent.from_body(body))
        except ValueError as exc:
            raise ValueError(f"row of line {record.get('line')}: {exc}") from None
    return out


def write_csv(
    events: Iterable[AuditEvent], path: str | os.PathLike[str], *, progress: bool = False
) -> int:
    """Write the events as CSV (the :func:`to_frame` columns), atomically; return how many.

    A cell a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab
    or a carriage return) gets a leading quote, as the records' CSV does
    (:func:`hipaa_lab.records.export.neutralise`); :func:`read_csv` removes it.
    """
    from hipaa_lab.phi import write_atomic
    from hipaa_lab.records.export import neutralise

    frame = to_frame(_progress(events, progress, "CSV"))
    frame["time"] = frame["time"].map(lambda t: t.isoformat(timespec="milliseconds"))
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(lambda v: neutralise(v) if isinstance(v, str) else v)
    write_atomic(Path(path), frame.to_csv(index=False).encode())
    return len(frame)


def read_csv(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The table :func:`write_csv` wrote, cells restored (the formula guard removed)."""
    import pandas as pd

    from hipaa_lab.records.export import restore

    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    for column in frame.columns:
        frame[column] = frame[column].map(lambda v: restore(v) if isinstance(v, str) else None)
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    for column in ("line", "outcome", "count"):
        frame[column] = pd.to_numeric(frame[column]).astype("Int64")
    return frame
