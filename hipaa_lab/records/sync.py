"""From the course's gradebook to the ledger: what was released, assigned, submitted and graded.

:func:`sync` compares nbgrader's gradebook (autograded and hand-graded scores alike) with what the
ledger already holds and appends only the new facts, in one transaction, so a sync run twice
records nothing the second time and a sync killed half way records nothing at all:

* ``module.released`` when a module's released content changed (its version is the SHA-256 of
  the released notebooks: what the learners actually got);
* ``training.assigned`` for each active employee and module of their curriculum not yet assigned;
* ``training.submitted``, then ``training.graded`` and ``training.passed`` or ``training.failed``
  (against the module's pass threshold) once a submission has no answer left to grade by hand;
* ``training.grade-changed`` (old and new score, by whom, why) when a graded submission's score
  is different in the gradebook now (a trainer's hand grading, a regrade), with the new pass or
  fail.

Learners in the gradebook who are not on the roster are reported, not recorded: a record is
kept for an employee only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hipaa_lab.ledger import Ledger
from hipaa_lab.records.curricula import Curricula
from hipaa_lab.records.events import RecordKind
from hipaa_lab.records.roster import EmploymentStatus, current_roster

__all__ = ["SyncSummary", "latest_versions", "module_version", "sync"]


def module_version(release_folder: Path) -> str:
    """The SHA-256 (hex, 16 digits) of a released module: its files' names and bytes, sorted."""
    digest = hashlib.sha256()
    for path in sorted(p for p in release_folder.rglob("*") if p.is_file()):
        if ".ipynb_checkpoints" in path.parts:
            continue
        digest.update(path.relative_to(release_folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def latest_versions(ledger: Ledger) -> dict[str, str]:
    """Each module's version as last released, by the ledger."""
    return _Known.read(ledger).versions


@dataclass
class SyncSummary:
    """What a sync recorded, by kind, and the learners it could not match to the roster."""

    recorded: dict[str, int] = field(default_factory=dict)
    not_on_roster: list[str] = field(default_factory=list)


@dataclass
class _Known:
    """What the ledger holds already, keyed so a sync can tell new facts from old."""

    versions: dict[str, str] = field(default_factory=dict)
    assigned: set[tuple[str, str]] = field(default_factory=set)
    submitted: set[tuple[str, str, str]] = field(default_factory=set)
    graded: dict[tuple[str, str, str], float] = field(default_factory=dict)

    @classmethod
    def read(cls, ledger: Ledger) -> _Known:
        k = cls()
        for entry in ledger.entries():
            b = entry.body
            if entry.kind == RecordKind.MODULE_RELEASED.value:
                k.versions[b["module"]] = b["version"]
            elif entry.kind == RecordKind.ASSIGNED.value:
                k.assigned.add((b["employee_id"], b["module"]))
            elif entry.kind == RecordKind.SUBMITTED.value:
                k.submitted.add((b["employee_id"], b["module"], b["at"]))
            elif entry.kind in (RecordKind.GRADED.value, RecordKind.GRADE_CHANGED.value):
                score = b["score"] if entry.kind == RecordKind.GRADED.value else b["new"]
                k.graded[(b["employee_id"], b["module"], b["at"])] = float(score)
        return k


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
) -> SyncSummary:
    """Append to ``ledger`` what the course at ``course_dir`` holds that it does not; see the
    module docstring. All in one transaction."""
    from hipaa_lab.course.build import scores

    course_dir = Path(course_dir)
    known = _Known.read(ledger)
    on, _removed = current_roster(ledger)
    items: list[tuple[RecordKind, dict[str, Any]]] = []
    versions = dict(known.versions)
    release = course_dir / "release"
    for folder in sorted(p for p in release.iterdir() if p.is_dir()) if release.is_dir() else []:
        version = module_version(folder)
        if versions.get(folder.name) != version:
            versions[folder.name] = version
            items.append((RecordKind.MODULE_RELEASED, {"module": folder.name, "version": version}))
    at_today = (today or dt.date.today()).isoformat()
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
    for row in scores(course_dir).to_dict("records"):
        employee_id, module = str(row["learner"]), str(row["module"])
        if employee_id not in on:
            summary.not_on_roster.append(employee_id)
            continue
        at = _iso(row["submitted_at"])
        key = (employee_id, module, at)
        base = {"at": at, "employee_id": employee_id, "module": module}
        version = versions.get(module, "")
        if key not in known.submitted:
            items.append((RecordKind.SUBMITTED, {**base, "version": version}))
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
    if items:
        ledger.append_many([(kind.value, body) for kind, body in items])
    return summary
