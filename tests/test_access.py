"""The simulated PACS (hipaa_lab.safeguards.access) and its policy (hipaa_lab.safeguards.policy).

Every expected outcome below is written out by hand from the shipped policy's comments, never
computed by the code under test.
"""

from __future__ import annotations

import datetime as dt
import itertools

import casbin
import pytest

from hipaa_lab.errors import AccessDenied, PolicyError
from hipaa_lab.records.roster import Employee, EmploymentStatus
from hipaa_lab.records.roster import Role as RosterRole
from hipaa_lab.safeguards import sessions
from hipaa_lab.safeguards.access import Pacs
from hipaa_lab.safeguards.audit import EventID, EventType, Outcome
from hipaa_lab.safeguards.policy import (
    AccessPolicy,
    Condition,
    Operation,
    Purpose,
    Role,
    default_model_path,
    default_policy_path,
    holds,
)
from hipaa_lab.studies import PHILevel, make_patient, make_study

START = dt.datetime(2030, 3, 4, 8, 0, tzinfo=dt.UTC)


class Clock:
    """A clock the test moves on."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += dt.timedelta(**kwargs)


class ListSink:
    def __init__(self) -> None:
        self.events: list = []

    def record(self, event) -> None:
        self.events.append(event)


@pytest.fixture(scope="module")
def studies():
    """A CT study (no burned-in text) and an MG study (corner text: no de-identified export)."""
    ct = make_study("CT", seed=11, level=PHILevel.NESTED, patient=make_patient(101), slices=1, rows=64, columns=64)  # fmt: skip
    mg = make_study("MG", seed=12, level=PHILevel.NESTED, patient=make_patient(102), slices=1, rows=64, columns=64)  # fmt: skip
    return {"CT": ct, "MG": mg}


@pytest.fixture
def world(studies):
    sink, clock = ListSink(), Clock()
    pacs = Pacs(studies.values(), sink=sink, clock=clock)
    return pacs, sink, clock


def uid(study) -> str:
    return str(study.instances[0].dataset.StudyInstanceUID)


def pid(study) -> str:
    return str(study.instances[0].dataset.PatientID)


#: The user of each PACS role among the built-in staff.
USER = {
    "radiologist": "U101",
    "technologist": "U201",
    "referring_physician": "U301",
    "front_desk": "U401",
    "billing": "U501",
    "pacs_admin": "U601",
    "researcher": "U701",
}

# --------------------------------------------------------------------------- the decision table

#: Reading a CT study: Y allowed, N refused. Columns: the user's relationship to the study
#: (none, on the patient's care team, the study's modality on the user's worklist), first without
#: break-glass, then with it.
READ_TABLE = """
role                 purpose     none care wl  | none care wl   (with break-glass)
radiologist          treatment   N    Y    Y   | Y    Y    Y
radiologist          payment     N    N    N   | N    N    N
radiologist          operations  N    N    Y   | N    N    Y
radiologist          research    N    N    N   | N    N    N
technologist         treatment   N    Y    Y   | Y    Y    Y
technologist         payment     N    N    N   | N    N    N
technologist         operations  N    N    N   | N    N    N
technologist         research    N    N    N   | N    N    N
referring_physician  treatment   N    Y    N   | Y    Y    Y
referring_physician  payment     N    N    N   | N    N    N
referring_physician  operations  N    N    N   | N    N    N
referring_physician  research    N    N    N   | N    N    N
front_desk           treatment   N    N    N   | N    N    N
front_desk           payment     N    N    N   | N    N    N
front_desk           operations  N    N    N   | N    N    N
front_desk           research    N    N    N   | N    N    N
billing              treatment   N    N    N   | N    N    N
billing              payment     N    N    N   | N    N    N
billing              operations  N    N    N   | N    N    N
billing              research    N    N    N   | N    N    N
pacs_admin           treatment   N    N    N   | N    N    N
pacs_admin           payment     N    N    N   | N    N    N
pacs_admin           operations  Y    Y    Y   | Y    Y    Y
pacs_admin           research    N    N    N   | N    N    N
researcher           treatment   N    N    N   | N    N    N
researcher           payment     N    N    N   | N    N    N
researcher           operations  N    N    N   | N    N    N
researcher           research    N    N    N   | N    N    N
"""


def _table(text: str):
    rows = []
    for line in text.strip().splitlines()[1:]:
        role, purpose, *cells = line.replace("|", "").split()
        columns = itertools.product((False, True), ("none", "care", "wl"))
        for (break_glass, relation), cell in zip(columns, cells, strict=True):
            rows.append(
                pytest.param(
                    role,
                    purpose,
                    relation,
                    break_glass,
                    cell == "Y",
                    id=f"{role}-{purpose}-{relation}{'-bg' if break_glass else ''}",
                )
            )
    return rows


def _relate(pacs: Pacs, user: str, study, relation: str) -> None:
    pacs.set_worklist(user, ["CT"] if relation == "wl" else [])
    if relation == "care":
        pacs.assign_care_team(pid(study), user)


@pytest.mark.parametrize(
    ("role", "purpose", "relation", "break_glass", "allowed"), _table(READ_TABLE)
)
def test_read_decision_table(world, studies, role, purpose, relation, break_glass, allowed):
    pacs, sink, _ = world
    user, study = USER[role], studies["CT"]
    _relate(pacs, user, study, relation)
    session = pacs.login(user)
    if break_glass:
        pacs.start_break_glass(session, "trauma bay 2: patient unconscious, prior CT needed")
    before = len(sink.events)
    if allowed:
        assert len(pacs.read(session, uid(study), purpose)) == 1
    else:
        with pytest.raises(AccessDenied, match=f"may not read study .* for {purpose}"):
            pacs.read(session, uid(study), purpose)
    [event] = sink.events[before:]  # exactly one audit event, a refusal too
    assert event.event is EventID.INSTANCES_ACCESSED
    assert (event.outcome is Outcome.SUCCESS) is allowed
    assert (event.user, event.role, event.purpose) == (user, role, purpose)
    assert event.study_uid == uid(study) and event.patient_id == pid(study)
    assert event.count == (1 if allowed else 0)
    assert ("break-glass: trauma bay 2" in event.reason) is break_glass
    decision = pacs.decisions[-1]
    assert decision.allowed is allowed and decision.break_glass is break_glass
    assert (decision.rule is not None) is allowed


#: (role, purpose, relation, allowed) for a query that would match only the CT study.
QUERY_TABLE = [
    ("radiologist", "treatment", "none", False),
    ("radiologist", "treatment", "care", True),
    ("radiologist", "treatment", "wl", True),
    ("technologist", "treatment", "wl", True),
    ("technologist", "treatment", "none", False),
    ("referring_physician", "treatment", "care", True),
    ("referring_physician", "treatment", "wl", False),
    ("front_desk", "treatment", "none", True),
    ("front_desk", "operations", "none", True),
    ("front_desk", "payment", "none", False),
    ("billing", "payment", "none", True),
    ("billing", "treatment", "none", False),
    ("pacs_admin", "operations", "none", True),
    ("pacs_admin", "treatment", "care", False),
    ("researcher", "research", "none", False),  # no approval on file
    ("researcher", "treatment", "care", False),
]


@pytest.mark.parametrize(("role", "purpose", "relation", "allowed"), QUERY_TABLE)
def test_query_decision_table(world, studies, role, purpose, relation, allowed):
    pacs, sink, _ = world
    user, study = USER[role], studies["CT"]
    _relate(pacs, user, study, relation)
    session = pacs.login(user)
    before = len(sink.events)
    if allowed:
        found = pacs.query(session, purpose, patient_id=pid(study))
        assert [s.study_uid for s in found] == [uid(study)]
    else:
        with pytest.raises(AccessDenied, match="may not query"):
            pacs.query(session, purpose, patient_id=pid(study))
    [event] = sink.events[before:]
    assert event.event is EventID.QUERY and (event.outcome is Outcome.SUCCESS) is allowed
    assert event.query == {"patient_id": pid(study)}
    assert event.count == (1 if allowed else 0)


#: (role, purpose, relation, approval on file, de-identified, break-glass, allowed)
EXPORT_TABLE = [
    ("researcher", "research", "none", True, True, False, True),
    ("researcher", "research", "none", True, False, False, False),  # identified copies
    ("researcher", "research", "none", False, True, False, False),  # no approval
    ("researcher", "treatment", "care", True, True, False, False),
    ("radiologist", "treatment", "care", False, False, False, True),
    ("radiologist", "treatment", "wl", False, False, False, False),
    ("radiologist", "treatment", "none", False, False, True, False),  # break-glass: no export
    ("referring_physician", "treatment", "care", False, False, False, True),
    ("technologist", "treatment", "care", False, False, False, False),
    ("front_desk", "treatment", "care", False, False, False, False),
    ("billing", "payment", "care", False, False, False, False),
    ("pacs_admin", "operations", "none", False, False, False, False),
]


@pytest.mark.parametrize(
    ("role", "purpose", "relation", "approved", "deidentify", "break_glass", "allowed"),
    EXPORT_TABLE,
)
def test_export_decision_table(
    world, studies, role, purpose, relation, approved, deidentify, break_glass, allowed
):
    pacs, sink, _ = world
    user, study = USER[role], studies["CT"]
    _relate(pacs, user, study, relation)
    if approved:
        pacs.approve_research(user, "IRB protocol 14, waiver of authorization")
    session = pacs.login(user)
    if break_glass:
        pacs.start_break_glass(session, "code blue in CT")
    before = len(sink.events)
    if allowed:
        copies = pacs.export(session, uid(study), purpose, deidentify=deidentify)
        original = study.instances[0].dataset
        assert len(copies) == 1
        if deidentify:
            assert copies[0].PatientIdentityRemoved == "YES"
            assert str(copies[0].PatientName) != str(original.PatientName)
            assert copies[0].PatientID != original.PatientID
        else:
            assert copies[0].PatientID == original.PatientID
            assert copies[0] is not original
    else:
        with pytest.raises(AccessDenied):
            pacs.export(session, uid(study), purpose, deidentify=deidentify)
    [event] = sink.events[before:]
    assert event.event is EventID.EXPORT and (event.outcome is Outcome.SUCCESS) is allowed


def test_a_deidentified_export_of_a_study_with_text_in_its_pixels_is_refused(world, studies):
    pacs, sink, _ = world
    pacs.approve_research("U701", "IRB protocol 14")
    session = pacs.login("U701")
    with pytest.raises(AccessDenied, match="burned-in text"):
        pacs.export(session, uid(studies["MG"]), "research", deidentify=True)
    assert sink.events[-1].outcome is Outcome.MINOR_FAILURE
    assert not pacs.decisions[-1].allowed


def test_a_query_returns_only_the_studies_the_user_may_see(world, studies):
    pacs, sink, _ = world
    pacs.set_worklist("U301", [])
    pacs.assign_care_team(pid(studies["MG"]), "U301")
    session = pacs.login("U301")
    found = pacs.query(session, "treatment")
    assert [s.study_uid for s in found] == [uid(studies["MG"])]
    assert sink.events[-1].count == 1 and "1 matching studies withheld" in sink.events[-1].reason
    # what a query shows: demographics and schedule
    assert found[0].patient_id == pid(studies["MG"]) and found[0].modality == "MG"


def test_a_query_matching_nothing_is_allowed_only_to_a_role_that_may_query(world):
    pacs, sink, _ = world
    desk, billing = pacs.login("U401"), pacs.login("U501")
    assert pacs.query(desk, "treatment", patient_id="NO-SUCH-ID") == []
    assert sink.events[-1].outcome is Outcome.SUCCESS and sink.events[-1].count == 0
    with pytest.raises(AccessDenied):
        pacs.query(billing, "treatment", patient_id="NO-SUCH-ID")
    assert sink.events[-1].outcome is Outcome.MINOR_FAILURE


#: A read the policy allows (a CT radiologist, a CT study on the worklist, for treatment), made
#: in each state of the session: (state, allowed, audit events the request gives, in order).
SESSION_TABLE = [
    ("active", True, ["read"]),
    ("idle 14 min 59 s", True, ["read"]),
    ("idle 15 min", False, ["logout", "read"]),
    ("logged out", False, ["read"]),
    ("terminated", False, ["read"]),
    ("terminated under break-glass", False, ["read"]),
]


@pytest.mark.parametrize(("state", "allowed", "events"), SESSION_TABLE)
def test_session_state_decision_table(world, studies, state, allowed, events):
    pacs, sink, clock = world
    session = pacs.login("U101")
    if state == "idle 14 min 59 s":
        clock.advance(minutes=14, seconds=59)
    elif state == "idle 15 min":
        clock.advance(minutes=15)
    elif state == "logged out":
        pacs.logout(session)
    elif state.startswith("terminated"):
        if "break-glass" in state:
            pacs.start_break_glass(session, "trauma")
        pacs.terminate("U101")
        assert sink.events[-1].event_type is EventType.LOGOUT
        if "break-glass" in state:  # the emergency access ends first, with its alert
            assert sink.events[-2].event_type is EventType.EMERGENCY_OVERRIDE_STOPPED
    before = len(sink.events)
    if allowed:
        pacs.read(session, uid(studies["CT"]), "treatment")
    else:
        with pytest.raises(AccessDenied, match="session has ended"):
            pacs.read(session, uid(studies["CT"]), "treatment")
    kinds = {EventID.INSTANCES_ACCESSED: "read", EventID.USER_AUTHENTICATION: "logout"}
    assert [kinds[e.event] for e in sink.events[before:]] == events
    assert (sink.events[-1].outcome is Outcome.SUCCESS) is allowed
    assert pacs.decisions[-1].allowed is allowed


# --------------------------------------------------------------------------- sessions


def test_login_and_logout_are_audited(world):
    pacs, sink, clock = world
    session = pacs.login("U101")
    clock.advance(minutes=3)
    pacs.logout(session)
    login, logout = sink.events
    assert (login.event, login.event_type, login.outcome) == (
        EventID.USER_AUTHENTICATION,
        EventType.LOGIN,
        Outcome.SUCCESS,
    )
    assert (logout.event_type, logout.time - login.time) == (
        EventType.LOGOUT,
        dt.timedelta(minutes=3),
    )
    assert login.user == logout.user == "U101" and login.user_name == "Dana Okafor"


@pytest.mark.parametrize(
    ("user", "why"),
    [
        ("U999", "no user 'U999' on the roster"),
        ("U801", "role 'manager' has no PACS access"),
        ("U901", "role 'janitor' has no PACS access"),
    ],
)
def test_an_unknown_user_or_a_role_without_pacs_access_is_refused_and_audited(studies, user, why):
    sink = ListSink()
    staff = [*sessions.STAFF, sessions.User("U901", "Ola Nkemelu", "janitor", "Facilities")]
    pacs = Pacs(studies.values(), sink=sink, clock=Clock(), users=staff)
    with pytest.raises(AccessDenied, match=why):
        pacs.login(user)
    [event] = sink.events
    assert event.event_type is EventType.LOGIN and event.outcome is Outcome.MINOR_FAILURE
    assert event.user == user and why in event.reason


def test_a_request_after_logout_is_refused_and_audited(world, studies):
    pacs, sink, _ = world
    session = pacs.login("U101")
    pacs.logout(session)
    before = len(sink.events)
    with pytest.raises(AccessDenied, match="session has ended \\(logged out\\)"):
        pacs.read(session, uid(studies["CT"]), "treatment")
    [event] = sink.events[before:]
    assert event.event is EventID.INSTANCES_ACCESSED and event.outcome is Outcome.MINOR_FAILURE
    assert event.user == "U101"


def test_automatic_logoff_after_idle_time(world, studies):
    pacs, sink, clock = world
    session = pacs.login("U101")
    clock.advance(minutes=14, seconds=59)
    pacs.read(session, uid(studies["CT"]), "treatment")  # activity restarts the idle time
    clock.advance(minutes=14, seconds=59)
    pacs.read(session, uid(studies["CT"]), "treatment")
    last_seen = clock.now
    clock.advance(minutes=15)
    before = len(sink.events)
    with pytest.raises(AccessDenied, match="automatic logoff after 15 min idle"):
        pacs.read(session, uid(studies["CT"]), "treatment")
    logout, refused = sink.events[before:]
    assert logout.event_type is EventType.LOGOUT and logout.time == last_seen + dt.timedelta(
        minutes=15
    )
    assert "automatic logoff" in logout.reason
    assert refused.event is EventID.INSTANCES_ACCESSED and refused.outcome is Outcome.MINOR_FAILURE


def test_the_idle_time_is_configurable_and_sweep_notices_it(studies):
    sink, clock = ListSink(), Clock()
    pacs = Pacs(studies.values(), sink=sink, clock=clock, idle_timeout=dt.timedelta(minutes=5))
    pacs.login("U101")
    clock.advance(minutes=4)
    pacs.sweep()
    assert len(sink.events) == 1
    clock.advance(minutes=1)
    pacs.sweep()
    assert sink.events[-1].event_type is EventType.LOGOUT
    assert sink.events[-1].time == START + dt.timedelta(minutes=5)


def test_termination_revokes_access_at_once_even_in_an_open_session(world, studies):
    pacs, sink, clock = world
    session = pacs.login("U101")
    pacs.read(session, uid(studies["CT"]), "treatment")
    clock.advance(minutes=1)
    pacs.terminate("U101")
    assert sink.events[-1].event_type is EventType.LOGOUT
    assert "access revoked" in sink.events[-1].reason and sink.events[-1].time == clock.now
    before = len(sink.events)
    with pytest.raises(AccessDenied, match="access revoked"):
        pacs.read(session, uid(studies["CT"]), "treatment")
    assert len(sink.events) == before + 1 and sink.events[-1].outcome is Outcome.MINOR_FAILURE
    with pytest.raises(AccessDenied, match="revoked"):
        pacs.login("U101")
    assert sink.events[-1].event_type is EventType.LOGIN
    assert sink.events[-1].outcome is Outcome.MINOR_FAILURE


def _employee(eid: str, role: RosterRole, status=EmploymentStatus.ACTIVE, department="CT"):
    return Employee(eid, f"Person {eid}", f"{eid.lower()}@example.org", role, department, dt.date(2020, 1, 1), status)  # fmt: skip


def test_users_come_from_the_roster_and_its_terminations_revoke(studies):
    sink, clock = ListSink(), Clock()
    roster = [
        _employee("E1", RosterRole.RADIOLOGIST),
        _employee("E2", RosterRole.TECHNOLOGIST, EmploymentStatus.TERMINATED),
        _employee("E3", RosterRole.MANAGER),
    ]
    pacs = Pacs(studies.values(), sink=sink, clock=clock, roster=roster)
    assert {u.user_id for u in pacs.users} == {"E1", "E2", "E3"}
    with pytest.raises(AccessDenied):
        pacs.login("U101")  # the built-in staff is not used when a roster is given
    with pytest.raises(AccessDenied, match="revoked"):
        pacs.login("E2")
    with pytest.raises(AccessDenied, match="manager"):
        pacs.login("E3")
    session = pacs.login("E1")
    assert (
        len(pacs.read(session, uid(studies["CT"]), "treatment")) == 1
    )  # the CT department's worklist
    pacs.sync_roster([_employee("E1", RosterRole.RADIOLOGIST, EmploymentStatus.TERMINATED)])
    with pytest.raises(AccessDenied, match="access revoked"):
        pacs.read(session, uid(studies["CT"]), "treatment")
    assert [e.outcome for e in sink.events].count(Outcome.MINOR_FAILURE) == 4


def test_an_unknown_purpose_or_study_is_refused_and_audited(world, studies):
    pacs, sink, _ = world
    session = pacs.login("U101")
    with pytest.raises(AccessDenied, match="unknown purpose 'curiosity'; choose one of: treatment"):
        pacs.read(session, uid(studies["CT"]), "curiosity")
    with pytest.raises(AccessDenied, match=r"no study with Study Instance UID 1\.2\.3"):
        pacs.read(session, "1.2.3", "treatment")
    assert [e.outcome for e in sink.events[1:]] == [Outcome.MINOR_FAILURE] * 2


# --------------------------------------------------------------------------- break-glass


@pytest.mark.parametrize("reason", ["", "   "])
def test_break_glass_without_a_reason_is_refused_and_alerted(world, reason):
    pacs, sink, _ = world
    session = pacs.login("U301")
    with pytest.raises(AccessDenied, match="needs a reason"):
        pacs.start_break_glass(session, reason)
    alert = sink.events[-1]
    assert (alert.event, alert.event_type, alert.outcome) == (
        EventID.SECURITY_ALERT,
        EventType.EMERGENCY_OVERRIDE_STARTED,
        Outcome.MINOR_FAILURE,
    )


def test_break_glass_start_and_stop_raise_alerts_and_the_accesses_carry_the_reason(world, studies):
    pacs, sink, clock = world
    session = pacs.login("U301")
    pacs.start_break_glass(session, "ED: unresponsive patient, outside images")
    started = sink.events[-1]
    assert (started.event, started.event_type, started.outcome) == (
        EventID.SECURITY_ALERT,
        EventType.EMERGENCY_OVERRIDE_STARTED,
        Outcome.SUCCESS,
    )
    assert started.reason == "ED: unresponsive patient, outside images"
    pacs.read(session, uid(studies["CT"]), "treatment")
    assert "break-glass: ED: unresponsive patient" in sink.events[-1].reason
    clock.advance(minutes=5)
    pacs.stop_break_glass(session)
    stopped = sink.events[-1]
    assert stopped.event_type is EventType.EMERGENCY_OVERRIDE_STOPPED and stopped.time == clock.now
    with pytest.raises(AccessDenied):
        pacs.read(session, uid(studies["CT"]), "treatment")  # not on the care team
    assert "break-glass" not in sink.events[-1].reason


def test_break_glass_expires_after_its_time_limit(studies):
    sink, clock = ListSink(), Clock()
    pacs = Pacs(
        studies.values(),
        sink=sink,
        clock=clock,
        idle_timeout=dt.timedelta(hours=4),
        break_glass_limit=dt.timedelta(minutes=30),
    )
    session = pacs.login("U301")
    bg = pacs.start_break_glass(session, "stroke alert")
    assert bg.expires == START + dt.timedelta(minutes=30)
    clock.advance(minutes=29)
    pacs.read(session, uid(studies["CT"]), "treatment")
    clock.advance(minutes=2)
    before = len(sink.events)
    with pytest.raises(AccessDenied):
        pacs.read(session, uid(studies["CT"]), "treatment")
    stopped, refused = sink.events[before:]
    assert stopped.event_type is EventType.EMERGENCY_OVERRIDE_STOPPED
    assert stopped.time == bg.expires and "expired after 30 min" in stopped.reason
    assert refused.outcome is Outcome.MINOR_FAILURE and not pacs.decisions[-1].break_glass


def test_logout_ends_break_glass_with_an_alert_first(world):
    pacs, sink, _ = world
    session = pacs.login("U101")
    pacs.start_break_glass(session, "trauma")
    pacs.logout(session)
    assert [e.event_type for e in sink.events] == [
        EventType.LOGIN,
        EventType.EMERGENCY_OVERRIDE_STARTED,
        EventType.EMERGENCY_OVERRIDE_STOPPED,
        EventType.LOGOUT,
    ]


# --------------------------------------------------------------------------- the policy


def _write(tmp_path, policy: str, model: str | None = None):
    p = tmp_path / "policy.csv"
    p.write_text(policy)
    m = tmp_path / "model.conf"
    m.write_text(model if model is not None else default_model_path().read_text())
    return p, m


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("p, janitor, read, treatment, any", "unknown role 'janitor'"),
        ("p, radiologist, view, treatment, any", "unknown action 'view'"),
        ("p, radiologist, read, curiosity, any", "unknown purpose 'curiosity'"),
        ("p, radiologist, read, treatment, my_friends", "unknown condition 'my_friends'"),
        ("p, radiologist, read, treatment, any & care_team", "'any' stands alone"),
        ("p, radiologist, read, treatment", "expected 5 fields"),
        (
            "p, radiologist, read, treatment, any  # for now",
            "a comment must have a line of its own",
        ),
        ("g, alice, radiologist", "unknown rule type 'g'"),
        ("p, radiologist, read, treatment, keyMatch(a, b)", "brackets"),
    ],
)
def test_a_malformed_policy_line_is_named_by_its_number(tmp_path, line, message):
    text = "# a comment\np, front_desk, query, treatment, any\n\n" + line + "\n"
    policy, model = _write(tmp_path, text)
    with pytest.raises(PolicyError, match=f"policy.csv, line 4: {message}"):
        AccessPolicy.from_files(policy, model)


def test_a_malformed_policy_loaded_into_a_pacs_refuses_every_request_audited(
    world, studies, tmp_path
):
    pacs, sink, _ = world
    session = pacs.login("U401")
    policy, _ = _write(tmp_path, "p, front_desk, query, treatment, anyone\n")
    with pytest.raises(PolicyError, match="line 1: unknown condition 'anyone'"):
        pacs.load_policy(policy)
    before = len(sink.events)
    with pytest.raises(AccessDenied, match="line 1: unknown condition 'anyone'"):
        pacs.query(session, "treatment")
    [event] = sink.events[before:]
    assert event.outcome is Outcome.MINOR_FAILURE and "policy cannot be used" in event.reason
    assert pacs.policy is None
    pacs.load_policy(AccessPolicy.default())  # a good policy again: the PACS serves again
    assert len(pacs.policy.rules) > 0
    assert pacs.query(session, "treatment")


def test_a_model_of_another_shape_is_refused_naming_its_line(tmp_path):
    model = (
        default_model_path()
        .read_text()
        .replace("r = role, act, purpose, facts", "r = sub, obj, act")
    )
    policy, model_path = _write(tmp_path, "p, front_desk, query, treatment, any\n", model)
    line = model.splitlines().index("r = sub, obj, act") + 1
    with pytest.raises(
        PolicyError, match=f"model.conf, line {line}: expected 'r = role, act, purpose, facts'"
    ):
        AccessPolicy.from_files(policy, model_path)


def test_an_unreadable_model_is_a_policy_error(tmp_path):
    policy, model = _write(
        tmp_path, "p, front_desk, query, treatment, any\n", "[request_definition]\n"
    )
    with pytest.raises(PolicyError, match=r"model\.conf"):
        AccessPolicy.from_files(policy, model)


def test_reload_drops_the_decisions_made_under_the_old_policy(tmp_path):
    policy, model = _write(tmp_path, "p, billing, query, payment, any\n")
    rules = AccessPolicy.from_files(policy, model)
    first = rules.decide("billing", "query", "payment", frozenset())
    assert first.allowed and rules.decide("billing", "query", "payment", frozenset()) is first
    policy.write_text("# billing finds nothing now\n")
    assert rules.decide("billing", "query", "payment", frozenset()).allowed  # not reloaded yet
    rules.reload()
    assert not rules.decide("billing", "query", "payment", frozenset()).allowed
    policy.write_text("p, billing, query, payment, nobody\n")
    with pytest.raises(PolicyError):
        rules.reload()
    with pytest.raises(PolicyError, match="not loaded"):  # fail closed, not the old rules
        rules.decide("billing", "query", "payment", frozenset())


def test_the_decision_table_agrees_with_plain_casbin_on_every_request():
    """Every (role, action, purpose, facts) request: the table answers as casbin's own Enforcer
    over the shipped files (2,688 requests; the table also keeps what casbin explained)."""
    plain = casbin.Enforcer(str(default_model_path()), str(default_policy_path()))
    plain.add_function("holds", holds)
    policy = AccessPolicy.default()
    conditions = [c.value for c in Condition]
    facts_sets = [
        frozenset(c)
        for n in range(len(conditions) + 1)
        for c in itertools.combinations(conditions, n)
    ]
    allowed = 0
    for role, op, purpose, facts in itertools.product(Role, Operation, Purpose, facts_sets):
        verdict = policy.decide(role, op, purpose, facts)
        expected, explain = plain.enforce_ex(role.value, op.value, purpose.value, facts)
        assert verdict.allowed is expected, (role, op, purpose, facts)
        if expected:
            assert list(verdict.rule.fields()) == explain
            allowed += 1
    assert 0 < allowed < len(facts_sets) * 7 * 3 * 4


def test_the_rules_name_their_lines():
    policy = AccessPolicy.default()
    lines = default_policy_path().read_text().splitlines()
    for rule in policy.rules:
        assert lines[rule.line - 1] == "p, " + ", ".join(rule.fields())
    verdict = policy.decide("front_desk", "query", "operations", frozenset())
    assert str(verdict.rule).startswith(
        "policy.csv line "
    ) and "front_desk, query, operations, any" in str(verdict.rule)


def test_decisions_make_a_table(world, studies):
    pd = pytest.importorskip("pandas")
    pacs, _, _ = world
    session = pacs.login("U101")
    pacs.read(session, uid(studies["CT"]), "treatment")
    with pytest.raises(AccessDenied):
        pacs.read(session, uid(studies["CT"]), "payment")
    frame = pd.DataFrame([d.as_dict() for d in pacs.decisions])
    assert list(frame["allowed"]) == [True, False]
    assert list(frame["facts"]) == ["worklist", "worklist"]
    assert frame.loc[0, "rule"].endswith("p, radiologist, read, treatment, worklist")


def test_the_synthetic_pacs_and_department_worklists():
    sink = ListSink()
    pacs = Pacs.synthetic(sink, patients=3)
    assert [s.modality for s in pacs.studies] == ["CT", "MR", "MR", "CR"]
    ids = [s.patient_id for s in pacs.studies]
    assert ids[0] == ids[1] and len(set(ids)) == 3
    assert [("U301" in pacs.care_team(i)) for i in ids] == [True, True, False, True]
    assert sessions.department_modalities("Breast Imaging") == frozenset({"MG"})
    assert sessions.department_modalities("Diagnostic X-ray") == frozenset({"CR", "DX"})
    ids = [u.user_id for u in pacs.users]
    assert len(ids) == len(set(ids))
    with pytest.raises(ValueError, match="unique"):
        Pacs([], sink=sink, users=[sessions.STAFF[0], sessions.STAFF[0]])


def test_a_policy_that_fails_to_reload_under_a_pacs_refuses_every_request_audited(
    studies, tmp_path
):
    policy_path, model_path = _write(tmp_path, "p, front_desk, query, treatment, any\n")
    policy = AccessPolicy.from_files(policy_path, model_path)
    sink = ListSink()
    pacs = Pacs(studies.values(), sink=sink, clock=Clock(), policy=policy)
    desk = pacs.login("U401")
    assert len(pacs.query(desk, "treatment")) == 2
    policy_path.write_text("p, front_desk, query, treatment\n")
    with pytest.raises(PolicyError, match="line 1: expected 5 fields"):
        policy.reload()
    before = len(sink.events)
    with pytest.raises(AccessDenied, match="policy cannot be used"):
        pacs.query(desk, "treatment")
    [event] = sink.events[before:]
    assert event.outcome is Outcome.MINOR_FAILURE and event.count == 0


def test_a_policy_given_as_text():
    policy = AccessPolicy("# learner's draft\np, billing, query, payment, any\n")
    assert [str(r) for r in policy.rules] == ["policy.csv line 2: p, billing, query, payment, any"]
    assert policy.decide(Role.BILLING, Operation.QUERY, Purpose.PAYMENT).allowed
    assert not policy.decide(Role.BILLING, Operation.READ, Purpose.PAYMENT).allowed
    with pytest.raises(PolicyError, match="given as text"):
        policy.reload()
    with pytest.raises(PolicyError, match="line 1: unknown role 'nurse'"):
        AccessPolicy("p, nurse, read, treatment, any")


def test_a_matcher_casbin_cannot_evaluate_is_a_policy_error_naming_its_line(tmp_path):
    text = default_model_path().read_text()
    model = text.replace("r.purpose == p.purpose", "r.purpose == p.purpos")
    assert model != text
    policy, model_path = _write(tmp_path, "p, front_desk, query, treatment, any\n", model)
    line = next(n for n, t in enumerate(model.splitlines(), 1) if t.startswith("m ="))
    with pytest.raises(PolicyError, match=f"model.conf, line {line}: casbin cannot evaluate"):
        AccessPolicy.from_files(policy, model_path)
