"""Where each employee stands on each module they must take: derived from the ledger, never stored.

:func:`training_status` replays the ledger once and returns one :class:`TrainingRecord` per active
employee on the roster and module of their role's curriculum: the canonical record every export
is written from. The rules, as the curricula's policy numbers them:

* **Never passed**: due ``new_hire_days`` after the later of the hire date and the day the module
  was assigned to them; *never trained* until then, *overdue* after.
* **Passed**: due ``refresher_days`` after the last pass; *current*, then *due soon* within
  ``due_soon_days`` of the due date, then *overdue*.
* **A material change** to a module (``training.retraining``) after someone's last pass makes it
  due again ``retraining_days`` after the change, if that is sooner.
* **Waived** (with a reason): *current*, with no due date.

Training facts dated after ``as_of`` are left out, so a past day is judged on what had happened
by then (the roster is the one recorded, whenever it was imported; employees are judged from
their hire dates). A day is overdue only after its due date has passed: a pass on the due date
is on time. A terminated employee, or one no longer on the roster, has no rows; their history
stays in the ledger, and a rehire (back on the roster, active) picks it up again.

:func:`standings_over_time` counts the standings as of each of many days from one read of the
ledger: the same counts as one :func:`training_status` a day, which would read it once a day.
"""

from __future__ import annotations

import bisect
import datetime as dt
import enum
import functools
import gc
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from hipaa_lab.ledger import Ledger
from hipaa_lab.records.curricula import Curricula
from hipaa_lab.records.events import RecordKind
from hipaa_lab.records.roster import Employee, EmploymentStatus

__all__ = ["Standing", "TrainingRecord", "paused_gc", "standings_over_time", "training_status"]


class Standing(enum.Enum):
    """Where an employee stands on a module."""

    CURRENT = "current"
    DUE_SOON = "due soon"
    OVERDUE = "overdue"
    NEVER_TRAINED = "never trained"


@dataclass(frozen=True)
class TrainingRecord:
    """One employee and one module they must take, as of a date: the canonical record.

    ``score`` is the last graded score as a percentage; ``passed_on`` the day of the last pass;
    ``module_version`` the version passed (else the module's current version);
    ``entry_index`` and ``entry_hash`` the ledger entry of that pass (its SHA-256, what the
    exports carry and a receipt proves); ``graded_on`` the day of the last grade (the day a
    failure was judged, when there is no pass).
    """

    employee_id: str
    name: str
    email: str
    department: str
    role: str
    module: str
    module_version: str
    status: Standing
    score: float | None
    passed_on: dt.date | None
    due_on: dt.date | None
    attested: bool
    waived: str = ""
    entry_index: int | None = None
    entry_hash: str = ""
    graded_on: dt.date | None = None


class _Verdict(NamedTuple):
    """The latest pass or fail of one submission (a grade change can turn one into the other).
    A named tuple: a replay makes one per pass, and a frozen dataclass costs three times more."""

    passed: bool
    day: dt.date
    version: str
    entry: tuple[int, str]  # index, SHA-256


@dataclass
class _Progress:
    """What the ledger says of one employee and one module."""

    assigned_on: dt.date | None = None
    verdicts: dict[str, _Verdict] = field(default_factory=dict)  # by submission time
    points: tuple[float, float] | None = None  # the last grade: score and maximum
    graded_on: dt.date | None = None
    attested: set[str] = field(default_factory=set)
    waived: str = ""

    def last_pass(self) -> _Verdict | None:
        """The latest submission whose latest verdict is a pass."""
        if len(self.verdicts) == 1:  # the usual case: one submission
            (only,) = self.verdicts.values()
            return only if only.passed else None
        passes = [v for v in self.verdicts.values() if v.passed]
        return max(passes, key=lambda v: (v.day, v.entry[0])) if passes else None


@functools.lru_cache(maxsize=4096)
def _date(text: str) -> dt.date:
    """A day from its ISO text (a ledger holds a few thousand distinct days: parsed once each)."""
    return dt.date.fromisoformat(text)


