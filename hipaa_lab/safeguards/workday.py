"""A realistic workday of a PACS's audit trail, with inappropriate access planted in it.

:func:`generate` makes one day (07:00 to 07:00 the next morning, UTC, in three shifts) of a
radiology department: hundreds of staff in seven roles log in at the start of their shift, query
and read the studies of the patients in their care, and log out; front desk and billing look up
the day's patients; researchers export the studies of their approved projects; the emergency
department breaks the glass when a patient arrives in trouble. Patients come from
:func:`hipaa_lab.studies.patients.make_patient`, staff identities too.

Planted among them, shaped exactly like ordinary events (the same fields, the same values, no
marker), six kinds of inappropriate access (:class:`Finding`): a coworker's record, a VIP
patient's record, a family member's record (same surname and address), access after
termination, break-glass with no emergency, and a bulk export by a researcher without approval.
For each there are decoys that look alike and are legitimate: a VIP seen by their care team, an
employee who is a patient seen by their own care team, a break-glass during a real emergency, an
approved research export larger than the planted one, a termination that takes effect after the
day's work.

The log alone does not tell them apart. A reviewer needs what a real one would have, written to
a separate **context** (:meth:`Workday.context`): the staff directory (role, department, home
address, termination time), the patient list (address, VIP flag), the day's studies with their
care team, the research approvals and the emergency department's arrival log. With it every
planted event can be found by reasoning; the **answer key** (:meth:`Workday.key`) lists them by
line, and the decoys, and is kept apart from the log and the context.

Everything is drawn from ``seed``: the same seed gives the same log, byte for byte.
"""

from __future__ import annotations

import datetime as dt
import enum
import random
import uuid
from dataclasses import dataclass
from typing import Any

from hipaa_lab.safeguards.audit import Action, AuditEvent, EventID, EventType, Outcome

__all__ = ["Finding", "Workday", "generate"]

SOURCE = "HIPAA-LAB-PACS"
_UID_NAMESPACE = uuid.UUID("0d1c6f0e-6a8e-4b59-9a2b-3c7d1e5f2a40")  # hipaa-lab workday studies
_ROLES = {  # role: (share of the staff, departments)
    "radiologist": (0.12, ["Radiology"]),
    "technologist": (0.25, ["CT", "MRI", "X-Ray", "Ultrasound", "Mammography"]),
    "referring_physician": (0.25, ["Emergency Medicine", "Internal Medicine", "Orthopedics"]),
    "front_desk": (0.14, ["Registration"]),
    "billing": (0.12, ["Revenue Cycle"]),
    "pacs_admin": (0.04, ["Imaging IT"]),
    "researcher": (0.08, ["Imaging Research"]),
}
_SHIFTS = {"day": (0, 8), "evening": (8, 16), "night": (16, 24)}  # hours after 07:00
_MODALITIES = {"CT": (60, 400), "MR": (120, 600), "CR": (1, 4), "US": (10, 60), "MG": (4, 8)}
_TECH_DEPT = {"CT": "CT", "MR": "MRI", "CR": "X-Ray", "US": "Ultrasound", "MG": "Mammography"}
_COMPLAINTS = ["trauma", "stroke alert", "chest pain", "unresponsive patient", "sepsis"]


class Finding(enum.Enum):
    """A kind of inappropriate access planted in a workday log."""

    COWORKER = "coworker"  #: a coworker's record (the patient is on the staff)
    VIP = "vip"  #: a VIP patient's record, outside their care team
    FAMILY = "family"  #: a family member's record (same surname and address as the user)
    AFTER_TERMINATION = "after_termination"  #: access after the user's termination took effect
    BREAK_GLASS = "break_glass"  #: emergency override with no emergency on record
    BULK_EXPORT = "bulk_export"  #: a researcher's export no approval covers


@dataclass
class _Person:
    user: str
    name: str  # DICOM person name, Family^Given
    family: str
    role: str
    department: str
    street: str
    city: str
    state: str
    zip: str
    shift: str | None  # None: off today
    hired: str
    terminated: str | None = None


@dataclass
class _PatientRecord:
    patient_id: str
    name: str
    family: str
    birth_date: str
    street: str
    city: str
    state: str
    zip: str
    vip: bool = False


