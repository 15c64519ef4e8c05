"""Module 7's checks: the request desk, and links that expire.

Both run the learner's function on **fresh inputs made at grading time** (from the sealed run's
secret seed, or a new seed drawn for practice in a learner's kernel), never on the cards or
links the notebook shows, so answers copied from the visible examples do not pass. What crosses to
the learner's function is plain data, one call per card or link.

- :func:`check_decide`: ``decide(request)`` returns ``{"allowed", "basis", "minimum_necessary",
  "due"}`` for each of :data:`DECK_PER_KIND` fresh cards of every kind
  (:func:`~hipaa_lab.safeguards.sharing.request_cards`). A card counts when all four fields match
  the reference (:func:`~hipaa_lab.safeguards.sharing.decide_request`). Credit is the share of
  the cards that should be allowed which are decided right, times the share of those that
  should be refused which are decided right: allowing everything, or nothing, earns nothing.
- :func:`check_link_valid`: ``link_valid(link, user, now, key)`` returns whether ``user`` may
  open ``link`` at ``now``, on :data:`LINK_CASES` fresh cases
  (:func:`~hipaa_lab.safeguards.sharing.link_cases`); credit is the share of valid links accepted
  times the share of invalid ones refused.

While either function runs, the package's own answers refuse
(:func:`~hipaa_lab.safeguards.sharing.refusing`, applied through
:func:`~hipaa_lab.course.checks_audit.own_work`, here and in the sandbox's harness).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hipaa_lab.course.grading import (
    PRACTICE,
    Credit,
    _credit,
    _one_run,
    kept_answer,
)
from hipaa_lab.course.rules import call_learner
from hipaa_lab.course.sandbox import SandboxFunction
from hipaa_lab.errors import GradingError
from hipaa_lab.safeguards.sharing import (
    Basis,
    decide_request,
    link_cases,
    request_cards,
    verify_link,
)

__all__ = [
    "DECK_PER_KIND",
    "DeskResult",
    "LINK_CASES",
    "LinkResult",
    "SEED_PURPOSE_DESK",
    "SEED_PURPOSE_LINKS",
    "check_decide",
    "check_link_valid",
    "grade_decide",
    "grade_link_valid",
]

#: How many fresh cards of each kind ``decide`` is graded on.
DECK_PER_KIND = 2
#: How many fresh cases ``link_valid`` is graded on.
LINK_CASES = 21
#: The course's seed purposes for module 7's fresh inputs.
SEED_PURPOSE_DESK = "request-desk"
SEED_PURPOSE_LINKS = "expiring-links"

_FIELDS = ("allowed", "basis", "minimum_necessary", "due")
_HINTS = {
    "allowed": "whether it may be done at all",
    "basis": "the basis (one of " + ", ".join(b.value for b in Basis) + ")",
    "minimum_necessary": "whether minimum necessary applies (45 CFR 164.502(b)(2) lists the exceptions)",
    "due": "the due date (the rule's deadline from receipt, 164.524(b)(2); None where the rule sets none)",
}


def _normal(returned: object) -> dict[str, Any] | str:
    """The learner's decision, its fields normalised, or what is wrong with it."""
    if not isinstance(returned, Mapping):
        return f"decide must return a dict with {', '.join(_FIELDS)}; it returned {type(returned).__name__}"
    missing = [f for f in _FIELDS if f not in returned]
    if missing:
        return f"decide's dict has no {', '.join(missing)}"
    basis = kept_answer(returned["basis"])  # never the whole of a huge answer: see kept_answer
    due = kept_answer(returned["due"])
    return {
        "allowed": returned["allowed"] is True,
        "basis": basis.strip().lower() if isinstance(basis, str) else basis,
        "minimum_necessary": returned["minimum_necessary"] is True,
        "due": due.strip() if isinstance(due, str) else due,
    }


