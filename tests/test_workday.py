"""The workday generator: planted access findable with the context, not from the log alone."""

import datetime as dt
from collections import Counter

import pytest

from hipaa_lab.safeguards.audit import AuditTrail, EventID, EventType
from hipaa_lab.safeguards.workday import Finding, generate

CLINICAL = {"radiologist", "technologist", "referring_physician"}
#: fields whose values name a person, a study or a moment: not categories to compare
IDENTIFYING = {
    "time",
    "user",
    "user_name",
    "study_uid",
    "patient_id",
    "patient_name",
    "query",
    "count",
}


@pytest.fixture(scope="module", params=[1, 7, 23])
def day(request):
    return generate(request.param, staff=60, patients=80)


def _t(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def review(events, context):
    """A reviewer who reasons from the log and the context alone (never the key): line -> kind."""
    staff = {s["user"]: s for s in context["staff"]}
    patients = {p["patient_id"]: p for p in context["patients"]}
    employees = {(s["name"], tuple(s["address"].values())) for s in context["staff"]}
    approvals = {a["approval"]: a for a in context["research_approvals"]}
    arrivals = {}
    for e in context["emergency_arrivals"]:
        arrivals.setdefault(e["patient_id"], []).append(_t(e["arrival"]))
    found = {}
    # break-glass windows, each justified or not by an arrival in the emergency department
    windows = []
    for n, e in events:
        if (
            e.event is EventID.SECURITY_ALERT
            and e.event_type is EventType.EMERGENCY_OVERRIDE_STARTED
        ):
            stop = next(
                m
                for m, f in events
                if m > n
                and f.user == e.user
                and f.patient_id == e.patient_id
                and f.event_type is EventType.EMERGENCY_OVERRIDE_STOPPED
            )
            real = any(
                e.time - dt.timedelta(hours=12) <= a <= e.time
                for a in arrivals.get(e.patient_id, [])
            )
            windows.append((e.user, e.patient_id, n, stop, real))
    for user, patient, start, stop, real in windows:
        if not real:
            for n, e in events:
                if start <= n <= stop and e.user == user and e.patient_id == patient:
                    found[n] = Finding.BREAK_GLASS
    for n, e in events:
        person = staff[e.user]
        if person["terminated"] and e.time >= _t(person["terminated"]):
            found[n] = Finding.AFTER_TERMINATION
            continue
        if e.event is EventID.EXPORT:
            a = approvals.get(e.reason)
            if a is None or e.user not in a["researchers"] or e.study_uid not in a["studies"]:
                found[n] = Finding.BULK_EXPORT
            continue
        if e.patient_id is None or e.event not in (EventID.QUERY, EventID.INSTANCES_ACCESSED):
            continue
        p = patients[e.patient_id]
        if e.role not in CLINICAL:
            assert p["care_team"], (n, e)  # front desk and billing look up the day's patients
            continue
        if e.user in p["care_team"]:
            continue
        if any(w[0] == e.user and w[1] == e.patient_id and w[2] <= n <= w[3] for w in windows):
            continue
        if p["vip"]:
            found[n] = Finding.VIP
        elif (p["name"], tuple(p["address"].values())) in employees:
            found[n] = Finding.COWORKER
        elif p["name"].split("^")[0] == person["name"].split("^")[0] and (
            p["address"] == person["address"]
        ):
            found[n] = Finding.FAMILY
        else:
            raise AssertionError(f"line {n}: an access the context does not explain: {e}")
    return found


def test_every_planted_event_is_in_the_key_and_found_by_reasoning(day, tmp_path):
    trail = AuditTrail(tmp_path / "audit.jsonl")
    trail.record_many(day.events)
    events = list(enumerate(trail.events(), 1))  # what a reviewer reads: the file
    found = review(events, day.context())
    key = {row["line"]: Finding(row["kind"]) for row in day.key()["planted"]}
    assert found == key
    assert set(Counter(key.values())) == set(Finding)  # every kind planted
    assert not set(day.decoys) & set(key)
    decoys = Counter(day.decoys.values())
    for what in (
        "approved research export",
        "break-glass in an emergency",
        "a VIP seen by their care team",
        "an employee-patient seen by their care team",
    ):
        assert decoys[what] >= 1, decoys


def test_planted_events_look_like_ordinary_ones(day):
    planted = [e for n, e in enumerate(day.events, 1) if n in day.planted]
    ordinary = [e for n, e in enumerate(day.events, 1) if n not in day.planted]
    # the same shape: every planted event's set of fields is one ordinary events have too
    shapes = {frozenset(e.to_body()) for e in ordinary}
    assert {frozenset(e.to_body()) for e in planted} <= shapes
    # no category (event, action, outcome, role, source, type, purpose, reason) only planted
    seen = {(k, str(v)) for e in ordinary for k, v in e.to_body().items() if k not in IDENTIFYING}
    only = {
        (k, str(v))
        for e in planted
        for k, v in e.to_body().items()
        if k not in IDENTIFYING and (k, str(v)) not in seen
    }
    assert not only
    # every planted user and patient also appears in ordinary events
    assert {e.user for e in planted} <= {e.user for e in ordinary}
    assert {e.patient_id for e in planted} <= {e.patient_id for e in ordinary}


def test_the_context_names_no_planted_event(day):
    import json

    text = json.dumps(day.context())
    assert "plant" not in text and "decoy" not in text and "finding" not in text.lower()
    for row in day.key()["planted"]:
        assert f'"line": {row["line"]}' not in text


def test_same_seed_same_log_other_seed_other_log():
    a = generate(5, staff=45, patients=60)
    b = generate(5, staff=45, patients=60)
    c = generate(6, staff=45, patients=60)
    assert a.events == b.events and a.key() == b.key() and a.context() == b.context()
    assert a.events != c.events


def test_a_realistic_day_shape():
    day = generate(3, staff=300, patients=400)
    assert len(day.events) >= 3000
    users = {e.user for e in day.events}
    assert len(users) >= 150
    roles = Counter(e.role for e in day.events)
    assert set(roles) == {
        "radiologist",
        "technologist",
        "referring_physician",
        "front_desk",
        "billing",
        "pacs_admin",
        "researcher",
    }
    times = [e.time for e in day.events]
    assert times == sorted(times)
    hours = Counter((t.hour - 7) % 24 // 8 for t in times)  # day, evening, night shifts
    assert hours[0] > hours[1] > 0 and hours[2] > 0
    # each user's accesses happen between a login and a logout
    for user in users:
        state = False
        for e in (e for e in day.events if e.user == user):
            if e.event is EventID.USER_AUTHENTICATION:
                if e.outcome.value == 0:
                    state = e.event_type is EventType.LOGIN
                continue
            assert state, (user, e)


def test_too_small_a_day_is_refused():
    with pytest.raises(ValueError, match="at least 40 staff"):
        generate(1, staff=10, patients=80)
