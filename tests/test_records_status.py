"""Where each employee stands, derived from the ledger: the due-date rules and their edge cases."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from hipaa_lab.ledger import Ledger
from hipaa_lab.records import events, status
from hipaa_lab.records.curricula import load_curricula
from hipaa_lab.records.roster import Employee, EmploymentStatus, Role, import_roster

K = events.RecordKind
M1, M2, M3 = "m01-phi-in-images", "m02-deidentifying-images", "m03-who-may-see-this-study"
S = status.Standing


def _employee(eid="E1", role=Role.FRONT_DESK, hired=dt.date(2026, 1, 5), active=True):
    state = EmploymentStatus.ACTIVE if active else EmploymentStatus.TERMINATED
    return Employee(eid, "Avery Quinlan", "aq@example.org", role, "Radiology", hired, state)


def _graded(log, eid, module, day, score, max_score=10.0, version="v1"):
    """A submission on ``day``, graded ``score`` of ``max_score``, and its verdict."""
    at = f"{day.isoformat()}T10:00:00+00:00"
    base = {"at": at, "employee_id": eid, "module": module, "version": version}
    verdict = K.PASSED if score >= 0.8 * max_score else K.FAILED
    log.append_many(
        [
            (K.GRADED.value, {**base, "max_score": max_score, "score": score}),
            (verdict.value, {**base, "max_score": max_score, "score": score, "threshold": 0.8}),
        ]
    )


@pytest.fixture
def log(tmp_path):
    with Ledger(tmp_path / "records.db") as lg:
        yield lg


@pytest.fixture
def curricula():
    return load_curricula()


def _one(log, curricula, as_of, module=M1, eid="E1"):
    rows = [r for r in status.training_status(log, curricula, as_of) if r.employee_id == eid]
    return next(r for r in rows if r.module == module)


def test_a_new_hire_is_never_trained_then_overdue_after_30_days(log, curricula):
    import_roster(log, [_employee(hired=dt.date(2026, 1, 5))])
    assert _one(log, curricula, dt.date(2026, 2, 4)).status is S.NEVER_TRAINED  # the due date
    r = _one(log, curricula, dt.date(2026, 2, 5))
    assert r.status is S.OVERDUE and r.due_on == dt.date(2026, 2, 4)


def test_a_hire_on_a_leap_day(log, curricula):
    import_roster(log, [_employee(hired=dt.date(2028, 2, 29))])
    assert _one(log, curricula, dt.date(2028, 3, 1)).due_on == dt.date(2028, 3, 30)
    _graded(log, "E1", M1, dt.date(2028, 2, 29), 9)
    r = _one(log, curricula, dt.date(2028, 3, 1))
    assert r.status is S.CURRENT and r.due_on == dt.date(2029, 2, 28)  # 365 days on


def test_passing_on_the_due_date_is_on_time(log, curricula):
    import_roster(log, [_employee(hired=dt.date(2026, 1, 5))])
    _graded(log, "E1", M1, dt.date(2026, 2, 4), 8)
    r = _one(log, curricula, dt.date(2026, 2, 4))
    assert r.status is S.CURRENT and r.passed_on == dt.date(2026, 2, 4) and r.score == 80.0
    assert r.entry_hash and r.entry_index is not None


def test_a_refresher_is_due_soon_then_overdue(log, curricula):
    import_roster(log, [_employee(hired=dt.date(2024, 1, 1))])
    _graded(log, "E1", M1, dt.date(2025, 3, 1), 10)
    assert _one(log, curricula, dt.date(2026, 1, 29)).status is S.CURRENT
    assert _one(log, curricula, dt.date(2026, 1, 30)).status is S.DUE_SOON  # 30 days before
    assert _one(log, curricula, dt.date(2026, 3, 1)).status is S.DUE_SOON  # the due date
    assert _one(log, curricula, dt.date(2026, 3, 2)).status is S.OVERDUE


def test_a_failure_does_not_count_and_a_later_pass_does(log, curricula):
    import_roster(log, [_employee(hired=dt.date(2026, 1, 5))])
    _graded(log, "E1", M1, dt.date(2026, 1, 20), 5)
    assert _one(log, curricula, dt.date(2026, 1, 21)).status is S.NEVER_TRAINED
    _graded(log, "E1", M1, dt.date(2026, 1, 22), 9)
    assert _one(log, curricula, dt.date(2026, 3, 1)).status is S.CURRENT


def test_a_grade_lowered_below_the_pass_mark_takes_the_pass_back(log, curricula):
    import_roster(log, [_employee(hired=dt.date(2026, 1, 5))])
    _graded(log, "E1", M1, dt.date(2026, 1, 20), 9)
    at = "2026-01-20T10:00:00+00:00"
    base = {"at": at, "employee_id": "E1", "module": M1}
    log.append_many(
        [
            (K.GRADE_CHANGED.value, {**base, "old": 9.0, "new": 6.0, "by": "t", "why": "x"}),
            (K.FAILED.value, {**base, "score": 6.0, "max_score": 10.0, "threshold": 0.8}),
        ]
    )
    r = _one(log, curricula, dt.date(2026, 3, 1))
    assert r.status is S.OVERDUE and r.passed_on is None and r.score == 60.0


def test_a_material_change_after_a_pass_makes_it_due_again(log, curricula):
    import_roster(log, [_employee(hired=dt.date(2025, 1, 5))])
    _graded(log, "E1", M1, dt.date(2025, 2, 1), 10, version="v1")
    assert _one(log, curricula, dt.date(2025, 6, 1)).status is S.CURRENT
    log.append(
        K.RETRAINING_REQUIRED.value,
        {"at": "2025-06-01", "module": M1, "version": "v2", "reason": "new policy", "by": "t"},
    )
    r = _one(log, curricula, dt.date(2025, 6, 15))
    assert r.status is S.DUE_SOON and r.due_on == dt.date(2025, 7, 1)
    assert _one(log, curricula, dt.date(2025, 7, 2)).status is S.OVERDUE
    _graded(log, "E1", M1, dt.date(2025, 7, 3), 10, version="v2")
    r = _one(log, curricula, dt.date(2025, 7, 4))
    assert r.status is S.CURRENT and r.module_version == "v2"


def test_terminated_then_rehired_keeps_the_history(log, curricula):
    import_roster(log, [_employee(hired=dt.date(2025, 1, 5))])
    _graded(log, "E1", M1, dt.date(2025, 1, 20), 10)
    import_roster(log, [_employee(hired=dt.date(2025, 1, 5), active=False)])
    assert status.training_status(log, curricula, dt.date(2025, 6, 1)) == []
    import_roster(log, [_employee(hired=dt.date(2025, 9, 1))])  # rehired
    r = _one(log, curricula, dt.date(2025, 9, 2))
    assert r.passed_on == dt.date(2025, 1, 20) and r.status is S.CURRENT
    assert r.due_on == dt.date(2026, 1, 20)


def test_each_role_gets_its_curriculum_and_a_waiver_is_current(log, curricula):
    import_roster(log, [_employee("E1", Role.FRONT_DESK), _employee("E2", Role.PACS_ADMIN)])
    rows = status.training_status(log, curricula, dt.date(2026, 1, 6))
    assert [(r.employee_id, r.module) for r in rows] == [
        ("E1", M1),
        ("E1", M3),
        ("E1", "m07-sharing-images-safely"),  # the front desk answers requests for images
        ("E2", M1),
        ("E2", M2),
        ("E2", M3),
        ("E2", "m04-reading-the-audit-log"),  # PACS administrators review the audit log
        ("E2", "m05-safeguards-in-practice"),  # and run the safeguards
        ("E2", "m06-when-something-goes-wrong"),  # and respond to incidents (164.308(a)(6))
        ("E2", "m07-sharing-images-safely"),  # and run the links and the cloud archive
    ]
    log.append(
        K.WAIVED.value,
        {"employee_id": "E2", "module": M2, "reason": "trained at another site", "by": "mgr"},
    )
    r = _one(log, curricula, dt.date(2027, 1, 1), module=M2, eid="E2")
    assert r.status is S.CURRENT and r.waived == "trained at another site" and r.due_on is None


def test_a_curricula_file_with_an_unknown_module_or_role_is_refused(tmp_path):
    from hipaa_lab.errors import CurriculaError

    text = tmp_path / "c.toml"
    text.write_text('[roles]\nbilling = ["m99-none"]\n')
    with pytest.raises(CurriculaError, match="unknown modules \\['m99-none'\\]"):
        load_curricula(text)
    text.write_text('[roles]\njanitor = ["m01-phi-in-images"]\n')
    with pytest.raises(CurriculaError, match="unknown role 'janitor'"):
        load_curricula(text)
    text.write_text("[policy]\nnew_hire_days = -3\n")
    with pytest.raises(CurriculaError, match="new_hire_days is -3"):
        load_curricula(text)


def test_a_past_day_is_judged_without_the_facts_of_later_days(log, curricula):
    import_roster(log, [_employee(hired=dt.date(2026, 1, 5))])
    _graded(log, "E1", M1, dt.date(2026, 3, 1), 9)  # passed late
    r = _one(log, curricula, dt.date(2026, 2, 20))
    assert r.status is S.OVERDUE and r.passed_on is None and r.score is None
    r = _one(log, curricula, dt.date(2026, 3, 1))
    assert r.status is S.CURRENT and r.passed_on == dt.date(2026, 3, 1) == r.graded_on


# ----------------------------------------------------------------------- many days at once


def _generated_ledger(log, curricula, seed):
    """A ledger with a bit of everything, in an awkward order: hires on several rosters,
    assignments (some twice), passes, failures, retakes, grades taken back, waivers, material
    changes, terminations, removals and rehires, and facts synced late (an earlier day recorded
    after later ones)."""
    import random

    rng = random.Random(seed)
    roles = list(Role)
    modules = curricula.modules()
    start = dt.date(2024, 1, 1)

    def day(lo=0, hi=900):
        return start + dt.timedelta(days=rng.randint(lo, hi))

    def people(hired):
        return [
            Employee(
                f"E{i:02d}",
                f"Person {i}",
                f"p{i}@example.org",
                roles[i % len(roles)],
                f"Department {i % 3}",
                hired.get(i, start + dt.timedelta(days=7 * i)),
                EmploymentStatus.TERMINATED if i in gone else EmploymentStatus.ACTIVE,
            )
            for i in range(24)
            if i not in removed
        ]

    gone, removed = set(), set()
    import_roster(log, people({}))
    items = []
    for _ in range(260):
        eid, module = f"E{rng.randrange(24):02d}", rng.choice(modules)
        at = f"{day().isoformat()}T{rng.randrange(8, 18):02d}:00:00+00:00"
        base = {"employee_id": eid, "module": module, "at": at, "version": rng.choice("ab")}
        roll = rng.random()
        if roll < 0.15:
            items.append((K.ASSIGNED.value, base))
        elif roll < 0.75:
            score = rng.choice([5.0, 7.0, 8.0, 9.5, 10.0])
            verdict = K.PASSED if score >= 8 else K.FAILED
            graded = {**base, "score": score, "max_score": 10.0}
            items += [(K.GRADED.value, graded), (verdict.value, {**graded, "threshold": 0.8})]
            if verdict is K.PASSED and rng.random() < 0.15:  # the grade is taken back
                items.append((K.FAILED.value, {**graded, "score": 6.0, "threshold": 0.8}))
        elif roll < 0.8:
            items.append((K.WAIVED.value, {**base, "reason": "trained elsewhere", "by": "m"}))
        elif roll < 0.85:
            change = {"at": day().isoformat(), "module": module, "version": "c", "by": "t"}
            items.append((K.RETRAINING_REQUIRED.value, {**change, "reason": "new policy"}))
        else:
            items.append((K.ATTESTED.value, {**base, "statement": "read"}))
        if len(items) > 40:
            rng.shuffle(items)  # synced late: facts of earlier days after later ones
            log.append_many(items)
            items = []
            gone ^= {rng.randrange(24)}  # terminated, or rehired
            removed ^= {rng.randrange(24)}  # off the roster, or back on it
            import_roster(log, people({i: day(0, 400) for i in range(0, 24, 5)}))
    log.append_many(items)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_standings_over_many_days_are_those_of_one_status_a_day(log, curricula, seed):
    _generated_ledger(log, curricula, seed)
    days = [dt.date(2023, 12, 1) + dt.timedelta(days=23 * k) for k in range(50)]
    days += [days[7], dt.date(2025, 2, 28)]  # a day twice, and out of order
    series = status.standings_over_time(log, curricula, days)
    assert [d for d, _ in series] == days
    seen = set()
    for day, counts in series:
        rows = status.training_status(log, curricula, day)
        assert counts == Counter(r.status for r in rows), day
        seen |= set(counts)
    assert seen == set(S)  # every standing came up


def test_overdue_over_time_reads_the_ledger_once(log, curricula, monkeypatch):
    from hipaa_lab.records import dashboard

    _generated_ledger(log, curricula, 4)
    reads = []
    bodies = log.bodies
    monkeypatch.setattr(log, "bodies", lambda: reads.append(1) or bodies())
    days = [dt.date(2026, 6, 1) - dt.timedelta(weeks=w) for w in range(26, -1, -1)]
    series = dashboard.overdue_over_time(log, curricula, days)
    assert len(reads) == 1
    monkeypatch.undo()
    assert series == [
        (d, sum(r.status is S.OVERDUE for r in status.training_status(log, curricula, d)))
        for d in days
    ]
