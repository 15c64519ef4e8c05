"""The multiple-choice questions of the modules, checked against a table of answers and the law.

Each row names a question by its module and the grade id of its answer cell, the one correct letter,
and the paragraph of the rule behind that answer. The source notebook must agree: its solution cell
sets that letter, the hidden test of its grade cell asserts it, the question's Markdown (its text
or its options) cites that paragraph, and the question offers exactly four options, a) to d).
The reviewer's checklist in ``notebooks/README.md`` says why: exactly one defensible answer each.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import NamedTuple

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
M01 = "m01-phi-in-images"
M02 = "m02-deidentifying-images"
M03 = "m03-who-may-see-this-study"
M04 = "m04-reading-the-audit-log"
M05 = "m05-safeguards-in-practice"
M06 = "m06-when-something-goes-wrong"
M07 = "m07-sharing-images-safely"


class Question(NamedTuple):
    module: str
    answer_cell: str  # grade id of the cell the learner answers in
    letter: str
    paragraph: str  # the paragraph the answer rests on, as the question cites it


QUESTIONS = [
    # Sex is not among the 18 identifiers of Safe Harbor; birth dates, accession numbers, ZIP codes are.
    Question(M01, "q1", "b", "164.514(b)(2)(i)"),
    # Ages over 89 aggregated into one category, 90 or older; year of birth and 095Y reveal the age.
    Question(M01, "q2", "b", "164.514(b)(2)(i)(C)"),
    # PHI is information in any form or medium: the banner in the pixels stays.
    Question(M01, "q3", "b", "160.103"),
    # A keyed hash defeats trying every MRN, but a code derived from the MRN is not a Safe Harbor code.
    Question(M02, "m02_q1", "b", "164.514(c)(1)"),
    # Exact dates under a data use agreement: a Limited Data Set may keep dates.
    Question(M02, "m02_q2", "c", "164.514(e)(2)"),
    # Sending a study to the treating oncologist: minimum necessary does not apply to a disclosure
    # to a provider for treatment; workforce uses stay under the role-based policy.
    Question(M03, "m03_q1", "b", "164.502(b)(2)(i)"),
    # Addressable: assess; implement, or document why not and adopt an equivalent alternative.
    Question(M03, "m03_q2", "b", "164.306(d)(3)"),
    # The rule requires an emergency access procedure; the time limit and the reason are the hospital's.
    Question(M03, "m03_q3", "c", "164.312(a)(2)(ii)"),
    # The rule asks for regular review and sets no frequency: how often is the hospital's policy.
    Question(M04, "m04_q1", "c", "164.308(a)(1)(ii)(D)"),
    # Addressable: assess; implement if reasonable and appropriate, else document and an alternative.
    Question(M04, "m04_q2", "b", "164.306(d)(3)"),
    # Access after employment ends: the termination procedures failed.
    Question(M04, "m04_q3", "d", "164.308(a)(3)(ii)(C)"),
    # Encryption at rest is addressable, not optional: assess, implement, or document an alternative.
    Question(M05, "m05_q1", "b", "164.306(d)(3)"),
    # Encrypted per HHS guidance, the key safe: not unsecured PHI, so no breach notification.
    Question(M05, "m05_q2", "c", "164.402"),
    # The data backup plan is required (and the disaster recovery plan); testing is addressable.
    Question(M05, "m05_q3", "b", "164.308(a)(7)(ii)(A)"),
    # Exactly 500 residents of one State: no media (more than 500); the Secretary at once (500+).
    Question(M06, "m06_q1", "c", "164.406(a)"),
    # Without unreasonable delay: the 60 days are the outer limit, not a grace period.
    Question(M06, "m06_q2", "b", "164.404(b)"),
    # An oral law-enforcement statement delays notice 30 days at most, unless one in writing follows.
    Question(M06, "m06_q3", "c", "164.412(b)"),
    # Module 7's final assessment, one question for each part of the course:
    # burned-in names make the pixels PHI: any form or medium.
    Question(M07, "m07_q1", "c", "160.103"),
    # Safe Harbor keeps only the year of dates directly related to an individual.
    Question(M07, "m07_q2", "b", "164.514(b)(2)(i)(C)"),
    # Minimum necessary inside the hospital: who needs what, and limit access to it.
    Question(M07, "m07_q3", "a", "164.514(d)(2)"),
    # Audit controls record and examine activity; no format, no frequency.
    Question(M07, "m07_q4", "d", "164.312(b)"),
    # Encryption at rest is addressable: assess, implement, or document and an alternative.
    Question(M07, "m07_q5", "c", "164.306(d)(3)"),
    # PHI encrypted as the Secretary's guidance specifies is not unsecured: no notification.
    Question(M07, "m07_q6", "b", "164.402"),
    # Individuals: without unreasonable delay, no later than 60 calendar days after discovery.
    Question(M07, "m07_q7", "c", "164.404(b)"),
]

_OPTION = re.compile(r"^- ([a-z])\) \S", re.MULTILINE)
_SOLUTION = re.compile(
    r"### BEGIN SOLUTION\s*\n\s*(answer_\w+)\s*=\s*\"([a-z])\"\s*\n\s*### END SOLUTION"
)
_HIDDEN = re.compile(
    r"### BEGIN HIDDEN TESTS\s*\nassert (answer_\w+)\.strip\(\)\.lower\(\) == \"([a-z])\""
)


def _cells(module: str) -> list[nbformat.NotebookNode]:
    return list(nbformat.read(NOTEBOOKS / module / f"{module}.ipynb", as_version=4).cells)


def _grade_id(cell: nbformat.NotebookNode) -> str:
    return str(cell.metadata.get("nbgrader", {}).get("grade_id", ""))


def _parts(q: Question) -> tuple[str, str, str]:
    """The question's Markdown, its solution cell and its grade cell."""
    cells = _cells(q.module)
    ids = [_grade_id(c) for c in cells]
    assert q.answer_cell in ids, f"{q.module} has no cell {q.answer_cell!r}"
    i = ids.index(q.answer_cell)
    text = cells[i - 1]
    assert text.cell_type == "markdown", f"{q.answer_cell}: the cell before it is not the question"
    check = f"{q.answer_cell}_check"
    assert check in ids, f"{q.module} has no grade cell {check!r}"
    return text.source, cells[i].source, cells[ids.index(check)].source


