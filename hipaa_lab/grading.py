"""Checks that notebooks' grade cells call: one call a check, learner-friendly messages.

Graded checks run the learner's code on fresh studies made at grading time, so an answer
hard-coded for the study a learner can see does not pass. A failed check raises
:class:`~hipaa_lab.errors.GradingError` (an ``AssertionError``), which nbgrader scores as zero
for that cell; the message tells the learner what to fix.

Nothing here writes to standard error: nbgrader scores a grade cell that does as zero.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import re
import secrets
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NoReturn

from pydicom.dataset import Dataset

from hipaa_lab.errors import GradingError
from hipaa_lab.phi import AnswerKey, Location, PHIEntry, SafeHarborCategory, iter_elements

__all__ = [
    "CATEGORY_GROUPS",
    "MIN_PRECISION",
    "PREPARE_MODALITIES",
    "PhiSearchResult",
    "check_choice",
    "check_find_phi",
    "check_find_phi_precision",
    "check_options",
    "check_prepared_identifiers",
    "check_prepared_marking",
    "check_prepared_pixels",
    "check_prepared_research_value",
    "grade_find_phi",
]

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


@dataclass
class PhiSearchResult:
    """What a learner's ``find_phi`` found, over a set of fresh studies."""

    missed: list[tuple[str, PHIEntry]]
    """(modality, entry) for each planted header identifier not reported."""
    found: list[tuple[str, PHIEntry]]
    """(modality, entry) for each planted header identifier reported."""
    false_alarms: list[tuple[str, str, str]]
    """(modality, tag path, VR) for each technical element reported as PHI."""
    extra: list[tuple[str, str]] = field(default_factory=list)
    """(modality, tag path) for each reported element that holds no planted identifier."""
    reported: int = 0
    """How many elements (not sequences) were reported in all."""

    def precision(self) -> float:
        """The share of reported elements that hold a planted identifier."""
        return 1.0 - len(self.extra) / self.reported if self.reported else 1.0

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
    """A new seed for every check: nothing a learner's code could look up beforehand."""
    return secrets.randbelow(2**31)


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
        if not isinstance(item, str):
            raise GradingError(
                f"find_phi must return tag paths as strings; on a {modality} study it returned "
                f"an item of type {type(item).__name__}: {item!r:.80}. Use the paths that "
                "hl.iter_elements(ds) yields."
            )
        paths.add(item)
    return paths


@contextlib.contextmanager
def _own_work_only() -> Iterator[None]:
    """While a learner's find_phi runs, hipaa-lab's own PHI finders refuse to do the work."""
    from hipaa_lab import deid
    from hipaa_lab.deid import scan

    def refuse(*args: object, **kwargs: object) -> NoReturn:
        raise GradingError("find_phi must find PHI itself: it may not call hl.scan or hl.deid")

    # replacing a method for the duration is the point here, which mypy cannot know
    saved = scan.scan_dataset, scan.find_patterns, deid.Deidentifier.deidentify
    scan.scan_dataset = scan.find_patterns = refuse
    deid.Deidentifier.deidentify = refuse  # type: ignore[method-assign]
    try:
        yield
    finally:
        scan.scan_dataset, scan.find_patterns = saved[:2]
        deid.Deidentifier.deidentify = saved[2]  # type: ignore[method-assign]


def grade_find_phi(
    find_phi: Callable[[Dataset], Iterable[str]], seed: int | None = None
) -> PhiSearchResult:
    """Run ``find_phi`` on every instance of fresh studies and compare with their answer keys.

    Parameters
    ----------
    find_phi
        The learner's function: takes a :class:`pydicom.Dataset`, returns the tag paths
        (as :func:`hipaa_lab.iter_elements` spells them) of the elements that hold PHI.
    seed
        The studies' seed; by default a new one drawn at random.
    """
    seed = _grading_seed() if seed is None else seed
    result = PhiSearchResult([], [], [])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for modality, instances in _fresh_studies(seed):
            for ds, entries in instances:
                try:
                    with _own_work_only():
                        reported = find_phi(copy.deepcopy(ds))
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
                paths = _paths_from(reported, modality)
                for entry in entries:
                    (result.found if entry.path in paths else result.missed).append(
                        (modality, entry)
                    )
                planted = {e.path for e in entries}
                for path, elem in iter_elements(ds):
                    if path not in paths or elem.VR == "SQ":
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


def check_find_phi(
    find_phi: Callable[[Dataset], Iterable[str]], group: str, seed: int | None = None
) -> None:
    """Check that ``find_phi`` reports every identifier of one group on fresh studies.

    Parameters
    ----------
    find_phi
        The learner's function.
    group
        One of :data:`CATEGORY_GROUPS`: ``"names"``, ``"dates"``, ``"numbers"``, ``"contact"``.

    Raises
    ------
    GradingError
        Listing (by tag path, never by value) the identifiers it missed.
    """
    if group not in CATEGORY_GROUPS:
        raise ValueError(f"unknown group {group!r}; valid groups: {', '.join(CATEGORY_GROUPS)}")
    categories = CATEGORY_GROUPS[group]
    result = grade_find_phi(find_phi, seed)
    missed = [(m, e) for m, e in result.missed if e.category in categories]
    if missed:
        found = sum(e.category in categories for _, e in result.found)
        raise GradingError(
            f"find_phi found {found} of {found + len(missed)} {group} identifiers planted in fresh "
            f"studies. It missed, for example:\n{_where(missed)}\n"
            "Look inside sequences, private blocks, free text and UIDs too."
        )