@dataclass
class _Replay:
    """The ledger read once: the roster, each employee's progress, each module's versions."""

    on: dict[str, Employee] = field(default_factory=dict)
    progress: dict[tuple[str, str], _Progress] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    changes: dict[str, list[dt.date]] = field(default_factory=dict)
    as_of: dt.date | None = None

    def read(self, ledger: Ledger, as_of: dt.date | None = None) -> None:
        """Apply every entry; with ``as_of``, leave out training facts dated after it (a pass
        in March does not make someone current in January)."""
        self.as_of = as_of
        apply = self._apply
        for index, time, kind, body, digest in ledger.bodies():
            if kind in _KINDS:
                apply(kind, index, time, body, digest)

    def _apply(self, kind: str, index: int, time: str, body: dict[str, Any], digest: str) -> None:
        # kinds compared as the strings the ledger holds: an Enum's hash is Python code, and a
        # replay of 100,000 employees asks it millions of times
        if kind in _ROSTER_KINDS:
            if kind == _REMOVED:
                self.on.pop(body["employee"]["employee_id"], None)
            else:
                e = Employee.from_json(body["employee"])
                self.on[e.employee_id] = e
            return
        if kind == _RELEASED:
            self.versions[body["module"]] = body["version"]
            return
        day = _date(str(body.get("at") or time)[:10])
        if self.as_of is not None and day > self.as_of:
            return  # a training fact of a later day
        if kind == _RETRAINING:
            self.changes.setdefault(body["module"], []).append(day)
            return
        key = (body["employee_id"], body["module"])
        p = self.progress.get(key)
        if p is None:  # made only when new: most entries are about someone seen before
            p = self.progress[key] = _Progress()
        if kind in _VERDICT_KINDS:
            if body.get("max_score"):
                p.points = (body["score"], body["max_score"])
                p.graded_on = day
            if kind != _GRADED:
                p.verdicts[str(body.get("at", ""))] = _Verdict(
                    kind == _PASSED, day, str(body.get("version", "")), (index, digest)
                )
        elif kind == _ASSIGNED:
            p.assigned_on = p.assigned_on or day
        elif kind == _ATTESTED:
            p.attested.add(str(body.get("version", "")))
        elif kind == _WAIVED:
            p.waived = str(body.get("reason") or "waived")


_KINDS = frozenset(k.value for k in RecordKind)
_ROSTER_KINDS = frozenset(
    k.value
    for k in (RecordKind.EMPLOYEE_ADDED, RecordKind.EMPLOYEE_CHANGED, RecordKind.EMPLOYEE_REMOVED)
)
_VERDICT_KINDS = frozenset(
    k.value for k in (RecordKind.GRADED, RecordKind.PASSED, RecordKind.FAILED)
)
_REMOVED = RecordKind.EMPLOYEE_REMOVED.value
_RELEASED = RecordKind.MODULE_RELEASED.value
_RETRAINING = RecordKind.RETRAINING_REQUIRED.value
_GRADED = RecordKind.GRADED.value
_PASSED = RecordKind.PASSED.value
_ASSIGNED = RecordKind.ASSIGNED.value
_ATTESTED = RecordKind.ATTESTED.value
_WAIVED = RecordKind.WAIVED.value


@dataclass(frozen=True)
class _Rules:
    """The policy's numbers as the day arithmetic uses them, made once per status."""

    new_hire: dt.timedelta
    refresher: dt.timedelta
    retraining: dt.timedelta
    due_soon: dt.timedelta

    @classmethod
    def of(cls, c: Curricula) -> _Rules:
        p = c.policy
        days = dt.timedelta
        return cls(
            days(p.new_hire_days),
            days(p.refresher_days),
            days(p.retraining_days),
            days(p.due_soon_days),
        )


def _standing(
    p: _Progress,
    last: _Verdict | None,
    start: dt.date,
    changes: list[dt.date],
    rules: _Rules,
    as_of: dt.date,
) -> tuple[Standing, dt.date | None]:
    if p.waived:
        return Standing.CURRENT, None
    if last is None:
        due = start + rules.new_hire
        return (Standing.OVERDUE if as_of > due else Standing.NEVER_TRAINED), due
    due = last.day + rules.refresher
    if changes:
        later = [d for d in changes if d > last.day]
        if later:
            due = min(due, min(later) + rules.retraining)
    if as_of > due:
        return Standing.OVERDUE, due
    if as_of >= due - rules.due_soon:
        return Standing.DUE_SOON, due
    return Standing.CURRENT, due