@dataclass
class DeskResult:
    """How ``decide`` did on one fresh deck."""

    expected: list[dict[str, Any]]
    got: list[dict[str, Any] | str]
    cards: list[dict[str, Any]]
    practice: bool = True
    wrong_fields: list[list[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.wrong_fields = [
            list(_FIELDS) if isinstance(g, str) else [f for f in _FIELDS if g[f] != e[f]]
            for e, g in zip(self.expected, self.got, strict=True)
        ]

    def share(self, allowed: bool) -> float:
        """The share of the cards whose reference decision is ``allowed`` decided right."""
        mine = [
            w
            for e, w in zip(self.expected, self.wrong_fields, strict=True)
            if e["allowed"] is allowed
        ]
        return sum(not w for w in mine) / len(mine) if mine else 1.0

    def fraction(self) -> float:
        return self.share(True) * self.share(False)


def grade_decide(
    function: Callable[..., Any] | SandboxFunction, seed: int | None = None
) -> DeskResult:
    """Run ``decide`` on a fresh deck (:data:`DECK_PER_KIND` cards of every kind)."""

    def compute(deck_seed: int, practice: bool) -> DeskResult:
        cards = request_cards(deck_seed, per_kind=DECK_PER_KIND)
        expected = [decide_request(c) for c in cards]  # before the learner's code runs
        got: list[dict[str, Any] | str] = []
        for card in cards:
            try:
                got.append(_normal(call_learner(function, "decide", card)))
            except GradingError as exc:
                if "not written" in str(exc):
                    raise
                got.append(str(exc))
        return DeskResult(expected, got, cards, practice)

    return _one_run(function, SEED_PURPOSE_DESK, seed, compute)


def check_decide(function: Callable[..., Any] | SandboxFunction, seed: int | None = None) -> Credit:
    """Credit for the fresh request cards ``decide`` decides as the Privacy Rule does.

    The share of should-allow cards decided right (all four fields) times the share of
    should-refuse cards decided right.

    Raises
    ------
    GradingError
        When it earns nothing; the message names the cards' senders and the wrong fields, never
        the right values.
    """
    result = grade_decide(function, seed)
    on = f" (on {PRACTICE.replace('studies', 'request cards')})" if result.practice else ""
    right = sum(not w for w in result.wrong_fields)
    n = len(result.cards)
    message = f"decide got {right} of {n} fresh request cards right{on}."
    shown = 0
    for card, wrong, got in zip(result.cards, result.wrong_fields, result.got, strict=True):
        if not wrong or shown == 3:
            continue
        shown += 1
        papers = [k for k, v in card.items() if v is True] or ["none"]
        what = got if isinstance(got, str) else "check " + "; ".join(_HINTS[f] for f in wrong)
        message += f"\n  - from a {card['from']} for {card['purpose']} (papers: {', '.join(papers)}): {what}"
    return _credit(result.fraction(), message) if right < n else Credit(1.0, message)


# --------------------------------------------------------------------------- links


@dataclass
class LinkResult:
    """How ``link_valid`` did on fresh cases."""

    cases: list[dict[str, Any]]
    answers: list[bool | str]
    practice: bool = True

    def share(self, valid: bool) -> float:
        mine = [a for c, a in zip(self.cases, self.answers, strict=True) if c["valid"] is valid]
        return sum(a is valid for a in mine) / len(mine) if mine else 1.0

    def fraction(self) -> float:
        return self.share(True) * self.share(False)


def grade_link_valid(
    function: Callable[..., Any] | SandboxFunction, seed: int | None = None
) -> LinkResult:
    """Run ``link_valid`` on :data:`LINK_CASES` fresh cases."""

    def compute(run_seed: int, practice: bool) -> LinkResult:
        cases = link_cases(run_seed, LINK_CASES)
        expected = [verify_link(c["link"], c["user"], c["now"], c["key"]) for c in cases]
        if expected != [c["valid"] for c in cases]:  # the cases and the reference agree
            raise AssertionError("link_cases and verify_link disagree")
        answers: list[bool | str] = []
        for c in cases:
            try:
                got = call_learner(function, "link_valid", c["link"], c["user"], c["now"], c["key"])
            except GradingError as exc:
                if "not written" in str(exc):
                    raise
                answers.append(str(exc))
                continue
            answers.append(
                got
                if type(got) is bool
                else f"link_valid must return True or False; it returned {type(got).__name__}"
            )
        return LinkResult(cases, answers, practice)

    return _one_run(function, SEED_PURPOSE_LINKS, seed, compute)


def check_link_valid(
    function: Callable[..., Any] | SandboxFunction, seed: int | None = None
) -> Credit:
    """Credit for the share of fresh valid links accepted times the share of invalid ones refused.

    Raises
    ------
    GradingError
        When it earns nothing; the message names the kinds of link it misjudged.
    """
    result = grade_link_valid(function, seed)
    on = f" (on {PRACTICE.replace('studies', 'links')})" if result.practice else ""
    right = sum(a is c["valid"] for c, a in zip(result.cases, result.answers, strict=True))
    n = len(result.cases)
    message = f"link_valid judged {right} of {n} fresh links right{on}."
    missed = sorted(
        {
            c["why"].replace("_", " ")
            for c, a in zip(result.cases, result.answers, strict=True)
            if a is not c["valid"]
        }
    )
    if missed:
        message += f" It misjudged: {', '.join(missed)}."
    failed = [a for a in result.answers if isinstance(a, str)]
    if failed:
        message += f" {failed[0]}"
    return _credit(result.fraction(), message) if right < n else Credit(1.0, message)
