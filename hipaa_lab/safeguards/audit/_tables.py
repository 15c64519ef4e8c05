"""Audit events as a table: a pandas DataFrame, and CSV a spreadsheet can open safely."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hipaa_lab.safeguards.audit._events import AuditEvent
from hipaa_lab.safeguards.audit._xml import _progress

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COLUMNS", "from_frame", "read_csv", "to_frame", "write_csv"]

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
#: The columns that hold text (the rest: the line, the time and the numbers).
_TEXT = tuple(c for c in COLUMNS if c not in ("line", "time", "outcome", "count"))


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
