"""The audit event model: a DICOM audit message's content (PS3.15 A.5) as a frozen dataclass."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Action", "AuditEvent", "AuditSink", "EventID", "EventType", "Outcome"]


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
