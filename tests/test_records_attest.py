"""Acknowledgements read from a submission, and the version of a module's content."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import nbformat
import pytest

from hipaa_lab.records.attest import (
    ACKNOWLEDGEMENT_TAG,
    POLICY_TAG,
    Acknowledgement,
    content_version,
    read_acknowledgement,
)

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
MODULES = sorted(p.name for p in NOTEBOOKS.iterdir() if p.is_dir() and p.name.startswith("m"))


def _module(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / name / f"{name}.ipynb", as_version=4)


def _tagged(nb, tag):
    return [c for c in nb.cells if tag in c.metadata.get("tags", [])]


def _save(nb, folder: Path, name: str = "module.ipynb") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / name)
    return folder


def _signed(nb, source: str):
    nb = copy.deepcopy(nb)
    _tagged(nb, ACKNOWLEDGEMENT_TAG)[0].source = source
    return nb


@pytest.mark.parametrize("module", MODULES)
def test_every_module_ends_with_a_locked_policy_and_an_empty_acknowledgement(module, tmp_path):
    nb = _module(module)
    (policy,), (answer,) = _tagged(nb, POLICY_TAG), _tagged(nb, ACKNOWLEDGEMENT_TAG)
    assert policy.metadata["nbgrader"]["locked"] and "45 CFR 164.530(b)(2)(ii)" in policy.source
    assert nb.cells[-2:] == [policy, answer] and answer.cell_type == "code"
    assert read_acknowledgement(_save(nb, tmp_path)) is None  # released unsigned


@pytest.mark.parametrize(
    "source, signed",
    [
        ('acknowledged_by = "Avery Quinlan"', "Avery Quinlan"),
        ("# my name\nacknowledged_by = 'Dana  Ortiz-Ríos '\n", "Dana Ortiz-Ríos"),
        ('acknowledged_by = "山田 花子"', "山田 花子"),
        ('acknowledged_by = "O\'Brien, \\"Sam\\""', 'O\'Brien, "Sam"'),
        ('acknowledged_by = ""', None),
        ('acknowledged_by = "   "', None),
        ("acknowledged_by = input()", None),  # computed: not a name typed under the policy
        ('acknowledged_by = "A"; import os', None),
        ('acknowledged_by = "A" if True else ""', None),
        ('acknowledged = "Avery Quinlan"', None),
        ('acknowledged_by = b"Avery"', None),
        ("acknowledged_by = (", None),
    ],
)
def test_only_a_name_typed_in_quotes_acknowledges(source, signed, tmp_path):
    nb = _module(MODULES[0])
    got = read_acknowledgement(_save(_signed(nb, source), tmp_path))
    if signed is None:
        assert got is None
    else:
        policy = _tagged(nb, POLICY_TAG)[0].source
        assert got == Acknowledgement(hashlib.sha256(policy.encode()).hexdigest(), signed)


def test_no_acknowledgement_without_the_locked_policy_above_it(tmp_path):
    nb = _signed(_module(MODULES[0]), 'acknowledged_by = "Avery Quinlan"')
    unlocked = copy.deepcopy(nb)
    _tagged(unlocked, POLICY_TAG)[0].metadata["nbgrader"]["locked"] = False
    assert read_acknowledgement(_save(unlocked, tmp_path / "unlocked")) is None
    dropped = copy.deepcopy(nb)
    dropped.cells = [c for c in dropped.cells if POLICY_TAG not in c.metadata.get("tags", [])]
    assert read_acknowledgement(_save(dropped, tmp_path / "dropped")) is None
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "module.ipynb").write_text("{not json")
    assert read_acknowledgement(tmp_path / "broken") is None


def test_a_submission_has_its_release_version_until_a_locked_cell_changes(tmp_path):
    release = _module(MODULES[0])
    version = content_version(_save(release, tmp_path / "release"))
    worked = _signed(release, 'acknowledged_by = "Avery Quinlan"')
    for cell in worked.cells:  # answers and outputs are the learner's: not the content
        if not cell.metadata.get("nbgrader", {}).get("locked"):
            cell.source += "\n# my notes"
    assert content_version(_save(worked, tmp_path / "submitted")) == version
    edited = copy.deepcopy(release)
    _tagged(edited, POLICY_TAG)[0].source += "\n4. A rule the learner wrote in."
    assert content_version(_save(edited, tmp_path / "edited")) != version
    assert content_version(tmp_path / "empty") == content_version(tmp_path / "nothing")


def test_sync_records_an_acknowledgement_only_on_released_content(tmp_path, monkeypatch):
    """A learner who edits the policy text in their notebook's file and signs it attests
    nothing: the submission's version is one no release had."""
    import importlib

    import pandas as pd

    from hipaa_lab import records
    from hipaa_lab.ledger import Ledger

    module = MODULES[0]
    release = _module(module)
    course = tmp_path / "course"
    _save(release, course / "release" / module, f"{module}.ipynb")
    honest = _signed(release, 'acknowledged_by = "Avery Quinlan"')
    edited = _signed(release, 'acknowledged_by = "Bo Lindqvist"')
    _tagged(edited, POLICY_TAG)[0].source = "## Acknowledge the policy\n\nNothing applies to me."
    _save(honest, course / "submitted" / "E1001" / module, f"{module}.ipynb")
    _save(edited, course / "submitted" / "E1002" / module, f"{module}.ipynb")
    rows = [{"learner": who, "module": module, "submitted_at": "2026-11-02T10:00", "score": 1.0,
             "max_score": 10.0, "needs_manual_grade": False} for who in ("E1001", "E1002")]  # fmt: skip
    build = importlib.import_module("hipaa_lab.course.build")
    monkeypatch.setattr(build, "scores", lambda course_dir: pd.DataFrame(rows))
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "employee_id,name,email,role,department,hire_date,status\n"
        "E1001,Avery Quinlan,avery@example.org,technologist,Radiology,2026-10-01,active\n"
        "E1002,Bo Lindqvist,bo@example.org,technologist,Radiology,2026-10-01,active\n"
    )
    with Ledger(tmp_path / "records.db") as log:
        records.import_roster(log, records.read_roster(roster))
        records.sync(log, course, records.load_curricula())
        attested = [e.body for e in log.entries() if e.kind == "training.attested"]
    assert [(b["employee_id"], b["signed"]) for b in attested] == [("E1001", "Avery Quinlan")]
