"""Module 3's graded check (hipaa_lab/course/checks_access.py): the reference, the scenarios, the credit."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from hipaa_lab.course import checks_access as ca
from hipaa_lab.course import grading
from hipaa_lab.course.sealed import SealedRun, sealed
from hipaa_lab.errors import GradingError
from hipaa_lab.safeguards.policy import AccessPolicy, Operation, Purpose, Role

NOTEBOOK = (
    Path(__file__).resolve().parent.parent
    / "notebooks"
    / "m03-who-may-see-this-study"
    / "m03-who-may-see-this-study.ipynb"
)
ROLES = [r.value for r in Role]
REFERENCE = "\n".join("p, " + ", ".join(rule) for rule in ca.REFERENCE_RULES) + "\n"
SEEDS = (0, 1, 7, 2**100 + 3)


def _visible_only() -> str:
    """A policy written to the visible table alone: each allowed row's facts, exactly."""
    return "".join(
        f"p, {s.role}, {s.operation}, {s.purpose}, {' & '.join(sorted(s.facts)) or 'any'}\n"
        for s in ca.VISIBLE_SCENARIOS
        if s.expected
    )


def test_the_reference_decides_as_the_shipped_policy_on_every_request() -> None:
    shipped = AccessPolicy.default()
    requests = ca.every_request()
    assert len(requests) == 7 * 4 * (2 * 2**4 + 2**5)  # query and read: 4 facts; export: 5
    differ = [r for r in requests if shipped.decide(*r).allowed != ca.required(*r)]
    assert not differ


def test_the_hospitals_requirements_name_every_role() -> None:
    assert list(ca.REQUIREMENTS) == ROLES
    assert {rule[0] for rule in ca.REFERENCE_RULES} == set(ROLES)


def test_a_correct_policy_earns_full_credit() -> None:
    for seed in SEEDS:
        credit = grading.check_access_policy(REFERENCE, seed=seed)
        assert credit.fraction == 1.0
        assert "7 of 7 roles" in credit.message


def test_extra_rules_that_change_nothing_still_earn_full_credit() -> None:
    # a rule whose condition can never hold on a read (deidentified is an export's fact only)
    # and a rule implied by another one allow nothing more
    extra = "p, billing, read, payment, deidentified\np, radiologist, read, treatment, care_team & worklist\n"
    assert grading.check_access_policy(REFERENCE + extra, seed=5).fraction == 1.0


def _every_rule(condition: str) -> str:
    return "".join(
        f"p, {r.value}, {o.value}, {p.value}, {condition}\n"
        for r in Role
        for o in Operation
        for p in Purpose
    )


@pytest.mark.parametrize(
    "policy",
    [_every_rule("any"), "", "# nothing allowed\n", _every_rule("break_glass")],
    ids=["allow-all", "deny-all", "comments-only", "break-glass-opens-all"],
)
def test_allow_all_and_deny_all_earn_nothing(policy: str) -> None:
    for seed in SEEDS:
        with pytest.raises(GradingError, match="0 of 7 roles"):
            grading.check_access_policy(policy, seed=seed)


def test_the_flawed_policy_earns_nothing_and_the_visible_table_shows_each_mistake() -> None:
    with pytest.raises(GradingError, match="0 of 7 roles"):
        grading.check_access_policy(ca.FLAWED_POLICY, seed=3)
    flawed = AccessPolicy(ca.FLAWED_POLICY)
    shown = {
        s.role
        for s in ca.VISIBLE_SCENARIOS
        if flawed.decide(s.role, s.operation, s.purpose, s.facts).allowed != s.expected
    }
    assert shown == set(ROLES)


# each mistake of the flawed policy, alone on top of the reference, and the role it belongs to
MISTAKES = [
    line
    for line in ca.FLAWED_POLICY.splitlines()
    if line.startswith("p,") and tuple(line[3:].split(", ")) not in ca.REFERENCE_RULES
]


@pytest.mark.parametrize("mistake", MISTAKES)
def test_one_mistake_loses_the_share_of_its_role(mistake: str) -> None:
    role = mistake.split(", ")[1]
    for seed in SEEDS:
        credit = grading.check_access_policy(REFERENCE + mistake + "\n", seed=seed)
        assert credit.fraction == 0.85  # 6 of 7, rounded down to whole percent
        assert f"\n  - {role}: your policy allows" in credit.message
        assert credit.message.count("\n  - ") == 1


