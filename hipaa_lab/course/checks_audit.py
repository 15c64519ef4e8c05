"""Module 4's checks: reviewing a workday's audit log, and finding the entry someone edited.

Both run the learner's function on **fresh logs made at grading time**
(:func:`hipaa_lab.safeguards.workday.generate`, from the sealed run's secret seed, or a new seed
drawn for practice in a learner's kernel), never on the log the notebook shows, so an answer
copied from the visible log's key does not pass. What crosses to the learner's function is plain
data (a list of dicts, a list of strings), a few hundred events.

- :func:`check_find_inappropriate`: ``find_inappropriate(events, context)`` returns the line
  numbers of the inappropriate accesses. Credit is the mean, over the six kinds of planted access
  (:class:`~hipaa_lab.safeguards.workday.Finding`), of that kind's recall, each reduced by the
  share of that kind's legitimate look-alikes (decoys) reported; the whole is multiplied by
  :func:`~hipaa_lab.course.grading.precision_factor` of the share of reported lines that are
  planted. Reporting every line, or none, earns nothing.
- :func:`check_find_tampered`: ``find_tampered(lines)`` gets the lines of a log in which one
  entry's content was edited (the chain left as it was) and returns that entry's line number;
  credit is the share of :data:`TAMPER_LOGS` fresh logs on which it names the edited line exactly.
  The line *after* it, where the chain breaks, is not the answer. While it runs, the package's
  own chain checks refuse to do the work (:func:`own_work`): the exercise is to check the links.

Every name and number in the logs is synthetic.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hipaa_lab.course.grading import (
    FULL_PRECISION,
    PRACTICE,
    ZERO_PRECISION,
    Credit,
    _credit,
    _one_run,
    precision_factor,
)
from hipaa_lab.course.rules import call_learner, own_work
from hipaa_lab.course.sandbox import SandboxFunction
from hipaa_lab.errors import GradingError

if TYPE_CHECKING:
    import pandas as pd

    from hipaa_lab.safeguards.audit import AuditEvent

__all__ = [
    "DECOY_KINDS",
    "REVIEW_SIZE",
    "ReviewScore",
    "TAMPER_LOGS",
    "TAMPER_SIZE",
    "TamperResult",
    "check_find_inappropriate",
    "check_find_tampered",
    "grade_find_inappropriate",
    "grade_find_tampered",
    "log_lines",
    "own_work",
    "review_events",
    "score_review",
    "tamper",
]

#: The size of each fresh log ``find_inappropriate`` reviews: (staff, patients), some 750 events.
REVIEW_SIZE = (60, 80)
#: The size of each fresh log ``find_tampered`` searches: (staff, patients), some 600 lines.
TAMPER_SIZE = (40, 60)
#: How many fresh tampered logs ``find_tampered`` searches.
TAMPER_LOGS = 3

#: Which kind of planted access each kind of decoy (in the key, by its ``what``) looks like.
DECOY_KINDS: dict[str, str] = {
    "approved research export": "bulk_export",
    "break-glass in an emergency": "break_glass",
    "a VIP seen by their care team": "vip",
    "an employee-patient seen by their care team": "coworker",
}

_KIND_NAMES = {
    "coworker": "a coworker's record",
    "vip": "a VIP's record",
    "family": "a family member's record",
    "after_termination": "access after termination",
    "break_glass": "break-glass with no emergency",
    "bulk_export": "a research export without approval",
}


def review_events(events: Iterable[AuditEvent]) -> list[dict[str, Any]]:
    """The events as the reviewer's function gets them: one plain dict per log line, its 1-based
    ``line`` first, then the fields of :meth:`~hipaa_lab.safeguards.audit.AuditEvent.to_body`
    (codes as strings, ``time`` as ISO 8601 UTC text).

    Examples
    --------
    >>> from hipaa_lab.safeguards.workday import generate
    >>> rows = review_events(generate(1, staff=40, patients=60).events)
    >>> rows[0]["line"], sorted(rows[0])[:3]
    (1, ['action', 'event', 'event_type'])
    """
    return [{"line": n, **e.to_body()} for n, e in enumerate(events, 1)]


# --------------------------------------------------------------------------- exercise 1


@dataclass
class ReviewScore:
    """How a set of reported lines compares with a workday's answer key."""

    planted: dict[str, set[int]]
    """kind -> the planted lines of that kind."""
    decoys: dict[str, set[int]]
    """kind -> the lines of the legitimate look-alikes of that kind."""
    reported: set[int]
    """Every line reported."""
    errors: list[str] = field(default_factory=list)
    """What went wrong running the function, if anything."""
    practice: bool = True
    """Drawn for practice (a learner's kernel), not for the grade."""

    def recall(self, kind: str) -> float:
        lines = self.planted.get(kind, set())
        return len(lines & self.reported) / len(lines) if lines else 1.0

    def decoys_reported(self, kind: str) -> int:
        return len(self.decoys.get(kind, set()) & self.reported)

    def kind_score(self, kind: str) -> float:
        """The kind's recall, less the share of its decoys reported."""
        decoys = self.decoys.get(kind, set())
        spared = 1.0 - self.decoys_reported(kind) / len(decoys) if decoys else 1.0
        return self.recall(kind) * spared

    def precision(self) -> float:
        """The share of reported lines that are planted (0 if none reported)."""
        every = set().union(*self.planted.values()) if self.planted else set()
        return len(every & self.reported) / len(self.reported) if self.reported else 0.0

    def fraction(self) -> float:
        """The check's credit: the mean kind score, times the precision factor."""
        if not self.planted:
            return 0.0
        mean = sum(self.kind_score(k) for k in self.planted) / len(self.planted)
        return mean * precision_factor(self.precision())

    def table(self) -> pd.DataFrame:
        """One row per kind: planted, found, recall, decoys reported, score."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "kind": kind,
                    "what": _KIND_NAMES.get(kind, kind),
                    "planted": len(lines),
                    "found": len(lines & self.reported),
                    "recall": round(self.recall(kind), 2),
                    "decoys": len(self.decoys.get(kind, ())),
                    "decoys reported": self.decoys_reported(kind),
                    "score": round(self.kind_score(kind), 2),
                }
                for kind, lines in self.planted.items()
            ]
        ).set_index("kind")

    def __repr__(self) -> str:
        return (
            f"ReviewScore: {len(self.reported)} lines reported, precision "
            f"{self.precision():.0%}, credit {self.fraction():.0%}\n{self.table().to_string()}"
        )


def _lines_from(result: object, name: str) -> set[int]:
    if isinstance(result, (str, bytes, Mapping)) or not isinstance(result, Iterable):
        raise GradingError(
            f"{name} must return a list of line numbers (integers such as 42); it returned "
            f"{type(result).__name__}: {result!r:.80}"
        )
    lines = set()
    for item in result:
        if type(item) is not int:
            raise GradingError(
                f"{name} must return line numbers as integers; it returned an item of type "
                f"{type(item).__name__}: {item!r:.80}. Use each event's 'line'."
            )
        lines.add(item)
    return lines


def score_review(reported: Iterable[int], key: Mapping[str, Any]) -> ReviewScore:
    """Compare reported lines with a workday's answer key (:meth:`Workday.key`), per kind.

    The notebook uses it on the visible log, whose key a learner may see; the checks use it on
    the fresh logs' keys, which no learner sees.

    Examples
    --------
    >>> key = {"planted": [{"line": 3, "kind": "vip"}, {"line": 5, "kind": "family"}],
    ...        "decoys": [{"line": 4, "what": "a VIP seen by their care team"}]}
    >>> s = score_review([3, 4], key)
    >>> s.recall("vip"), s.recall("family"), s.kind_score("vip"), s.precision()
    (1.0, 0.0, 0.0, 0.5)
    """
    planted: dict[str, set[int]] = {}
    for row in key["planted"]:
        planted.setdefault(str(row["kind"]), set()).add(int(row["line"]))
    decoys: dict[str, set[int]] = {}
    for row in key["decoys"]:
        kind = DECOY_KINDS.get(str(row["what"]))
        if kind is not None:
            decoys.setdefault(kind, set()).add(int(row["line"]))
    return ReviewScore(planted, decoys, _lines_from(reported, "find_inappropriate"))


def grade_find_inappropriate(
    function: Callable[..., Any] | SandboxFunction, seed: int | None = None
) -> ReviewScore:
    """Run ``find_inappropriate(events, context)`` once on a fresh workday and score it.

    In the sealed autograde the day's seed comes from the course secret and the submission; in a
    learner's kernel each new definition gets a new practice day (``seed`` fixes it).
    """

    def compute(day_seed: int, practice: bool) -> ReviewScore:
        from hipaa_lab.safeguards.workday import generate

        staff, patients = REVIEW_SIZE
        day = generate(day_seed, staff=staff, patients=patients)
        returned = call_learner(
            function, "find_inappropriate", review_events(day.events), day.context(), on="log"
        )
        score = score_review(_lines_from(returned, "find_inappropriate"), day.key())
        score.practice = practice
        return score

    return _one_run(function, "find_inappropriate", seed, compute)


def check_find_inappropriate(
    function: Callable[..., Any] | SandboxFunction, seed: int | None = None
) -> Credit:
    """Credit for the inappropriate accesses ``find_inappropriate`` finds in a fresh log.

    The mean over the six kinds of each kind's recall, less the share of its decoys reported,
    times :func:`~hipaa_lab.course.grading.precision_factor` of the share of reported lines that
    are planted (reporting everything earns nothing; so does reporting nothing).

    Raises
    ------
    GradingError
        When it earns nothing; the message names the kinds missed (never a line of the key).
    """
    score = grade_find_inappropriate(function, seed)
    on = f" (on {PRACTICE.replace('studies', 'logs')})" if score.practice else ""
    total = sum(len(v) for v in score.planted.values())
    found = sum(len(v & score.reported) for v in score.planted.values())
    message = f"find_inappropriate found {found} of {total} planted accesses{on}."
    missed = [_KIND_NAMES.get(k, k) for k in score.planted if score.recall(k) < 1]
    if missed:
        message += f" It missed some of: {', '.join(missed)}."
    decoys = [_KIND_NAMES.get(k, k) for k in score.decoys if score.decoys_reported(k)]
    if decoys:
        message += (
            f" It reported legitimate look-alikes of: {', '.join(decoys)} (care-team access, a "
            "real emergency, an approved export): check the context before you report."
        )
    if not score.reported:
        message += " It reported nothing."
    else:
        factor = precision_factor(score.precision())
        message += (
            f" {score.precision():.0%} of the {len(score.reported)} lines it reported are planted"
        )
        if factor < 1:
            message += (
                f", which keeps {factor:.0%} of the credit (all of it from {FULL_PRECISION:.0%}, "
                f"none at {ZERO_PRECISION:.0%} or less)"
            )
        message += "."
    fraction = score.fraction()
    if fraction >= 1:
        return Credit(1.0, message)
    return _credit(fraction, message)


# --------------------------------------------------------------------------- exercise 2


def log_lines(events: Sequence[AuditEvent]) -> list[str]:
    """The lines of the tamper-evident log that holds ``events``, as
    :class:`~hipaa_lab.safeguards.audit.AuditTrail` writes them (without line ends)."""
    from hipaa_lab.safeguards.audit import AuditTrail

    with tempfile.TemporaryDirectory() as folder:
        trail = AuditTrail(Path(folder) / "audit.jsonl")
        trail.record_many(events)
        return trail.path.read_text(encoding="utf-8").splitlines()


def tamper(lines: Sequence[str], seed: int) -> tuple[list[str], int]:
    """A copy of a log's ``lines`` in which one study access was given to another user, as
    someone hiding their own snooping would: ``(new lines, the edited line, 1-based)``.

    Only the entry's content changes: its ``index`` and ``prev`` stay, so the chain first breaks
    on the line after it. Neither the first line nor the last is edited (the last has no line
    after it to show the edit: only a checkpoint would).

    Examples
    --------
    >>> from hipaa_lab.safeguards.workday import generate
    >>> lines = log_lines(generate(1, staff=40, patients=60).events)
    >>> changed, n = tamper(lines, seed=7)
    >>> [i + 1 for i, (a, b) in enumerate(zip(lines, changed)) if a != b] == [n]
    True
    """
    from hipaa_lab.ledger import Entry
    from hipaa_lab.safeguards.audit import EventID

    rng = random.Random(f"tamper:{seed}")  # noqa: S311 - synthetic data; the seed is the secret
    entries = [Entry.from_data(raw) for raw in lines]
    reads = [
        n
        for n, e in enumerate(entries[:-1], 1)
        if n > 1
        and e.body.get("event") == EventID.INSTANCES_ACCESSED.code
        and e.body.get("patient_id")
    ]
    if not reads:
        raise ValueError("the log has no study access, other than its first and last line, to edit")
    n = rng.choice(reads)
    entry = entries[n - 1]
    others = sorted(
        {
            (e.body["user"], e.body["user_name"])
            for e in entries
            if e.body.get("role") == entry.body.get("role") and e.body["user"] != entry.body["user"]
        }
    )
    if not others:
        raise ValueError("no other user of the same role to put on the edited entry")
    user, user_name = rng.choice(others)
    body = {**entry.body, "user": user, "user_name": user_name}
    edited = Entry(entry.index, entry.time, entry.kind, body, entry.prev).data().decode()
    out = list(lines)
    out[n - 1] = edited
    return out, n


@dataclass
class TamperResult:
    """What ``find_tampered`` answered on each fresh tampered log."""

    edited: list[int]
    """The edited line of each log."""
    answers: list[int | str]
    """The line it returned for each log, or what went wrong."""
    practice: bool = True

    def right(self) -> int:
        return sum(a == e for a, e in zip(self.answers, self.edited, strict=True))


def _answer(returned: object) -> int | str:
    if type(returned) is not int:
        return (
            f"find_tampered must return one line number (an integer); it returned "
            f"{type(returned).__name__}: {returned!r:.60}"
        )
    return returned


def grade_find_tampered(
    function: Callable[..., Any] | SandboxFunction, seed: int | None = None
) -> TamperResult:
    """Run ``find_tampered(lines)`` on :data:`TAMPER_LOGS` fresh logs, each with one edited entry."""

    def compute(run_seed: int, practice: bool) -> TamperResult:
        from hipaa_lab.safeguards.workday import generate

        seeds = random.Random(run_seed)  # noqa: S311 - derived from the secret seed
        staff, patients = TAMPER_SIZE
        result = TamperResult([], [], practice=practice)
        for _ in range(TAMPER_LOGS):
            day = generate(seeds.getrandbits(128), staff=staff, patients=patients)
            lines, edited = tamper(log_lines(day.events), seeds.getrandbits(64))
            result.edited.append(edited)
            try:
                result.answers.append(
                    _answer(call_learner(function, "find_tampered", lines, on="log"))
                )
            except GradingError as exc:
                if "not written" in str(exc):
                    raise
                result.answers.append(str(exc))
        return result

    return _one_run(function, "find_tampered", seed, compute)


def check_find_tampered(
    function: Callable[..., Any] | SandboxFunction, seed: int | None = None
) -> Credit:
    """Credit for the share of fresh tampered logs on which ``find_tampered`` names the edited
    line exactly (not the line after it, where the chain breaks)."""
    result = grade_find_tampered(function, seed)
    on = f" (on {PRACTICE.replace('studies', 'logs')})" if result.practice else ""
    n = len(result.edited)
    message = f"find_tampered named the edited line in {result.right()} of {n} fresh logs{on}."
    after = sum(a == e + 1 for a, e in zip(result.answers, result.edited, strict=True))
    if after:
        message += (
            f" In {after} it named the line after the edited one: that is where the chain breaks "
            "(its 'prev' no longer matches the edited line's hash); the edited line is the one "
            "before it."
        )
    failed = [a for a in result.answers if isinstance(a, str)]
    if failed:
        message += f" {failed[0]}"
    return _credit(result.right() / n, message) if result.right() < n else Credit(1.0, message)