@dataclass
class _Study:
    uid: str
    patient: _PatientRecord
    modality: str
    time: dt.datetime
    instances: int
    technologist: str = ""
    radiologist: str = ""
    referring: str = ""


@dataclass
class Workday:
    """A generated day: the events in log order, the answer key, and the reviewer's context."""

    seed: int
    day: dt.date
    events: list[AuditEvent]
    planted: dict[int, Finding]  # line (1-based) -> kind
    decoys: dict[int, str]  # line (1-based) -> what legitimate look-alike it is
    staff: list[dict[str, Any]]
    patients: list[dict[str, Any]]
    studies: list[dict[str, Any]]
    approvals: list[dict[str, Any]]
    emergencies: list[dict[str, Any]]

    def key(self) -> dict[str, Any]:
        """The answer key: every planted event by line, with its kind; the decoys apart."""
        return {
            "format": "hipaa-lab audit answer key v1",
            "seed": self.seed,
            "events": len(self.events),
            "planted": [
                {"line": line, "kind": kind.value, "user": self.events[line - 1].user}
                for line, kind in sorted(self.planted.items())
            ],
            "decoys": [{"line": line, "what": what} for line, what in sorted(self.decoys.items())],
        }

    def context(self) -> dict[str, Any]:
        """What a reviewer has beside the log: nothing here names a planted event."""
        return {
            "format": "hipaa-lab audit review context v1",
            "day": self.day.isoformat(),
            "shifts": {
                name: f"{7 + a:02d}:00-{(7 + b) % 24:02d}:00 UTC"
                for name, (a, b) in _SHIFTS.items()
            },
            "staff": self.staff,
            "patients": self.patients,
            "studies": self.studies,
            "research_approvals": self.approvals,
            "emergency_arrivals": self.emergencies,
        }


