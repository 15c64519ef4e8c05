"""A simulated PACS with real access control: every query, read and export is decided and audited.

:class:`Pacs` is the only way to the studies it holds. A user logs in (a unique user ID,
45 CFR 164.312(a)(2)(i)) and gets a :class:`Session`; each request names the purpose of use
(treatment, payment, operations, research) and is decided by the access policy
(:class:`~hipaa_lab.safeguards.policy.AccessPolicy`: PyCasbin, deny by default, minimum necessary
by role and purpose, 164.502(b) and 164.514(d)) from the facts the PACS works out between the user
and the study: on the patient's care team, on the user's worklist, a research approval on file,
a de-identified export, emergency access on. Each request gives exactly one audit event to the
:class:`~hipaa_lab.safeguards.audit.AuditSink`, a refused one too (its outcome a failure, with
the reason), and one :class:`Decision` in :attr:`Pacs.decisions`.

Users, sessions, emergency access (break-glass: a reason, a time limit, Security Alerts),
automatic logoff and termination are :mod:`~hipaa_lab.safeguards.sessions`'s; the PACS offers
them as its own methods (:meth:`Pacs.login`, :meth:`Pacs.start_break_glass`, :meth:`Pacs.terminate`
...). Every request made under emergency access carries its reason in its audit event.

Examples
--------
>>> log = []
>>> class ListSink:
...     def record(self, event):
...         log.append(event)
>>> pacs = Pacs.synthetic(ListSink(), patients=2)
>>> desk = pacs.login("U401")
>>> found = pacs.query(desk, "operations")
>>> len(found) > 0, len(log)  # the login and the query
(True, 2)
>>> pacs.read(desk, found[0].study_uid, "treatment")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
hipaa_lab.errors.AccessDenied: U401 (front_desk) may not read study ... for treatment: no rule of policy.csv allows it ...
>>> log[-1].outcome.name, pacs.decisions[-1].allowed
('MINOR_FAILURE', False)
"""

from __future__ import annotations

import datetime as dt
import io
import os
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from pydicom.filewriter import dcmwrite

from hipaa_lab.errors import AccessDenied, PolicyError
from hipaa_lab.safeguards.audit import Action, AuditEvent, AuditSink, EventID, Outcome
from hipaa_lab.safeguards.policy import AccessPolicy, Condition, Operation, Purpose, Verdict
from hipaa_lab.safeguards.sessions import (
    REFUSED,
    STAFF,
    BreakGlass,
    Clock,
    Session,
    Sessions,
    SessionState,
    User,
    department_modalities,
    utc_now,
)

if TYPE_CHECKING:
    from pydicom import Dataset

    from hipaa_lab.records.roster import Employee
    from hipaa_lab.studies import Study

__all__ = ["Decision", "Pacs", "StudySummary"]


@dataclass(frozen=True)
class StudySummary:
    """What a query shows of a study: demographics and schedule, no images."""

    study_uid: str
    patient_id: str
    patient_name: str
    modality: str
    study_date: str
    description: str