def _percent(points: tuple[float, float] | None) -> float | None:
    """A grade as a percentage of its maximum, to one decimal."""
    return None if points is None else round(100.0 * points[0] / points[1], 1)


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a replay builds its many small objects.

    A replay of 100,000 employees makes millions of dicts, tuples and records, none of them in a
    reference cycle; each few hundred allocations would start a collection that walks all that
    has been made so far, which cost 40% of :func:`training_status`. Reference counting still
    frees everything; the collector is restored as it was.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def training_status(
    ledger: Ledger, curricula: Curricula, as_of: dt.date | None = None
) -> list[TrainingRecord]:
    """One record per active employee on the roster and module of their curriculum, as of
    ``as_of`` (default: today), sorted by employee and module."""
    as_of = as_of or dt.date.today()
    with paused_gc():
        return _status(ledger, curricula, as_of)


def _status(ledger: Ledger, curricula: Curricula, as_of: dt.date) -> list[TrainingRecord]:
    replay = _Replay()
    replay.read(ledger, as_of)
    rules = _Rules.of(curricula)
    no_progress = _Progress()
    out = []
    for employee_id in sorted(replay.on):
        e = replay.on[employee_id]
        if e.status is not EmploymentStatus.ACTIVE:
            continue
        for module in curricula.modules_for(e.role):
            p = replay.progress.get((employee_id, module)) or no_progress
            start = max(e.hire_date, p.assigned_on or e.hire_date)
            last = p.last_pass()
            standing, due = _standing(p, last, start, replay.changes.get(module, []), rules, as_of)
            version = last.version if last else replay.versions.get(module, "")
            out.append(
                TrainingRecord(
                    employee_id=employee_id,
                    name=e.name,
                    email=e.email,
                    department=e.department,
                    role=e.role.value,
                    module=module,
                    module_version=version,
                    status=standing,
                    score=_percent(p.points),
                    passed_on=last.day if last else None,
                    due_on=due,
                    attested=bool(version) and version in p.attested,
                    waived=p.waived,
                    entry_index=last.entry[0] if last else None,
                    entry_hash=last.entry[1] if last else "",
                    graded_on=p.graded_on,
                )
            )
    return out


# --------------------------------------------------------------------------- over many days


class _Fact(NamedTuple):
    """A training fact that moves a standing: an assignment, a pass or fail, a waiver.

    What :meth:`_Replay._apply` does with the same entry, kept for every day at once: the
    grade itself and the attestations move no standing and are not kept."""

    day: dt.date
    kind: str
    at: str  # the submission a verdict judges
    entry: int  # the ledger index


@dataclass
class _History:
    """The ledger read once for all days: the roster as recorded, each employee's and module's
    facts in ledger order, and each module's material changes."""

    replay: _Replay = field(default_factory=_Replay)
    facts: dict[tuple[str, str], list[_Fact]] = field(default_factory=dict)
    changes: dict[str, list[dt.date]] = field(default_factory=dict)

    def read(self, ledger: Ledger) -> None:
        """Keep every entry that moves a standing, whatever its day."""
        for index, time, kind, body, digest in ledger.bodies():
            if kind in _ROSTER_KINDS:
                self.replay._apply(kind, index, time, body, digest)
            elif kind in _STANDING_KINDS:
                day = _date(str(body.get("at") or time)[:10])
                if kind == _RETRAINING:
                    self.changes.setdefault(body["module"], []).append(day)
                    continue
                key = (body["employee_id"], body["module"])
                self.facts.setdefault(key, []).append(
                    _Fact(day, kind, str(body.get("at", "")), index)
                )

    @staticmethod
    def progress(facts: list[_Fact], as_of: dt.date) -> _Progress:
        """What :class:`_Replay` makes of ``facts`` as of ``as_of``: those of later days left
        out, the rest applied in ledger order (the first assignment counts, a submission's
        latest verdict counts)."""
        p = _Progress()
        for f in facts:
            if f.day > as_of:
                continue
            if f.kind == _ASSIGNED:
                p.assigned_on = p.assigned_on or f.day
            elif f.kind == _WAIVED:
                p.waived = "waived"
            else:
                p.verdicts[f.at] = _Verdict(f.kind == _PASSED, f.day, "", (f.entry, ""))
        return p