def _iso(t: dt.datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Day:
    """The generator's state: the world, then the events, each tagged while it is made."""

    def __init__(self, seed: int, n_staff: int, n_patients: int) -> None:
        from hipaa_lab.studies.patients import make_patient

        self.seed = seed
        self.rng = random.Random(f"workday:{seed}")  # noqa: S311  synthetic data, not secrets
        rng = self.rng
        self.day = dt.date(2026, 1, 5) + dt.timedelta(days=rng.randrange(0, 300))
        self.start = dt.datetime.combine(self.day, dt.time(7), tzinfo=dt.UTC)
        # (time, sequence, event, tag): tag None for ordinary, ("plant", Finding), ("decoy", what)
        self.log: list[tuple[dt.datetime, int, AuditEvent, tuple[str, Any] | None]] = []
        self.staff: list[_Person] = []
        base = 1_000_000 + seed * 10_000
        roles = [
            r for r, (share, _d) in _ROLES.items() for _ in range(max(2, round(share * n_staff)))
        ]
        for i, role in enumerate(roles):
            p = make_patient(base + i)
            shift = rng.choices([*_SHIFTS, None], [5, 2, 1, 3])[0]
            if role in ("front_desk", "billing", "researcher", "pacs_admin") and shift:
                shift = "day" if rng.random() < 0.8 else shift
            self.staff.append(
                _Person(
                    user=f"U{rng.randrange(10_000, 99_999)}{i:03d}",
                    name=f"{p.family}^{p.given}",
                    family=p.family,
                    role=role,
                    department=rng.choice(_ROLES[role][1]),
                    street=p.street,
                    city=p.city,
                    state=p.state,
                    zip=p.zip,
                    shift=shift,
                    hired=(self.day - dt.timedelta(days=rng.randrange(60, 8000))).isoformat(),
                )
            )
        for role in _ROLES:  # enough of every role on every shift it works
            people = [s for s in self.staff if s.role == role]
            needs = {"day": 4, "evening": 1, "night": 1} if role in _CLINICAL else {"day": 3}
            for shift, need in needs.items():
                while sum(s.shift == shift for s in people) < need:
                    spare = [s for s in people if s.shift is None] or [
                        s for s in people if s.shift != shift and s.shift not in needs
                    ]
                    if not spare:
                        break
                    rng.choice(spare).shift = shift
        self.patients: list[_PatientRecord] = []
        for i in range(n_patients):
            p = make_patient(base + 5_000 + i)
            self.patients.append(
                _PatientRecord(
                    patient_id=p.mrn,
                    name=p.name.split("=")[0],
                    family=p.family,
                    birth_date=p.birth_date.isoformat(),
                    street=p.street,
                    city=p.city,
                    state=p.state,
                    zip=p.zip,
                )
            )
        self.studies: list[_Study] = []
        self.sessions_of: dict[str, list[tuple[dt.datetime, dt.datetime]]] = {}
        self.seq = 0
        self.approvals: list[dict[str, Any]] = []
        self.emergencies: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ people
    def on(self, role: str, when: dt.datetime, *, exclude: set[str] = frozenset()) -> _Person:  # type: ignore[assignment]
        """Someone of ``role`` on shift at ``when`` (not terminated by then)."""
        hour = (when - self.start).total_seconds() / 3600
        shift = next(s for s, (a, b) in _SHIFTS.items() if a <= hour < b)
        people = [
            s
            for s in self.staff
            if s.role == role
            and s.shift == shift
            and s.user not in exclude
            and (s.terminated is None or s.terminated > _iso(when))
        ]
        if not people:  # nobody of the role on this shift: the nearest who is
            people = [s for s in self.staff if s.role == role and s.shift and s.user not in exclude]
        return self.rng.choice(people)

    def window(self, person: _Person) -> tuple[dt.datetime, dt.datetime]:
        a, b = _SHIFTS[person.shift or "day"]
        return self.start + dt.timedelta(hours=a), self.start + dt.timedelta(hours=b)

    def during(self, person: _Person, lo: dt.datetime | None = None) -> dt.datetime:
        """A time when ``person`` is logged in (at or after ``lo`` when they still are then;
        else their last minutes), a minute clear of each login and logout."""
        spans = [
            (a + dt.timedelta(minutes=1), b - dt.timedelta(minutes=2))
            for a, b in self.sessions_of.get(person.user, [])
        ]
        if lo is not None:
            later = [(max(a, lo), b) for a, b in spans if b > lo]
            spans = later or spans[-1:]
            if not later:
                a, b = spans[0]
                spans = [(max(a, b - dt.timedelta(minutes=1)), b)]
        weights = [max((b - a).total_seconds(), 1.0) for a, b in spans]
        a, b = self.rng.choices(spans, weights)[0]
        seconds = self.rng.uniform(0, max((b - a).total_seconds(), 0.0))
        return a + dt.timedelta(seconds=seconds, milliseconds=self.rng.randrange(1000))

    def works_until(self, person: _Person) -> dt.datetime:
        return self.sessions_of[person.user][-1][1]

    # ------------------------------------------------------------------ events
    def add(self, event: AuditEvent, tag: tuple[str, Any] | None = None) -> None:
        self.seq += 1
        self.log.append((event.time, self.seq, event, tag))

    def event(
        self,
        who: _Person,
        when: dt.datetime,
        kind: EventID,
        action: Action,
        *,
        tag: tuple[str, Any] | None = None,
        outcome: Outcome = Outcome.SUCCESS,
        **fields: Any,
    ) -> None:
        self.add(
            AuditEvent(kind, action, outcome, when, who.user, who.name, who.role, SOURCE, **fields),
            tag,
        )

    def look(
        self,
        who: _Person,
        when: dt.datetime,
        study: _Study,
        purpose: str,
        *,
        read: bool = True,
        tag: tuple[str, Any] | None = None,
        reason: str | None = None,
    ) -> dt.datetime:
        """A query for the patient, then (when ``read``) the study opened: what a viewer does."""
        p = study.patient
        self.event(
            who,
            when,
            EventID.QUERY,
            Action.EXECUTE,
            tag=tag,
            patient_id=p.patient_id,
            patient_name=p.name,
            purpose=purpose,
            query={"PatientID": p.patient_id, "QueryRetrieveLevel": "STUDY"},
        )
        when = when + dt.timedelta(seconds=self.rng.uniform(4, 90))
        if read:
            self.event(
                who,
                when,
                EventID.INSTANCES_ACCESSED,
                Action.READ,
                tag=tag,
                study_uid=study.uid,
                patient_id=p.patient_id,
                patient_name=p.name,
                purpose=purpose,
                reason=reason,
                count=study.instances,
            )
        return when

    def sessions(self) -> None:
        """Logins at the start of each shift, logouts at its end; a few mistyped passwords, a
        few breaks (automatic logoff after idling, then a new login)."""
        rng = self.rng
        for person in self.staff:
            if person.shift is None:
                continue
            a, b = self.window(person)
            login = a + dt.timedelta(minutes=rng.uniform(1, 14))
            if rng.random() < 0.08:
                self.event(
                    person,
                    login - dt.timedelta(seconds=rng.uniform(20, 60)),
                    EventID.USER_AUTHENTICATION,
                    Action.EXECUTE,
                    outcome=Outcome.MINOR_FAILURE,
                    event_type=EventType.LOGIN,
                    reason="wrong password",
                )
            stops = [login]
            if rng.random() < 0.3:  # idle at a break: logged off automatically, back later
                off = a + dt.timedelta(hours=rng.uniform(3, 4.5))
                stops += [off, off + dt.timedelta(minutes=rng.uniform(25, 45))]
            stops.append(b - dt.timedelta(minutes=rng.uniform(1, 14)))
            self.sessions_of[person.user] = list(zip(stops[::2], stops[1::2], strict=True))
            for i, t in enumerate(stops):
                self.event(
                    person,
                    t,
                    EventID.USER_AUTHENTICATION,
                    Action.EXECUTE,
                    event_type=EventType.LOGIN if i % 2 == 0 else EventType.LOGOUT,
                    reason="automatic logoff after 15 minutes idle"
                    if 0 < i < len(stops) - 1 and i % 2
                    else None,
                )


_CLINICAL = ("radiologist", "technologist", "referring_physician")


def generate(seed: int = 0, *, staff: int = 300, patients: int = 600) -> Workday:
    """A workday log with planted inappropriate access, its answer key and its context.

    Parameters
    ----------
    seed
        Everything is drawn from it: the same seed gives the same day, event for event.
    staff, patients
        How many staff members (at least 40) and patients (at least 60); the default day has
        some 5,000 events.

    Examples
    --------
    >>> day = generate(1, staff=60, patients=80)
    >>> sorted({k.value for k in day.planted.values()}) == sorted(f.value for f in Finding)
    True
    >>> generate(1, staff=60, patients=80).events == day.events
    True
    """
    if staff < 40 or patients < 60:
        raise ValueError(
            f"a workday needs at least 40 staff and 60 patients, not {staff} and {patients}"
        )
    d = _Day(seed, staff, patients)
    rng = d.rng
    pool = list(d.patients)
    rng.shuffle(pool)

    # -------------------------------------------------------------- who is who
    clinicians = [s for s in d.staff if s.role in ("technologist", "radiologist") and s.shift]
    rng.shuffle(clinicians)
    coworker_patient, coworker_decoy = pool.pop(), pool.pop()
    patient_staff = [s for s in d.staff if s.role in ("front_desk", "billing", "pacs_admin")]
    rng.shuffle(patient_staff)
    for record, person in (
        (coworker_patient, patient_staff[0]),
        (coworker_decoy, patient_staff[1]),
    ):
        record.name, record.family = person.name, person.family  # the employee is the patient
        record.street, record.city, record.state, record.zip = (
            person.street,
            person.city,
            person.state,
            person.zip,
        )
    who_is = {coworker_patient.patient_id: patient_staff[0].user}
    who_is[coworker_decoy.patient_id] = patient_staff[1].user
    vip, vip_decoy = pool.pop(), pool.pop()
    vip.vip = vip_decoy.vip = True
    for extra in pool[:2]:
        extra.vip = True  # more VIPs, seen by their care teams alone
    family_user = clinicians[0]
    family_patient = pool.pop()
    family_patient.family = family_user.family
    family_patient.name = f"{family_user.family}^{family_patient.name.split('^', 1)[-1]}"
    family_patient.street, family_patient.city = family_user.street, family_user.city
    family_patient.state, family_patient.zip = family_user.state, family_user.zip

    # -------------------------------------------------------------- the day's studies
    special = [coworker_patient, coworker_decoy, vip, vip_decoy, family_patient]
    todays = special + pool[: max(40, len(pool) * 3 // 4)]
    for p in todays:
        for _ in range(1 if rng.random() < 0.8 else 2):
            modality = rng.choice(list(_MODALITIES))
            lo, hi = _MODALITIES[modality]
            when = d.start + dt.timedelta(
                hours=rng.uniform(0.5, 21), milliseconds=rng.randrange(1000)
            )
            name = f"{seed}:{p.patient_id}:{len(d.studies)}"
            d.studies.append(
                _Study(
                    uid=f"2.25.{uuid.uuid5(_UID_NAMESPACE, name).int}",
                    patient=p,
                    modality=modality,
                    time=when,
                    instances=rng.randint(lo, hi),
                )
            )
    d.studies.sort(key=lambda s: s.time)

    # the terminated: one whose termination takes effect mid-shift (planted), one tonight (decoy)
    referrers = [s for s in d.staff if s.role == "referring_physician" and s.shift == "day"]
    rng.shuffle(referrers)
    leaver, stayer = referrers[0], referrers[1]
    cut = d.start + dt.timedelta(hours=rng.randint(3, 5))
    leaver.terminated = _iso(cut)
    stayer.terminated = _iso(d.start + dt.timedelta(hours=24))
    for gone in [s for s in d.staff if s.shift is None][:3]:
        gone.terminated = _iso(d.start - dt.timedelta(days=rng.randrange(2, 60)))

    d.sessions()

    # the leaver's and the stayer's patients: they follow them all day, as before
    for doctor in (leaver, stayer):
        mine = [s for s in d.studies if s.time < d.works_until(doctor) - dt.timedelta(hours=1)]
        for study in rng.sample(mine, min(len(mine), 8)):
            study.referring = doctor.user

    # -------------------------------------------------------------- ordinary care
    referring = [s for s in d.staff if s.role == "referring_physician" and s.shift]
    for study in d.studies:
        keep_out = {family_user.user} if study.patient is family_patient else set()
        tech = d.on("technologist", study.time, exclude=keep_out)
        study.technologist = tech.user
        t = d.look(tech, d.during(tech, study.time), study, "treatment")
        read_at = min(
            t + dt.timedelta(minutes=rng.uniform(10, 150)),
            d.start + dt.timedelta(hours=23, minutes=20),
        )
        rad = d.on("radiologist", read_at, exclude=keep_out)
        study.radiologist = rad.user
        t = d.look(rad, d.during(rad, read_at), study, "treatment")
        if rng.random() < 0.3:  # a second look, comparing with a prior
            d.look(rad, d.during(rad, t + dt.timedelta(minutes=2)), study, "treatment")
        if study.referring:
            ref = next(s for s in d.staff if s.user == study.referring)
        else:
            ref = rng.choice(referring)
            study.referring = ref.user
        if study.referring in (leaver.user, stayer.user) or (
            rng.random() < 0.7 and d.works_until(ref) > study.time + dt.timedelta(minutes=30)
        ):
            d.look(ref, d.during(ref, study.time), study, "treatment")
        self_ = {who_is.get(study.patient.patient_id, "")}  # nobody looks up their own record
        desk = d.on(
            "front_desk", d.start + dt.timedelta(hours=rng.uniform(0.5, 7.5)), exclude=self_
        )
        d.look(desk, d.during(desk), study, "operations", read=False)
        if rng.random() < 0.8:
            bill = d.on(
                "billing", d.start + dt.timedelta(hours=rng.uniform(0.5, 7.5)), exclude=self_
            )
            d.look(bill, d.during(bill), study, "payment", read=False)

    # administrators and researchers: queries by modality and date, no patient named
    for person in d.staff:
        if person.role not in ("pacs_admin", "researcher") or person.shift is None:
            continue
        for _ in range(rng.randint(1, 5)):
            d.event(
                person,
                d.during(person),
                EventID.QUERY,
                Action.EXECUTE,
                purpose="operations" if person.role == "pacs_admin" else "research",
                query={
                    "ModalitiesInStudy": rng.choice(list(_MODALITIES)),
                    "QueryRetrieveLevel": "STUDY",
                    "StudyDate": d.day.strftime("%Y%m%d"),
                },
            )

    # -------------------------------------------------------------- research exports
    researchers = [s for s in d.staff if s.role == "researcher" and s.shift]
    rng.shuffle(researchers)
    approved_by, unapproved, colleague = researchers[0], researchers[1], researchers[2]
    early = [s for s in d.studies if s.time < d.start + dt.timedelta(hours=5)]
    cohort_a = rng.sample(early, min(len(early) // 2, 30))
    rest = [s for s in early if s not in cohort_a]
    cohort_b = rng.sample(rest, min(len(rest), max(6, len(cohort_a) * 2 // 3)))
    protocol = f"IRB-{d.day.year}-{rng.randint(100, 999)}"
    d.approvals = [
        {
            "approval": protocol,
            "title": "Incidental nodules on routine chest CT",
            "researchers": sorted({approved_by.user, colleague.user}),
            "studies": sorted(s.uid for s in cohort_a),
            "valid_from": (d.day - dt.timedelta(days=90)).isoformat(),
            "valid_to": (d.day + dt.timedelta(days=275)).isoformat(),
        }
    ]
    exports: list[tuple[_Person, list[_Study], tuple[str, Any]]] = [
        (approved_by, cohort_a, ("decoy", "approved research export")),
        (unapproved, cohort_b, ("plant", Finding.BULK_EXPORT)),
    ]
    for who, cohort, tag in exports:
        a, b = max(d.sessions_of[who.user], key=lambda ab: ab[1] - ab[0])
        span = max(len(cohort) * 30.0, 60.0)
        room = max((b - a).total_seconds() - span - 120, 0.0)
        t = a + dt.timedelta(seconds=60 + rng.uniform(0, room))
        for study in cohort:
            t += dt.timedelta(seconds=rng.uniform(5, 28))
            d.event(
                who,
                t,
                EventID.EXPORT,
                Action.READ,
                tag=tag,
                study_uid=study.uid,
                patient_id=study.patient.patient_id,
                patient_name=study.patient.name,
                purpose="research",
                reason=protocol,
                count=study.instances,
            )

    # -------------------------------------------------------------- break-glass
    ed = [s for s in referring if s not in (leaver, stayer)]
    rng.shuffle(ed)
    first: dict[str, _Study] = {}  # one study per patient: each arrival is a different patient
    for study in d.studies:
        if study.patient not in special:
            first.setdefault(study.patient.patient_id, study)
    glass = list(first.values())
    rng.shuffle(glass)
    used: list[str] = []
    for i, (doctor, study) in enumerate(zip(ed[:3], glass[:3], strict=True)):
        planted = i == 2
        t = d.during(doctor)
        # the false alarm (the last) gives a reason a real one gave
        complaint = rng.choice(used) if planted else rng.choice(_COMPLAINTS)
        used.append(complaint)
        if not planted:
            d.emergencies.append(
                {
                    "patient_id": study.patient.patient_id,
                    "arrival": _iso(t - dt.timedelta(minutes=rng.uniform(5, 40))),
                    "complaint": complaint,
                }
            )
        mark: tuple[str, Any] = (
            ("plant", Finding.BREAK_GLASS) if planted else ("decoy", "break-glass in an emergency")
        )
        reason = f"emergency: {complaint}"
        p = study.patient
        ids: dict[str, Any] = {
            "patient_id": p.patient_id,
            "patient_name": p.name,
            "study_uid": study.uid,
        }
        d.event(
            doctor,
            t,
            EventID.SECURITY_ALERT,
            Action.EXECUTE,
            tag=mark,
            event_type=EventType.EMERGENCY_OVERRIDE_STARTED,
            purpose="treatment",
            reason=reason,
            **ids,
        )
        t = d.look(
            doctor, t + dt.timedelta(seconds=rng.uniform(10, 40)), study, "treatment", tag=mark
        )
        d.event(
            doctor,
            t + dt.timedelta(seconds=rng.uniform(30, 50)),
            EventID.SECURITY_ALERT,
            Action.EXECUTE,
            tag=mark,
            event_type=EventType.EMERGENCY_OVERRIDE_STOPPED,
            purpose="treatment",
            reason=reason,
            **ids,
        )
    for study in rng.sample(glass[3:], 3):  # arrivals their care team saw: no override needed
        d.emergencies.append(
            {
                "patient_id": study.patient.patient_id,
                "arrival": _iso(study.time - dt.timedelta(minutes=rng.uniform(15, 30))),
                "complaint": rng.choice(_COMPLAINTS),
            }
        )

    # -------------------------------------------------------------- snooping, and the look-alikes
    def care_team(patient: _PatientRecord) -> set[str]:
        return {
            u
            for s in d.studies
            if s.patient is patient
            for u in (s.technologist, s.radiologist, s.referring)
        }

    def snoop(patient: _PatientRecord, finding: Finding, who: _Person | None = None) -> None:
        if who is None:
            outside = [
                c for c in clinicians if c.user not in care_team(patient) | {family_user.user}
            ]
            who = outside[0]
            clinicians.remove(who)
        study = next(s for s in d.studies if s.patient is patient)
        d.look(who, d.during(who), study, "treatment", tag=("plant", finding))

    snoop(coworker_patient, Finding.COWORKER)
    snoop(vip, Finding.VIP)
    snoop(family_patient, Finding.FAMILY, family_user)
    for patient, what in (
        (vip_decoy, "a VIP seen by their care team"),
        (coworker_decoy, "an employee-patient seen by their care team"),
    ):
        study = next(s for s in d.studies if s.patient is patient)
        rad = next(s for s in d.staff if s.user == study.radiologist)
        d.look(rad, d.during(rad), study, "treatment", tag=("decoy", what))
    return _finish(d)


def _finish(d: _Day) -> Workday:
    d.log.sort(key=lambda item: (item[0], item[1]))
    planted: dict[int, Finding] = {}
    decoys: dict[int, str] = {}
    leavers = {s.user: s.terminated for s in d.staff if s.terminated}
    for line, (t, _seq, event, tag) in enumerate(d.log, 1):
        ended = leavers.get(event.user)
        if ended is not None and _iso(t) >= ended:
            planted[line] = Finding.AFTER_TERMINATION  # whatever it is: the account should be off
        elif tag and tag[0] == "plant":
            planted[line] = tag[1]
        elif tag and tag[0] == "decoy":
            decoys[line] = tag[1]
    care: dict[str, set[str]] = {}
    for s in d.studies:
        care.setdefault(s.patient.patient_id, set()).update(
            u for u in (s.technologist, s.radiologist, s.referring) if u
        )
    return Workday(
        seed=d.seed,
        day=d.day,
        events=[e for _t, _s, e, _tag in d.log],
        planted=planted,
        decoys=decoys,
        staff=[
            {
                "user": s.user,
                "name": s.name,
                "role": s.role,
                "department": s.department,
                "address": {"street": s.street, "city": s.city, "state": s.state, "zip": s.zip},
                "shift_today": s.shift,
                "hired": s.hired,
                "terminated": s.terminated,
            }
            for s in d.staff
        ],
        patients=[
            {
                "patient_id": p.patient_id,
                "name": p.name,
                "birth_date": p.birth_date,
                "address": {"street": p.street, "city": p.city, "state": p.state, "zip": p.zip},
                "vip": p.vip,
                "care_team": sorted(care.get(p.patient_id, ())),
            }
            for p in d.patients
        ],
        studies=[
            {
                "study_uid": s.uid,
                "patient_id": s.patient.patient_id,
                "modality": s.modality,
                "scheduled": _iso(s.time),
                "technologist": s.technologist,
                "radiologist": s.radiologist,
                "referring_physician": s.referring,
            }
            for s in d.studies
        ],
        approvals=d.approvals,
        emergencies=sorted(d.emergencies, key=lambda e: e["arrival"]),
    )
