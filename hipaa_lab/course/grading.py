"""The checks grade cells call: one call a check, credit in proportion, learner-friendly messages.

Graded checks run the learner's function on fresh studies made at grading time, so an answer
hard-coded for the study a learner can see does not pass. Each check returns a :class:`Credit`
(the share of the cell's points earned, and one sentence saying why); a check that earns nothing
raises :class:`~hipaa_lab.errors.GradingError` (an ``AssertionError``).

Two ways to run them:

- in the sealed autograde (:mod:`hipaa_lab.course.sealed`), the learner's function is a
  :class:`~hipaa_lab.course.sandbox.SandboxFunction`: the studies' seed comes from the course
  secret and the submission (a regrade gives the same grade), the function runs once, in the
  sandbox, over one shuffled set of studies that every check of the module scores, and only plain
  data (tag paths, DICOM bytes read again here) comes back;
- in a learner's own kernel (Validate, or trying a cell), on practice studies drawn afresh each
  time, which the message says.

Nothing here writes to standard error: nbgrader scores a grade cell that does as zero.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import datetime
import io
import math
import random
import secrets
import warnings
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

from pydicom.dataset import Dataset

from hipaa_lab.course.rules import own_work
from hipaa_lab.course.sandbox import SandboxFunction
from hipaa_lab.errors import GradingError
from hipaa_lab.phi import (
    PROFILE_KEYWORDS,
    AnswerKey,
    Layer,
    Location,
    PHIEntry,
    SafeHarborCategory,
    iter_elements,
    last_keyword,
)

if TYPE_CHECKING:
    from hipaa_lab.course.checks_audit import (  # loaded on first use: see __getattr__ below
        check_find_inappropriate,
        check_find_tampered,
        log_lines,
        review_events,
        score_review,
        tamper,
    )
    from hipaa_lab.course.checks_breach import (  # loaded on first use: see __getattr__ below
        check_plan_notices,
        check_which_exclusion,
        incident_narratives,
        plot_deadlines,
        scenario_cards,
        try_plan_notices,
        try_which_exclusion,
    )
    from hipaa_lab.course.checks_safeguards import (  # loaded on first use: see __getattr__
        check_carve_dicom,
        check_verify_restore,
        damaged_backup,
        raw_image,
    )
    from hipaa_lab.course.checks_sharing import check_decide, check_link_valid
    from hipaa_lab.course.sealed import SealedRun

__all__ = [
    "ANSWER_TEXT",
    "CATEGORY_GROUPS",
    "Credit",
    "FULL_PRECISION",
    "MIN_PRECISION",
    "NOT_COUNTED",
    "PREPARE_MODALITIES",
    "PhiSearchResult",
    "SEALED",
    "ZERO_PRECISION",
    "check_access_policy",
    "check_carve_dicom",
    "check_choice",
    "check_decide",
    "check_find_inappropriate",
    "check_find_phi",
    "check_find_phi_precision",
    "check_find_tampered",
    "check_link_valid",
    "check_options",
    "check_plan_notices",
    "check_prepared_identifiers",
    "check_prepared_marking",
    "check_prepared_pixels",
    "check_prepared_research_value",
    "check_verify_restore",
    "check_which_exclusion",
    "damaged_backup",
    "dataset_bytes",
    "grade_find_phi",
    "incident_narratives",
    "kept_answer",
    "log_lines",
    "plot_deadlines",
    "precision_factor",
    "raw_image",
    "review_events",
    "scenario_cards",
    "score_review",
    "tamper",
    "try_access_policy",
    "try_plan_notices",
    "try_which_exclusion",
]

_T = TypeVar("_T")

C = SafeHarborCategory

#: The groups of Safe Harbor categories that module 1 grades one cell each.
CATEGORY_GROUPS: dict[str, frozenset[SafeHarborCategory]] = {
    "names": frozenset({C.NAMES}),
    "dates": frozenset({C.DATES}),
    "numbers": frozenset(
        {
            C.SSN,
            C.MEDICAL_RECORD,
            C.HEALTH_PLAN,
            C.ACCOUNT,
            C.LICENSE,
            C.VEHICLE,
            C.DEVICE,
            C.BIOMETRIC,
            C.OTHER,
        }
    ),
    "contact": frozenset({C.GEOGRAPHIC, C.TELEPHONE, C.FAX, C.EMAIL, C.URL, C.IP_ADDRESS}),
}

#: Value representations that hold numbers, codes or pixels: never a person's identity.
TECHNICAL_VRS = frozenset(
    {
        "AT",
        "CS",
        "DS",
        "FD",
        "FL",
        "IS",
        "OB",
        "OD",
        "OF",
        "OL",
        "OV",
        "OW",
        "SL",
        "SS",
        "SV",
        "UL",
        "US",
        "UV",
    }
)

#: Modalities of the fresh studies each check runs on.
GRADING_MODALITIES = ("CT", "MR", "CR", "DX", "US", "MG", "SC", "SR")


#: Elements whose report is never a false alarm and whose omission is never a miss: the
#: profile's layer (:data:`~hipaa_lab.phi.PROFILE_KEYWORDS`: staff, institution, equipment, which
#: the DICOM Basic Profile removes and Safe Harbor does not list, 45 CFR 164.514(b)(2)(i)), and the
#: pixel, overlay and document data, which hold PHI where it is burned in (module 2 grades pixels).
#: Module 1's checks require only the rule's layer (:attr:`~hipaa_lab.phi.Layer.RULE`).
NOT_COUNTED = PROFILE_KEYWORDS | frozenset({"PixelData", "OverlayData", "EncapsulatedDocument"})

#: Reporting precision at or above which the module-1 checks take nothing off.
FULL_PRECISION = 0.75
#: Reporting precision at or below which the module-1 checks give nothing (reporting everything).
ZERO_PRECISION = 0.5
#: The old name of :data:`FULL_PRECISION`.
MIN_PRECISION = FULL_PRECISION

#: The sealed autograde's run (:mod:`hipaa_lab.course.sealed`); ``None`` in a learner's kernel.
SEALED: contextvars.ContextVar[SealedRun | None] = contextvars.ContextVar("sealed", default=None)

PRACTICE = (
    "practice studies, drawn afresh for each new definition; your graded studies will be others"
)


@dataclass(frozen=True)
class Credit:
    """A check's result: the share of its points earned, and one short sentence saying why.

    A grade cell whose last line is a check shows this; the sealed autograde turns
    :attr:`fraction` into points. A check that earns nothing raises
    :class:`~hipaa_lab.errors.GradingError` instead, so that Validate shows it failed.
    """

    fraction: float
    message: str

    def __repr__(self) -> str:
        return f"{self.fraction:.0%} of this check's points: {self.message}"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


#: The longest text a check keeps of one answer of the learner's (no right answer is longer).
ANSWER_TEXT = 200


def kept_answer(value: object) -> object:
    """What a check keeps of one of the learner's answers: ``value`` itself when it is ``None``, a
    bool, a number or a short text, else a few words saying what it was.

    A sandboxed function's answer may be 16 MiB of JSON (``sandbox.REPLY_LIMIT``), some 400 MiB
    once parsed; a check that kept each answer of its inputs until the grade was done held
    gigabytes in the grader's process (module 6: 6 incidents and 14 cards). No right answer is
    a list or a long text: what is kept still compares unequal to every right one.

    >>> kept_answer("hipaa"), kept_answer(None), kept_answer(3)
    ('hipaa', None, 3)
    >>> kept_answer([1, 2, 3]), kept_answer("x" * 1000)
    ('<a list of 3 items>', '<a text of 1000 characters>')
    """
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value if len(value) <= ANSWER_TEXT else f"<a text of {len(value)} characters>"
    if isinstance(value, (list, tuple, dict)):
        return f"<a {type(value).__name__} of {len(value)} items>"
    return f"<a {type(value).__name__}>"


def _credit(fraction: float, message: str) -> Credit:
    """Round down to whole percent; nothing earned is an error the learner sees as failed."""
    fraction = math.floor(max(0.0, min(1.0, fraction)) * 100 + 1e-9) / 100
    if fraction <= 0:
        raise GradingError(message)
    return Credit(fraction, message)


def precision_factor(precision: float) -> float:
    """What reporting precision keeps of a module-1 check's credit.

    >>> [precision_factor(p) for p in (1.0, 0.75, 0.625, 0.5, 0.2)]
    [1.0, 1.0, 0.5, 0.0, 0.0]
    """
    span = FULL_PRECISION - ZERO_PRECISION
    return max(0.0, min(1.0, (precision - ZERO_PRECISION) / span))


@dataclass
class PhiSearchResult:
    """What a learner's ``find_phi`` found, over one shuffled set of fresh studies."""

    missed: list[tuple[str, PHIEntry]]
    """(modality, entry) for each planted header identifier not reported."""
    found: list[tuple[str, PHIEntry]]
    """(modality, entry) for each planted header identifier reported."""
    false_alarms: list[tuple[str, str, str]]
    """(modality, tag path, VR) for each technical element reported as PHI."""
    extra: list[tuple[str, str]] = field(default_factory=list)
    """(modality, tag path) for each reported element that holds no planted identifier."""
    reported: int = 0
    """How many elements (not sequences, not :data:`NOT_COUNTED`) were reported in all."""
    errors: list[tuple[str, str]] = field(default_factory=list)
    """(modality, what went wrong) for each instance on which ``find_phi`` failed."""
    practice: bool = True
    """Drawn for practice (a learner's kernel), not for the grade."""

    def precision(self) -> float:
        """The share of reported elements that hold a planted identifier (0 if none reported)."""
        return 1.0 - len(self.extra) / self.reported if self.reported else 0.0

    def recall(self, categories: Iterable[SafeHarborCategory] | None = None) -> float:
        wanted = set(categories) if categories is not None else set(SafeHarborCategory)
        hit = sum(e.category in wanted for _, e in self.found)
        total = hit + sum(e.category in wanted for _, e in self.missed)
        return hit / total if total else 1.0