_STANDING_KINDS = frozenset({_RETRAINING, _ASSIGNED, _PASSED, RecordKind.FAILED.value, _WAIVED})


def _tally(
    counts: dict[Standing, list[int]],
    p: _Progress,
    start: dt.date,
    changes: list[dt.date],
    rules: _Rules,
    days: list[dt.date],
    lo: int,
    hi: int,
) -> None:
    """Add one record's standing on each of ``days[lo:hi]`` (sorted, the record's facts and its
    module's changes the same on all of them) to ``counts``, kept as differences: +1 where a
    standing starts, -1 where it ends."""
    last = p.last_pass()
    # as of days[lo]: the due date, and so the thresholds, stay the same until days[hi]
    standing, due = _standing(p, last, start, changes, rules, days[lo])
    if due is None:  # waived
        edges = [(standing, lo, hi)]
    else:
        overdue = bisect.bisect_right(days, due, lo, hi)  # the first day after the due date
        if last is None:
            edges = [(Standing.NEVER_TRAINED, lo, overdue), (Standing.OVERDUE, overdue, hi)]
        else:
            soon = bisect.bisect_left(days, due - rules.due_soon, lo, overdue)
            edges = [
                (Standing.CURRENT, lo, soon),
                (Standing.DUE_SOON, soon, overdue),
                (Standing.OVERDUE, overdue, hi),
            ]
    for s, a, b in edges:
        if a < b:
            counts[s][a] += 1
            counts[s][b] -= 1


def standings_over_time(
    ledger: Ledger, curricula: Curricula, days: Sequence[dt.date]
) -> list[tuple[dt.date, Counter[Standing]]]:
    """How many records stand where as of each of ``days``: for each day, the counts of
    :func:`training_status` as of that day, from one read of the ledger.

    A record's standing changes only on the day of one of its facts or of a material change to
    its module, and in between by the calendar alone (the due date passes); so each record is
    judged once for each of its facts, and the days in between are counted by their dates.

    Examples
    --------
    >>> import tempfile
    >>> from hipaa_lab.records.curricula import load_curricula
    >>> with tempfile.TemporaryDirectory() as folder, Ledger(f"{folder}/r.db") as ledger:
    ...     standings_over_time(ledger, load_curricula(), [dt.date(2026, 1, 1)])
    [(datetime.date(2026, 1, 1), Counter())]
    """
    ordered = sorted(set(days))
    with paused_gc():
        history = _History()
        history.read(ledger)
        counts = _counts(history, curricula, ordered)
    by_day = dict(zip(ordered, counts, strict=True))
    return [(day, Counter(by_day[day])) for day in days]


def _counts(
    history: _History, curricula: Curricula, days: list[dt.date]
) -> list[Counter[Standing]]:
    """:func:`standings_over_time` over ``days`` (sorted, distinct), from ``history``."""
    n = len(days)
    rules = _Rules.of(curricula)
    diffs: dict[Standing, list[int]] = {s: [0] * (n + 1) for s in Standing}
    if not n:
        return []
    # the first of the days that sees a fact (or a change) of a day: n when none does
    first = functools.partial(bisect.bisect_left, days)
    change_days = {m: sorted(ds) for m, ds in history.changes.items()}
    no_facts: list[_Fact] = []
    for e in history.replay.on.values():
        if e.status is not EmploymentStatus.ACTIVE:
            continue
        for module in curricula.modules_for(e.role):
            facts = history.facts.get((e.employee_id, module), no_facts)
            changes = change_days.get(module, [])
            edges = sorted({0, *(first(f.day) for f in facts), *(first(d) for d in changes)})
            edges = [i for i in edges if i < n]
            for lo, hi in zip(edges, [*edges[1:], n], strict=True):
                as_of = days[lo]
                p = _History.progress(facts, as_of)
                start = max(e.hire_date, p.assigned_on or e.hire_date)
                known = [d for d in changes if d <= as_of]
                _tally(diffs, p, start, known, rules, days, lo, hi)
    out: list[Counter[Standing]] = [Counter() for _ in range(n)]
    for s, diff in diffs.items():
        running = 0
        for i in range(n):
            running += diff[i]
            if running:
                out[i][s] = running
    return out
