"""The module-1 checks grade a learner's find_phi on fresh studies, by category."""

import re

import pytest

import hipaa_lab as hl
from hipaa_lab import grading
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


def full(credit):
    return isinstance(credit, grading.Credit) and credit.fraction == 1.0


def test_a_perfect_answer_passes_every_check():
    find_phi = perfect(SEED)
    for group in CATEGORY_GROUPS:
        assert full(check_find_phi(find_phi, group, seed=SEED))
    assert full(check_find_phi_precision(find_phi, seed=SEED))


def test_every_group_is_planted_in_the_fresh_studies():
    result = grade_find_phi(lambda ds: [], seed=SEED)
    for group, categories in CATEGORY_GROUPS.items():
        assert any(e.category in categories for _, e in result.missed), group


def test_reporting_every_element_earns_nothing():
    """Everything found, nothing chosen: every check's credit goes with the precision."""
    for group in CATEGORY_GROUPS:
        with pytest.raises(GradingError, match="holds PHI"):
            check_find_phi(everything, group, seed=SEED)
    with pytest.raises(GradingError, match="cannot identify anyone"):
        check_find_phi_precision(everything, seed=SEED)


def test_reporting_every_non_technical_element_earns_little():
    """Names, descriptions, UIDs, times: reporting all text is not finding PHI."""

    def greedy(ds):
        return [
            p for p, e in hl.iter_elements(ds) if e.VR not in grading.TECHNICAL_VRS and e.VR != "SQ"
        ]

    result = grade_find_phi(greedy, seed=SEED)
    assert result.recall() > 0.95 and result.precision() < grading.FULL_PRECISION
    total = sum(check_find_phi(greedy, g, seed=SEED).fraction for g in CATEGORY_GROUPS)
    assert total < 0.5 * len(CATEGORY_GROUPS)


def test_partial_answers_get_credit_in_proportion():
    result = grade_find_phi(names_only, seed=SEED)
    names = check_find_phi(names_only, "names", seed=SEED)
    recall = result.recall(CATEGORY_GROUPS["names"])
    assert 0 < recall < 1
    assert names.fraction == pytest.approx(recall, abs=0.011)
    assert "names identifiers" in names.message
    with pytest.raises(GradingError, match=r"found 0 of \d+ numbers"):
        check_find_phi(names_only, "numbers", seed=SEED)
    precision = check_find_phi_precision(names_only, seed=SEED)
    assert precision.fraction == pytest.approx(result.recall(), abs=0.011)


def test_a_90_percent_answer_gets_about_90_percent():
    """Drop one in ten planted identifiers of a perfect answer, every category alike."""
    from hipaa_lab.grading import _fresh_studies

    planted = {}
    for _, instances in _fresh_studies(SEED):
        for ds, entries in instances:
            paths = sorted({e.path for e in entries})
            planted[ds.SOPInstanceUID] = [p for i, p in enumerate(paths) if i % 10 != 3]
    credit = [
        check_find_phi(lambda ds: planted[ds.SOPInstanceUID], g, seed=SEED) for g in CATEGORY_GROUPS
    ]
    total = sum(c.fraction for c in credit) / len(credit)
    assert 0.84 <= total <= 0.96, [c.message for c in credit]


def test_reporting_exactly_the_rules_layer_gets_full_marks():
    """Staff, institution, issuer of the ID, scanner: the profile's layer, not the rule's.

    An answer that reports exactly what Safe Harbor requires (45 CFR 164.514(b)(2)) passes every
    check; one that also reports the profile's layer, or pixel data, loses nothing.
    """
    from hipaa_lab.grading import _fresh_studies
    from hipaa_lab.phi import Layer

    rule, everything_planted = {}, {}
    for _, instances in _fresh_studies(SEED):
        for ds, entries in instances:
            rule[ds.SOPInstanceUID] = [e.path for e in entries if e.layer is Layer.RULE]
            everything_planted[ds.SOPInstanceUID] = [e.path for e in entries]
    profile = {
        e.path
        for _, insts in _fresh_studies(SEED)
        for _, es in insts
        for e in es
        if e.layer is Layer.PROFILE
    }
    assert {"ReferringPhysicianName", "InstitutionName", "IssuerOfPatientID"} <= {
        grading._last(p) for p in profile
    }

    def rule_only(ds):
        return rule[ds.SOPInstanceUID]

    def with_profile(ds):
        return everything_planted[ds.SOPInstanceUID] + ["PixelData"]

    for answer in (rule_only, with_profile):
        for group in CATEGORY_GROUPS:
            assert full(check_find_phi(answer, group, seed=SEED))
        assert full(check_find_phi_precision(answer, seed=SEED))


def test_missed_identifiers_are_named_by_path_never_by_value():
    result = grade_find_phi(lambda ds: [], seed=SEED)
    with pytest.raises(GradingError) as info:
        check_find_phi(lambda ds: [], "names", seed=SEED)
    message = str(info.value)
    assert re.search(r"It missed, for example, [A-Za-z(]", message)
    assert "reported nothing" in message
    for _, entry in result.missed:
        if len(entry.value) > 4:
            assert entry.value not in message


