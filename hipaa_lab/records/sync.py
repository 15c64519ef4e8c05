"""From the course's gradebook to the ledger: what was released, assigned, submitted and graded.

:func:`sync` compares nbgrader's gradebook (autograded and hand-graded scores alike) with what the
ledger already holds and appends only the new facts, in one transaction, so a sync run twice
records nothing the second time and a sync killed half way records nothing at all:

* ``module.released`` when a module's released content changed (its version is the SHA-256 of
  the released notebooks' locked cells: what the learners got and cannot change);
* ``training.assigned`` for each active employee and module of their curriculum not yet assigned;
* ``training.submitted``, with the version the learner worked on (their submission's locked
  cells: :mod:`hipaa_lab.records.attest`), and ``training.attested`` when they acknowledged the
  module's policy in it; then ``training.graded`` and ``training.passed`` or
  ``training.failed`` (against the module's pass threshold) once a submission has no answer
  left to grade by hand;
* ``training.grade-changed`` (old and new score, by whom, why) when a graded submission's score
  is different in the gradebook now (a trainer's hand grading, a regrade), with the new pass or
  fail.

Learners in the gradebook who are not on the roster are reported, not recorded: a record is
kept for an employee only. A learner is matched by employee id, or by the hub account made for it
(``hl-e1001`` for ``E1001``, :mod:`hipaa_lab.course.hub`; ``prefix`` for a hub started with
another ``--prefix``): one roster, one identity in the lab,
the gradebook and the ledger.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hipaa_lab.ledger import Entry, Ledger
from hipaa_lab.records.attest import Acknowledgement, content_version, read_acknowledgement
from hipaa_lab.records.curricula import Curricula
from hipaa_lab.records.events import RecordKind
from hipaa_lab.records.roster import EmploymentStatus, roster_in

__all__ = ["SyncSummary", "latest_versions", "module_version", "sync"]


def module_version(release_folder: Path) -> str:
    """The version of a released module: the SHA-256 (hex, 16 digits) of its notebooks' locked
    cells (:func:`hipaa_lab.records.attest.content_version`), which a submission fetched from
    that release has too."""
    return content_version(release_folder)


def latest_versions(ledger: Ledger) -> dict[str, str]:
    """Each module's version as last released, by the ledger."""
    return _Known.read(ledger.entries()).current_versions()


@dataclass
class SyncSummary:
    """What a sync recorded, by kind, and the learners it could not match to the roster."""

    recorded: dict[str, int] = field(default_factory=dict)
    not_on_roster: list[str] = field(default_factory=list)


@dataclass
class _Known:
    """What the ledger holds already, keyed so a sync can tell new facts from old."""

    #: Each module's released versions, in the order of their releases: the last is current.
    #: A list, not a set: a module released again as an earlier version is current as that one.
    releases: dict[str, list[str]] = field(default_factory=dict)
    assigned: set[tuple[str, str]] = field(default_factory=set)
    submitted: set[tuple[str, str, str]] = field(default_factory=set)
    graded: dict[tuple[str, str, str], float] = field(default_factory=dict)
    attested: set[tuple[str, str, str]] = field(default_factory=set)

    @classmethod
    def read(cls, entries: Iterable[Entry]) -> _Known:
        k = cls()
        for entry in entries:
            b = entry.body
            if entry.kind == RecordKind.MODULE_RELEASED.value:
                k.releases.setdefault(b["module"], []).append(b["version"])
            elif entry.kind == RecordKind.ASSIGNED.value:
                k.assigned.add((b["employee_id"], b["module"]))
            elif entry.kind == RecordKind.SUBMITTED.value:
                k.submitted.add((b["employee_id"], b["module"], b["at"]))
            elif entry.kind == RecordKind.ATTESTED.value:
                k.attested.add((b["employee_id"], b["module"], b["at"]))
            elif entry.kind in (RecordKind.GRADED.value, RecordKind.GRADE_CHANGED.value):
                score = b["score"] if entry.kind == RecordKind.GRADED.value else b["new"]
                k.graded[(b["employee_id"], b["module"], b["at"])] = float(score)
        return k

    def current_versions(self) -> dict[str, str]:
        """Each released module's version as last released."""
        return {module: versions[-1] for module, versions in self.releases.items()}

    def released(self, module: str, version: str) -> bool:
        """Whether some release of ``module`` had ``version``."""
        return version in self.releases.get(module, ())