def _fresh_studies(
    seed: int,
) -> tuple[tuple[str, tuple[tuple[Dataset, tuple[PHIEntry, ...]], ...]], ...]:
    """One small study per modality, PHI planted everywhere a header can hold it."""
    from hipaa_lab.studies import PHILevel, make_study

    studies = []
    for i, modality in enumerate(GRADING_MODALITIES):
        study = make_study(modality, seed=seed + i, level=PHILevel.NESTED, slices=2)
        instances = tuple(
            (inst.dataset, tuple(e for e in inst.entries if e.location is Location.HEADER))
            for inst in study.instances
        )
        studies.append((modality, instances))
    return tuple(studies)


def _grading_seed() -> int:
    """A new seed for every practice check: nothing a learner's code could look up beforehand."""
    return secrets.randbelow(2**31)


def _seed_for(function: object, purpose: str, seed: int | None) -> tuple[int, bool]:
    """(seed, practice): the sealed run's secret seed for a sandboxed function, else ``seed`` or
    a fresh one."""
    run = SEALED.get()
    if isinstance(function, SandboxFunction):
        if run is None:
            raise GradingError("a sandboxed function is graded only inside the sealed autograde")
        return run.seed(purpose), False
    return (_grading_seed() if seed is None else seed), seed is None


#: A learner's kernel: the practice run of each function, shared by the checks that score it, so
#: that Validate runs a function once, as the sealed autograde does (a new definition runs anew).
_PRACTICE: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _practice_run(function: object, purpose: str) -> Any:
    try:
        return _PRACTICE.get(function, {}).get(purpose)
    except TypeError:  # not weakly referable: no sharing
        return None