def test_every_question_of_the_modules_is_in_the_table() -> None:
    asked = {
        (module, _grade_id(c).removesuffix("_check"))
        for module in sorted(p.name for p in NOTEBOOKS.glob("m[0-9][0-9]-*") if p.is_dir())
        for c in _cells(module)
        if "hl.grading.check_choice(" in c.source
    }
    assert asked == {(q.module, q.answer_cell) for q in QUESTIONS}


@pytest.mark.parametrize("q", QUESTIONS, ids=lambda q: f"{q.module[:3]}-{q.answer_cell}")
def test_question_has_four_options(q: Question) -> None:
    text, _, _ = _parts(q)
    assert _OPTION.findall(text) == list("abcd"), text


@pytest.mark.parametrize("q", QUESTIONS, ids=lambda q: f"{q.module[:3]}-{q.answer_cell}")
def test_solution_sets_the_table_letter(q: Question) -> None:
    _, solution, _ = _parts(q)
    found = _SOLUTION.search(solution)
    assert found, f"{q.answer_cell}: no one-letter answer between the solution markers"
    assert found.group(2) == q.letter


@pytest.mark.parametrize("q", QUESTIONS, ids=lambda q: f"{q.module[:3]}-{q.answer_cell}")
def test_hidden_test_asserts_the_table_letter(q: Question) -> None:
    _, solution, check = _parts(q)
    ast.parse(check)  # a grade cell that does not parse fails every learner
    found = _HIDDEN.search(check)
    assert found, f"{q.answer_cell}_check: no hidden assert on the answer"
    assert found.group(2) == q.letter
    variable = _SOLUTION.search(solution)
    assert variable and found.group(1) == variable.group(1)


@pytest.mark.parametrize("q", QUESTIONS, ids=lambda q: f"{q.module[:3]}-{q.answer_cell}")
def test_question_cites_the_paragraph_of_its_answer(q: Question) -> None:
    text, _, _ = _parts(q)
    assert q.paragraph in text, f"{q.answer_cell}: the question does not cite {q.paragraph}"


_CITATION = re.compile(r"\b16[04]\.\d{3}")


@pytest.mark.parametrize("q", QUESTIONS, ids=lambda q: f"{q.module[:3]}-{q.answer_cell}")
def test_no_option_gives_the_answer_away_by_citing_the_rule(q: Question) -> None:
    """Citations go in the question, or in every option: an answer that alone cites 45 CFR is
    found without reading the rule."""
    text, _, _ = _parts(q)
    options = [line for line in text.splitlines() if _OPTION.match(line)]
    citing = [line[2] for line in options if _CITATION.search(line)]
    assert len(citing) in (0, len(options)), (
        f"{q.answer_cell}: only option(s) {', '.join(citing)} cite the rule; cite it in the question"
    )
