"""The staff roster kept in the ledger: reading, checking, importing, and the records command."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sqlite3

import pytest

from hipaa_lab import records
from hipaa_lab.cli import main
from hipaa_lab.ledger import Ledger

HEADER = "employee_id,name,email,role,department,hire_date,status"
ROWS = [
    "E1001,Avery Quinlan,avery.quinlan@example.org,technologist,Radiology,2026-10-01,active",
    "E1002,Bo Lindqvist,bo.lindqvist@example.org,radiologist,Radiology,2019-03-15,active",
    "E1003,Chidi Okafor,chidi.okafor@example.org,front_desk,Imaging Reception,2024-07-22,active",
    "E1004,Dana Ortiz-Ríos,dana.ortiz@example.org,pacs_admin,Imaging IT,2021-01-04,terminated",
]
#: A name a spreadsheet would run as a formula, for the CSV output's neutralising.
FORMULA_ROW = "E1005,=HYPERLINK(x),eve@example.org,billing,Finance,2026-11-01,active"


def _csv(path, rows, header=HEADER):
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_a_csv_roster_is_read_into_employees(tmp_path):
    people = records.read_roster(_csv(tmp_path / "roster.csv", ROWS))
    assert [p.employee_id for p in people] == ["E1001", "E1002", "E1003", "E1004"]
    assert people[3].role is records.Role.PACS_ADMIN
    assert people[3].status is records.EmploymentStatus.TERMINATED
    assert people[0].hire_date == dt.date(2026, 10, 1)
    assert people[3].name == "Dana Ortiz-Ríos"


def test_an_xlsx_roster_reads_the_same_as_its_csv(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(HEADER.split(","))
    for row in ROWS:
        cells: list[object] = row.split(",")
        cells[5] = dt.datetime.fromisoformat(str(cells[5]))  # a date cell, as Excel keeps it
        ws.append(cells)
    wb.save(tmp_path / "roster.xlsx")
    assert records.read_roster(tmp_path / "roster.xlsx") == records.read_roster(
        _csv(tmp_path / "roster.csv", ROWS)
    )


def test_every_bad_row_is_named_by_line_and_nothing_is_imported(tmp_path):
    bad = [
        ROWS[0],
        "E1001,Again Same,again@example.org,technologist,Radiology,2026-10-01,active",  # line 3
        "E1005,Eli Park,eli@example.org,janitor,Facilities,2025-01-01,active",  # line 4
        "E1006,Fay Nunez,fay@example.org,billing,Finance,2025-13-01,active",  # line 5
        "E1007,,gil@example.org,billing,Finance,2025-01-01,active",  # line 6
        "E1008,Hal Ames,not-an-address,billing,Finance,2025-01-01,on leave",  # line 7
        "E1009,Ida Roe,ida@example.org,billing",  # line 8
    ]
    with Ledger(tmp_path / "records.db") as log:
        with pytest.raises(records.RosterError) as err:
            records.import_roster(log, records.read_roster(_csv(tmp_path / "r.csv", bad)))
        assert len(log) == 0
    lines = {line for line, _ in err.value.problems}
    assert lines == {3, 4, 5, 6, 7, 8}
    text = str(err.value)
    assert "line 3: employee_id 'E1001' is also on line 2" in text
    assert "line 4: role 'janitor' is not one of: technologist, radiologist" in text
    assert "line 5: hire_date '2025-13-01' is not a date" in text
    assert "line 6: name is empty" in text
    assert "line 7: status 'on leave'" in text and "line 7: email" in text
    assert "line 8: 4 fields, the header has 7" in text
    assert "nothing was imported" in text


def test_a_header_without_a_column_is_refused(tmp_path):
    with pytest.raises(records.RosterError, match="missing columns: hire_date"):
        records.read_roster(
            _csv(tmp_path / "r.csv", [], header="employee_id,name,email,role,department,status")
        )


def test_importing_again_changes_nothing_a_change_is_recorded_and_history_is_kept(tmp_path):
    path = _csv(tmp_path / "roster.csv", ROWS)
    with Ledger(tmp_path / "records.db") as log:
        first = records.import_roster(log, records.read_roster(path), source="roster.csv")
        assert (first.added, first.changed, first.removed) == (4, 0, 0)
        again = records.import_roster(log, records.read_roster(path))
        assert (again.added, again.changed, again.removed, again.unchanged) == (0, 0, 0, 4)
        assert len(log) == 4

        moved = [ROWS[0].replace("technologist", "pacs_admin"), *ROWS[1:3]]  # E1004 is gone
        s = records.import_roster(log, records.read_roster(_csv(path, moved)))
        assert (s.added, s.changed, s.removed, s.unchanged) == (0, 1, 1, 2)
        entries = list(log.entries())
        change = next(e for e in entries if e.kind == "employee.changed")
        assert change.body["changes"] == {"role": ["technologist", "pacs_admin"]}
        on, removed = records.current_roster(log)
        assert on["E1001"].role is records.Role.PACS_ADMIN
        assert set(removed) == {"E1004"} and "E1004" not in on
        assert any(e.kind == "employee.added" and e.body["employee"]["employee_id"] == "E1004"
                   for e in entries)  # fmt: skip
        back = records.import_roster(log, records.read_roster(_csv(path, ROWS)))
        assert back.added == 1 and "E1004" in records.current_roster(log)[0]
        assert log.verify().ok


def _another_writer_first(log, other):
    """Make ``log``'s next write wait for ``other()`` to write: the interleaving of two
    processes that both read the ledger before either appends."""
    original = log.append_many
    calls = []

    def append_many(items, **kwargs):
        calls.append(len(items))
        if len(calls) == 1:
            other()
        return original(items, **kwargs)

    log.append_many = append_many
    return calls


def test_two_imports_at_once_record_each_change_once(tmp_path):
    path = _csv(tmp_path / "roster.csv", ROWS)
    employees = records.read_roster(path)
    with Ledger(tmp_path / "records.db") as log, Ledger(tmp_path / "records.db") as other:
        calls = _another_writer_first(log, lambda: records.import_roster(other, employees))
        summary = records.import_roster(log, employees)
        assert calls == [4]  # it planned 4 additions, found the other's, and wrote nothing
        assert (summary.added, summary.unchanged) == (0, 4)
        assert [e.kind for e in log.entries()] == ["employee.added"] * 4
        assert log.verify().ok


def test_two_syncs_at_once_record_each_fact_once(tmp_path, monkeypatch):
    import importlib

    import pandas as pd

    build = importlib.import_module("hipaa_lab.course.build")  # the package exports build()

    gradebook = pd.DataFrame(
        [{"learner": "E1001", "module": "m01-phi-in-images", "submitted_at": "2026-11-02T10:00:00",
          "score": 9.0, "max_score": 10.0, "needs_manual_grade": False}]
    )  # fmt: skip
    monkeypatch.setattr(build, "scores", lambda course_dir: gradebook)
    course = tmp_path / "course"
    (course / "release" / "m01-phi-in-images").mkdir(parents=True)
    (course / "release" / "m01-phi-in-images" / "m01-phi-in-images.ipynb").write_text("{}")
    curricula = records.load_curricula()
    with Ledger(tmp_path / "records.db") as log, Ledger(tmp_path / "records.db") as other:
        records.import_roster(log, records.read_roster(_csv(tmp_path / "roster.csv", ROWS[:1])))
        _another_writer_first(log, lambda: records.sync(other, course, curricula))
        second = records.sync(log, course, curricula)
        assert second.recorded == {}
        kinds = [e.kind for e in log.entries()][1:]
        assigned = ["training.assigned"] * len(curricula.modules_for("technologist"))
        assert sorted(kinds) == sorted(
            ["module.released", *assigned, "training.submitted", "training.graded",
             "training.passed"]
        )  # fmt: skip
        assert records.sync(log, course, curricula).recorded == {}


def _import_from_a_process(db: str, roster: str) -> None:
    with Ledger(db) as log:
        records.import_roster(log, records.read_roster(roster))


def test_processes_importing_one_roster_at_once_add_each_employee_once(tmp_path):
    import multiprocessing

    roster = str(_csv(tmp_path / "roster.csv", ROWS))
    db = str(tmp_path / "records.db")
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_import_from_a_process, args=(db, roster)) for _ in range(4)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(120)
    assert [p.exitcode for p in workers] == [0] * 4
    with Ledger(db) as log:
        assert [e.kind for e in log.entries()] == ["employee.added"] * 4


# --------------------------------------------------------------------------- the command


def test_the_records_command_imports_signs_verifies_and_proves(tmp_path, capsys):
    roster = _csv(tmp_path / "roster.csv", ROWS)
    db = f"sqlite:///{tmp_path / 'records.db'}"
    assert main(["records", "import-roster", str(roster), "--db", db]) == 0
    assert "4 added" in capsys.readouterr().out
    cp, pub = tmp_path / "checkpoint.json", tmp_path / "ledger.pub"
    assert main(["records", "checkpoint", "--db", db, "--out", str(cp),
                 "--public-key", str(pub)]) == 0  # fmt: skip
    assert main(["records", "verify", "--db", db, "--checkpoint", str(cp)]) == 0
    assert "ledger intact: 4 entries" in capsys.readouterr().out

    receipt = tmp_path / "receipt.json"
    assert main(["records", "receipt", "2", "--db", db, "--checkpoint", str(cp),
                 "--out", str(receipt)]) == 0  # fmt: skip
    assert main(["records", "verify-receipt", str(receipt), "--public-key", str(pub)]) == 0
    assert "entry 2 (employee.added" in capsys.readouterr().out
    assert main(["records", "verify-receipt", str(receipt), "--db", db]) == 0  # the ledger's key
    forged = json.loads(receipt.read_text())
    forged["entry"] = forged["entry"].replace("front_desk", "manager")
    receipt.write_text(json.dumps(forged))
    assert main(["records", "verify-receipt", str(receipt), "--public-key", str(pub)]) == 1

    raw = sqlite3.connect(tmp_path / "records.db")  # the owner edits behind the ledger's back
    raw.execute("DROP TRIGGER ledger_entries_no_update")
    raw.execute(
        "UPDATE ledger_entries SET data = replace(data, 'radiologist', 'manager') WHERE idx = 1"
    )
    raw.commit()
    raw.close()
    capsys.readouterr()
    assert main(["records", "verify", "--db", db]) == 1
    assert "first bad entry: 1" in capsys.readouterr().err


def test_a_bad_roster_exits_1_naming_lines_and_a_missing_ledger_is_a_usage_error(tmp_path, capsys):
    bad = _csv(tmp_path / "roster.csv", [ROWS[0], ROWS[0]])
    db = f"sqlite:///{tmp_path / 'records.db'}"
    assert main(["records", "import-roster", str(bad), "--db", db]) == 1
    assert "line 3: employee_id 'E1001' is also on line 2" in capsys.readouterr().err
    assert len(Ledger(db)) == 0
    assert main(["records", "verify", "--db", str(tmp_path / "none.db")]) == 2
    assert not (tmp_path / "none.db").exists()
    assert main(["records", "verify", "--db", "postgresql+psycopg://u@127.0.0.1:1/x"]) == 1


def test_status_waive_and_mark_material_from_the_command(tmp_path, capsys):
    roster = _csv(tmp_path / "roster.csv", [*ROWS, FORMULA_ROW])
    db = f"sqlite:///{tmp_path / 'records.db'}"
    assert main(["records", "import-roster", str(roster), "--db", db]) == 0
    with Ledger(db) as log:  # E1002 passed module 1 in March
        base = {"at": "2026-03-02T09:00:00+00:00", "employee_id": "E1002",
                "module": "m01-phi-in-images", "version": "v1"}  # fmt: skip
        log.append("training.passed", {**base, "score": 9.0, "max_score": 10.0, "threshold": 0.8})
    capsys.readouterr()
    assert main(["records", "status", "--db", db, "--as-of", "2026-11-30", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    by = {(r["employee_id"], r["module"]): r for r in rows}
    assert by[("E1002", "m01-phi-in-images")]["status"] == "current"
    assert by[("E1002", "m02-deidentifying-images")]["status"] == "overdue"  # hired 2019
    e1001 = by[("E1001", "m01-phi-in-images")]
    assert (
        by[("E1005", "m01-phi-in-images")]["name"] == "'=HYPERLINK(x)"
    )  # hired 2026-10-01, never trained: 30 days
    assert e1001["status"] == "overdue" and e1001["due_on"] == "2026-10-31"
    assert "E1004" not in {r["employee_id"] for r in rows}  # terminated
    assert main(["records", "status", "--db", db, "--as-of", "2026-11-30", "--overdue"]) == 0
    table = capsys.readouterr().out
    lines = [line for line in table.splitlines() if line.startswith("E")]
    assert lines and all(" overdue " in line for line in lines)
    assert not any(line.startswith("E1002") and "m01-phi" in line for line in lines)

    assert main(["records", "waive", "E1002", "m02-deidentifying-images", "--db", db,
                 "--as-of", "2026-11-02", "--reason", "trained at the sister site",
                 "--by", "mgr-7"]) == 0  # fmt: skip
    assert main(["records", "mark-material", "m01-phi-in-images", "--db", db,
                 "--as-of", "2026-11-01", "--reason", "new policy", "--by", "mgr-7"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["records", "status", "--db", db, "--as-of", "2026-11-30", "--format", "csv"]) == 0
    by = {(r["employee_id"], r["module"]): r
          for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}  # fmt: skip
    assert by[("E1002", "m02-deidentifying-images")]["status"] == "current"
    assert by[("E1002", "m01-phi-in-images")]["status"] == "due soon"  # retake by 2026-12-01
    assert by[("E1002", "m01-phi-in-images")]["due_on"] == "2026-12-01"
    assert main(["records", "waive", "E9999", "m01-phi-in-images", "--db", db,
                 "--reason", "x", "--by", "y"]) == 2  # fmt: skip
    assert main(["records", "mark-material", "m99-none", "--db", db, "--reason", "x",
                 "--by", "y"]) == 2  # fmt: skip
    with Ledger(db) as log:
        assert log.verify().ok


def _gradebook(monkeypatch, course_dir, learners):
    """A course at ``course_dir`` whose gradebook holds a passing m01 submission of each of
    ``learners`` (the gradebook's rows, as ``course.build.scores`` gives them)."""
    import importlib

    import pandas as pd

    build = importlib.import_module("hipaa_lab.course.build")
    rows = [{"learner": learner, "module": "m01-phi-in-images", "submitted_at": "2026-11-02T10:00",
             "score": 9.0, "max_score": 10.0, "needs_manual_grade": False}
            for learner in learners]  # fmt: skip
    monkeypatch.setattr(build, "scores", lambda course_dir: pd.DataFrame(rows))
    (course_dir / "release").mkdir(parents=True)
    (course_dir / "nbgrader_config.py").write_text("", encoding="utf-8")


def test_a_hub_account_in_the_gradebook_is_recorded_as_its_employee(tmp_path, monkeypatch):
    """On a hub the gradebook knows E1001 as the account hl-e1001: one identity in both."""
    _gradebook(monkeypatch, tmp_path / "course", ["hl-e1001", "hl-e9999"])
    with Ledger(tmp_path / "records.db") as log:
        records.import_roster(log, records.read_roster(_csv(tmp_path / "roster.csv", ROWS[:1])))
        summary = records.sync(log, tmp_path / "course", records.load_curricula())
        assert summary.not_on_roster == ["hl-e9999"]
        passed = [e.body for e in log.entries() if e.kind == "training.passed"]
        assert [b["employee_id"] for b in passed] == ["E1001"]


def test_records_sync_takes_the_hub_s_prefix(tmp_path, monkeypatch, capsys):
    """A hub started with --prefix rad- knows E1001 as rad-e1001; `records sync --prefix rad-`
    records it as E1001, and an account without that prefix (the default's, or none) is not
    taken for an employee."""
    _gradebook(monkeypatch, tmp_path / "course", ["rad-e1001", "hl-e1002", "e1002"])
    roster = _csv(tmp_path / "roster.csv", ROWS[:2])
    db = f"sqlite:///{tmp_path / 'records.db'}"
    assert main(["records", "import-roster", str(roster), "--db", db]) == 0
    assert main(["records", "sync", "--db", db, "--course-dir", str(tmp_path / "course"),
                 "--prefix", "rad-", "--as-of", "2026-11-30"]) == 0  # fmt: skip
    assert "not on the roster, not recorded: e1002, hl-e1002" in capsys.readouterr().err
    with Ledger(db) as log:
        passed = [e.body for e in log.entries() if e.kind == "training.passed"]
    assert [b["employee_id"] for b in passed] == ["E1001"]