def _keep_practice_run(function: object, purpose: str, result: object) -> None:
    with contextlib.suppress(TypeError):
        _PRACTICE.setdefault(function, {})[purpose] = result


def _one_run(
    function: object, purpose: str, seed: int | None, compute: Callable[[int, bool], _T]
) -> _T:
    """``compute(seed, practice)`` once per submission (sealed) or per definition (practice),
    shared by every check that scores ``function``; an explicit ``seed`` always computes."""
    fresh = seed is None
    seed, practice = _seed_for(function, purpose, seed)
    run = SEALED.get()
    sealed = run is not None and not practice
    cached = (
        run.cache.get((purpose, seed))
        if sealed and run is not None
        else _practice_run(function, purpose)
        if fresh
        else None
    )
    if cached is not None:
        return cast(_T, cached)
    result = compute(seed, practice)
    if sealed and run is not None:
        run.cache[(purpose, seed)] = result
    elif fresh:
        _keep_practice_run(function, purpose, result)
    return result


def _shuffled(items: list[_T], seed: int) -> list[_T]:
    order = list(items)
    random.Random(seed).shuffle(order)  # noqa: S311 - an order, not a secret (the seed is one)
    return order


def dataset_bytes(ds: Dataset) -> bytes:
    """``ds`` as a DICOM file, for the sandbox to read."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _paths_from(result: object, modality: str) -> set[str]:
    if isinstance(result, (str, bytes)) or not isinstance(result, Iterable):
        raise GradingError(
            f"find_phi must return a list of tag paths (strings such as 'PatientName'); on a "
            f"{modality} study it returned {type(result).__name__}: {result!r:.80}"
        )
    paths = set()
    for item in result:
        if isinstance(item, tuple) and item and isinstance(item[0], str):
            item = item[0]  # (path, element) pairs, as hl.iter_elements yields them
        if type(item) is not str:
            raise GradingError(
                f"find_phi must return tag paths as strings; on a {modality} study it returned "
                f"an item of type {type(item).__name__}: {item!r:.80}. Use the paths that "
                "hl.iter_elements(ds) yields."
            )
        paths.add(item)
    return paths


def _reported_in_kernel(
    find_phi: Callable[[Dataset], Iterable[str]], ds: Dataset, modality: str
) -> set[str]:
    try:
        with own_work("find_phi"):
            return _paths_from(find_phi(copy.deepcopy(ds)), modality)
    except NotImplementedError:
        raise GradingError(
            "find_phi is not written yet: replace `raise NotImplementedError()`"
        ) from None
    except GradingError:
        raise
    except Exception as exc:
        raise GradingError(
            f"find_phi raised {type(exc).__name__}: {exc} on a fresh {modality} study"
        ) from exc


def _reported_in_sandbox(
    find_phi: SandboxFunction, datasets: list[tuple[str, Dataset]]
) -> list[set[str] | str]:
    """One run of the learner's function over the shuffled set: paths, or what went wrong."""
    replies = find_phi.map("paths", [dataset_bytes(ds) for _, ds in datasets])
    if replies and all(r.get("not_written") for r in replies):
        raise GradingError("find_phi is not written yet: replace `raise NotImplementedError()`")
    answers: list[set[str] | str] = []
    for (modality, _), reply in zip(datasets, replies, strict=True):
        paths = reply.get("paths")
        if isinstance(paths, list) and all(type(p) is str for p in paths):
            answers.append(set(paths))
        else:
            error = reply.get("error")
            answers.append(
                f"find_phi failed on a fresh {modality} study: {error if isinstance(error, str) else 'no answer'}"
            )
    return answers


def grade_find_phi(
    find_phi: Callable[[Dataset], Iterable[str]] | SandboxFunction, seed: int | None = None
) -> PhiSearchResult:
    """Run ``find_phi`` once on every instance of fresh studies, shuffled, and compare with their
    answer keys.

    Parameters
    ----------
    find_phi
        The learner's function: takes a :class:`pydicom.Dataset`, returns the tag paths
        (as :func:`hipaa_lab.iter_elements` spells them) of the elements that hold PHI. In the
        sealed autograde, a :class:`~hipaa_lab.course.sandbox.SandboxFunction`: then the studies'
        seed comes from the course secret and the submission, and every check of the module
        shares this one run.
    seed
        The studies' seed for a plain function; by default a new one drawn at random.
    """
    return _one_run(find_phi, "find_phi", seed, lambda s, practice: _search(find_phi, s, practice))


