"""Checks that notebooks' grade cells call: one call a check, learner-friendly messages.

Graded checks run the learner's code on fresh studies made at grading time, so an answer
hard-coded for the study a learner can see does not pass. A failed check raises
:class:`~hipaa_lab.errors.GradingError` (an ``AssertionError``), which nbgrader scores as zero
for that cell; the message tells the learner what to fix.

Nothing here writes to standard error: nbgrader scores a grade cell that does as zero.
"""

from __future__ import annotations

import functools
import secrets
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from pydicom.dataset import Dataset

from hipaa_lab.errors import GradingError
from hipaa_lab.phi import Location, PHIEntry, SafeHarborCategory, iter_elements

__all__ = [
    "CATEGORY_GROUPS",
    "PhiSearchResult",
    "check_choice",
    "check_find_phi",
    "check_find_phi_precision",
    "grade_find_phi",
]

C = SafeHarborCategory

#: The groups of Safe Harbor categories that module 1 grades one cell each.
CATEGORY_GROUPS: dict[str, frozenset[SafeHarborCategory]] = {
    "names": frozenset({C.NAMES}),
    "dates": frozenset({C.DATES}),
    "numbers": frozenset({
        C.SSN, C.MEDICAL_RECORD, C.HEALTH_PLAN, C.ACCOUNT, C.LICENSE, C.VEHICLE, C.DEVICE,
        C.BIOMETRIC, C.OTHER,
    }),
    "contact": frozenset({C.GEOGRAPHIC, C.TELEPHONE, C.FAX, C.EMAIL, C.URL, C.IP_ADDRESS}),
}

#: Value representations that hold numbers, codes or pixels: never a person's identity.
TECHNICAL_VRS = frozenset({
    "AT", "CS", "DS", "FD", "FL", "IS", "OB", "OD", "OF", "OL", "OV", "OW", "SL", "SS", "SV",
    "UL", "US", "UV",
})

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

    def recall(self, categories: Iterable[SafeHarborCategory] | None = None) -> float:
        wanted = set(categories) if categories is not None else set(SafeHarborCategory)
        hit = sum(e.category in wanted for _, e in self.found)
        total = hit + sum(e.category in wanted for _, e in self.missed)
        return hit / total if total else 1.0


@functools.lru_cache(maxsize=4)
def _fresh_studies(seed: int) -> tuple[tuple[str, tuple[tuple[Dataset, tuple[PHIEntry, ...]], ...]], ...]:
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


@functools.cache
def _grading_seed() -> int:
    """A seed drawn once per grading run, so every grade cell sees the same fresh studies."""
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


def grade_find_phi(find_phi: Callable[[Dataset], Iterable[str]], seed: int | None = None) -> PhiSearchResult:
    """Run ``find_phi`` on every instance of fresh studies and compare with their answer keys.

    Parameters
    ----------
    find_phi
        The learner's function: takes a :class:`pydicom.Dataset`, returns the tag paths
        (as :func:`hipaa_lab.iter_elements` spells them) of the elements that hold PHI.
    seed
        The studies' seed; by default one drawn at random once per grading run.
    """
    seed = _grading_seed() if seed is None else seed
    result = PhiSearchResult([], [], [])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for modality, instances in _fresh_studies(seed):
            for ds, entries in instances:
                try:
                    reported = find_phi(ds.copy())
                except NotImplementedError:
                    raise GradingError("find_phi is not written yet: replace `raise NotImplementedError()`") from None
                except Exception as exc:
                    raise GradingError(
                        f"find_phi raised {type(exc).__name__}: {exc} on a fresh {modality} study"
                    ) from exc
                paths = _paths_from(reported, modality)
                for entry in entries:
                    (result.found if entry.path in paths else result.missed).append((modality, entry))
                planted = {e.path for e in entries}
                for path, elem in iter_elements(ds):
                    if path in paths and path not in planted and elem.VR in TECHNICAL_VRS:
                        result.false_alarms.append((modality, path, elem.VR))
    return result


def _where(entries: Sequence[tuple[str, PHIEntry]], limit: int = 6) -> str:
    lines = [f"  - {e.category.description.split(',')[0].lower()} in {e.path} ({m})" for m, e in entries[:limit]]
    if len(entries) > limit:
        lines.append(f"  - ... and {len(entries) - limit} more")
    return "\n".join(lines)


def check_find_phi(find_phi: Callable[[Dataset], Iterable[str]], group: str, seed: int | None = None) -> None:
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


def check_find_phi_precision(find_phi: Callable[[Dataset], Iterable[str]], seed: int | None = None) -> None:
    """Check that ``find_phi`` does not report technical elements (numbers, codes, pixels) as PHI.

    Reporting everything would find every identifier, and would also destroy the image's
    usefulness once those elements are removed.
    """
    result = grade_find_phi(find_phi, seed)
    if result.false_alarms:
        kinds = sorted({path.rsplit(".", 1)[-1] for _, path, _ in result.false_alarms})
        raise GradingError(
            f"find_phi reported {len(result.false_alarms)} elements that cannot identify anyone "
            f"(numbers, codes or pixels), such as: {', '.join(kinds[:8])}. Report only elements "
            "that hold one of the 18 Safe Harbor identifiers."
        )


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
