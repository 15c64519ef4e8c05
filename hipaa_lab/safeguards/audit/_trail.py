"""The audit trail: audit events in the tamper-evident log, one JSON line each."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hipaa_lab.errors import AuditLogError
from hipaa_lab.safeguards.audit._events import AuditEvent

if TYPE_CHECKING:  # the ledger (SQLAlchemy, cryptography) loads when a trail is opened
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from hipaa_lab.ledger import Checkpoint, Receipt, Verification

__all__ = ["KIND", "AuditTrail"]

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
    >>> from hipaa_lab.safeguards.audit import Action, EventID, EventType, Outcome
    >>> trail = AuditTrail(pathlib.Path(tempfile.mkdtemp()) / "audit.jsonl")
    >>> when = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
    >>> trail.record(AuditEvent(EventID.USER_AUTHENTICATION, Action.EXECUTE, Outcome.SUCCESS,
    ...     when, "U0001", "Doe^Alex", "radiologist", event_type=EventType.LOGIN))
    >>> [e.event_type.name for e in trail.events()], trail.verify().ok
    (['LOGIN'], True)
    """

    def __init__(
        self, path: str | os.PathLike[str], *, key_file: str | os.PathLike[str] | None = None
    ) -> None:
        self.path = Path(path)
        from hipaa_lab.ledger import FileLedger

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
