"""The exercises' rules (:mod:`hipaa_lab.course.rules`): what refuses while a learner's function
runs for a grade, one registry for every module, and one way to call the learner's function."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from hipaa_lab.course import rules
from hipaa_lab.course.rules import RULES, call_learner, own_work
from hipaa_lab.errors import GradingError

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def _current(module: str, attribute: str) -> object:
    owner: object = importlib.import_module(module)
    for part in attribute.split("."):
        owner = getattr(owner, part)
    return owner


@pytest.mark.parametrize("name", sorted(RULES))
def test_each_rule_refuses_while_the_function_runs_and_restores_after(name):
    rule = RULES[name]
    before = {target: _current(*target) for target in rule.targets}
    with own_work(name):
        for target in rule.targets:
            with pytest.raises(GradingError, match=rule.message[:20] or "."):
                _current(*target)()
    assert {target: _current(*target) for target in rule.targets} == before


def test_the_request_desk_refuses_through_its_switch_whoever_imported_it():
    from hipaa_lab.safeguards.sharing import decide_request, verify_link

    for name in ("decide", "link_valid"):
        with own_work(name), pytest.raises(GradingError, match="package's answer"):
            decide_request({})
        with own_work(name), pytest.raises(GradingError, match="package's answer"):
            verify_link({}, "u", "a time", "k")
    assert isinstance(decide_request({}), dict)  # outside a learner's call, it answers


def test_a_function_without_a_rule_runs_as_it_is():
    from hipaa_lab.deid import scan

    with own_work("find_inappropriate"):
        scan.find_patterns("nothing here")  # not refused
    with own_work("find_phi"), pytest.raises(GradingError, match="find PHI itself"):
        scan.find_patterns("nothing here")


def test_every_rule_names_a_function_a_module_asks_for():
    """A renamed exercise would silently lose its rule: every name is defined by a notebook."""
    defined = set()
    for path in NOTEBOOKS.glob("m*/*.ipynb"):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            source = "".join(cell["source"])
            defined |= {name for name in RULES if f"def {name}(" in source}
    assert defined == set(RULES)


def test_call_learner_copies_the_inputs_and_names_what_went_wrong():
    record = {"lines": ["a"]}

    def changes_its_input(r):
        r["lines"].append("b")
        return len(r["lines"])

    assert call_learner(changes_its_input, "find_tampered", record, on="log") == 2
    assert record == {"lines": ["a"]}

    def unwritten(r):
        raise NotImplementedError()

    with pytest.raises(GradingError, match="not written yet"):
        call_learner(unwritten, "find_tampered", record)

    def broken(r):
        return r["missing"]

    with pytest.raises(GradingError, match=r"raised KeyError: 'missing' on a fresh log"):
        call_learner(broken, "find_tampered", record, on="log")

    def cheats(lines):
        from hipaa_lab.ledger import check_chain

        return check_chain(lines)

    with pytest.raises(GradingError, match="check the links itself"):
        call_learner(cheats, "find_tampered", [])


def test_the_registry_is_the_one_the_checks_and_the_harness_use():
    from hipaa_lab.course import checks_audit, checks_breach, checks_safeguards, harness

    assert checks_audit.own_work is rules.own_work
    assert checks_safeguards.own_work is rules.own_work
    assert checks_breach.call_learner is rules.call_learner
    assert "rules import own_work" in Path(harness.__file__).read_text()
