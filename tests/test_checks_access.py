"""Module 3's graded check (hipaa_lab/course/checks_access.py): the trainer's reference, the
scenarios, the credit, and that nothing a learner can read holds the answer."""

from __future__ import annotations

import ast
import random
import re
from pathlib import Path

import nbformat
import pytest

import hipaa_lab
from hipaa_lab.course import checks_access as ca
from hipaa_lab.course import grading
from hipaa_lab.course.sealed import SealedRun, sealed
from hipaa_lab.errors import GradingError, PolicyError
from hipaa_lab.safeguards.policy import (
    AccessPolicy,
    Operation,
    Purpose,
    Role,
    default_policy_path,
    holds,
    parse_rules,
)

NOTEBOOK = (
    Path(__file__).resolve().parent.parent
    / "notebooks"
    / "m03-who-may-see-this-study"
    / "m03-who-may-see-this-study.ipynb"
)
ROLES = [r.value for r in Role]
SEEDS = (0, 1, 7, 2**100 + 3)


def _cell(grade_id: str) -> str:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return str(cell.source)
    raise AssertionError(f"no cell {grade_id}")


def _hidden_reference() -> str:
    """The centre's policy as the trainer keeps it: the grade cell's hidden test."""
    cell = _cell("my_policy_check")
    hidden = cell.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0]
    for node in ast.parse(hidden).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "CENTRE":
            value = ast.literal_eval(node.value)
            assert isinstance(value, str)
            return value
    raise AssertionError("no CENTRE in the hidden test")


REFERENCE = _hidden_reference()
CENTRE = AccessPolicy(REFERENCE)


def _check(policy: object, seed: int = 0) -> grading.Credit:
    return grading.check_access_policy(policy, reference=REFERENCE, seed=seed)


def _decisions(policy: AccessPolicy) -> dict[tuple[str, str, str, frozenset[str]], bool]:
    """Every request's decision, by the rules' meaning (quicker than casbin, and independent
    of it: the PACS's own tests hold casbin to the same meaning)."""
    rules = [r.fields() for r in policy.rules]
    return {
        (role, op, purpose, facts): any(
            (role, op, purpose) == rule[:3] and holds(facts, rule[3]) for rule in rules
        )
        for role, op, purpose, facts in ca.every_request()
    }


def _rules_text(rules: list[tuple[str, str, str, str]]) -> str:
    return "".join(f"p, {', '.join(rule)}\n" for rule in rules)


def _visible_only() -> str:
    """A policy written to the visible table alone: each allowed row's facts, exactly."""
    return "".join(
        f"p, {s.role}, {s.operation}, {s.purpose}, {' & '.join(sorted(s.facts)) or 'any'}\n"
        for s in ca.VISIBLE_SCENARIOS
        if s.expected
    )


# --------------------------------------------------------------------------- the reference


def test_the_model_solution_is_the_hidden_reference() -> None:
    given, solution = _cell("my_policy").split("### BEGIN SOLUTION")
    assert ca.FLAWED_POLICY.strip() in given
    solved = re.search(r'my_policy = """\n(.*?)"""', solution, re.S)
    assert solved
    assert _decisions(AccessPolicy(solved.group(1))) == _decisions(CENTRE)


def test_each_visible_row_is_decided_as_the_reference_decides_it() -> None:
    assert len(ca.VISIBLE_SCENARIOS) == len({s.request for s in ca.VISIBLE_SCENARIOS})
    for s in ca.VISIBLE_SCENARIOS:
        assert CENTRE.decide(*s.request).allowed == s.expected, s.who
    assert {s.role for s in ca.VISIBLE_SCENARIOS} == set(ROLES)


def test_the_centre_differs_from_the_shipped_policy_for_every_role_so_a_copy_earns_nothing() -> (
    None
):
    shipped = AccessPolicy.default()
    differ = {
        r[0] for r in ca.every_request() if shipped.decide(*r).allowed != CENTRE.decide(*r).allowed
    }
    assert differ == set(ROLES)
    with pytest.raises(GradingError, match="0 of 7 roles"):
        _check(default_policy_path().read_text(encoding="utf-8"))


_RULE_LINE = re.compile(r"\bp,\s*(\w+),\s*(\w+),\s*(\w+),\s*([\w &]+)")
_RULE_TUPLE = re.compile(r'\(\s*"(\w+)",\s*"(\w+)",\s*"(\w+)",\s*"([\w &]+)"\s*\)')