#: The least share of reported elements that must hold a planted identifier.
MIN_PRECISION = 0.75


def check_find_phi_precision(
    find_phi: Callable[[Dataset], Iterable[str]], seed: int | None = None
) -> None:
    """Check that ``find_phi`` reports PHI, not everything: no technical element, few others.

    Reporting everything would find every identifier, and would also destroy the image's
    usefulness once those elements are removed. A technical element (a number, code or pixels)
    is never PHI; of all reported elements, at least :data:`MIN_PRECISION` must hold a planted
    identifier.
    """
    result = grade_find_phi(find_phi, seed)
    if result.false_alarms:
        kinds = sorted({_last(path) for _, path, _ in result.false_alarms})
        raise GradingError(
            f"find_phi reported {len(result.false_alarms)} elements that cannot identify anyone "
            f"(numbers, codes or pixels), such as: {', '.join(kinds[:8])}. Report only elements "
            "that hold one of the 18 Safe Harbor identifiers."
        )
    if result.precision() < MIN_PRECISION:
        common = Counter(_last(path) for _, path in result.extra).most_common(8)
        raise GradingError(
            f"only {result.precision():.0%} of the elements find_phi reported hold PHI (at least "
            f"{MIN_PRECISION:.0%} must). It also reported, for example: "
            f"{', '.join(name for name, _ in common)}. Report what identifies a person, not everything."
        )


def _last(path: str) -> str:
    """The last segment of a tag path, without an item index: ``PatientID`` of ``A[0].PatientID``."""
    return re.sub(r"\[\d+\]$", "", re.split(r"\.(?=[A-Z(])", path)[-1])


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
        raise GradingError(f"answer {answer!r} is not one of the options: {', '.join(valid)}")


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
            raise GradingError(f"{name!r} is not an option; valid options: {', '.join(valid)}")


@dataclass
class _Prepared:
    """One fresh instance before and after the learner's ``prepare``."""

    role: str  # "first" or "follow-up" study of its patient
    modality: str
    original: Dataset
    entries: tuple[PHIEntry, ...]
    result: Dataset | None  # None: the learner quarantined it
    age_over_89: bool

    @property
    def output(self) -> Dataset:
        """The kept output; only :func:`_kept` instances are asked, and those have one."""
        if self.result is None:
            raise GradingError(f"a {self.modality} study was quarantined")
        return self.result


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


def _prepared(prepare: Callable[[Dataset], object], seed: int) -> tuple[_Prepared, ...]:
    from hipaa_lab.studies import PHILevel, make_patient, make_study

    done = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
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
                    original = inst.dataset
                    ds = copy.deepcopy(original)
                    try:
                        kept = prepare(ds)
                    except NotImplementedError:
                        raise GradingError(
                            "prepare is not written yet: replace `raise NotImplementedError()`"
                        ) from None
                    except Exception as exc:
                        raise GradingError(
                            f"prepare raised {type(exc).__name__}: {exc} on a fresh {modality} study"
                        ) from exc
                    age = patient.age_on(_date(original.StudyDate))
                    done.append(
                        _Prepared(
                            role,
                            modality,
                            original,
                            tuple(inst.entries),
                            None if kept is False else ds,
                            age > 89,
                        )
                    )
    return tuple(done)


def _date(da: str) -> datetime.date:
    return datetime.date(int(da[:4]), int(da[4:6]), int(da[6:8]))


def _prepared_for(prepare: Callable[[Dataset], object], seed: int | None) -> tuple[_Prepared, ...]:
    return _prepared(prepare, _grading_seed() if seed is None else seed)


def _kept(prepare: Callable[[Dataset], object], seed: int | None) -> list[_Prepared]:
    """The outputs ``prepare`` kept; quarantining a study that could be shared is a failure."""
    done = _prepared_for(prepare, seed)
    for p in done:
        if p.result is None and not any(e.location is Location.PIXELS for e in p.entries):
            raise GradingError(
                f"prepare quarantined a {p.modality} study with no burned-in text: it could have been "
                "de-identified and shared. Return False only when hl.pixels.clean_burned_in failed."
            )
    return [p for p in done if p.result is not None]