def test_a_rule_too_narrow_loses_its_role() -> None:
    narrow = REFERENCE.replace(
        "p, referring_physician, export, treatment, care_team\n",
        "p, referring_physician, export, treatment, care_team & deidentified\n",
    )
    assert narrow != REFERENCE
    for seed in SEEDS:
        credit = grading.check_access_policy(narrow, seed=seed)
        assert credit.fraction == 0.85
        assert "referring_physician: your policy refuses" in credit.message


def test_a_policy_written_to_the_visible_rows_passes_them_and_falls_short_on_fresh_ones() -> None:
    policy = AccessPolicy(_visible_only())
    for s in ca.VISIBLE_SCENARIOS:
        assert policy.decide(s.role, s.operation, s.purpose, s.facts).allowed == s.expected
    for seed in SEEDS:
        assert grading.check_access_policy(_visible_only(), seed=seed).fraction < 0.5


def test_an_invalid_policy_earns_nothing_and_names_its_line() -> None:
    bad = REFERENCE + "p, frontdesk, read, treatment, any\n"
    line = len(REFERENCE.splitlines()) + 1
    with pytest.raises(GradingError, match=rf"my_policy, line {line}: unknown role 'frontdesk'"):
        grading.check_access_policy(bad, seed=1)
    with pytest.raises(GradingError, match="line 2: unknown condition 'carteam'"):
        grading.check_access_policy("# first\np, billing, query, payment, carteam\n", seed=1)


@pytest.mark.parametrize("value", [None, 3, ["p, billing, query, payment, any"]])
def test_a_policy_that_is_not_text_earns_nothing(value: object) -> None:
    with pytest.raises(GradingError, match="must be the policy's text"):
        grading.check_access_policy(value, seed=1)


def test_hidden_scenarios_are_fresh_per_seed_and_cover_what_the_table_does_not() -> None:
    first, again, other = ca.hidden_scenarios(11), ca.hidden_scenarios(11), ca.hidden_scenarios(12)
    assert first == again and set(first) != set(other)
    assert len(set(first)) == len(first)
    key = {(s.role, s.operation, s.purpose, s.facts) for s in first}
    visible = {(s.role, s.operation, s.purpose, s.facts) for s in ca.VISIBLE_SCENARIOS}
    assert len(key - visible) > 10 * len(visible)
    for role in ROLES:
        outcomes = {s.expected for s in first if s.role == role}
        assert outcomes == {True, False}, role  # why allow-all and deny-all earn nothing
    assert all(s.operation == "export" for s in first if "deidentified" in s.facts)
    triples = {(s.role, s.operation, s.purpose) for s in first}
    assert len(triples) == 7 * 3 * 4


def test_the_sealed_run_draws_the_scenarios_from_the_course_secret() -> None:
    run = SealedRun(secret=b"k" * 32, assignment="m03-who-may-see-this-study", digest="d")
    mistake = REFERENCE + "p, billing, read, payment, care_team & worklist\n"
    expected = grading.check_access_policy(mistake, seed=run.seed(ca.SEED_PURPOSE))
    with sealed(run):
        got = grading.check_access_policy(mistake)
    assert got == expected and "practice" not in got.message
    assert "practice" in grading.check_access_policy(mistake).message


def test_try_access_policy_prints_the_visible_table(capsys: pytest.CaptureFixture[str]) -> None:
    grading.try_access_policy(ca.FLAWED_POLICY)
    out = capsys.readouterr().out
    assert out.count("<-- wrong") == 7
    assert f"15 of {len(ca.VISIBLE_SCENARIOS)} visible scenarios" in out
    for s in ca.VISIBLE_SCENARIOS:
        assert s.who in out
    grading.try_access_policy(REFERENCE)
    assert "<-- wrong" not in capsys.readouterr().out
    grading.try_access_policy("p, billing, query, payment\n")
    assert "my_policy, line 1: expected 5 fields" in capsys.readouterr().out


def _cell(grade_id: str) -> str:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return str(cell.source)
    raise AssertionError(f"no cell {grade_id}")


def test_the_notebook_states_the_requirements_the_reference_encodes() -> None:
    text = _cell("m03-ex1")
    for role, words in ca.REQUIREMENTS.items():
        assert f"| `{role}` | {words} |" in text


def test_the_notebook_gives_the_flawed_policy_and_its_solution_is_the_reference() -> None:
    source = _cell("my_policy")
    given, solution = source.split("### BEGIN SOLUTION")
    assert ca.FLAWED_POLICY.strip() in given
    solved = re.search(r'my_policy = """\n(.*?)"""', solution, re.S)
    assert solved
    assert {r.fields() for r in AccessPolicy(solved.group(1)).rules} == set(ca.REFERENCE_RULES)
