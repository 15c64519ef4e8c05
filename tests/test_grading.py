"""The module-1 checks grade a learner's find_phi on fresh studies, by category."""

import pytest

import hipaa_lab as hl
from hipaa_lab.errors import GradingError
from hipaa_lab.grading import (
    CATEGORY_GROUPS,
    check_choice,
    check_find_phi,
    check_find_phi_precision,
    grade_find_phi,
)

SEED = 1234


def perfect(seed):
    """A find_phi that knows the answer key: the ceiling every check must accept."""
    from hipaa_lab.grading import _fresh_studies

    planted = {}
    for _, instances in _fresh_studies(seed):
        for ds, entries in instances:
            planted[ds.SOPInstanceUID] = [e.path for e in entries]
    return lambda ds: planted[ds.SOPInstanceUID]


def names_only(ds):
    return [path for path, elem in hl.iter_elements(ds) if elem.VR == "PN"]


def everything(ds):
    return [path for path, _ in hl.iter_elements(ds)]


def test_a_perfect_answer_passes_every_check():
    find_phi = perfect(SEED)
    for group in CATEGORY_GROUPS:
        check_find_phi(find_phi, group, seed=SEED)
    check_find_phi_precision(find_phi, seed=SEED)


def test_every_group_is_planted_in_the_fresh_studies():
    result = grade_find_phi(lambda ds: [], seed=SEED)
    for group, categories in CATEGORY_GROUPS.items():
        assert any(e.category in categories for _, e in result.missed), group


def test_reporting_every_element_finds_all_but_fails_precision():
    for group in CATEGORY_GROUPS:
        check_find_phi(everything, group, seed=SEED)
    with pytest.raises(GradingError, match="cannot identify anyone"):
        check_find_phi_precision(everything, seed=SEED)


def test_partial_answers_get_partial_credit_by_group():
    result = grade_find_phi(names_only, seed=SEED)
    assert 0 < result.recall() < 1
    with pytest.raises(GradingError, match="dates identifiers"):
        check_find_phi(names_only, "dates", seed=SEED)
    check_find_phi_precision(names_only, seed=SEED)


def test_missed_identifiers_are_named_by_path_never_by_value():
    result = grade_find_phi(lambda ds: [], seed=SEED)
    with pytest.raises(GradingError) as info:
        check_find_phi(lambda ds: [], "names", seed=SEED)
    message = str(info.value)
    assert "PatientName" in message
    for _, entry in result.missed:
        if len(entry.value) > 4:
            assert entry.value not in message


def test_hard_coding_the_visible_study_does_not_pass():
    """Paths that are right for one study's seed fall short on another's."""
    from hipaa_lab.grading import _fresh_studies

    paths = {e.path for _, instances in _fresh_studies(SEED) for _, entries in instances for e in entries}
    other_seed = SEED + 1000
    result = grade_find_phi(lambda ds: sorted(paths), seed=other_seed)
    assert result.recall() < 1


@pytest.mark.parametrize("answer, message", [
    (lambda ds: None, "NoneType"),
    (lambda ds: "PatientName", "list of tag paths"),
    (lambda ds: [0x00100010], "as strings"),
    (lambda ds: 1 / 0, "ZeroDivisionError"),
])
def test_broken_answers_get_a_clear_message(answer, message):
    with pytest.raises(GradingError, match=message):
        check_find_phi(answer, "names", seed=SEED)


def test_an_unwritten_answer_says_so():
    def find_phi(ds):
        raise NotImplementedError()

    with pytest.raises(GradingError, match="not written yet"):
        check_find_phi(find_phi, "names", seed=SEED)


def test_unknown_group_lists_the_valid_ones():
    with pytest.raises(ValueError, match="names, dates, numbers, contact"):
        check_find_phi(names_only, "faces", seed=SEED)


def test_check_choice():
    check_choice(" B ", "abcd")
    with pytest.raises(GradingError):
        check_choice(None, "abcd")
