"""Where each employee stands, derived from the ledger: the due-date rules and their edge cases."""

from __future__ import annotations

import datetime as dt

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