def _iso(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if hasattr(value, "isoformat"):
        text = str(value.isoformat())
        return "" if text == "NaT" else text
    return str(value)


def sync(
    ledger: Ledger,
    course_dir: Path,
    curricula: Curricula,
    *,
    today: dt.date | None = None,
    prefix: str | None = None,
) -> SyncSummary:
    """Append to ``ledger`` what the course at ``course_dir`` holds that it does not; see the
    module docstring. All in one transaction; two syncs at once never record a fact twice (the
    second reads again what the first wrote: :meth:`Ledger.append_planned`).

    ``prefix`` is the hub's account prefix (``hub start --prefix``; ``None``: the hub's default,
    :data:`hipaa_lab.course.hub.PREFIX`): a learner ``prefix + id`` is that employee's account.
    """
    from hipaa_lab.course.build import scores

    course_dir = Path(course_dir)
    release = course_dir / "release"
    released = {
        folder.name: module_version(folder)
        for folder in (
            sorted(p for p in release.iterdir() if p.is_dir()) if release.is_dir() else []
        )
    }
    rows = scores(course_dir).to_dict("records")
    for row in rows:  # what each learner worked on and acknowledged, from their submission
        submitted = course_dir / "submitted" / str(row["learner"]) / str(row["module"])
        row["version"] = content_version(submitted) if submitted.is_dir() else None
        row["acknowledgement"] = read_acknowledgement(submitted) if submitted.is_dir() else None
    at_today = (today or dt.date.today()).isoformat()
    summaries: list[SyncSummary] = []

    def plan(entries: list[Entry]) -> list[tuple[str, dict[str, Any]]]:
        summary, items = _new_facts(entries, released, rows, curricula, at_today, prefix)
        summaries.append(summary)
        return [(kind.value, body) for kind, body in items]

    ledger.append_planned(plan)
    return summaries[-1]


def _hub_accounts(on: dict[str, Any], prefix: str | None) -> dict[str, str]:
    """The employee id of each hub account (``hl-e1001`` for ``E1001`` with the default
    ``prefix``): on a hub the gradebook knows learners by their account
    (:func:`hipaa_lab.course.hub.account_name`)."""
    from hipaa_lab.course.hub import PREFIX, account_name
    from hipaa_lab.errors import HubError

    accounts = {}
    for employee_id in on:
        with contextlib.suppress(HubError):  # an id that gives no account has none on a hub
            accounts[account_name(employee_id, PREFIX if prefix is None else prefix)] = employee_id
    return accounts


def _new_facts(
    entries: list[Entry],
    released: dict[str, str],
    rows: list[dict[str, Any]],
    curricula: Curricula,
    at_today: str,
    prefix: str | None,
) -> tuple[SyncSummary, list[tuple[RecordKind, dict[str, Any]]]]:
    """What the course holds (``released`` versions, gradebook ``rows``) that ``entries`` do not."""
    known = _Known.read(entries)
    on, _removed = roster_in(entries)
    accounts = _hub_accounts(on, prefix)
    items: list[tuple[RecordKind, dict[str, Any]]] = []
    versions = known.current_versions()
    for module, version in released.items():
        if versions.get(module) != version:
            versions[module] = version
            items.append((RecordKind.MODULE_RELEASED, {"module": module, "version": version}))
    for employee_id, e in sorted(on.items()):
        if e.status is not EmploymentStatus.ACTIVE:
            continue
        for module in curricula.modules_for(e.role):
            if (employee_id, module) not in known.assigned:
                body = {
                    "at": at_today,
                    "employee_id": employee_id,
                    "module": module,
                    "version": versions.get(module, ""),
                }
                items.append((RecordKind.ASSIGNED, body))
    summary = SyncSummary()
    for row in rows:
        learner, module = str(row["learner"]), str(row["module"])
        employee_id = learner if learner in on else accounts.get(learner, learner)
        if employee_id not in on:
            summary.not_on_roster.append(learner)
            continue
        at = _iso(row["submitted_at"])
        key = (employee_id, module, at)
        base = {"at": at, "employee_id": employee_id, "module": module}
        version = row.get("version") or versions.get(module, "")
        if key not in known.submitted:
            items.append((RecordKind.SUBMITTED, {**base, "version": version}))
        acknowledgement: Acknowledgement | None = row.get("acknowledgement")
        released_content = known.released(module, version) or released.get(module) == version
        if acknowledgement is not None and key not in known.attested and released_content:
            # a policy acknowledged on content some release had: a submission whose locked cells
            # (the policy among them) were edited has a version no release had, and attests nothing
            attested = {"signed": acknowledgement.signed, "statement": acknowledgement.statement}
            items.append((RecordKind.ATTESTED, {**base, **attested, "version": version}))
        if row["needs_manual_grade"] or not row["max_score"]:
            continue
        score, most = float(row["score"]), float(row["max_score"])
        threshold = curricula.threshold(module)
        outcome = {**base, "max_score": most, "score": score, "threshold": threshold}
        verdict = RecordKind.PASSED if score >= threshold * most else RecordKind.FAILED
        if key not in known.graded:
            items.append((RecordKind.GRADED, {**base, "max_score": most, "score": score,
                                              "version": version}))  # fmt: skip
            items.append((verdict, {**outcome, "version": version}))
        elif known.graded[key] != score:
            change = {
                **base,
                "by": "gradebook",
                "new": score,
                "old": known.graded[key],
                "why": "the score in the gradebook changed (hand grading or a regrade)",
            }
            items.append((RecordKind.GRADE_CHANGED, change))
            items.append((verdict, {**outcome, "version": version}))
    summary.not_on_roster = sorted(set(summary.not_on_roster))
    for kind, _body in items:
        summary.recorded[kind.value] = summary.recorded.get(kind.value, 0) + 1
    return summary, items