def test_no_file_of_the_package_holds_the_centres_policy() -> None:
    """What a learner can import or read (the package; the sandbox hides the source notebooks
    in ``_resources``): no file's rules, in either form the code has used, decide as the
    centre's requirements do, nor hold the rules the centre has and the flawed policy lacks."""
    package = Path(hipaa_lab.__file__).resolve().parent
    flawed = {r.fields() for r in parse_rules(ca.FLAWED_POLICY, "flawed")}
    missing = {r.fields() for r in CENTRE.rules} - flawed
    assert missing
    checked = 0
    for path in package.rglob("*"):
        if "_resources" in path.parts or path.suffix not in (
            ".py",
            ".csv",
            ".json",
            ".toml",
            ".conf",
        ):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        found = {m.groups() for m in _RULE_LINE.finditer(text)} | {
            m.groups() for m in _RULE_TUPLE.finditer(text)
        }
        rules = {(str(a), str(b), str(c), str(d).strip()) for a, b, c, d in found}
        assert not missing <= rules, path
        try:
            policy = AccessPolicy(_rules_text(sorted(rules)))
        except PolicyError:
            continue  # rules of no known role: not a policy
        checked += 1
        assert _decisions(policy) != _decisions(CENTRE), path
    assert checked >= 2  # policy.csv, and this module's flawed policy at least


def test_the_notebook_states_a_requirement_for_every_role() -> None:
    text = _cell("m03-ex1")
    for role in ROLES:
        assert text.count(f"| `{role}` |") == 1


# --------------------------------------------------------------------------- credit


def test_a_correct_policy_earns_full_credit() -> None:
    for seed in SEEDS:
        credit = _check(REFERENCE, seed)
        assert credit.fraction == 1.0
        assert "7 of 7 roles" in credit.message


def test_extra_rules_that_change_nothing_still_earn_full_credit() -> None:
    # a rule whose condition can never hold on a read (deidentified is an export's fact only)
    # and a rule implied by another one allow nothing more
    extra = "p, billing, read, payment, deidentified\np, radiologist, read, treatment, care_team & worklist\n"
    assert _check(REFERENCE + extra, 5).fraction == 1.0


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
            _check(policy, seed)


def test_the_flawed_policy_earns_nothing_and_the_visible_table_shows_each_mistake() -> None:
    with pytest.raises(GradingError, match="0 of 7 roles"):
        _check(ca.FLAWED_POLICY, 3)
    flawed = AccessPolicy(ca.FLAWED_POLICY)
    shown = [
        s.role for s in ca.VISIBLE_SCENARIOS if flawed.decide(*s.request).allowed != s.expected
    ]
    assert set(shown) == set(ROLES)  # each mistake shows in the visible table


# each rule the flawed policy has and the centre has not, alone on top of the reference
MISTAKES = [
    line
    for line in ca.FLAWED_POLICY.splitlines()
    if line.startswith("p,")
    and tuple(line[3:].split(", ")) not in {r.fields() for r in CENTRE.rules}
]


@pytest.mark.parametrize("mistake", MISTAKES)
def test_one_mistake_loses_the_share_of_its_role(mistake: str) -> None:
    role = mistake.split(", ")[1]
    for seed in SEEDS:
        credit = _check(REFERENCE + mistake + "\n", seed)
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
        credit = _check(narrow, seed)
        assert credit.fraction == 0.85
        assert "referring_physician: your policy refuses" in credit.message


def test_the_check_is_exact_on_random_policies() -> None:
    """Whatever the seed, a role earns its point exactly when the policy decides every possible
    request of that role as the centre does (the rules' fewest facts are all asked)."""
    rng = random.Random(4271)
    pool = sorted(
        {r.fields() for r in CENTRE.rules}
        | {r.fields() for r in parse_rules(ca.FLAWED_POLICY, "flawed")}
        | {r.fields() for r in AccessPolicy.default().rules}
        | {
            (s.role, s.operation, s.purpose, " & ".join(sorted(s.facts)) or "any")
            for s in ca.VISIBLE_SCENARIOS
        }
    )
    want = _decisions(CENTRE)
    for _ in range(40):
        chosen = [rule for rule in pool if rng.random() < 0.5]
        policy = AccessPolicy(_rules_text(chosen))
        got = _decisions(policy)
        right = {role for role in ROLES if all(got[r] == want[r] for r in want if r[0] == role)}
        try:
            fraction = _check(_rules_text(chosen), rng.randrange(2**31)).fraction
        except GradingError:
            fraction = 0.0
        assert fraction == pytest.approx(int(len(right) / 7 * 100) / 100)


def test_a_policy_written_to_the_visible_rows_passes_them_and_falls_short_on_fresh_ones() -> None:
    policy = AccessPolicy(_visible_only())
    for s in ca.VISIBLE_SCENARIOS:
        assert policy.decide(*s.request).allowed == s.expected
    assert grading.check_access_policy(_visible_only()).fraction == 1.0  # practice: visible only
    for seed in SEEDS:
        assert _check(_visible_only(), seed).fraction < 0.5