def check_prepared_identifiers(
    prepare: Callable[[Dataset], object], seed: int | None = None
) -> None:
    """Check that no identifier survives ``prepare`` on fresh studies: header, pixels, ages over 89.

    Each output is scanned twice: for patterns that suggest PHI (names, dates, numbers, ages
    over 89) and for the exact values planted in it, from the study's answer key.
    """
    from hipaa_lab.deid.scan import KnownValues, scan_dataset

    problems = []
    for p in _kept(prepare, seed):
        known = KnownValues.from_key(AnswerKey("fresh", 0, list(p.entries)))
        for finding in scan_dataset(p.output, known_values=known):
            if finding.severity == "high":
                problems.append(
                    f"  - {finding.path or finding.location.value}: {finding.category.description.split(',')[0].lower()} ({p.modality}, {finding.rule})"
                )
    if problems:
        shown = sorted(set(problems))
        raise GradingError(
            f"{len(problems)} identifiers survived prepare on fresh studies, for example:\n"
            + "\n".join(shown[:8])
            + "\nScan what the de-identifier leaves (hl.scan.scan_dataset) and fix it."
        )


def check_prepared_pixels(prepare: Callable[[Dataset], object], seed: int | None = None) -> None:
    """Check that text burned into fresh images is blanked, and images without text are untouched."""
    import numpy as np

    for p in _prepared_for(prepare, seed):
        boxes = [e.box for e in p.entries if e.location is Location.PIXELS and e.box]
        if p.result is None:
            if not boxes:
                raise GradingError(
                    f"prepare quarantined a {p.modality} image that has no burned-in text"
                )
            continue
        if "PixelData" not in p.original:
            continue
        after = p.result.pixel_array
        if not boxes:
            if not np.array_equal(after, p.original.pixel_array):
                raise GradingError(
                    f"prepare changed the pixels of a {p.modality} image that has no burned-in text"
                )
            continue
        if str(p.result.get("BurnedInAnnotation", "")).upper() != "NO":
            raise GradingError(
                f"a {p.modality} image still says BurnedInAnnotation YES: clean its pixels with "
                "hl.pixels.clean_burned_in(ds), which sets NO once the text is gone"
            )
        for x, y, w, h in boxes:
            region = after[y : y + h, x : x + w]
            if region.size and region.std() > 0:
                raise GradingError(
                    f"text burned into a {p.modality} image is still visible at x={x}, y={y}"
                )


def check_prepared_research_value(
    prepare: Callable[[Dataset], object], seed: int | None = None
) -> None:
    """Check that what the researchers asked for survives: sex, age, intervals, linkable pseudonyms."""
    by_patient: dict[str, list[_Prepared]] = {}
    for p in _kept(prepare, seed):
        ds, orig = p.output, p.original
        if "PatientSex" in orig and ds.get("PatientSex") != orig.PatientSex:
            raise GradingError(
                f"PatientSex was lost on a {p.modality} study; the researchers need it"
            )
        if "PatientAge" in orig and not p.age_over_89 and ds.get("PatientAge") != orig.PatientAge:
            raise GradingError(
                f"PatientAge was lost on a {p.modality} study; the researchers need it"
            )
        by_patient.setdefault(str(orig.PatientID), []).append(p)
    for prepared in by_patient.values():
        ids = {str(p.output.get("PatientID", "")) for p in prepared}
        if len(ids) != 1 or "" in ids or str(prepared[0].original.PatientID) in ids:
            raise GradingError(
                "the studies of one patient must share one pseudonymous PatientID (not the original), "
                "so researchers can link follow-ups"
            )
        first = [p for p in prepared if p.role == "first"]
        follow = [p for p in prepared if p.role == "follow-up"]
        if first and follow:
            before = (_date(follow[0].original.StudyDate) - _date(first[0].original.StudyDate)).days
            dates = [str(p.output.get("StudyDate", "") or "") for p in (first[0], follow[0])]
            if not all(len(d) == 8 for d in dates):
                raise GradingError(
                    "StudyDate was removed: the researchers need the intervals between studies"
                )
            after = (_date(dates[1]) - _date(dates[0])).days
            if after != before:
                raise GradingError(
                    f"the interval between a patient's studies changed from {before} to {after} days"
                )
            if dates[0] == str(first[0].original.StudyDate):
                raise GradingError(
                    "StudyDate is the original date: shift dates, keep only the intervals"
                )


def check_prepared_marking(prepare: Callable[[Dataset], object], seed: int | None = None) -> None:
    """Check that outputs say they are de-identified, and how (PatientIdentityRemoved, CID 7050 codes)."""
    for p in _kept(prepare, seed):
        ds = p.output
        if ds.get("PatientIdentityRemoved") != "YES":
            raise GradingError(f"a {p.modality} output lacks PatientIdentityRemoved YES")
        codes = {item.CodeValue for item in ds.get("DeidentificationMethodCodeSequence", [])}
        for code, meaning in [
            ("113100", "Basic Application Confidentiality Profile"),
            ("113107", "Retain Longitudinal Temporal Information Modified Dates"),
            ("113108", "Retain Patient Characteristics"),
        ]:
            if code not in codes:
                raise GradingError(
                    f"a {p.modality} output's DeidentificationMethodCodeSequence lacks {code} ({meaning})"
                )