@dataclass(frozen=True)
class Decision:
    """One request and what was decided, for a table (``pandas.DataFrame(d.as_dict() ...)``).

    ``rule`` is the policy line that allowed the request (``None`` when refused); ``reason``
    says why in words; ``facts`` are the conditions that held between the user and the study.
    """

    time: dt.datetime
    user: str
    role: str
    operation: str
    purpose: str
    allowed: bool
    reason: str
    rule: str | None = None
    study_uid: str | None = None
    patient_id: str | None = None
    facts: tuple[str, ...] = ()
    break_glass: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The decision as a flat dict (one table row); facts joined by ``&``."""
        row = asdict(self)
        row["facts"] = " & ".join(self.facts)
        return row


@dataclass
class _Entry:
    study: Study
    summary: StudySummary
    files: list[bytes]  # each instance as a DICOM Part 10 file: what a retrieve sends

    def datasets(self) -> list[Dataset]:
        """Fresh datasets of the instances (the archive's own are never handed out)."""
        from pydicom import dcmread

        return [dcmread(io.BytesIO(data)) for data in self.files]


_EVENT = {
    Operation.QUERY: (EventID.QUERY, Action.EXECUTE),
    Operation.READ: (EventID.INSTANCES_ACCESSED, Action.READ),
    Operation.EXPORT: (EventID.EXPORT, Action.READ),
}


class Pacs:
    """A picture archive whose every query, read and export is decided by policy and audited.

    Parameters
    ----------
    studies
        The studies it holds (:func:`hipaa_lab.studies.make_study`).
    sink
        Where every audit event goes (:class:`~hipaa_lab.safeguards.audit.AuditSink`).
    roster
        The training roster's rows (:class:`hipaa_lab.records.Employee`); the PACS's users.
    users
        The users when there is no roster (default: the synthetic :data:`STAFF`).
    policy
        An :class:`AccessPolicy` or the path of a policy file (default: the shipped policy).
    clock
        Returns the current time, aware, in UTC.
    idle_timeout, break_glass_limit
        Automatic logoff after this long idle; the longest an emergency access lasts.
    source
        The audit source ID (AuditSourceIdentification).

    Raises
    ------
    PolicyError
        For a policy file that cannot be used.
    ValueError
        For two users with the same ID, or limits that are not positive.
    """

    def __init__(
        self,
        studies: Iterable[Study],
        *,
        sink: AuditSink,
        roster: Iterable[Employee] | None = None,
        users: Iterable[User] | None = None,
        policy: AccessPolicy | str | os.PathLike[str] | None = None,
        clock: Clock = utc_now,
        idle_timeout: dt.timedelta = dt.timedelta(minutes=15),
        break_glass_limit: dt.timedelta = dt.timedelta(minutes=60),
        source: str = "HIPAA-LAB-PACS",
    ) -> None:
        self.sink = sink
        self.clock = clock
        self.source = source
        self.decisions: list[Decision] = []
        staff = [User.from_employee(e) for e in roster] if roster is not None else users
        self._sessions = Sessions(
            STAFF if staff is None else staff, self._audit, clock, idle_timeout, break_glass_limit
        )
        self._users = self._sessions.users  # the registry's own dict: terminations show at once
        self._worklists = {u: department_modalities(v.department) for u, v in self._users.items()}
        self._studies: dict[str, _Entry] = {}
        for study in studies:
            self.add_study(study)
        self._care_team: dict[str, set[str]] = {}
        self._approvals: dict[str, str] = {}
        self._policy: AccessPolicy | None = None
        self._policy_error: PolicyError | None = None
        self.load_policy(policy)

    # ------------------------------------------------------------------ set-up

    @classmethod
    def synthetic(cls, sink: AuditSink, *, seed: int = 0, patients: int = 4, **kwargs: Any) -> Pacs:
        """A small PACS of synthetic studies with the built-in :data:`STAFF`.

        Patient ``i`` (``make_patient(seed + i)``) has a study of CT, MR, CR or MG in turn (and
        patient 0 a CT and an MR); the referring physician U301 is on the care team of the
        even-numbered patients. ``kwargs`` go to :class:`Pacs`.
        """
        from hipaa_lab.studies import PHILevel, make_patient, make_study

        modalities = ("CT", "MR", "CR", "MG")
        studies, cared_for = [], []
        for i in range(patients):
            patient = make_patient(seed + i)
            kinds = [modalities[i % 4]] + (["MR"] if i == 0 else [])
            for k, kind in enumerate(kinds):
                study = make_study(
                    kind,
                    seed=seed * 1000 + i * 10 + k,
                    level=PHILevel.NESTED,
                    patient=patient,
                    slices=1,
                    rows=64,
                    columns=64,
                )
                studies.append(study)
                if i % 2 == 0:
                    cared_for.append(str(study.instances[0].dataset.PatientID))
        pacs = cls(studies, sink=sink, **kwargs)
        if "U301" in pacs._users:
            for patient_id in cared_for:
                pacs.assign_care_team(patient_id, "U301")
        return pacs

    def add_study(self, study: Study) -> StudySummary:
        """Put a study in the archive; returns what a query shows of it."""
        ds = study.instances[0].dataset
        summary = StudySummary(
            study_uid=str(ds.StudyInstanceUID),
            patient_id=str(ds.PatientID),
            patient_name=str(ds.PatientName),
            modality=str(ds.Modality),
            study_date=str(ds.get("StudyDate", "")),
            description=str(ds.get("StudyDescription", "")),
        )
        files = []
        for instance in study.instances:
            buffer = io.BytesIO()
            dcmwrite(buffer, instance.dataset, enforce_file_format=True)
            files.append(buffer.getvalue())
        self._studies[summary.study_uid] = _Entry(study, summary, files)
        return summary

    @property
    def users(self) -> list[User]:
        """Every user the PACS knows, terminated ones too."""
        return list(self._users.values())

    @property
    def studies(self) -> list[StudySummary]:
        """What the archive holds (the trainer's view; users query)."""
        return [e.summary for e in self._studies.values()]

    @property
    def policy(self) -> AccessPolicy | None:
        """The access policy in force (``None`` after a policy that could not be loaded)."""
        return self._policy

    def assign_care_team(self, patient_id: str, user_id: str) -> None:
        """Put a user on a patient's care team."""
        self._user(user_id)
        self._care_team.setdefault(patient_id, set()).add(user_id)

    def remove_from_care_team(self, patient_id: str, user_id: str) -> None:
        """Take a user off a patient's care team."""
        self._care_team.get(patient_id, set()).discard(user_id)

    def care_team(self, patient_id: str) -> set[str]:
        """The user IDs on a patient's care team."""
        return set(self._care_team.get(patient_id, set()))

    def set_worklist(self, user_id: str, modalities: Iterable[str]) -> None:
        """Set the modalities on a user's worklist (default: read from the department's name)."""
        self._user(user_id)
        self._worklists[user_id] = frozenset(str(m).upper() for m in modalities)

    def approve_research(self, user_id: str, approval: str) -> None:
        """Record a research approval for a user: the IRB's or privacy board's waiver reference.

        This simulation keeps one approval a user, good for every study; a real approval covers
        one protocol's data, which the PACS would have to check study by study."""
        self._user(user_id)
        if not approval.strip():
            raise ValueError("a research approval needs its reference (the IRB or board's record)")
        self._approvals[user_id] = approval.strip()

    def load_policy(self, policy: AccessPolicy | str | os.PathLike[str] | None = None) -> None:
        """Use another policy (an :class:`AccessPolicy` or a policy file's path).

        Raises
        ------
        PolicyError
            When the file cannot be used; the PACS then refuses every request (each audited)
            until a usable policy is loaded.
        """
        self._policy = None
        try:
            if isinstance(policy, AccessPolicy):
                self._policy = policy
            else:
                self._policy = AccessPolicy.from_files(policy)
        except PolicyError as exc:
            self._policy_error = exc
            raise
        self._policy_error = None

    def _user(self, user_id: str) -> User:
        return self._sessions.user(user_id)

    # ------------------------------------------------------------------ audit

    def _audit(
        self,
        event: EventID,
        action: Action,
        outcome: Outcome,
        user_id: str,
        *,
        time: dt.datetime | None = None,
        **fields: Any,
    ) -> None:
        user = self._users.get(user_id)
        self.sink.record(
            AuditEvent(
                event=event,
                action=action,
                outcome=outcome,
                time=time or self.clock(),
                user=user_id,
                user_name=user.name if user else "",
                role=user.role if user else "",
                source=self.source,
                **fields,
            )
        )

    # ------------------------------------------------------------------ sessions (sessions.py)

    def login(self, user_id: str) -> Session:
        """Log a user in (:meth:`Sessions.login`); audited, a refusal too.

        Raises
        ------
        AccessDenied
            For an ID the PACS does not know, a terminated user, or a role with no PACS access.
        """
        return self._sessions.login(user_id)

    def logout(self, session: Session) -> None:
        """End a session (audited; an emergency access on it stops first, alerted)."""
        self._sessions.logout(session)

    def sweep(self) -> None:
        """Notice every idle session and expired emergency access now (each audited)."""
        self._sessions.sweep()

    def terminate(self, user_id: str, reason: str = "employment terminated") -> None:
        """Revoke a user's access at once: open sessions end now, no new login is allowed."""
        self._sessions.terminate(user_id, reason)

    def sync_roster(self, roster: Iterable[Employee]) -> None:
        """Take the roster's changes: new users are added, terminated ones revoked at once."""
        for user in self._sessions.sync_roster(roster):
            self._worklists.setdefault(user.user_id, department_modalities(user.department))

    def start_break_glass(
        self, session: Session, reason: str, *, limit: dt.timedelta | None = None
    ) -> BreakGlass:
        """Start emergency access (:meth:`Sessions.start_break_glass`): a Security Alert.

        Raises
        ------
        AccessDenied
            For an ended session or an empty reason (the refusal is alerted too).
        """
        return self._sessions.start_break_glass(session, reason, limit=limit)

    def stop_break_glass(self, session: Session) -> None:
        """End emergency access (a Security Alert: Emergency Override Stopped)."""
        self._sessions.stop_break_glass(session)

    # ------------------------------------------------------------------ requests

    def query(
        self,
        session: Session,
        purpose: str | Purpose,
        *,
        patient_id: str | None = None,
        patient_name: str | None = None,
        modality: str | None = None,
        study_date: str | None = None,
    ) -> list[StudySummary]:
        """Search the archive; the answer holds only the studies the policy lets this user see.

        Keys left out match every study; ``patient_name`` matches any part of the name, without
        regard to case. One Query audit event: its count is how many studies were returned.

        Raises
        ------
        AccessDenied
            When the policy allows this user none of the matching studies for this purpose.
        """
        keys = {
            k: v
            for k, v in (
                ("patient_id", patient_id),
                ("patient_name", patient_name),
                ("modality", modality),
                ("study_date", study_date),
            )
            if v is not None
        }
        now, state, user, why = self._open(session, purpose)
        found: list[StudySummary] = []
        rules: set[str] = set()
        if why is None:
            assert state is not None and user is not None and self._policy is not None
            name = patient_name.lower() if patient_name else None
            matching = [
                e
                for e in self._studies.values()
                if (patient_id is None or e.summary.patient_id == patient_id)
                and (name is None or name in e.summary.patient_name.lower())
                and (modality is None or e.summary.modality == modality.upper())
                and (study_date is None or e.summary.study_date == study_date)
            ]
            role, op, purp = user.role, Operation.QUERY.value, Purpose(purpose).value
            failure: str | None = None
            for entry in matching:
                verdict, failure = self._decide(role, op, purp, self._facts(state, user, entry))
                if verdict is None:
                    found, rules = [], set()
                    break
                if verdict.allowed:
                    found.append(entry.summary)
                    rules.add(str(verdict.rule))
            if failure is not None:
                why = failure
            elif matching and not found:
                why = self._no_rule(user, Operation.QUERY, purp, "any of the matching studies")
            elif not matching and not self._policy.allows_some(role, op, purp):
                why = self._no_rule(user, Operation.QUERY, purp, "this query")
        withheld = (
            f"; {len(matching) - len(found)} matching studies withheld" if why is None else ""
        )
        self._finish(
            now,
            session,
            state,
            Operation.QUERY,
            purpose,
            why,
            rule="; ".join(sorted(rules)) or None,
            extra=withheld,
            query=keys,
            count=len(found),
        )
        return found

    def read(self, session: Session, study_uid: str, purpose: str | Purpose) -> list[Dataset]:
        """Open a study's images: its instances, read afresh from the archive's files (one
        Instances Accessed audit event).

        Raises
        ------
        AccessDenied
            When the policy does not allow it, or the session has ended (audited too).
        """
        entry = self._request(session, Operation.READ, study_uid, purpose, deidentify=False)
        return entry.datasets()

    def export(
        self, session: Session, study_uid: str, purpose: str | Purpose, *, deidentify: bool = False
    ) -> list[Dataset]:
        """Copy a study out of the PACS (one Export audit event).

        With ``deidentify=True`` the copies are de-identified (:class:`hipaa_lab.deid.Deidentifier`,
        the Safe Harbor profile, under a key of this PACS); a study whose pixels may carry burned-in
        text is then refused, since header cleaning alone would not make it safe.

        Raises
        ------
        AccessDenied
            When the policy does not allow it, or the session has ended (audited too).
        """
        entry = self._request(session, Operation.EXPORT, study_uid, purpose, deidentify=deidentify)
        copies = entry.datasets()
        if deidentify:
            deid = self._deidentifier()
            for ds in copies:
                deid.deidentify(ds)
        return copies

    def _deidentifier(self) -> Any:
        from hipaa_lab.deid import Deidentifier

        if not hasattr(self, "_deid"):
            self._deid = Deidentifier(secrets.token_bytes(32), profile="safe-harbor")
        return self._deid

    def _request(
        self,
        session: Session,
        op: Operation,
        study_uid: str,
        purpose: str | Purpose,
        *,
        deidentify: bool,
    ) -> _Entry:
        now, state, user, why = self._open(session, purpose)
        entry = self._studies.get(study_uid)
        rule = None
        facts: frozenset[str] = frozenset()
        if why is None and entry is None:
            why = f"no study with Study Instance UID {study_uid} is in this archive"
        if why is None:
            assert state is not None and user is not None and entry is not None
            assert self._policy is not None
            facts = self._facts(state, user, entry, deidentify=deidentify)
            verdict, why = self._decide(user.role, op.value, Purpose(purpose).value, facts)
            if verdict is None:
                pass
            elif verdict.allowed:
                rule = str(verdict.rule)
                if deidentify and self._needs_pixels(entry):
                    why = (
                        "its pixels may carry burned-in text: de-identify it with `hipaa-lab deid`"
                    )
            else:
                why = self._no_rule(user, op, Purpose(purpose).value, f"study {study_uid}", facts)
        self._finish(
            now,
            session,
            state,
            op,
            purpose,
            why,
            rule=rule,
            entry=entry,
            study_uid=study_uid,
            facts=facts,
            count=len(entry.study.instances) if entry is not None and why is None else 0,
            extra="; de-identified copies" if deidentify and why is None else "",
        )
        assert entry is not None
        return entry

    def _decide(
        self, role: str, op: str, purpose: str, facts: frozenset[str]
    ) -> tuple[Verdict | None, str | None]:
        """The policy's verdict, or why there is none (a policy that failed to reload)."""
        assert self._policy is not None
        try:
            return self._policy.decide(role, op, purpose, facts), None
        except PolicyError as exc:
            return None, f"the access policy cannot be used, so every request is refused: {exc}"

    @staticmethod
    def _needs_pixels(entry: _Entry) -> bool:
        from hipaa_lab.deid import needs_pixel_cleaning

        return any(needs_pixel_cleaning(i.dataset) for i in entry.study.instances)

    def _open(
        self, session: Session, purpose: str | Purpose
    ) -> tuple[dt.datetime, SessionState | None, User | None, str | None]:
        """The checks before the policy: a live session, an active user, a known purpose, a policy."""
        state = self._sessions.live(session)
        now = self.clock()
        user = self._users.get(session.user_id)
        why = None
        if state is None or user is None:
            why = self._sessions.ended(session)
        elif not user.active:  # terminate() ends sessions; a roster edit could race it
            why = f"{user.user_id}'s access was revoked (terminated)"
        elif user.pacs_role is None:
            why = f"{user.user_id}'s role {user.role!r} has no PACS access"
        elif str(getattr(purpose, "value", purpose)) not in {p.value for p in Purpose}:
            why = (
                f"unknown purpose {purpose!r}; choose one of: {', '.join(p.value for p in Purpose)}"
            )
        elif self._policy is None:
            why = f"the access policy cannot be used, so every request is refused: {self._policy_error}"
        if state is not None:
            state.last_seen = now
        return now, state, user, why

    def _facts(
        self, state: SessionState, user: User, entry: _Entry, *, deidentify: bool = False
    ) -> frozenset[str]:
        facts = []
        if user.user_id in self._care_team.get(entry.summary.patient_id, ()):
            facts.append(Condition.CARE_TEAM.value)
        if entry.summary.modality in self._worklists.get(user.user_id, ()):
            facts.append(Condition.WORKLIST.value)
        if user.user_id in self._approvals:
            facts.append(Condition.APPROVED.value)
        if deidentify:
            facts.append(Condition.DEIDENTIFIED.value)
        if state.break_glass is not None:
            facts.append(Condition.BREAK_GLASS.value)
        return frozenset(facts)

    def _no_rule(
        self,
        user: User,
        op: Operation,
        purpose: str,
        what: str,
        facts: frozenset[str] = frozenset(),
    ) -> str:
        source = self._policy.policy_source if self._policy else "the policy"
        held = " & ".join(sorted(facts)) or "none"
        return (
            f"{user.user_id} ({user.role}) may not {op.value} {what} for {purpose}: no rule of "
            f"{source} allows it (facts that hold: {held})"
        )

    def _finish(
        self,
        now: dt.datetime,
        session: Session,
        state: SessionState | None,
        op: Operation,
        purpose: str | Purpose,
        why: str | None,
        *,
        rule: str | None,
        entry: _Entry | None = None,
        study_uid: str | None = None,
        facts: frozenset[str] = frozenset(),
        extra: str = "",
        query: dict[str, str] | None = None,
        count: int | None = None,
    ) -> None:
        """Record the request's one audit event and its decision; raise if it was refused."""
        purpose_text = purpose.value if isinstance(purpose, Purpose) else str(purpose)
        user = self._users.get(session.user_id)
        bg = state.break_glass if state is not None else None
        reason = why if why is not None else f"allowed by {rule}{extra}"
        if bg is not None:
            reason += f"; break-glass: {bg.reason}"
        event, action = _EVENT[op]
        summary = entry.summary if entry is not None else None
        self._audit(
            event,
            action,
            Outcome.SUCCESS if why is None else REFUSED,
            session.user_id,
            time=now,
            study_uid=study_uid,
            patient_id=summary.patient_id if summary else None,
            patient_name=summary.patient_name if summary else None,
            purpose=purpose_text,
            reason=reason,
            query=query,
            count=count,
        )
        self.decisions.append(
            Decision(
                time=now,
                user=session.user_id,
                role=user.role if user else "",
                operation=op.value,
                purpose=purpose_text,
                allowed=why is None,
                reason=reason,
                rule=rule if why is None else None,
                study_uid=study_uid,
                patient_id=summary.patient_id if summary else None,
                facts=tuple(sorted(facts)),
                break_glass=bg is not None,
            )
        )
        if why is not None:
            raise AccessDenied(why)