def _search(
    find_phi: Callable[[Dataset], Iterable[str]] | SandboxFunction, seed: int, practice: bool
) -> PhiSearchResult:
    """One run of ``find_phi`` over the shuffled fresh studies of ``seed``, scored."""
    result = PhiSearchResult([], [], [], practice=practice)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        instances = _shuffled(
            [(m, ds, entries) for m, insts in _fresh_studies(seed) for ds, entries in insts], seed
        )
        if isinstance(find_phi, SandboxFunction):
            answers = _reported_in_sandbox(find_phi, [(m, ds) for m, ds, _ in instances])
        else:
            answers = [_reported_in_kernel(find_phi, ds, m) for m, ds, _ in instances]
        for (modality, ds, entries), paths in zip(instances, answers, strict=True):
            if isinstance(paths, str):
                result.errors.append((modality, paths))
                paths = set()
            counted = [e for e in entries if e.layer is Layer.RULE]
            for entry in counted:
                (result.found if entry.path in paths else result.missed).append((modality, entry))
            planted = {e.path for e in entries}
            for path, elem in iter_elements(ds):
                if path not in paths or elem.VR == "SQ" or _last(path) in NOT_COUNTED:
                    continue
                result.reported += 1
                if path not in planted:
                    result.extra.append((modality, path))
                    if elem.VR in TECHNICAL_VRS:
                        result.false_alarms.append((modality, path, elem.VR))
    return result


def _where(entries: Sequence[tuple[str, PHIEntry]], limit: int = 6) -> str:
    lines = [
        f"  - {e.category.description.split(',')[0].lower()} in {e.path} ({m})"
        for m, e in entries[:limit]
    ]
    if len(entries) > limit:
        lines.append(f"  - ... and {len(entries) - limit} more")
    return "\n".join(lines)


def _on(result: PhiSearchResult) -> str:
    return f" (on {PRACTICE})" if result.practice else ""


def _errors_line(result: PhiSearchResult) -> str:
    if not result.errors:
        return ""
    return f" It failed on {len(result.errors)} instance(s): {result.errors[0][1]}."


def check_find_phi(
    find_phi: Callable[[Dataset], Iterable[str]] | SandboxFunction,
    group: str,
    seed: int | None = None,
) -> Credit:
    """Credit in proportion to the share of one group's identifiers ``find_phi`` reports.

    The credit is the recall in ``group``, times :func:`precision_factor` of what it reported
    overall (reporting everything finds everything and earns nothing).

    Parameters
    ----------
    find_phi
        The learner's function.
    group
        One of :data:`CATEGORY_GROUPS`: ``"names"``, ``"dates"``, ``"numbers"``, ``"contact"``.

    Raises
    ------
    GradingError
        When it earns nothing; the message names one missed tag path (never a value).
    """
    if group not in CATEGORY_GROUPS:
        raise ValueError(f"unknown group {group!r}; valid groups: {', '.join(CATEGORY_GROUPS)}")
    categories = CATEGORY_GROUPS[group]
    result = grade_find_phi(find_phi, seed)
    missed = [(m, e) for m, e in result.missed if e.category in categories]
    found = sum(e.category in categories for _, e in result.found)
    total = found + len(missed)
    recall = found / total if total else 1.0
    factor = precision_factor(result.precision())
    message = f"find_phi found {found} of {total} {group} identifiers ({recall:.0%}){_on(result)}."
    if missed:
        m, e = missed[0]
        message += f" It missed, for example, {e.path} ({m})."
    if not result.reported:
        message += " It reported nothing."
    elif factor < 1:
        message += (
            f" Only {result.precision():.0%} of what it reported holds PHI, which keeps "
            f"{factor:.0%} of the credit (all of it from {FULL_PRECISION:.0%})."
        )
    message += _errors_line(result)
    if not missed and factor == 1:
        return Credit(1.0, message)
    if missed and found == 0 and not result.errors:
        message += "\nLook inside sequences, private blocks, free text and UIDs too."
    return _credit(recall * factor, message)


def check_find_phi_precision(
    find_phi: Callable[[Dataset], Iterable[str]] | SandboxFunction, seed: int | None = None
) -> Credit:
    """Credit for reporting PHI, not everything: :func:`precision_factor` of the share of reported
    elements that hold an identifier, times the share of all identifiers found.

    Reporting everything would find every identifier, and would also destroy the image's
    usefulness once those elements are removed; reporting nothing, or one sure thing, finds too
    little to earn this credit.
    """
    result = grade_find_phi(find_phi, seed)
    precision, recall = result.precision(), result.recall()
    if not result.reported:
        raise GradingError(f"find_phi reported nothing{_on(result)}.{_errors_line(result)}")
    message = (
        f"{precision:.0%} of the elements find_phi reported hold PHI (full credit from "
        f"{FULL_PRECISION:.0%}, none at {ZERO_PRECISION:.0%} or less), and it found {recall:.0%} of "
        f"all identifiers{_on(result)}."
    )
    if result.false_alarms:
        kinds = sorted({_last(path) for _, path, _ in result.false_alarms})
        message += (
            f" It reported {len(result.false_alarms)} elements that cannot identify anyone "
            f"(numbers, codes), such as {kinds[0]}."
        )
    elif result.extra:
        common = Counter(_last(path) for _, path in result.extra).most_common(1)[0][0]
        message += f" It also reported elements that hold no PHI, such as {common}."
    fraction = precision_factor(precision) * recall
    if fraction >= 1:
        return Credit(1.0, message)
    return _credit(fraction, message + " Report what identifies a person, not everything.")


def _last(path: str) -> str:
    """The last segment of a tag path, without an item index: ``PatientID`` of ``A[0].PatientID``."""
    return last_keyword(path)


def check_choice(answer: object, options: str | Sequence[str]) -> None:
    """Check that a multiple-choice answer is one of the options (not whether it is right).

    Examples
    --------
    >>> check_choice("b", "abcd")
    >>> check_choice("e", "abcd")
    Traceback (most recent call last):
    ...
    hipaa_lab.errors.GradingError: answer 'e' is not one of the options: a, b, c, d
    """
    valid = list(options)
    if not isinstance(answer, str) or answer.strip().lower() not in valid:
        raise GradingError(
            f"answer {kept_answer(answer)!r:.60} is not one of the options: {', '.join(valid)}"
        )