def test_an_invalid_policy_earns_nothing_and_names_its_line() -> None:
    bad = REFERENCE + "p, frontdesk, read, treatment, any\n"
    line = len(REFERENCE.splitlines()) + 1
    with pytest.raises(GradingError, match=rf"my_policy, line {line}: unknown role 'frontdesk'"):
        _check(bad, 1)
    with pytest.raises(GradingError, match="line 2: unknown condition 'carteam'"):
        _check("# first\np, billing, query, payment, carteam\n", 1)


@pytest.mark.parametrize("value", [None, 3, ["p, billing, query, payment, any"]])
def test_a_policy_that_is_not_text_earns_nothing(value: object) -> None:
    with pytest.raises(GradingError, match="must be the policy's text"):
        _check(value, 1)


def test_a_broken_reference_is_the_courses_error_not_the_learners() -> None:
    with pytest.raises(GradingError, match="the course's reference policy cannot be loaded"):
        grading.check_access_policy(REFERENCE, reference="p, billing, query\n", seed=1)


def test_hidden_scenarios_are_fresh_per_seed_and_ask_each_learner_rule_at_its_fewest_facts() -> (
    None
):
    first, again, other = (
        ca.hidden_scenarios(CENTRE, 11),
        ca.hidden_scenarios(CENTRE, 11),
        ca.hidden_scenarios(CENTRE, 12),
    )
    assert first == again and set(first) != set(other)
    assert len({s.request for s in first}) == len(first)
    asked = {s.request for s in first}
    visible = {s.request for s in ca.VISIBLE_SCENARIOS}
    assert visible <= asked
    assert len(asked - visible) > 10 * len(visible)
    for role in ROLES:
        outcomes = {s.expected for s in first if s.role == role}
        assert outcomes == {True, False}, role  # why allow-all and deny-all earn nothing
    assert all(s.operation == "export" for s in first if "deidentified" in s.facts)
    assert len({s.request[:3] for s in first}) == 7 * 3 * 4
    own = parse_rules("p, billing, read, operations, approved & break_glass & care_team\n", "mine")
    fewest = ("billing", "read", "operations", frozenset({"approved", "break_glass", "care_team"}))
    assert fewest not in {s.request for s in ca.hidden_scenarios(CENTRE, 11, draws=0)}
    assert fewest in {s.request for s in ca.hidden_scenarios(CENTRE, 11, own, draws=0)}


# --------------------------------------------------------------------------- where it runs


def test_the_sealed_run_draws_the_scenarios_from_the_course_secret() -> None:
    run = SealedRun(secret=b"k" * 32, assignment="m03-who-may-see-this-study", digest="d")
    mistake = REFERENCE + "p, billing, read, payment, care_team & worklist\n"
    expected = _check(mistake, run.seed(ca.SEED_PURPOSE))
    with sealed(run):
        got = grading.check_access_policy(mistake, reference=REFERENCE)
        # the released line, before the hidden test: never a grade on the visible rows
        unsealed = grading.check_access_policy(REFERENCE)
    assert got == expected and "practice" not in got.message
    assert unsealed.fraction == 0.0 and "hidden test" in unsealed.message


def test_without_a_reference_a_learner_practises_on_the_visible_rows() -> None:
    credit = grading.check_access_policy(REFERENCE)
    assert credit.fraction == 1.0
    assert f"the {len(ca.VISIBLE_SCENARIOS)} visible requests (practice" in credit.message
    with pytest.raises(GradingError, match="0 of 7 roles"):
        grading.check_access_policy(ca.FLAWED_POLICY)


def test_try_access_policy_prints_the_visible_table(capsys: pytest.CaptureFixture[str]) -> None:
    grading.try_access_policy(ca.FLAWED_POLICY)
    out = capsys.readouterr().out
    flawed = AccessPolicy(ca.FLAWED_POLICY)
    wrong = sum(flawed.decide(*s.request).allowed != s.expected for s in ca.VISIBLE_SCENARIOS)
    assert out.count("<-- wrong") == wrong >= 7
    n = len(ca.VISIBLE_SCENARIOS)
    assert f"{n - wrong} of {n} visible scenarios" in out
    for s in ca.VISIBLE_SCENARIOS:
        assert s.who in out
    grading.try_access_policy(REFERENCE)
    assert "<-- wrong" not in capsys.readouterr().out
    grading.try_access_policy("p, billing, query, payment\n")
    assert "my_policy, line 1: expected 5 fields" in capsys.readouterr().out
