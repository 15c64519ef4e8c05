"""``hipaa-lab demo``: one run into a new folder, as `make demo` does it."""

from __future__ import annotations

import pandas as pd
import pytest

from hipaa_lab import cli, course, demo
from hipaa_lab.errors import OutputNotEmptyError

pytestmark = pytest.mark.slow

MODULES = course.assignments()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo-output"
    status = cli.main(["demo", "--out", str(out)])
    return out, status


def test_demo_exits_cleanly_and_keeps_everything_under_out(demo_run):
    out, status = demo_run
    assert status == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "cache",
        "completion.csv",
        "course",
        "dataset",
        "records",
    ]
    assert (out / "dataset" / "answer-key.json").is_file()
    assert (out / "course" / "gradebook.db").is_file()


def test_completion_csv_orders_the_learners(demo_run):
    out, _ = demo_run
    records = pd.read_csv(out / "completion.csv")
    assert "m01-phi-in-images" in MODULES
    assert len(records) == 3 * len(MODULES)
    for module in MODULES:
        rows = records[records.module == module].set_index("learner")
        assert sorted(rows.index) == ["learner-blank", "learner-correct", "learner-partial"]
        correct, partial, blank = (
            rows.loc[f"learner-{k}", "score"] for k in ("correct", "partial", "blank")
        )
        assert correct > partial > blank == 0
        assert (
            rows.loc["learner-correct", "auto_score"]
            == rows.loc["learner-correct", "max_auto_score"]
        )


def test_the_training_records_are_synced_signed_and_verify(demo_run):
    out, _ = demo_run
    folder = out / "records"
    status = pd.read_csv(folder / "status.csv")
    correct = status[status.employee_id == "learner-correct"]
    assert set(correct.module) == set(MODULES) and set(correct.status) == {"current"}
    others = status[status.employee_id != "learner-correct"]
    assert set(others.status) == {"never trained"}  # below the pass mark, hired this month
    db = f"sqlite:///{folder / 'records.db'}"
    checkpoint = str(folder / "checkpoint.json")
    assert cli.main(["records", "verify", "--db", db, "--checkpoint", checkpoint]) == 0
    exports = folder / "exports"
    assert (exports / "csv" / "training-records.csv").is_file()
    assert (exports / "xlsx" / "training-records.xlsx").is_file()
    assert (exports / "xapi" / "xapi-statements.json").is_file()
    assert sorted(p.suffix for p in (exports / "dashboard").iterdir()) == [".png", ".png"]
    certificates = sorted((exports / "pdf").glob("*.pdf"))
    assert len(certificates) == len(MODULES)  # the correct learner passed every module
    pub = str(exports / "pdf" / "ledger.pub")
    for cert in certificates:
        assert cli.main(["records", "verify-receipt", str(cert), "--public-key", pub]) == 0
    # the two who typed their name acknowledged each module's policy, on the version they passed
    # or worked on; the blank learner acknowledged nothing
    exported = pd.read_csv(exports / "csv" / "training-records.csv", dtype=str)
    attested = exported.groupby("employee_id").attested.agg(set).to_dict()
    assert attested == {"learner-correct": {"yes"}, "learner-partial": {"yes"},
                        "learner-blank": {"no"}}  # fmt: skip
    from hipaa_lab.ledger import Ledger

    with Ledger(db) as ledger:
        attested = [e.body for e in ledger.entries() if e.kind == "training.attested"]
        released = {e.body["module"]: e.body["version"] for e in ledger.entries()
                    if e.kind == "module.released"}  # fmt: skip
    assert sorted((b["employee_id"], b["module"]) for b in attested) == sorted(
        (who, m) for who in ("learner-correct", "learner-partial") for m in MODULES
    )
    assert {b["signed"] for b in attested} == {"Avery Quinlan", "Bo Lindqvist"}
    assert all(b["version"] == released[b["module"]] for b in attested)
    # a second sync of the same gradebook records nothing new

    with Ledger(db) as ledger:
        size = len(ledger)
    assert cli.main(["records", "sync", "--db", db, "--course-dir", str(out / "course")]) == 0
    with Ledger(db) as ledger:
        assert len(ledger) == size


def test_feedback_for_every_learner(demo_run):
    out, _ = demo_run
    for module in MODULES:
        for learner in demo.LEARNERS:
            assert (out / "course" / "feedback" / learner / module / f"{module}.html").is_file()


def test_demo_refuses_a_folder_that_holds_files(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(OutputNotEmptyError):
        demo.run(tmp_path, quiet=True)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
    assert cli.main(["demo", "--out", str(tmp_path)]) == 1


def test_the_completion_export_passes_our_own_scanner(demo_run):
    """An export for managers and auditors carries no identifier of the synthetic patients."""
    from hipaa_lab.deid.scan import scan_paths
    from hipaa_lab.phi import AnswerKey

    out, _ = demo_run
    report = scan_paths(
        [out / "completion.csv"], key=AnswerKey.load(out / "dataset" / "answer-key.json"), ocr=False
    )
    assert report.files and not report.errors
    # the export's own dates (when learners submitted) are its purpose; no patient value may appear
    assert not [f.format() for f in report.findings if f.rule == "exact-value"]