# ====================================================================== module 2: de-identification


def check_options(options: object) -> None:
    """Check that ``options`` is a list of de-identification option names (not whether they fit).

    Examples
    --------
    >>> check_options(["clean-descriptors"])
    >>> check_options(["keep-names"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hipaa_lab.errors.GradingError: 'keep-names' is not an option; valid options: retain-safe-private, ...
    """
    from hipaa_lab.deid.profile import Option

    valid = [o.value for o in Option]
    if isinstance(options, str) or not isinstance(options, (list, tuple, set, frozenset)):
        raise GradingError(
            f"give the options as a list of names, such as ['clean-descriptors']; got {options!r:.60}"
        )
    for name in options:
        if name not in valid:
            raise GradingError(
                f"{kept_answer(name)!r:.60} is not an option; valid options: {', '.join(valid)}"
            )


@dataclass
class _Prepared:
    """One fresh instance before and after the learner's ``prepare``."""

    role: str  # "first" or "follow-up" study of its patient
    modality: str
    original: Dataset
    entries: tuple[PHIEntry, ...]
    result: Dataset | None  # None: the learner quarantined it, or prepare failed on it
    age_over_89: bool
    error: str | None = None
    survivors: list[str] = field(default_factory=list)
    """Identifiers (category, tag path) the scanner still finds in a kept output."""

    def output_value(self, keyword: str) -> str:
        """The kept output's value of ``keyword`` as text ("" when absent)."""
        if self.result is None or keyword not in self.result:
            return ""
        return str(self.result.get(keyword) or "")

    @property
    def has_pixel_text(self) -> bool:
        return any(e.location is Location.PIXELS for e in self.entries)

    @property
    def clean(self) -> bool:
        """Kept, and no identifier survived in it."""
        return self.result is not None and not self.survivors

    @property
    def safe(self) -> bool:
        """Handled safely: kept clean, or quarantined because its pixels hold text."""
        return self.clean or (self.result is None and self.error is None and self.has_pixel_text)


#: Modalities of the fresh studies module 2 grades on (one patient each gets two studies).
PREPARE_MODALITIES = (("CT", "MR"), ("CR", "US"), ("MG", "SC"), ("DX", "SR"))


def _old_patient_seed(seed: int) -> int:
    """The first seed at or after ``seed`` whose patient is over 89 on their study dates."""
    import datetime as dt

    from hipaa_lab.studies import make_patient

    s = seed
    while make_patient(s).age_on(dt.date(2019, 1, 1)) <= 89:
        s += 1
    return s


def _fresh_instances(seed: int) -> list[tuple[str, str, Any, Dataset, tuple[PHIEntry, ...], bool]]:
    """(role, modality, patient id, data set, entries, over 89) of every fresh instance."""
    from hipaa_lab.studies import PHILevel, make_patient, make_study

    made = []
    for i, pair in enumerate(PREPARE_MODALITIES):
        pseed = _old_patient_seed(seed + 1000 * i) if i == 0 else seed + 1000 * i
        patient = make_patient(pseed)
        for role, modality, study_seed in zip(
            ("first", "follow-up"), pair, (pseed, pseed + 1), strict=True
        ):
            study = make_study(
                modality, seed=study_seed, level=PHILevel.EVERYWHERE, patient=patient, slices=2
            )
            for inst in study.instances:
                age = patient.age_on(_date(inst.dataset.StudyDate))
                made.append((role, modality, patient, inst.dataset, tuple(inst.entries), age > 89))
    return made


def _run_in_kernel(
    prepare: Callable[[Dataset], object], original: Dataset, modality: str
) -> tuple[Dataset | None, str | None]:
    ds = copy.deepcopy(original)
    try:
        kept = prepare(ds)
    except NotImplementedError:
        raise GradingError(
            "prepare is not written yet: replace `raise NotImplementedError()`"
        ) from None
    except Exception as exc:
        return None, f"prepare raised {type(exc).__name__}: {exc} on a fresh {modality} study"
    return (None if kept is False else ds), None


#: What a changed data set may add to its input's size, in bytes: de-identifying removes and
#: replaces values and adds a few marks (a code sequence); it does not make a file grow.
OUTPUT_GROWTH = 64 * 2**10
#: The pixel elements pydicom decodes (``pixel_array``).
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
#: The longest value a kept output may hold in one element the scanner reads as text, unless its
#: input holds a longer one. The scanner runs in the grader's own process, with no time limit, for
#: each of a submission's instances: its time once grew with the square of a value's length
#: (99,000 characters of capitals, a comma and a word in one UT element: 104 s for one CT
#: instance on a loaded machine) and still grows with it, and de-identifying never lengthens one.
VALUE_FLOOR = 1024
#: What a kept output may add, in all, to the text of its input (the de-identifier's marks,
#: pseudonyms and dummy values are a few hundred characters).
TEXT_GROWTH = 16 * 2**10
#: Value representations the scanner never reads as text (:func:`hipaa_lab.deid.scan.scan_dataset`).
_UNSCANNED_VRS = frozenset(
    {"SQ", "OW", "OF", "OD", "OL", "OV", "FL", "FD", "SL", "SS", "UL", "US", "SV", "UV", "AT"}
)