def test_hard_coding_the_visible_study_does_not_pass():
    """Paths that are right for one study's seed fall short on another's."""
    from hipaa_lab.grading import _fresh_studies

    paths = {
        e.path for _, instances in _fresh_studies(SEED) for _, entries in instances for e in entries
    }
    other_seed = SEED + 1000
    result = grade_find_phi(lambda ds: sorted(paths), seed=other_seed)
    assert result.recall() < 1


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda ds: None, "NoneType"),
        (lambda ds: "PatientName", "list of tag paths"),
        (lambda ds: [0x00100010], "as strings"),
        (lambda ds: 1 / 0, "ZeroDivisionError"),
    ],
)
def test_broken_answers_get_a_clear_message(answer, message):
    """In a learner's kernel (Validate), a broken answer stops the check with what to fix."""
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


# ---------------------------------------------------------------- module 2: prepare() for research

M02_SEED = 4321


def _prepare_with(options, *, clean_pixels=True, fix_findings=True):
    import os

    deidentifier = hl.deid.Deidentifier(os.urandom(32), options=options)

    def prepare(ds):
        cleaned = False
        if clean_pixels and hl.deid.needs_pixel_cleaning(ds):
            result = hl.pixels.clean_burned_in(ds)
            if result.status == "failed":
                return False
            cleaned = result.status == "cleaned"
        deidentifier.deidentify(ds, pixel_cleaned=cleaned)
        for finding in hl.scan.scan_dataset(ds) if fix_findings else []:
            if finding.severity == "high" and finding.path == "PatientAge":
                ds.PatientAge = "090Y"
            elif finding.severity == "high" and finding.path:
                hl.remove_element(ds, finding.path)
        return True

    return prepare


RESEARCH = ["retain-long-modified-dates", "retain-patient-characteristics", "clean-descriptors"]
M02_CHECKS = [
    grading.check_prepared_identifiers,
    grading.check_prepared_pixels,
    grading.check_prepared_research_value,
    grading.check_prepared_marking,
]


@pytest.fixture(scope="module")
def model_prepare():
    return _prepare_with(RESEARCH)


@pytest.fixture(scope="module")
def model_run():
    """One sealed run for the model answer's checks: as the sealed autograde does for one
    submission, the four checks share one run of prepare over the fresh studies of
    ``M02_SEED`` (the first check computes it, the others score it), instead of four runs."""
    from hipaa_lab.course.sealed import SealedRun

    return SealedRun(secret=b"m" * 32, assignment="m02-deidentifying-images", digest="model")


@pytest.mark.slow
@pytest.mark.parametrize("check", M02_CHECKS, ids=lambda c: c.__name__)
def test_the_model_answer_passes_every_module_2_check(model_prepare, model_run, check):
    token = grading.SEALED.set(model_run)
    try:
        assert full(check(model_prepare, seed=M02_SEED))
    finally:
        grading.SEALED.reset(token)
    assert ("prepare", M02_SEED) in model_run.cache  # the run the other checks share


@pytest.mark.slow
def test_keeping_ages_over_89_costs_identifier_credit():
    credit = grading.check_prepared_identifiers(
        _prepare_with(RESEARCH, fix_findings=False), seed=M02_SEED
    )
    assert 0 < credit.fraction < 1
    assert "PatientAge" in credit.message


def test_leaving_burned_in_text_costs_pixel_credit():
    credit = grading.check_prepared_pixels(
        _prepare_with(RESEARCH, clean_pixels=False), seed=M02_SEED
    )
    assert 0 < credit.fraction < 1
    assert "BurnedInAnnotation YES" in credit.message or "still visible" in credit.message


@pytest.mark.parametrize("check", M02_CHECKS, ids=lambda c: c.__name__)
def test_quarantining_everything_earns_nothing(check):
    with pytest.raises(GradingError, match="nothing could be shared"):
        check(lambda ds: False, seed=M02_SEED)


@pytest.mark.parametrize("check", M02_CHECKS, ids=lambda c: c.__name__)
def test_a_study_left_as_it_was_earns_nothing(check):
    with pytest.raises(GradingError, match="nothing could be shared"):
        check(lambda ds: True, seed=M02_SEED)


def test_removing_dates_or_characteristics_costs_research_credit():
    credit = grading.check_prepared_research_value(
        _prepare_with([], clean_pixels=False), seed=M02_SEED
    )
    assert credit.fraction < 1
    assert re.search(r"PatientSex|PatientAge|StudyDate", credit.message)


def test_options_are_checked_by_name():
    grading.check_options(RESEARCH)
    with pytest.raises(GradingError, match="valid options: retain-safe-private"):
        grading.check_options(["retain-names"])
    with pytest.raises(GradingError, match="as a list"):
        grading.check_options("retain-uids")


def test_find_phi_may_not_hand_the_work_to_the_scanner():
    def lazy(ds):
        return [f.path for f in hl.scan.scan_dataset(ds) if f.path]

    with pytest.raises(GradingError, match="find PHI itself"):
        check_find_phi(lazy, "names", seed=SEED)
    assert hl.scan.scan_dataset.__name__ == "scan_dataset"  # restored afterwards


def test_validate_runs_a_function_once_for_all_its_checks():
    """In a learner's kernel the five checks share one practice run, as the autograde does."""
    calls = []

    def counting(ds):
        calls.append(1)
        return names_only(ds)

    credits = [check_find_phi(counting, g) for g in ("names",)] + [
        check_find_phi_precision(counting)
    ]
    assert all("practice studies" in c.message for c in credits)
    runs = len(calls)
    with pytest.raises(GradingError):
        check_find_phi(counting, "numbers")
    assert len(calls) == runs  # the same run, shared

    def redefined(ds):
        return names_only(ds)

    assert check_find_phi(redefined, "names").fraction > 0  # a new definition runs anew