def _output_limit(input_size: int) -> int:
    """The most the output of ``prepare`` on an input of ``input_size`` bytes may hold.

    The grader parses and scans every element of what the learner's code saved, in its own
    process and without a time limit: a file of millions of tiny elements (the sandbox accepts
    64 MiB) costs minutes and gigabytes each, and stops everyone's grading.
    """
    return input_size + input_size // 4 + OUTPUT_GROWTH


def _decoded_size(ds: Dataset) -> int | None:
    """The bytes ``ds.pixel_array`` would make as its header declares them (0 without pixels),
    ``None`` when the header does not say (not decoded then)."""
    if not any(k in ds for k in _PIXEL_KEYWORDS):
        return 0
    try:
        size = 1
        for keyword, default in (
            ("Rows", None),
            ("Columns", None),
            ("NumberOfFrames", 1),
            ("SamplesPerPixel", 1),
            ("BitsAllocated", None),
        ):
            value = ds.get(keyword, default)
            value = default if value in (None, "") else value
            number = int(value)  # type: ignore[arg-type]
            if number < 0:
                return None
            size *= -(-number // 8) if keyword == "BitsAllocated" else number
        return size
    except (TypeError, ValueError, OverflowError):
        return None


def _value_length(value: object) -> int:
    """The characters (or bytes) of one element's value, as the scanner reads it."""
    if isinstance(value, (str, bytes, bytearray)):
        return len(value)
    if isinstance(value, (list, tuple)):  # pydicom's MultiValue is a list
        return sum(len(str(v)) + 1 for v in value)
    return len(str(value))


def _text_sizes(ds: Dataset) -> tuple[int, int]:
    """(longest, total) length of the values of ``ds`` and its file meta that the scanner reads
    as text: every element but sequences, pixel data, overlay bitmaps and binary numbers."""
    longest = total = 0
    meta = getattr(ds, "file_meta", None)
    for part in (meta, ds):
        if part is None:
            continue
        for _path, elem in iter_elements(part):
            tag = int(elem.tag)
            if elem.VR in _UNSCANNED_VRS or tag == 0x7FE00010:
                continue
            if tag >> 16 & 0xFF00 == 0x6000 and tag & 0xFFFF == 0x3000:  # overlay data
                continue
            size = _value_length(elem.value)
            longest, total = max(longest, size), total + size
    return longest, total


def _read_back(
    reply: dict[str, Any], modality: str, original: Dataset, input_size: int
) -> tuple[Dataset | None, str | None]:
    """The learner's output, read again from its bytes: never the object their code made.

    Refused unread when it is much larger than its input; unscanned when one of its values is
    longer than any of the original's (and than :data:`VALUE_FLOOR`), or it holds more text in
    all (:data:`TEXT_GROWTH`): the scanner's time grows with the text; and
    unparsed further when its pixels would decode to more than the original's (a compressed
    image a few bytes long can declare gigabytes): the grader's time and memory are everyone's.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    if reply.get("kept") is False:
        return None, None
    data = reply.get("output")
    if reply.get("kept") is not True or not isinstance(data, bytes):
        error = reply.get("error")
        return (
            None,
            f"prepare failed on a fresh {modality} study: {error if isinstance(error, str) else 'no answer'}",
        )
    if len(data) > _output_limit(input_size):
        return (
            None,
            f"the {modality} data set prepare returned is larger than the grader accepts "
            f"({len(data)} bytes, from {input_size}): de-identifying does not make a file grow",
        )
    try:
        result = pydicom.dcmread(io.BytesIO(data))
    except (InvalidDicomError, ValueError, TypeError, EOFError, OSError) as exc:
        return (
            None,
            f"the {modality} data set prepare returned cannot be read: {type(exc).__name__}",
        )
    try:
        (longest, text), (most, had) = _text_sizes(result), _text_sizes(original)
    except Exception as exc:  # a value of the learner's bytes that pydicom cannot convert
        return (
            None,
            f"the {modality} data set prepare returned cannot be read: {type(exc).__name__}",
        )
    if longest > max(most, VALUE_FLOOR):
        return (
            None,
            f"the {modality} data set prepare returned holds a value of {longest} characters, "
            f"longer than any of the original's ({most}): de-identifying does not make a value grow",
        )
    if text > had + TEXT_GROWTH:
        return (
            None,
            f"the {modality} data set prepare returned holds more text than the grader accepts "
            f"({text} characters, from {had}): de-identifying does not add text",
        )
    declared, limit = _decoded_size(result), _decoded_size(original) or 0
    if declared is None or declared > limit:
        return (
            None,
            f"the {modality} image prepare returned declares pixels larger than the "
            "original's, or none the grader can read: keep the image's size",
        )
    return result, None


def _survivors(p: _Prepared) -> list[str]:
    """What the scanner still finds in a kept output. Module 2 grades the DICOM profile's layer
    too (the request is for the profile's de-identification): a survivor of that layer says so."""
    from hipaa_lab.deid.scan import KnownValues, scan_dataset

    if p.result is None:
        return []
    known = KnownValues.from_key(AnswerKey("fresh", 0, list(p.entries)))
    found = set()
    for f in scan_dataset(p.result, known_values=known):
        if f.severity != "high":
            continue
        layer = f.path and last_keyword(f.path) in PROFILE_KEYWORDS
        what = f.category.description.split(",")[0].lower()
        where = f.path or f.location.value
        found.add(
            f"{where} ({what}, {p.modality}{'; the DICOM profile removes it, beyond Safe Harbor' if layer else ''})"
        )
    return sorted(found)


def _prepared(
    prepare: Callable[[Dataset], object] | SandboxFunction, seed: int | None
) -> tuple[_Prepared, ...]:
    """One run of ``prepare`` over one shuffled set of fresh instances, shared by every check."""
    return _one_run(prepare, "prepare", seed, lambda s, _practice: _run_prepare(prepare, s))


def _run_prepare(
    prepare: Callable[[Dataset], object] | SandboxFunction, seed: int
) -> tuple[_Prepared, ...]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        made = _shuffled(_fresh_instances(seed), seed)
        if isinstance(prepare, SandboxFunction):
            inputs = [dataset_bytes(m[3]) for m in made]
            replies = prepare.map("dataset", inputs)
            if replies and all(r.get("not_written") for r in replies):
                raise GradingError(
                    "prepare is not written yet: replace `raise NotImplementedError()`"
                )
            results = [
                _read_back(r, m[1], m[3], len(data))
                for m, r, data in zip(made, replies, inputs, strict=True)
            ]
        else:
            results = [_run_in_kernel(prepare, m[3], m[1]) for m in made]
        done = []
        for (role, modality, _patient, original, entries, old), (out, error) in zip(
            made, results, strict=True
        ):
            p = _Prepared(role, modality, original, entries, out, old, error)
            p.survivors = _survivors(p)
            done.append(p)
    return tuple(done)


def _date(da: str) -> datetime.date:
    return datetime.date(int(da[:4]), int(da[4:6]), int(da[6:8]))


def _first_error(done: Sequence[_Prepared]) -> str:
    errors = [p.error for p in done if p.error]
    return f" prepare failed on {len(errors)} instance(s): {errors[0]}." if errors else ""


def _module2_credit(good: int, total: int, done: Sequence[_Prepared], message: str) -> Credit:
    """Credit in proportion; an answer that shares nothing de-identified earns nothing."""
    message += _first_error(done)
    if any(p.error for p in done) and all(p.result is None for p in done):
        raise GradingError(message)
    if not any(p.clean for p in done):
        raise GradingError(
            message + " No output was both kept and free of identifiers: nothing could be shared."
        )
    if good >= total:
        return Credit(1.0, message)
    return _credit(good / total if total else 0.0, message)


def check_prepared_identifiers(
    prepare: Callable[[Dataset], object] | SandboxFunction, seed: int | None = None
) -> Credit:
    """Credit for each fresh instance handled safely: kept with no identifier left (header,
    pixels, ages over 89), or quarantined because its pixels hold text.

    Each output is scanned twice: for patterns that suggest PHI (names, dates, numbers, ages
    over 89) and for the exact values planted in it, from the study's answer key. Quarantining an
    instance that could have been de-identified and shared does not count as handled.
    """
    done = _prepared(prepare, seed)
    good = sum(p.safe for p in done)
    left = [s for p in done for s in p.survivors]
    message = f"{good} of {len(done)} fresh instances were shared free of identifiers or rightly quarantined."
    if left:
        message += f" {len(left)} identifiers survived, for example {left[0]}."
    wrongly = [p for p in done if p.result is None and p.error is None and not p.has_pixel_text]
    if wrongly:
        message += (
            f" {len(wrongly)} quarantined with no burned-in text (e.g. {wrongly[0].modality}): they "
            "could have been de-identified and shared."
        )
    return _module2_credit(good, len(done), done, message)


def _pixels_ok(p: _Prepared) -> str | None:
    """What is wrong with one instance's pixels, or ``None``."""
    import numpy as np

    boxes = [e.box for e in p.entries if e.location is Location.PIXELS and e.box]
    if p.result is None:
        return None if boxes and p.error is None else "quarantined though its pixels hold no text"
    if not p.clean:
        return "an identifier survived in it"
    if "PixelData" not in p.original:
        return None
    if "PixelData" not in p.result:
        return "its pixels were removed"
    try:
        after = p.result.pixel_array
    except Exception as exc:
        return f"its pixels cannot be read ({type(exc).__name__})"
    if not boxes:
        same = after.shape == p.original.pixel_array.shape and np.array_equal(
            after, p.original.pixel_array
        )
        return None if same else "its pixels changed though they hold no text"
    if str(p.result.get("BurnedInAnnotation", "")).upper() != "NO":
        return "it still says BurnedInAnnotation YES (hl.pixels.clean_burned_in sets NO once the text is gone)"
    if after.shape != p.original.pixel_array.shape:
        return "its image size changed"
    for x, y, w, h in boxes:
        region = after[y : y + h, x : x + w]
        if region.size and region.std() > 0:
            return f"burned-in text is still visible at x={x}, y={y}"
    return None


def check_prepared_pixels(
    prepare: Callable[[Dataset], object] | SandboxFunction, seed: int | None = None
) -> Credit:
    """Credit for each image handled right: burned-in text blanked (or the image quarantined),
    images without text shared untouched."""
    done = _prepared(prepare, seed)
    images = [p for p in done if "PixelData" in p.original]
    problems = [(p, _pixels_ok(p)) for p in images]
    wrong = [(p, why) for p, why in problems if why]
    message = f"{len(images) - len(wrong)} of {len(images)} fresh images were handled right."
    if wrong:
        message += f" A {wrong[0][0].modality} image: {wrong[0][1]}."
    return _module2_credit(len(images) - len(wrong), len(images), done, message)


def check_prepared_research_value(
    prepare: Callable[[Dataset], object] | SandboxFunction, seed: int | None = None
) -> Credit:
    """Credit for what the researchers asked for, patient by patient: sex, age (or 90 or older),
    one pseudonymous PatientID shared by the patient's studies, and the interval between them
    kept with shifted dates. Only outputs free of identifiers count."""
    done = _prepared(prepare, seed)
    by_patient: dict[str, list[_Prepared]] = {}
    for p in done:
        by_patient.setdefault(str(p.original.PatientID), []).append(p)
    met, total, why = 0, 0, []
    for prepared in by_patient.values():
        kept = [p for p in prepared if p.clean]
        checks = _research_checks(prepared, kept)
        total += len(checks)
        met += sum(ok for ok, _ in checks)
        why += [reason for ok, reason in checks if not ok]
    message = f"{met} of {total} things the researchers need survived in the shared outputs."
    if why:
        message += f" For example: {why[0]}."
    return _module2_credit(met, total, done, message)


def _research_checks(prepared: list[_Prepared], kept: list[_Prepared]) -> list[tuple[bool, str]]:
    """(met, why not) for sex, age, linkage and intervals of one patient's outputs."""
    if not kept:
        return [(False, "none of a patient's studies was shared free of identifiers")] * 4
    sex = all(
        p.output_value("PatientSex") == str(p.original.PatientSex)
        for p in kept
        if "PatientSex" in p.original
    )
    age = all(
        p.output_value("PatientAge") == ("090Y" if p.age_over_89 else str(p.original.PatientAge))
        for p in kept
        if "PatientAge" in p.original
    )
    ids = {p.output_value("PatientID") for p in kept}
    linked = len(ids) == 1 and "" not in ids and str(prepared[0].original.PatientID) not in ids
    first = [p for p in kept if p.role == "first"]
    follow = [p for p in kept if p.role == "follow-up"]
    interval, why = True, ""
    if first and follow:
        before = (_date(follow[0].original.StudyDate) - _date(first[0].original.StudyDate)).days
        dates = [p.output_value("StudyDate") for p in (first[0], follow[0])]
        if not all(len(d) == 8 and d.isdigit() for d in dates):
            interval, why = False, "StudyDate was removed: the researchers need the intervals"
        elif (_date(dates[1]) - _date(dates[0])).days != before:
            interval, why = False, "the interval between a patient's studies changed"
        elif dates[0] == str(first[0].original.StudyDate):
            interval, why = False, "StudyDate is the original date: shift dates, keep the intervals"
    return [
        (sex, "PatientSex was lost; the researchers need it"),
        (age, "PatientAge was lost (or an age over 89 was not made 090Y)"),
        (linked, "a patient's studies must share one pseudonymous PatientID, not the original"),
        (interval, why),
    ]


def check_prepared_marking(
    prepare: Callable[[Dataset], object] | SandboxFunction, seed: int | None = None
) -> Credit:
    """Credit for each shared output that says it is de-identified, and how
    (PatientIdentityRemoved YES, CID 7050 codes)."""
    done = _prepared(prepare, seed)
    shared = [p for p in done if p.result is not None or not p.has_pixel_text]
    wanted = [
        ("113100", "Basic Application Confidentiality Profile"),
        ("113107", "Retain Longitudinal Temporal Information Modified Dates"),
        ("113108", "Retain Patient Characteristics"),
    ]
    good, why = 0, ""
    for p in shared:
        if not p.clean:
            why = why or f"a {p.modality} output was not shared free of identifiers"
            continue
        assert p.result is not None
        codes = {
            str(item.get("CodeValue", ""))
            for item in p.result.get("DeidentificationMethodCodeSequence", [])
        }
        missing = [f"{c} ({m})" for c, m in wanted if c not in codes]
        if p.result.get("PatientIdentityRemoved") != "YES":
            why = why or f"a {p.modality} output lacks PatientIdentityRemoved YES"
        elif missing:
            why = (
                why
                or f"a {p.modality} output's DeidentificationMethodCodeSequence lacks {missing[0]}"
            )
        else:
            good += 1
    message = f"{good} of {len(shared)} shared outputs say how they were de-identified."
    if why:
        message += f" For example, {why}."
    return _module2_credit(good, len(shared), done, message)


# ====================================================================== module 3: access policy

# module 3's checks live in their own module; grade cells reach them here, as hl.grading.<name>
from hipaa_lab.course.checks_access import (  # noqa: E402 - it imports this module's names lazily
    check_access_policy,
    try_access_policy,
)

# Module 4's checks live in their own module, which builds on this one's Credit and runs: they
# load on first use (PEP 562), so that either module can be imported first, and grade cells call
# them as hl.grading.check_... like every other check.
_AUDIT_NAMES = frozenset(
    {
        "check_find_inappropriate",
        "check_find_tampered",
        "log_lines",
        "review_events",
        "score_review",
        "tamper",
    }
)

# module 5's checks, loaded on first use as module 4's are
_SAFEGUARD_NAMES = frozenset(
    {"check_carve_dicom", "check_verify_restore", "damaged_backup", "raw_image"}
)

# module 6's checks, the same way
_BREACH_NAMES = frozenset(
    {
        "check_plan_notices",
        "check_which_exclusion",
        "incident_narratives",
        "plot_deadlines",
        "scenario_cards",
        "try_plan_notices",
        "try_which_exclusion",
    }
)

_SHARING_NAMES = frozenset({"check_decide", "check_link_valid"})  # module 7's, likewise


#: Which module holds each check that loads on first use.
_LAZY = {
    **dict.fromkeys(_AUDIT_NAMES, "checks_audit"),
    **dict.fromkeys(_SAFEGUARD_NAMES, "checks_safeguards"),
    **dict.fromkeys(_BREACH_NAMES, "checks_breach"),
    **dict.fromkeys(_SHARING_NAMES, "checks_sharing"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"hipaa_lab.course.{module}"), name)
